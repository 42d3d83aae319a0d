"""Inverted dropout and flatten: the two shape-and-mask ops."""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ._checks import check_dout, check_float


def dropout_forward(x, rate, rng=None, training=True, mask=None):
    """Inverted dropout: ``y = x * m / (1 - rate)`` with a keep-mask ``m``, ``P(m = 1) = 1 - rate``.

    Scaling the kept units at training time keeps ``E[y] = x``, so inference is the identity (as in
    Keras, and as when ``training=False`` or ``rate == 0``). The mask is drawn as
    ``rng.random(x.shape) >= rate`` from a ``numpy.random.Generator`` (or seed); a test can inject
    the exact boolean keep-mask with ``mask``.

    Backward: ``dx = dout * m / (1 - rate)``.
    """
    op = "dropout_forward"
    check_float(x, "x", op)
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) or not 0 <= rate < 1:
        raise ValueError(f"{op}: rate must be a number in [0, 1), got {rate!r}")
    if not training or (rate == 0 and mask is None):
        return x, None
    xp = get_array_module(x)
    if mask is None:
        mask = xp.asarray(np.random.default_rng(rng).random(x.shape) >= rate)
    elif tuple(mask.shape) != tuple(x.shape) or mask.dtype != bool:
        raise ValueError(f"{op}: mask must be a boolean array of shape {tuple(x.shape)}, got {mask.dtype} {tuple(mask.shape)}")
    scale = x.dtype.type(1 / (1 - rate))
    return x * mask * scale, (mask, scale, x.shape, x.dtype)


def dropout_backward(dout, cache):
    if cache is None:  # identity in inference mode
        return dout
    mask, scale, shape, dtype = cache
    check_dout(dout, shape, dtype, "dropout_backward")
    return dout * mask * scale


def flatten_forward(x):
    """Flatten all but the batch axis, in row-major (H, W, C) order as Keras's Flatten does for NHWC.

    ``y = x.reshape(N, -1)``; backward: ``dx = dout.reshape(x.shape)``.
    """
    check_float(x, "x", "flatten_forward")
    if x.ndim < 1:
        raise ValueError(f"flatten_forward: x must have a batch axis, got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1), (x.shape, x.dtype)


def flatten_backward(dout, cache):
    shape, dtype = cache
    n = shape[0]
    rest = int(np.prod(shape[1:], dtype=np.int64))
    check_dout(dout, (n, rest), dtype, "flatten_backward")
    return dout.reshape(shape)
