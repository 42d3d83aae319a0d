"""Keras losses configured from numpy_nn's loss objects."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from numpy_nn import losses as np_losses  # noqa: E402


def from_numpy(np_loss, dtype=None):
    """``keras.losses.SparseCategoricalCrossentropy`` / ``CategoricalCrossentropy`` with the same
    ``from_logits`` as a numpy_nn loss object (or a Keras loss name). Reduction: the batch mean, as
    in numpy_nn.

    ``dtype`` is the loss's compute dtype: a Keras 3 loss casts its inputs to ``keras.config.floatx()``
    (float32) unless told otherwise, so pass ``dtype="float64"`` for a float64 model."""
    loss = np_losses.get(np_loss)
    kwargs = {} if dtype is None else {"dtype": np.dtype(dtype).name}
    if isinstance(loss, np_losses.SparseCategoricalCrossentropy):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=loss.from_logits, **kwargs)
    if isinstance(loss, np_losses.CategoricalCrossentropy):
        return keras.losses.CategoricalCrossentropy(from_logits=loss.from_logits, **kwargs)
    raise TypeError(f"from_numpy: no Keras equivalent for {type(loss).__name__}")
