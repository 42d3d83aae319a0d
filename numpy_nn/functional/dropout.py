"""Inverted dropout.

    y = x * m / (1 - rate)        m a keep-mask: m = 1 with probability 1 - rate, else 0

Scaling the kept units at training time keeps ``E[y] = x``, so inference is the identity (as in
Keras). Shapes: any; ``y`` and ``dx`` have the shape of ``x``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from ._checks import check_cache, check_dout, check_float


class DropoutCache(NamedTuple):
    mask: Any      #: the boolean keep-mask m, shape of x (the Dropout layer's ``last_mask``)
    scale: Any     #: 1 / (1 - rate) in x's dtype
    shape: tuple   #: x.shape
    dtype: Any     #: x.dtype


def dropout_forward(x, rate, rng=None, training=True, mask=None):
    """Inverted dropout: ``y = x * m / (1 - rate)`` with a keep-mask ``m``, ``P(m = 1) = 1 - rate``.

    ``rate`` in [0, 1). The mask is drawn as ``rng.random(x.shape) >= rate`` from a
    ``numpy.random.Generator`` (or seed); a test can inject the exact boolean keep-mask with
    ``mask``. With ``training=False``, or ``rate == 0`` and no mask, the op is the identity and
    returns ``(x, None)``; otherwise ``(y, DropoutCache)``.
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
    return x * mask * scale, DropoutCache(mask, scale, x.shape, x.dtype)


def dropout_backward(dout, cache):
    """Dropout backward: ``dx = dout * m / (1 - rate)`` (the same mask and scale as the forward).

    With ``cache=None`` (inference mode, the identity) ``dx = dout``.
    """
    if cache is None:
        return dout
    mask, scale, shape, dtype = check_cache(cache, DropoutCache, "dropout_backward")
    check_dout(dout, shape, dtype, "dropout_backward")
    return dout * mask * scale
