"""What the two cross-entropy losses share: the score check, the reduction and its adjoint.

Both losses take scores of shape (N, C) and labels that are either integer class ids of shape (N,)
("sparse") or rows of shape (N, C) that are non-negative and sum to 1 (one-hot or probabilities,
"dense"). They compute a per-example loss ``l`` of shape (N,) and reduce it:

    "mean": L = sum_i l_i / N    (the Keras default)
    "sum":  L = sum_i l_i
    "none": L = l                (shape (N,))

``dloss`` in the backward functions is dL/d(loss): a scalar for mean/sum, shape (N,) for none.
"""
from __future__ import annotations

from ._checks import check_float, check_ndim


def check_scores(x, name, op):
    """Require float scores of shape (N, C) with N >= 1 and C >= 1."""
    check_float(x, name, op)
    check_ndim(x, 2, name, op, "(batch, classes)")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{op}: {name} must have at least one example and one class, got shape {tuple(x.shape)}")
    return x


def reduce_loss(per_example, reduction):
    """Reduce the (N,) per-example losses: mean, sum, or none (unchanged)."""
    if reduction == "mean":
        return per_example.sum() / per_example.shape[0]  # = mean(), without its overhead on small arrays
    if reduction == "sum":
        return per_example.sum()
    return per_example


def upstream_scale(dloss, reduction, n, dtype, xp, op):
    """dL/d(per-example loss) for ``dloss`` = dL/d(reduced loss), as an array broadcastable against (N, C).

    "mean": ``dloss / N`` (a scalar); "sum": ``dloss``; "none": ``dloss[:, None]`` (shape (N, 1)).
    """
    dloss = xp.asarray(dloss, dtype=dtype)
    if reduction == "none":
        if tuple(dloss.shape) != (n,):
            raise ValueError(f"{op}: with reduction='none', dloss must have shape ({n},), got {tuple(dloss.shape)}")
        return dloss[:, None]
    if dloss.ndim != 0:
        raise ValueError(f"{op}: with reduction={reduction!r}, dloss must be a scalar, got shape {tuple(dloss.shape)}")
    return dloss / n if reduction == "mean" else dloss
