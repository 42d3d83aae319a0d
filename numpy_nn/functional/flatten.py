"""Flatten: all but the batch axis into one, in row-major order.

    y = x.reshape(N, -1)        for NHWC input, the (H, W, C) order of Keras's Flatten

Shapes: ``x`` (N, ...); ``y`` (N, prod(...)), also for N = 0 (a batch of 0 images of 28x28 gives
(0, 784), as ``keras.layers.Flatten`` does). ``y`` is a view of ``x`` (a reshape), as in NumPy and
TensorFlow; the backward needs only the shape.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._checks import check_cache, check_dout, check_float


class FlattenCache(NamedTuple):
    shape: tuple   #: x.shape
    dtype: Any     #: x.dtype


def flatten_forward(x):
    """Flatten: ``y = x.reshape(N, -1)``. Returns ``(y, FlattenCache)``."""
    check_float(x, "x", "flatten_forward")
    if x.ndim < 1:
        raise ValueError(f"flatten_forward: x must have a batch axis, got shape {tuple(x.shape)}")
    width = math.prod(x.shape[1:])  # given, not -1: NumPy cannot infer it for a batch of 0
    return x.reshape(x.shape[0], width), FlattenCache(x.shape, x.dtype)


def flatten_backward(dout, cache):
    """Flatten backward: ``dx = dout.reshape(x.shape)``, (N, prod(...)) -> x's shape."""
    shape, dtype = check_cache(cache, FlattenCache, "flatten_backward")
    n = shape[0]
    rest = math.prod(shape[1:])
    check_dout(dout, (n, rest), dtype, "flatten_backward")
    return dout.reshape(shape)
