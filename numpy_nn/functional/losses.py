"""Cross-entropy losses on a batch of scores of shape (N, C).

Labels are either integer class ids of shape (N,) ("sparse") or rows of shape (N, C) that are
non-negative and sum to 1 (one-hot or probabilities, "dense"). ``reduction`` is ``"mean"`` (over
the batch, the Keras default), ``"sum"`` or ``"none"`` (the per-example losses, shape (N,)).
``dloss`` in the backward functions is dL/d(loss): a scalar for mean/sum, shape (N,) for none.
"""
from __future__ import annotations

from ..backend import get_array_module
from ._checks import check_float, check_labels, check_ndim, check_reduction

#: Keras's ``backend.epsilon()``: probabilities are clipped to [EPSILON, 1 - EPSILON] before the log.
EPSILON = 1e-7


def _check_scores(x, name, op):
    check_float(x, name, op)
    check_ndim(x, 2, name, op, "(batch, classes)")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{op}: {name} must have at least one example and one class, got shape {tuple(x.shape)}")
    return x


def _reduce(per_example, reduction):
    if reduction == "mean":
        return per_example.sum() / per_example.shape[0]  # = mean(), without its overhead on small arrays
    if reduction == "sum":
        return per_example.sum()
    return per_example


def _upstream_scale(dloss, reduction, n, dtype, xp, op):
    """dL/d(per-example loss) as an array broadcastable against (N, C)."""
    dloss = xp.asarray(dloss, dtype=dtype)
    if reduction == "none":
        if tuple(dloss.shape) != (n,):
            raise ValueError(f"{op}: with reduction='none', dloss must have shape ({n},), got {tuple(dloss.shape)}")
        return dloss[:, None]
    if dloss.ndim != 0:
        raise ValueError(f"{op}: with reduction={reduction!r}, dloss must be a scalar, got shape {tuple(dloss.shape)}")
    return dloss / n if reduction == "mean" else dloss


def softmax_cross_entropy_forward(logits, labels, reduction="mean"):
    """Softmax followed by cross-entropy, fused for stability (``from_logits=True`` in Keras).

    With ``z = logits - max_c logits`` and ``log p = z - log sum_c exp(z_c)``, the per-example loss is
    ``l_i = -sum_c t_ic log p_ic`` (for sparse labels ``l_i = -log p_{i, y_i}``). No exponential can
    overflow, so float32 logits of +-1e4 give a finite loss.

    Backward: ``dlogits = (p * sum_c t_c - t) * dL/dl_i`` (divided by N for ``"mean"``), where ``t`` is
    the one-hot or probability row: the exact gradient of ``l_i`` for the row as given. ``sum_c t_c``
    is 1 for sparse and one-hot labels, and within the checked tolerance of 1 for probability rows
    (float32 rounding alone moves a row's sum by ~1e-7), where the common shortcut ``p - t`` is off
    by ``p * (sum_c t_c - 1)``.
    """
    op = "softmax_cross_entropy_forward"
    _check_scores(logits, "logits", op)
    kind = check_labels(labels, logits, op)
    check_reduction(reduction, op)
    xp = get_array_module(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    if kind == "sparse":
        per_example = -log_p[xp.arange(n), labels]
    else:
        labels = labels.astype(logits.dtype, copy=False)
        per_example = -(labels * log_p).sum(axis=1)
    return _reduce(per_example, reduction), (xp.exp(log_p), labels, kind, reduction)


def softmax_cross_entropy_backward(dloss, cache):
    p, labels, kind, reduction = cache
    xp = get_array_module(p)
    n = p.shape[0]
    scale = _upstream_scale(dloss, reduction, n, p.dtype, xp, "softmax_cross_entropy_backward")
    if kind == "sparse":
        grad = p.copy()
        grad[xp.arange(n), labels] -= 1
    else:
        grad = p * labels.sum(axis=1, keepdims=True) - labels
    return grad * scale


def cross_entropy_forward(probs, labels, reduction="mean"):
    """Cross-entropy of predicted probabilities, with Keras's ``from_logits=False`` semantics.

    Keras (TensorFlow backend) treats the two label kinds slightly differently, and so do we:

    * dense labels ``t`` (``CategoricalCrossentropy``): renormalise, then clip:
      ``q = p / sum_c p_c``, ``c = clip(q, eps, 1 - eps)``, ``l = -sum_c t_c log c_c``.
    * sparse labels ``y`` (``SparseCategoricalCrossentropy``): clip, then (through a softmax of the
      logs) renormalise: ``c = clip(p, eps, 1 - eps)``, ``l = -log(c_y / sum_c c_c)``.

    with ``eps = 1e-7``. Backward: clipping passes the gradient only where ``eps <= value <= 1 - eps``;
    for dense labels ``dl/dc = -t / c`` and the renormalisation gives
    ``dl/dp_j = (g_j - sum_k g_k q_k) / sum_c p_c`` with ``g = dl/dq``; for sparse labels
    ``dl/dc_j = 1/sum_c c_c - [j == y] / c_y``.
    """
    op = "cross_entropy_forward"
    _check_scores(probs, "probs", op)
    kind = check_labels(labels, probs, op)
    check_reduction(reduction, op)
    xp = get_array_module(probs)
    n = probs.shape[0]
    if kind == "sparse":
        c = xp.clip(probs, EPSILON, 1 - EPSILON)
        total = c.sum(axis=1)
        c_y = c[xp.arange(n), labels]
        per_example = xp.log(total) - xp.log(c_y)
        cache = (probs, c, total, c_y, labels, kind, reduction)
    else:
        labels = labels.astype(probs.dtype, copy=False)
        s = probs.sum(axis=1, keepdims=True)
        q = probs / s
        c = xp.clip(q, EPSILON, 1 - EPSILON)
        per_example = -(labels * xp.log(c)).sum(axis=1)
        cache = (q, c, s, None, labels, kind, reduction)
    return _reduce(per_example, reduction), cache


def cross_entropy_backward(dloss, cache):
    a, c, s, c_y, labels, kind, reduction = cache
    xp = get_array_module(c)
    n = c.shape[0]
    scale = _upstream_scale(dloss, reduction, n, c.dtype, xp, "cross_entropy_backward")
    if kind == "sparse":
        probs = a
        dc = xp.broadcast_to(1 / s[:, None], c.shape).copy()
        dc[xp.arange(n), labels] -= 1 / c_y
        inside = (probs >= EPSILON) & (probs <= 1 - EPSILON)
        return dc * inside * scale
    q = a
    dq = -labels / c * ((q >= EPSILON) & (q <= 1 - EPSILON))
    dp = (dq - (dq * q).sum(axis=1, keepdims=True)) / s
    return dp * scale
