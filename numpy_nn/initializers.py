"""Weight initializers, Keras's defaults: Glorot-uniform kernels and zero biases.

Each initializer is a function ``init(shape, dtype, rng) -> array`` drawing from a
``numpy.random.Generator``, so a model's starting point is fixed by one seed.
"""
from __future__ import annotations

import math

import numpy as np


def compute_fans(shape):
    """Keras's fan-in / fan-out: for a dense kernel (in, out) they are ``in`` and ``out``; for a
    conv kernel (KH, KW, C_in, C_out) the receptive field counts too: ``KH*KW*C_in`` and ``KH*KW*C_out``."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) >= 3:
        receptive = math.prod(shape[:-2])
        return receptive * shape[-2], receptive * shape[-1]
    raise ValueError(f"compute_fans: need a kernel of rank >= 2, got shape {tuple(shape)}")


def glorot_uniform(shape, dtype=np.float32, rng=None):
    """Glorot (Xavier) uniform: ``U(-limit, limit)`` with ``limit = sqrt(6 / (fan_in + fan_out))``,
    which keeps the activations' and the gradients' variance roughly constant from layer to layer."""
    fan_in, fan_out = compute_fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return np.random.default_rng(rng).uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, dtype=np.float32, rng=None):
    """All zeros (Keras's default bias)."""
    return np.zeros(shape, dtype=dtype)


_BY_NAME = {"glorot_uniform": glorot_uniform, "zeros": zeros}


def get(identifier):
    """Resolve an initializer by Keras name (``"glorot_uniform"``, ``"zeros"``) or accept a callable."""
    if callable(identifier):
        return identifier
    if identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"unknown initializer {identifier!r}; expected one of {sorted(_BY_NAME)} or a callable(shape, dtype, rng)")
