"""Cross-entropy of predicted probabilities, with Keras's ``from_logits=False`` semantics.

The scores are probabilities ``p`` of shape (N, C) (a softmax's output), and ``eps = EPSILON = 1e-7``.
Keras (TensorFlow backend) treats the two label kinds slightly differently, and so do we:

* dense labels ``t`` (``CategoricalCrossentropy``): renormalise, then clip:

      q = p / sum_c p_c,    k = clip(q, eps, 1 - eps),    l = -sum_c t_c log k_c

* sparse labels ``y`` (``SparseCategoricalCrossentropy``): clip, then (through a softmax of the
  logs) renormalise:

      k = clip(p, eps, 1 - eps),    l = -log(k_y / sum_c k_c) = log sum_c k_c - log k_y

then reduced over the batch (see :mod:`._loss_common`).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import get_array_module
from ._checks import check_cache, check_labels, check_reduction
from ._loss_common import check_scores, reduce_loss, upstream_scale

#: Keras's ``backend.epsilon()``: probabilities are clipped to [EPSILON, 1 - EPSILON] before the log.
EPSILON = 1e-7


class SparseCrossEntropyCache(NamedTuple):
    probs: Any         #: p, the input probabilities (N, C)
    clipped: Any       #: k = clip(p, eps, 1 - eps), (N, C)
    clipped_sum: Any   #: sum_c k_c, (N,)
    clipped_true: Any  #: k_y, the clipped probability of the true class, (N,)
    labels: Any        #: class ids y, (N,)
    reduction: str


class DenseCrossEntropyCache(NamedTuple):
    renormalised: Any  #: q = p / sum_c p_c, (N, C)
    clipped: Any       #: k = clip(q, eps, 1 - eps), (N, C)
    row_sum: Any       #: sum_c p_c, (N, 1)
    labels: Any        #: label rows t in the probabilities' dtype, (N, C)
    reduction: str


def cross_entropy_forward(probs, labels, reduction="mean", labels_kind=None):
    """Cross-entropy of probabilities: ``l = -sum_c t_c log clip(p_c / sum_m p_m)`` (dense labels) or
    ``l = log sum_c clip(p_c) - log clip(p_y)`` (sparse labels), reduced over the batch.

    ``probs`` (N, C) float; ``labels`` class ids (N,) or rows (N, C); ``reduction`` "mean"
    (default), "sum" or "none"; ``labels_kind`` "sparse" or "dense" refuses labels of the other kind
    (None: either, told apart by their shape). Returns ``(loss, cache)``: a :class:`SparseCrossEntropyCache` or a
    :class:`DenseCrossEntropyCache`; ``loss`` is a scalar, or (N,) for "none".
    """
    op = "cross_entropy_forward"
    check_scores(probs, "probs", op)
    kind = check_labels(labels, probs, op, labels_kind)
    check_reduction(reduction, op)
    xp = get_array_module(probs)
    n = probs.shape[0]
    if kind == "sparse":
        k = xp.clip(probs, EPSILON, 1 - EPSILON)
        k_sum = k.sum(axis=1)
        k_y = k[xp.arange(n), labels]
        per_example = xp.log(k_sum) - xp.log(k_y)
        cache = SparseCrossEntropyCache(probs, k, k_sum, k_y, labels, reduction)
    else:
        labels = labels.astype(probs.dtype, copy=False)
        s = probs.sum(axis=1, keepdims=True)
        q = probs / s
        k = xp.clip(q, EPSILON, 1 - EPSILON)
        per_example = -(labels * xp.log(k)).sum(axis=1)
        cache = DenseCrossEntropyCache(q, k, s, labels, reduction)
    return reduce_loss(per_example, reduction), cache


def cross_entropy_backward(dloss, cache):
    """Cross-entropy backward: ``dprobs`` of shape (N, C) from ``dloss`` (scalar, or (N,) for "none").

    Clipping passes the gradient only where ``eps <= value <= 1 - eps`` (the ``[...]`` factors
    below), and each row is scaled by ``dL/dl_i`` (``dloss / N`` for "mean", ``dloss`` for "sum", ``dloss[i]``
    for "none"):

    * sparse labels: ``dl/dk_j = 1 / sum_c k_c - [j == y] / k_y``, so
      ``dp_j = (1 / sum_c k_c - [j == y] / k_y) * [eps <= p_j <= 1 - eps]``.
    * dense labels: ``g_j = dl/dq_j = -t_j / k_j * [eps <= q_j <= 1 - eps]``, and through the
      renormalisation ``q = p / s`` (``s = sum_c p_c``): ``dp_j = (g_j - sum_m g_m q_m) / s``.
    """
    check_cache(cache, (SparseCrossEntropyCache, DenseCrossEntropyCache), "cross_entropy_backward")
    xp = get_array_module(cache.clipped)
    n = cache.clipped.shape[0]
    scale = upstream_scale(dloss, cache.reduction, n, cache.clipped.dtype, xp, "cross_entropy_backward")
    if isinstance(cache, SparseCrossEntropyCache):
        probs, k, k_sum, k_y, labels, _ = cache
        dk = xp.broadcast_to(1 / k_sum[:, None], k.shape).copy()
        dk[xp.arange(n), labels] -= 1 / k_y
        inside = (probs >= EPSILON) & (probs <= 1 - EPSILON)
        return dk * inside * scale
    q, k, s, labels, _ = cache
    dq = -labels / k * ((q >= EPSILON) & (q <= 1 - EPSILON))
    dp = (dq - (dq * q).sum(axis=1, keepdims=True)) / s
    return dp * scale
