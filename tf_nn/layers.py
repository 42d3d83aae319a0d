"""Keras layers that numpy-nn's parity checks need and Keras does not ship.

:class:`InjectedDropout` is Keras's ``Dropout`` with one addition: a keep-mask can be injected for
the next training-mode call, exactly as ``numpy_nn.layers.Dropout.mask`` does, so a NumPy model and
its Keras twin drop the same units and can be compared step by step.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


@keras.saving.register_keras_serializable(package="tf_nn")
class InjectedDropout(keras.layers.Dropout):
    """Inverted dropout whose next keep-mask can be set from outside.

    With ``layer.mask = m`` (a boolean array of the input's shape), the next call with
    ``training=True`` returns ``x * m * (1 / (1 - rate))`` -- the same expression, in the same order,
    as ``numpy_nn.functional.dropout_forward`` -- and then forgets the mask (it is used once, like
    numpy_nn's). The mask that was applied is kept in ``layer.last_mask``. Without a mask, or at
    inference, it is exactly ``keras.layers.Dropout``.

    The mask is a Python attribute read when the layer runs, so injection works in eager calls
    (``model(x, training=True)`` under a ``GradientTape``); inside a traced ``tf.function`` (e.g.
    ``model.fit``) it would be frozen into the graph, so that raises instead.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(rate, noise_shape=noise_shape, seed=seed, **kwargs)
        self.mask = None
        self.last_mask = None

    def call(self, inputs, training=False):
        mask, self.mask = self.mask, None
        if mask is None or not training:
            self.last_mask = None
            return super().call(inputs, training=training)
        if not tf.executing_eagerly():
            raise RuntimeError(f"InjectedDropout '{self.name}': an injected mask needs an eager call, not a traced tf.function")
        mask = np.asarray(mask)
        if mask.dtype != bool or tuple(mask.shape) != tuple(inputs.shape):
            raise ValueError(f"InjectedDropout '{self.name}': mask must be a boolean array of shape "
                             f"{tuple(inputs.shape)}, got {mask.dtype} {tuple(mask.shape)}")
        self.last_mask = mask
        scale = tf.constant(1 / (1 - self.rate), dtype=inputs.dtype)
        return inputs * tf.constant(mask, dtype=inputs.dtype) * scale
