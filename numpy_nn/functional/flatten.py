"""Flatten: all but the batch axis into one, in row-major order.

    y = x.reshape(N, -1)        for NHWC input, the (H, W, C) order of Keras's Flatten

Shapes: ``x`` (N, ...); ``y`` (N, prod(...)).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._checks import check_dout, check_float


class FlattenCache(NamedTuple):
    shape: tuple   #: x.shape
    dtype: Any     #: x.dtype


def flatten_forward(x):
    """Flatten: ``y = x.reshape(N, -1)``. Returns ``(y, FlattenCache)``."""
    check_float(x, "x", "flatten_forward")
    if x.ndim < 1:
        raise ValueError(f"flatten_forward: x must have a batch axis, got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1), FlattenCache(x.shape, x.dtype)


def flatten_backward(dout, cache):
    """Flatten backward: ``dx = dout.reshape(x.shape)``, (N, prod(...)) -> x's shape."""
    shape, dtype = cache
    n = shape[0]
    rest = int(np.prod(shape[1:], dtype=np.int64))
    check_dout(dout, (n, rest), dtype, "flatten_backward")
    return dout.reshape(shape)
