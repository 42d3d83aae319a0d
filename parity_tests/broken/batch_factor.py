"""Softmax cross-entropy whose backward forgets the mean's 1/N: ``dlogits = p - t`` for every
reduction, where "mean" needs ``(p - t) / N``. The loss itself is right."""
from numpy_nn.functional import softmax_cross_entropy_backward as _backward
from numpy_nn.functional import softmax_cross_entropy_forward


def softmax_cross_entropy_backward(dloss, cache):
    if cache.reduction == "mean":  # BUG: the mean's gradient is the sum's divided by N
        cache = cache._replace(reduction="sum")
    return _backward(dloss, cache)


__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]
