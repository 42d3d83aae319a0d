"""Numerical gradients by central differences, in float64, and a checker that says where it failed.

For a scalar function f and an input x, the central difference

    df/dx_i ~= (f(x + h e_i) - f(x - h e_i)) / (2 h)

has truncation error O(h^2) and round-off error about eps * |f| / h; with h = 1e-6 in float64 both
are far below the 1e-6 relative error the tests demand. (In float32 the round-off term alone would be
~1e-2: never finite-difference in float32.)

To check a backward ``op_backward(dout, cache)`` against its forward, use the scalar
``f(x) = sum(forward(x) * dout)`` with a random ``dout``: its gradient is exactly the vector-Jacobian
product the backward computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function ``f`` at ``x`` (float64; x is restored)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"numerical_gradient: x must be a float64 ndarray, got {getattr(x, 'dtype', type(x).__name__)}")
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        f_plus = float(f(x))
        flat_x[i] = old - h
        f_minus = float(f(x))
        flat_x[i] = old
        flat_g[i] = (f_plus - f_minus) / (2 * h)
    return grad


@dataclass
class GradcheckResult:
    """The worst element of a comparison: its relative and absolute error and where it is."""

    max_rel_error: float
    max_abs_error: float
    index: tuple
    analytic: float
    numeric: float

    def __str__(self):
        return (f"max relative error {self.max_rel_error:.3e} (abs {self.max_abs_error:.3e}) at index {self.index}: "
                f"analytic {self.analytic:.10g} vs numeric {self.numeric:.10g}")


def relative_error(analytic, numeric, floor=1e-6):
    """Element-wise ``|a - n| / max(|a|, |n|, floor)``: relative where the gradient is large,
    absolute (scaled by ``floor``) where both are tiny, so exact zeros do not divide by zero."""
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


def compare_gradients(analytic, numeric, floor=1e-6):
    """Summarise the worst element of ``analytic`` vs ``numeric`` as a :class:`GradcheckResult`."""
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"compare_gradients: shapes differ: analytic {analytic.shape} vs numeric {numeric.shape}")
    if analytic.size == 0:
        return GradcheckResult(0.0, 0.0, (), 0.0, 0.0)
    rel = relative_error(analytic, numeric, floor)
    index = np.unravel_index(int(np.argmax(rel)), rel.shape)
    return GradcheckResult(float(rel[index]), float(np.max(np.abs(analytic - numeric))), tuple(int(i) for i in index),
                           float(analytic[index]), float(numeric[index]))


def check_vjp(forward, backward_grad, x, dout, h=1e-6):
    """Compare ``backward_grad`` (the analytic dL/dx for L = sum(forward(x) * dout)) with central
    differences of that L. ``forward(x) -> out``; returns a :class:`GradcheckResult`."""
    numeric = numerical_gradient(lambda v: np.sum(forward(v) * dout), x, h)
    return compare_gradients(backward_grad, numeric)
