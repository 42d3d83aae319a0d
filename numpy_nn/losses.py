"""Keras-style loss objects: ``loss(y_true, y_pred)`` is the batch mean, ``backward()`` its gradient.

Both wrap the functional cross-entropies. With ``from_logits=True`` the scores are logits and the
fused, overflow-free softmax cross-entropy is used; with ``from_logits=False`` they are probabilities
and Keras's clip-to-[1e-7, 1-1e-7] semantics apply (see :func:`numpy_nn.functional.cross_entropy_forward`).
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from .functional._checks import check_labels


class _CrossEntropy:
    """Shared by both losses. Each accepts one kind of label, and :meth:`forward`, :meth:`accuracy`
    and :meth:`check_labels` accept exactly the same labels (:meth:`_labels`, then the functional
    op's own check: class ids in range, rows non-negative and summing to 1)."""

    kind = None  # the functional ops' labels_kind: "sparse" or "dense"

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)
        self._cache = self._last_labels = None

    def _labels(self, y_true, op):
        """``y_true`` as the array the functional op takes (the functional op checks that it is this
        loss's kind of label, ``labels_kind=self.kind``)."""
        raise NotImplementedError

    def _as_array(self, y_true, op):
        if isinstance(y_true, (list, tuple)):
            y_true = np.asarray(y_true)
        if not (hasattr(y_true, "ndim") and hasattr(y_true, "dtype") and hasattr(y_true, "shape")):
            raise TypeError(f"{op}: labels must be an array, got {type(y_true).__name__}")
        return y_true

    def check_labels(self, y_true, n_classes):
        """Check ``y_true`` as labels for ``n_classes`` scores per example, without computing
        anything: the check :meth:`forward` makes, run up front (``Sequential.fit`` checks all its
        labels before the first step). ValueError/TypeError naming the loss otherwise."""
        op = f"{type(self).__name__}.check_labels"
        labels = self._labels(y_true, op)
        check_labels(labels, np.broadcast_to(np.zeros((), np.float32), (len(labels), n_classes)), op, self.kind)

    def forward(self, y_true, y_pred, from_logits=None):
        """Mean loss over the batch; caches what :meth:`backward` needs. ``from_logits`` overrides the
        constructor's setting for this call (Sequential uses it to fuse a final softmax, as Keras does)."""
        logits = self.from_logits if from_logits is None else from_logits
        labels = self._labels(y_true, f"{type(self).__name__}.forward")
        self._last_labels = labels
        if logits:
            value, cache = F.softmax_cross_entropy_forward(y_pred, labels, labels_kind=self.kind)
            self._cache = (F.softmax_cross_entropy_backward, cache)
        else:
            value, cache = F.cross_entropy_forward(y_pred, labels, labels_kind=self.kind)
            self._cache = (F.cross_entropy_backward, cache)
        return value

    def backward(self, dloss=1.0):
        """dL/d(y_pred) (or d/d(logits)) for the last :meth:`forward`, times ``dloss``."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        backward, cache = self._cache
        return backward(dloss, cache)

    def __call__(self, y_true, y_pred):
        return float(self.forward(y_true, y_pred))

    def accuracy(self, y_true, y_pred):
        """Fraction of rows whose arg-max matches the label (Keras's "accuracy" for this loss). The
        labels are checked as :meth:`forward` checks them (so that a wrong kind of label cannot
        broadcast into a wrong number), against scores ``y_pred`` of shape (N, C)."""
        op = f"{type(self).__name__}.accuracy"
        if getattr(y_pred, "ndim", None) != 2:
            raise ValueError(f"{op}: y_pred must be scores of shape (N, C), got {getattr(y_pred, 'shape', type(y_pred).__name__)}")
        labels = self._labels(y_true, op)
        check_labels(labels, y_pred, op, self.kind)
        return self._accuracy(labels, y_pred)

    def last_accuracy(self, y_pred):
        """:meth:`accuracy` against the labels of the last :meth:`forward` (checked there, so not
        again): ``Sequential.train_on_batch`` computes it from the same scores, before the update."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.last_accuracy called before forward")
        return self._accuracy(self._last_labels, y_pred)

    def _accuracy(self, labels, y_pred):
        target = labels if self.kind == "sparse" else np.argmax(labels, axis=-1)
        return np.count_nonzero(np.argmax(y_pred, axis=-1) == target) / len(target)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy against integer class ids of shape (N,) (or (N, 1), as Keras accepts)."""

    kind = "sparse"

    def _labels(self, y_true, op):
        y_true = self._as_array(y_true, op)
        return y_true[:, 0] if y_true.ndim == 2 and y_true.shape[1] == 1 else y_true


class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy against one-hot (or probability) rows of shape (N, C)."""

    kind = "dense"

    def _labels(self, y_true, op):
        return self._as_array(y_true, op)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
}


def get(identifier):
    """A loss object from a Keras name or an existing object."""
    if isinstance(identifier, _CrossEntropy):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"unknown loss {identifier!r}; expected one of {sorted(_BY_NAME)} or a loss object")
