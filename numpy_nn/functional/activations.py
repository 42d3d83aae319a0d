"""Element-wise activations: ReLU, sigmoid, tanh.

Every op in this package is a pair: ``out, cache = op_forward(x)`` and ``dx = op_backward(dout, cache)``,
where ``dout`` is dL/d(out) for some scalar loss L and ``dx`` is dL/dx, the vector-Jacobian product.
For an element-wise ``y = f(x)`` the Jacobian is diagonal, so the backward is one product per
element: ``dx = dout * f'(x)``.

Shapes: any; ``y`` and ``dx`` have the shape of ``x``. Dtypes are kept (float32 stays float32,
float64 stays float64).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module
from ._checks import check_cache, check_dout, check_float, handed_out


class ReluCache(NamedTuple):
    y: Any  #: the output, for the mask ``y > 0`` (the same as ``x > 0``: y > 0 exactly where x > 0)


class SigmoidCache(NamedTuple):
    y: Any  #: the output: sigmoid' = y (1 - y)


class TanhCache(NamedTuple):
    y: Any  #: the output: tanh' = 1 - y**2


def relu_forward(x, inplace=False):
    """ReLU: ``y = max(x, 0)``.

    Returns ``(y, ReluCache(y))``: the backward's mask ``x > 0`` is ``y > 0``, so the cache keeps the
    output and ``y`` is read-only (see :func:`._checks.handed_out`). ``inplace=True`` writes ``y``
    into ``x`` (a layer applying its activation to its own fresh pre-activation: one array of that
    size fewer per layer until the backward, the input is then the output).
    """
    check_float(x, "x", "relu_forward")
    xp = get_array_module(x)
    y = xp.maximum(x, 0, out=x if inplace else None)
    return handed_out(y), ReluCache(y)


def relu_backward(dout, cache):
    """ReLU backward: ``dx = dout * [x > 0]`` (``= dout * [y > 0]``).

    The derivative at exactly 0 is taken as 0, as TensorFlow does. ``dout`` and ``dx`` have the
    shape of ``x``.
    """
    y = check_cache(cache, ReluCache, "relu_backward").y
    check_dout(dout, y.shape, y.dtype, "relu_backward")
    return dout * (y > 0)


def sigmoid_forward(x):
    """Logistic sigmoid: ``y = 1 / (1 + exp(-x))``.

    Computed without overflow: with ``z = exp(-|x|)`` (always in (0, 1]), ``y = 1/(1+z)`` for x >= 0
    and ``y = z/(1+z)`` for x < 0. Returns ``(y, SigmoidCache(y))``; ``y`` is read-only, since the
    cache keeps it for the backward (see :func:`._checks.handed_out`).
    """
    check_float(x, "x", "sigmoid_forward")
    xp = get_array_module(x)
    z = xp.exp(-xp.abs(x))
    y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return handed_out(y), SigmoidCache(y)


def sigmoid_backward(dout, cache):
    """Sigmoid backward: ``dx = dout * y * (1 - y)``, since ``d sigmoid(x) / dx = y (1 - y)``.

    ``dout`` and ``dx`` have the shape of ``x``.
    """
    y = check_cache(cache, SigmoidCache, "sigmoid_backward").y
    check_dout(dout, y.shape, y.dtype, "sigmoid_backward")
    return dout * y * (1 - y)


def tanh_forward(x):
    """Hyperbolic tangent: ``y = tanh(x)``. Returns ``(y, TanhCache(y))``; ``y`` is read-only (the
    cache keeps it for the backward)."""
    check_float(x, "x", "tanh_forward")
    xp = get_array_module(x)
    y = xp.tanh(x)
    return handed_out(y), TanhCache(y)


def tanh_backward(dout, cache):
    """Tanh backward: ``dx = dout * (1 - y**2)``, since ``d tanh(x) / dx = 1 - tanh(x)**2``.

    ``dout`` and ``dx`` have the shape of ``x``.
    """
    y = check_cache(cache, TanhCache, "tanh_backward").y
    check_dout(dout, y.shape, y.dtype, "tanh_backward")
    return dout * (1 - y * y)
