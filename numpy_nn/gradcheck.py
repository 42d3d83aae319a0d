"""Numerical gradients by central differences, in float64, and a checker that says where it failed.

For a scalar function f and an input x, the central difference

    df/dx_i ~= (f(x + h e_i) - f(x - h e_i)) / (2 h)

has truncation error ``h**2 * |f'''| / 6`` and round-off error about ``eps * |f| / h``. In float64
(eps = 2.2e-16) the default h = 1e-5 balances the two at ~1e-10 for the O(1) functions of the tests,
far below the 1e-6 relative error they demand. (In float32, eps = 1.2e-7, the round-off term alone
would be ~1e-2: never finite-difference in float32.)

To check a backward ``op_backward(dout, cache)`` against its forward, use the scalar
``f(x) = sum(forward(x) * dout)`` with a random ``dout``: its gradient is exactly the vector-Jacobian
product the backward computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def numerical_gradient(f, x, h=1e-5):
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


def relative_error(analytic, numeric, floor):
    """Element-wise ``|a - n| / max(|a|, |n|, floor)``."""
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


def compare_gradients(analytic, numeric, floor_fraction=1e-3, abs_floor=1e-5):
    """Summarise the worst element of ``analytic`` vs ``numeric`` as a :class:`GradcheckResult`.

    The error of element i is ``|a_i - n_i| / max(|a_i|, |n_i|, floor)`` with
    ``floor = max(floor_fraction * max_j |n_j|, abs_floor)``. So it is a true relative error for every
    element that matters, while an element a thousand times smaller than the largest one, or smaller
    than 1e-5 in absolute terms, is judged against the floor: a central difference carries round-off of
    ~1e-12 to 1e-10 absolute (from the whole sum, and from cancellations inside f such as
    ``log(1 + tiny)``), which would otherwise read as a large "relative" error. With the default
    floors, a pass at 1e-6 means ``|a - n| <= 1e-11`` even for the tiniest elements.
    """
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"compare_gradients: shapes differ: analytic {analytic.shape} vs numeric {numeric.shape}")
    if analytic.size == 0:
        return GradcheckResult(0.0, 0.0, (), 0.0, 0.0)
    floor = max(floor_fraction * float(np.max(np.abs(numeric))), abs_floor)
    rel = relative_error(analytic, numeric, floor)
    index = np.unravel_index(int(np.argmax(rel)), rel.shape)
    return GradcheckResult(float(rel[index]), float(np.max(np.abs(analytic - numeric))), tuple(int(i) for i in index),
                           float(analytic[index]), float(numeric[index]))


def check_vjp(forward, backward_grad, x, dout, h=1e-5):
    """Compare ``backward_grad`` (the analytic dL/dx for L = sum(forward(x) * dout)) with central
    differences of that L. ``forward(x) -> out``; returns a :class:`GradcheckResult`."""
    numeric = numerical_gradient(lambda v: np.sum(forward(v) * dout), x, h)
    return compare_gradients(backward_grad, numeric)
