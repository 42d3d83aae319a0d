"""Batch normalization with Keras's semantics (``keras.layers.BatchNormalization``).

Per channel ``c`` (the entries of ``x`` whose index along ``axis`` is ``c``: over N, H, W for NHWC
with ``axis=-1``; over N for a 2-D ``(N, C)`` input), with ``M`` the number of such entries:

    mu[c]     = (1 / M) * sum_i x[i, c]                    (training: the batch mean)
    var[c]    = (1 / M) * sum_i (x[i, c] - mu[c])**2       (training: the biased batch variance)
    sigma[c]  = sqrt(var[c] + epsilon)
    xhat[i, c] = (x[i, c] - mu[c]) / sigma[c]
    y[i, c]   = gamma[c] * xhat[i, c] + beta[c]

Training (``training=True``) uses the batch statistics above and returns, in the cache, the moving
statistics updated as Keras updates them (an exponential moving average, the *biased* variance):

    new_moving_mean = moving_mean * momentum + mu  * (1 - momentum)
    new_moving_var  = moving_var  * momentum + var * (1 - momentum)

Inference (``training=False``) uses ``mu = moving_mean``, ``var = moving_var`` (constants: they do
not depend on ``x``) and leaves the moving statistics as they are. The op never writes to its
inputs: a layer assigns ``cache.new_moving_mean`` / ``cache.new_moving_var`` to its state.

Shapes: ``x`` (N, ..., C, ...) of rank >= 2 with the channels on ``axis`` (not the batch axis);
``gamma``, ``beta``, ``moving_mean``, ``moving_var`` (C,), of ``x``'s dtype; ``gamma`` None means
``scale=False`` (1), ``beta`` None means ``center=False`` (0). ``y`` has ``x``'s shape.

**Backward (training).** With ``dxhat = dout * gamma`` and every sum over the M entries of a channel,
the chain rule through ``xhat``, ``sigma(var)``, ``var(x, mu)`` and ``mu(x)`` gives

    dvar = sum(dxhat * (x - mu)) * (-1/2) * sigma**-3
    dmu  = -sum(dxhat) / sigma + dvar * (-2/M) * sum(x - mu)     (the second term is 0)
    dx   = dxhat / sigma + dvar * 2 (x - mu) / M + dmu / M

and since ``(x - mu) / sigma**3 * sum(dxhat * (x - mu)) = xhat / sigma * sum(dxhat * xhat)``,

    dx = (gamma / (M * sigma)) * (M * dout - sum(dout) - xhat * sum(dout * xhat))
    dgamma = sum(dout * xhat)          dbeta = sum(dout)

the compact form (it reuses dgamma and dbeta). Two limits show what it says: the mean of ``dx`` over
a channel is 0 (shifting a channel does not change its output), and ``sum(dx * xhat)`` is only
``epsilon / (var + epsilon)`` of ``gamma / sigma * sum(dout * xhat)`` (scaling a channel changes its
output only through epsilon); with M = 2 the normalised output is +-1 up to epsilon whatever ``x``
is, and ``dx`` is that small:
``dx_1 = -dx_2 = gamma / (2 sigma) * (dout_1 - dout_2) * epsilon / (var + epsilon)``.

**Backward (inference):** ``dx = dout * gamma / sigma`` (mu and sigma are constants), ``dgamma`` and
``dbeta`` as above.

The step-by-step graph (CS231n's staged version: mean, centre, square, variance, sqrt, invert,
scale, shift, then each stage's local derivative in reverse) comes first as the reference; it is
tested equal to the compact form (``parity_tests/test_reference_paths.py``).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from ._checks import check_axis, check_cache, check_dout, check_float, check_same_dtype


class BatchNormCache(NamedTuple):
    xhat: Any            #: the normalised input (x - mu) / sigma, x's shape
    gamma: Any           #: (C,) or None (scale=False)
    inv_sigma: Any       #: 1 / sqrt(var + epsilon), broadcastable to x, (1, .., C, .., 1)
    axes: tuple          #: the reduction axes (all but ``axis``)
    count: int           #: M, the entries per channel
    training: bool       #: batch statistics (True) or the moving ones (False)
    has_beta: bool       #: whether the forward added beta (then the backward returns dbeta)
    new_moving_mean: Any  #: (C,): the moving mean after this forward (updated in training)
    new_moving_var: Any   #: (C,): the moving variance after this forward (updated in training)


class BatchNormReferenceCache(NamedTuple):
    x_shape: tuple       #: x's shape
    xmu: Any             #: x - mu
    var: Any             #: the variance used, broadcastable to x
    sqrtvar: Any         #: sqrt(var + epsilon)
    ivar: Any            #: 1 / sqrtvar
    xhat: Any            #: xmu * ivar
    gamma: Any           #: broadcastable to x, or None
    axes: tuple          #: the reduction axes
    training: bool
    has_beta: bool
    new_moving_mean: Any
    new_moving_var: Any


def _check_args(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon, axis, op):
    """Every argument, before anything is computed; returns ``(reduction axes, broadcast shape)``."""
    check_float(x, "x", op)
    if x.ndim < 2:
        raise ValueError(f"{op}: x must be at least 2-D (batch, ..., channels), got shape {tuple(x.shape)}")
    axis = check_axis(x, axis, op)
    if axis % x.ndim == 0:
        raise ValueError(f"{op}: axis must not be the batch axis 0, got {axis} for input of shape {tuple(x.shape)}")
    channels = x.shape[axis]
    for name, v in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean), ("moving_var", moving_var)):
        if v is None and name in ("gamma", "beta"):
            continue
        check_float(v, name, op)
        check_same_dtype(x, v, "x", name, op)
        if tuple(v.shape) != (channels,):
            raise ValueError(f"{op}: {name} must have shape ({channels},) (x's axis {axis}), got {tuple(v.shape)}")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{op}: training must be True or False, got {training!r:.80}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating, np.integer)) or not 0 <= momentum <= 1:
        raise ValueError(f"{op}: momentum must be a number in [0, 1], got {momentum!r:.80}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.floating, np.integer)) or \
            not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"{op}: epsilon must be a positive finite number, got {epsilon!r:.80}")
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    if training and x.size == 0:
        raise ValueError(f"{op}: training needs at least one value per channel for the batch statistics, "
                         f"got x of shape {tuple(x.shape)}")
    shape = [1] * x.ndim
    shape[axis] = channels
    return axes, tuple(shape)


def _moving_update(moving, batch, momentum):
    """Keras's ``moving * momentum + batch * (1 - momentum)``, in that order and in the moving
    statistic's dtype (a Python float meets a float32 array as float32, as in TensorFlow)."""
    return moving * momentum + batch * (1.0 - momentum)


# ---------------------------------------------------------------------------------------------
# Reference: the graph, stage by stage, and each stage's local derivative in reverse.
# ---------------------------------------------------------------------------------------------

def batchnorm_forward_reference(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, epsilon=1e-3, axis=-1):
    """Reference batch normalization, one stage of the graph per line (see the module docstring).

    Same arguments, checks and output as :func:`batchnorm_forward`; returns ``(y, BatchNormReferenceCache)``."""
    op = "batchnorm_forward_reference"
    axes, shape = _check_args(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon, axis, op)
    momentum = float(momentum)
    if training:
        mu = x.mean(axis=axes, keepdims=True)            # 1. mean
        xmu = x - mu                                      # 2. centre
        sq = xmu ** 2                                     # 3. square
        var = sq.mean(axis=axes, keepdims=True)           # 4. (biased) variance
        new_mean = _moving_update(moving_mean, mu.reshape(-1), momentum)
        new_var = _moving_update(moving_var, var.reshape(-1), momentum)
    else:
        mu, var = moving_mean.reshape(shape), moving_var.reshape(shape)
        xmu = x - mu                                      # 2. centre on the moving mean
        new_mean, new_var = moving_mean, moving_var
    sqrtvar = np.sqrt(var + epsilon)                      # 5. sigma
    ivar = 1.0 / sqrtvar                                  # 6. 1 / sigma
    xhat = xmu * ivar                                     # 7. normalise
    g = None if gamma is None else gamma.reshape(shape)
    y = xhat.copy() if g is None else g * xhat            # 8. scale (a new array: the cache keeps xhat)
    if beta is not None:
        y = y + beta.reshape(shape)                       # 9. shift
    return y, BatchNormReferenceCache(tuple(x.shape), xmu, var, sqrtvar, ivar, xhat, g, axes, bool(training),
                                      beta is not None, new_mean, new_var)


def batchnorm_backward_reference(dout, cache):
    """Reference backward: the stages of :func:`batchnorm_forward_reference` in reverse, each
    multiplying by its local derivative (inference stops at stage 2: mu and var are constants).
    Returns ``(dx, dgamma, dbeta)`` (dgamma / dbeta None where the forward had no gamma / beta)."""
    x_shape, xmu, var, sqrtvar, ivar, xhat, g, axes, training, has_beta, _, _ = check_cache(
        cache, BatchNormReferenceCache, "batchnorm_backward_reference")
    check_dout(dout, x_shape, xmu.dtype, "batchnorm_backward_reference")
    dbeta = dout.sum(axis=axes).reshape(-1) if has_beta else None      # 9.
    dgamma = None if g is None else (dout * xhat).sum(axis=axes).reshape(-1)  # 8.
    dxhat = dout if g is None else dout * g
    divar = (dxhat * xmu).sum(axis=axes, keepdims=True)               # 7. xhat = xmu * ivar
    dxmu = dxhat * ivar
    if not training:
        return dxmu, dgamma, dbeta                                    # 2. x - constant mu
    dsqrtvar = -divar / sqrtvar ** 2                                  # 6. ivar = 1 / sqrtvar
    dvar = 0.5 / sqrtvar * dsqrtvar                                   # 5. sqrtvar = sqrt(var + eps)
    count = math.prod(x_shape[a] for a in axes)
    dsq = np.broadcast_to(dvar / count, x_shape)                      # 4. var = mean(sq)
    dxmu = dxmu + 2 * xmu * dsq                                       # 3. sq = xmu ** 2
    dmu = -dxmu.sum(axis=axes, keepdims=True)                         # 2. xmu = x - mu
    dx = dxmu + np.broadcast_to(dmu / count, x_shape)                 # 1. mu = mean(x)
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# The compact form: what the layer runs.
# ---------------------------------------------------------------------------------------------

def batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, epsilon=1e-3, axis=-1):
    """Batch normalization ``y = gamma * (x - mu) / sqrt(var + epsilon) + beta`` per channel on ``axis``.

    ``training=True``: ``mu``, ``var`` are the batch mean and biased variance over every axis but
    ``axis`` (two passes: the variance is the mean of ``(x - mu)**2``, as ``tf.nn.moments``), and the
    cache holds the updated moving statistics (module docstring); ``training=False``: ``mu``, ``var``
    are ``moving_mean``, ``moving_var``. Defaults are Keras's (``momentum=0.99``, ``epsilon=1e-3``,
    ``axis=-1``). Returns ``(y, BatchNormCache)``.
    """
    op = "batchnorm_forward"
    axes, shape = _check_args(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon, axis, op)
    momentum = float(momentum)
    xp = get_array_module(x)
    if training:
        mu = x.mean(axis=axes, keepdims=True)
        xhat = x - mu
        var = xp.mean(xp.square(xhat), axis=axes, keepdims=True)
        new_mean = _moving_update(moving_mean, mu.reshape(-1), momentum)
        new_var = _moving_update(moving_var, var.reshape(-1), momentum)
    else:
        var = moving_var.reshape(shape)
        xhat = x - moving_mean.reshape(shape)
        new_mean, new_var = moving_mean, moving_var
    inv_sigma = 1.0 / xp.sqrt(var + epsilon)
    xhat *= inv_sigma                       # xhat is this op's own array
    y = xhat if gamma is None else xhat * gamma.reshape(shape)
    if beta is not None:
        y = y + beta.reshape(shape) if y is xhat else xp.add(y, beta.reshape(shape), out=y)
    elif y is xhat:
        y = xhat.copy()                     # the cache keeps xhat: the caller gets its own array
    count = math.prod(x.shape[a] for a in axes)
    return y, BatchNormCache(xhat, gamma, inv_sigma, axes, count, bool(training), beta is not None, new_mean, new_var)


def batchnorm_backward(dout, cache):
    """Batch-normalization backward, for ``dout`` = dL/dy of x's shape; sums over a channel's M entries:

        dbeta  = sum(dout)                         (C,)
        dgamma = sum(dout * xhat)                  (C,)
        dx     = (gamma / (M * sigma)) * (M * dout - dbeta - xhat * dgamma)    training
        dx     = dout * gamma / sigma                                          inference

    (``gamma`` = 1 where the forward had none.) Returns ``(dx, dgamma, dbeta)``; ``dgamma`` / ``dbeta``
    are None where the forward had no gamma / beta.
    """
    xhat, gamma, inv_sigma, axes, count, training, has_beta, _, _ = check_cache(cache, BatchNormCache, "batchnorm_backward")
    check_dout(dout, xhat.shape, xhat.dtype, "batchnorm_backward")
    shape = inv_sigma.shape
    dbeta = dout.sum(axis=axes)                   # (C,)
    dgamma = (dout * xhat).sum(axis=axes)         # (C,)
    scale = inv_sigma if gamma is None else gamma.reshape(shape) * inv_sigma
    if training:
        dx = (scale / count) * (count * dout - dbeta.reshape(shape) - xhat * dgamma.reshape(shape))
    else:
        dx = dout * scale
    return dx, (None if gamma is None else dgamma), (dbeta if has_beta else None)
