"""Softmax cross-entropy on logits: softmax followed by cross-entropy, fused for stability.

This is Keras's ``from_logits=True``. For logits ``x`` of shape (N, C), with ``z = x - max_c x`` and
``log p = z - log sum_c exp(z_c)`` (the log-softmax, so no exponential can overflow):

    l_i = -sum_c t_ic log p_ic        dense labels t (one-hot or probability rows), shape (N, C)
    l_i = -log p_{i, y_i}             sparse labels y (class ids), shape (N,)

then reduced over the batch (see :mod:`._loss_common`). Float32 logits of +-1e4 give a finite loss.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module
from ._checks import check_cache, check_labels, check_reduction
from ._loss_common import check_scores, reduce_loss, upstream_scale


class SoftmaxCrossEntropyCache(NamedTuple):
    probs: Any       #: p = softmax(logits), (N, C)
    labels: Any      #: class ids (N,) if kind == "sparse", else rows (N, C) in the logits' dtype
    kind: str        #: "sparse" or "dense"
    reduction: str   #: "mean", "sum" or "none"


def softmax_cross_entropy_forward(logits, labels, reduction="mean", labels_kind=None):
    """Softmax cross-entropy: ``l_i = -sum_c t_ic log softmax(logits)_ic``, reduced over the batch.

    ``logits`` (N, C) float; ``labels`` class ids (N,) or rows (N, C); ``reduction`` "mean" (default),
    "sum" or "none"; ``labels_kind`` "sparse" or "dense" refuses labels of the other kind (None:
    either, told apart by their shape). Returns ``(loss, SoftmaxCrossEntropyCache)``; ``loss`` is a
    scalar, or (N,) for "none".
    """
    op = "softmax_cross_entropy_forward"
    check_scores(logits, "logits", op)
    kind = check_labels(labels, logits, op, labels_kind)
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
    return reduce_loss(per_example, reduction), SoftmaxCrossEntropyCache(xp.exp(log_p), labels, kind, reduction)


def softmax_cross_entropy_backward(dloss, cache):
    """Softmax cross-entropy backward: ``dlogits_ic = (p_ic * sum_k t_ik - t_ic) * dL/dl_i``.

    ``p = softmax(logits)`` and ``t`` is the label row (one-hot for sparse labels); ``dL/dl_i`` is
    ``dloss / N`` for "mean", ``dloss`` for "sum" and ``dloss[i]`` for "none". This is the exact
    gradient of ``l_i`` for the row as given: ``sum_k t_ik`` is 1 for sparse and one-hot labels,
    and within the checked tolerance of 1 for probability rows (float32 rounding alone moves a row's
    sum by ~1e-7), where the common shortcut ``p - t`` is off by ``p * (sum_k t_ik - 1)``.

    ``dloss``: scalar, or (N,) for "none"; returns ``dlogits`` of shape (N, C).
    """
    p, labels, kind, reduction = check_cache(cache, SoftmaxCrossEntropyCache, "softmax_cross_entropy_backward")
    xp = get_array_module(p)
    n = p.shape[0]
    scale = upstream_scale(dloss, reduction, n, p.dtype, xp, "softmax_cross_entropy_backward")
    if kind == "sparse":
        grad = p.copy()
        grad[xp.arange(n), labels] -= 1
    else:
        grad = p * labels.sum(axis=1, keepdims=True) - labels
    return grad * scale
