"""Keras-style loss objects: ``loss(y_true, y_pred)`` is the batch mean, ``backward()`` its gradient.

Both wrap the functional cross-entropies. With ``from_logits=True`` the scores are logits and the
fused, overflow-free softmax cross-entropy is used; with ``from_logits=False`` they are probabilities
and Keras's clip-to-[1e-7, 1-1e-7] semantics apply (see :func:`numpy_nn.functional.cross_entropy_forward`).
"""
from __future__ import annotations

import numpy as np

from . import functional as F


class _CrossEntropy:
    sparse = None

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)
        self._cache = None

    def _labels(self, y_true, y_pred):
        raise NotImplementedError

    def forward(self, y_true, y_pred, from_logits=None):
        """Mean loss over the batch; caches what :meth:`backward` needs. ``from_logits`` overrides the
        constructor's setting for this call (Sequential uses it to fuse a final softmax, as Keras does)."""
        logits = self.from_logits if from_logits is None else from_logits
        labels = self._labels(np.asarray(y_true) if isinstance(y_true, (list, tuple)) else y_true, y_pred)
        if logits:
            value, cache = F.softmax_cross_entropy_forward(y_pred, labels)
            self._cache = (F.softmax_cross_entropy_backward, cache)
        else:
            value, cache = F.cross_entropy_forward(y_pred, labels)
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
        """Fraction of rows whose arg-max matches the label (Keras's "accuracy" for this loss)."""
        target = y_true if self.sparse else np.argmax(y_true, axis=-1)
        if self.sparse and target.ndim == 2 and target.shape[1] == 1:
            target = target[:, 0]
        return np.count_nonzero(np.argmax(y_pred, axis=-1) == target) / len(target)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy against integer class ids of shape (N,) (or (N, 1), as Keras accepts)."""

    sparse = True

    def _labels(self, y_true, y_pred):
        if getattr(y_true, "ndim", None) == 2 and y_true.shape[1] == 1:
            y_true = y_true[:, 0]
        return y_true


class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy against one-hot (or probability) rows of shape (N, C)."""

    sparse = False

    def _labels(self, y_true, y_pred):
        return y_true


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
