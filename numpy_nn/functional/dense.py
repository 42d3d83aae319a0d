"""Fully connected (dense) layer: one matrix product plus a bias.

    y = x @ kernel + bias        y[n, o] = bias[o] + sum_i x[n, i] * kernel[i, o]

Shapes: ``x`` (N, D_in), ``kernel`` (D_in, D_out), ``bias`` (D_out,) or None; ``y`` (N, D_out).
The plain formula is already the fast path (one BLAS call), so there is no separate reference.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ._checks import check_cache, check_dout, check_float, check_ndim, check_same_dtype


class DenseCache(NamedTuple):
    x: Any           #: the input (N, D_in), for dkernel
    kernel: Any      #: (D_in, D_out), for dx
    has_bias: bool   #: whether the forward added a bias (then the backward returns dbias)


def dense_forward(x, kernel, bias=None):
    """Affine map ``y = x @ kernel + bias``.

    ``x`` (N, D_in), ``kernel`` (D_in, D_out), ``bias`` (D_out,) or None. Returns ``(y, DenseCache)``
    with ``y`` of shape (N, D_out).
    """
    op = "dense_forward"
    check_float(x, "x", op)
    check_float(kernel, "kernel", op)
    check_ndim(x, 2, "x", op, "(batch, features)")
    check_ndim(kernel, 2, "kernel", op, "(in_features, units)")
    check_same_dtype(x, kernel, "x", "kernel", op)
    if x.shape[1] != kernel.shape[0]:
        raise ValueError(f"{op}: x has {x.shape[1]} features but kernel expects {kernel.shape[0]} (kernel shape {tuple(kernel.shape)})")
    y = x @ kernel  # (N, D_in) x (D_in, D_out) -> (N, D_out)
    if bias is not None:
        check_float(bias, "bias", op)
        check_same_dtype(x, bias, "x", "bias", op)
        if tuple(bias.shape) != (kernel.shape[1],):
            raise ValueError(f"{op}: bias must have shape ({kernel.shape[1]},), got {tuple(bias.shape)}")
        y += bias
    return y, DenseCache(x, kernel, bias is not None)


def dense_backward(dout, cache, need_dx=True):
    """Dense backward, for ``dout = dL/dy`` of shape (N, D_out)::

        dx      = dout @ kernel^T      (N, D_in)
        dkernel = x^T @ dout           (D_in, D_out)
        dbias   = sum_n dout[n, :]     (D_out,)

    Returns ``(dx, dkernel, dbias)``; ``dbias`` is None when the forward had no bias, and ``dx`` is
    None with ``need_dx=False`` (a model's first layer has no use for it).
    """
    x, kernel, has_bias = check_cache(cache, DenseCache, "dense_backward")
    check_dout(dout, (x.shape[0], kernel.shape[1]), x.dtype, "dense_backward")
    dx = dout @ kernel.T if need_dx else None  # (N, D_out) x (D_out, D_in) -> (N, D_in)
    dkernel = x.T @ dout                        # (D_in, N) x (N, D_out) -> (D_in, D_out)
    db = dout.sum(axis=0) if has_bias else None
    return dx, dkernel, db
