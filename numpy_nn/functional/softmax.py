"""Softmax and log-softmax along one axis.

For a vector ``x`` along ``axis`` (any other axes are a batch), with ``m = max_j x_j``:

    softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m)
    log_softmax(x)_i = (x_i - m) - log sum_j exp(x_j - m)

Subtracting the maximum changes nothing mathematically and keeps every ``exp`` in (0, 1], so logits
of any size (float32 up to +-1e4 and beyond) give finite results. Shapes: ``y`` and ``dx`` have the
shape of ``x``. Along an axis of length 0 there is nothing to normalise: ``y`` and ``dx`` are empty,
as ``tf.nn.softmax`` returns them. ``y`` is read-only: the cache keeps it for the backward.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module
from ._checks import check_axis, check_cache, check_dout, check_float, handed_out


class SoftmaxCache(NamedTuple):
    y: Any      #: softmax(x)
    axis: int   #: the (normalised) axis the softmax ran along


class LogSoftmaxCache(NamedTuple):
    y: Any      #: log_softmax(x)
    axis: int


def softmax_forward(x, axis=-1):
    """Softmax along ``axis``: ``y_i = exp(x_i - m) / sum_j exp(x_j - m)`` with ``m = max_j x_j``.

    Returns ``(y, SoftmaxCache(y, axis))``, ``y`` read-only.
    """
    check_float(x, "x", "softmax_forward")
    axis = check_axis(x, axis, "softmax_forward")
    if x.shape[axis] == 0:  # no maximum to subtract; the (empty) output has x's shape
        y = x.copy()
        return handed_out(y), SoftmaxCache(y, axis)
    xp = get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return handed_out(y), SoftmaxCache(y, axis)


def softmax_backward(dout, cache):
    """Softmax backward: ``dx = y * (dout - sum_j dout_j * y_j)`` along the softmax axis.

    The Jacobian is ``dy_i/dx_k = y_i ([i == k] - y_k)``, i.e. ``diag(y) - y y^T``, which is
    symmetric, so ``dx = (diag(y) - y y^T) dout``. ``dout`` and ``dx`` have the shape of ``x``.
    """
    y, axis = check_cache(cache, SoftmaxCache, "softmax_backward")
    check_dout(dout, y.shape, y.dtype, "softmax_backward")
    return y * (dout - (dout * y).sum(axis=axis, keepdims=True))


def log_softmax_forward(x, axis=-1):
    """Log-softmax along ``axis``: ``y_i = (x_i - m) - log sum_j exp(x_j - m)``, ``m = max_j x_j``.

    Returns ``(y, LogSoftmaxCache(y, axis))``, ``y`` read-only.
    """
    check_float(x, "x", "log_softmax_forward")
    axis = check_axis(x, axis, "log_softmax_forward")
    if x.shape[axis] == 0:  # as softmax_forward
        y = x.copy()
        return handed_out(y), LogSoftmaxCache(y, axis)
    xp = get_array_module(x)
    z = x - x.max(axis=axis, keepdims=True)
    y = z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
    return handed_out(y), LogSoftmaxCache(y, axis)


def log_softmax_backward(dout, cache):
    """Log-softmax backward: ``dx = dout - softmax(x) * sum_j dout_j``, with ``softmax(x) = exp(y)``.

    The Jacobian is ``dy_i/dx_k = [i == k] - softmax(x)_k``. ``dout`` and ``dx`` have the shape of ``x``.
    """
    y, axis = check_cache(cache, LogSoftmaxCache, "log_softmax_backward")
    check_dout(dout, y.shape, y.dtype, "log_softmax_backward")
    xp = get_array_module(y)
    return dout - xp.exp(y) * dout.sum(axis=axis, keepdims=True)
