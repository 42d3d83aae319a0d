"""Element-wise activations and the softmax family.

Each op is a pair: ``out, cache = op_forward(x)`` and ``dx = op_backward(dout, cache)``, where
``dout`` is dL/d(out) for some scalar loss L and ``dx`` is dL/dx (a vector-Jacobian product).
Shapes are unchanged by every op here; dtypes are kept (float32 stays float32, float64 stays float64).
"""
from __future__ import annotations

from ..backend import get_array_module
from ._checks import check_axis, check_dout, check_float


def relu_forward(x):
    """ReLU: ``y = max(x, 0)``.

    Backward: ``dx = dout * [x > 0]``. The derivative at exactly 0 is taken as 0, as TensorFlow does.
    """
    check_float(x, "x", "relu_forward")
    xp = get_array_module(x)
    return xp.maximum(x, 0), x


def relu_backward(dout, cache):
    x = cache
    check_dout(dout, x.shape, x.dtype, "relu_backward")
    return dout * (x > 0)


def sigmoid_forward(x):
    """Logistic sigmoid: ``y = 1 / (1 + exp(-x))``.

    Computed without overflow: with ``z = exp(-|x|)`` (always in (0, 1]), ``y = 1/(1+z)`` for x >= 0
    and ``y = z/(1+z)`` for x < 0. Backward: ``dx = dout * y * (1 - y)``.
    """
    check_float(x, "x", "sigmoid_forward")
    xp = get_array_module(x)
    z = xp.exp(-xp.abs(x))
    y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return y, y


def sigmoid_backward(dout, cache):
    y = cache
    check_dout(dout, y.shape, y.dtype, "sigmoid_backward")
    return dout * y * (1 - y)


def tanh_forward(x):
    """Hyperbolic tangent: ``y = tanh(x)``. Backward: ``dx = dout * (1 - y**2)``."""
    check_float(x, "x", "tanh_forward")
    xp = get_array_module(x)
    y = xp.tanh(x)
    return y, y


def tanh_backward(dout, cache):
    y = cache
    check_dout(dout, y.shape, y.dtype, "tanh_backward")
    return dout * (1 - y * y)


def softmax_forward(x, axis=-1):
    """Softmax along ``axis``: ``y_i = exp(x_i - m) / sum_j exp(x_j - m)`` with ``m = max_j x_j``.

    Subtracting the maximum changes nothing mathematically and keeps every ``exp`` in (0, 1], so
    logits of any size (float32 up to +-1e4 and beyond) give finite results.

    Backward (the Jacobian is ``diag(y) - y y^T``): ``dx = y * (dout - sum_j dout_j * y_j)``.
    """
    check_float(x, "x", "softmax_forward")
    axis = check_axis(x, axis, "softmax_forward")
    xp = get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, (y, axis)


def softmax_backward(dout, cache):
    y, axis = cache
    check_dout(dout, y.shape, y.dtype, "softmax_backward")
    return y * (dout - (dout * y).sum(axis=axis, keepdims=True))


def log_softmax_forward(x, axis=-1):
    """Log-softmax along ``axis``: ``y_i = (x_i - m) - log sum_j exp(x_j - m)``, ``m = max_j x_j``.

    Backward: ``dx = dout - softmax(x) * sum_j dout_j``, with ``softmax(x) = exp(y)``.
    """
    check_float(x, "x", "log_softmax_forward")
    axis = check_axis(x, axis, "log_softmax_forward")
    xp = get_array_module(x)
    z = x - x.max(axis=axis, keepdims=True)
    y = z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
    return y, (y, axis)


def log_softmax_backward(dout, cache):
    y, axis = cache
    check_dout(dout, y.shape, y.dtype, "log_softmax_backward")
    xp = get_array_module(y)
    return dout - xp.exp(y) * dout.sum(axis=axis, keepdims=True)
