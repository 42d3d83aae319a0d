"""Fully connected (dense) layer: one matrix product plus a bias."""
from __future__ import annotations

from ._checks import check_dout, check_float, check_ndim, check_same_dtype


def dense_forward(x, w, b=None):
    """Affine map ``y = x @ w + b``.

    Shapes: ``x`` (N, D_in), ``w`` (D_in, D_out) (Keras's "kernel"), ``b`` (D_out,) or None; ``y`` (N, D_out).

    Backward, for ``dy = dL/dy``::

        dx = dy @ w.T            (N, D_in)
        dw = x.T @ dy            (D_in, D_out)
        db = sum_n dy[n, :]      (D_out,)

    ``dense_backward(dy, cache, need_dx=False)`` skips ``dx`` (returns None for it): the first layer
    of a model has no use for the gradient of its input, and that product is a third of its work.
    """
    op = "dense_forward"
    check_float(x, "x", op)
    check_float(w, "kernel", op)
    check_ndim(x, 2, "x", op, "(batch, features)")
    check_ndim(w, 2, "kernel", op, "(in_features, units)")
    check_same_dtype(x, w, "x", "kernel", op)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: x has {x.shape[1]} features but kernel expects {w.shape[0]} (kernel shape {tuple(w.shape)})")
    y = x @ w
    if b is not None:
        check_float(b, "bias", op)
        check_same_dtype(x, b, "x", "bias", op)
        if tuple(b.shape) != (w.shape[1],):
            raise ValueError(f"{op}: bias must have shape ({w.shape[1]},), got {tuple(b.shape)}")
        y += b
    return y, (x, w, b is not None)


def dense_backward(dy, cache, need_dx=True):
    x, w, has_bias = cache
    check_dout(dy, (x.shape[0], w.shape[1]), x.dtype, "dense_backward")
    dx = dy @ w.T if need_dx else None
    dw = x.T @ dy
    db = dy.sum(axis=0) if has_bias else None
    return dx, dw, db
