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
    numpy_nn's). Without a mask, or at inference, it is exactly ``keras.layers.Dropout``.

    ``m`` may be

    * a NumPy array, in an eager call (``model(x, training=True)`` under a ``GradientTape``); the
      mask applied is then kept in ``layer.last_mask``. Inside a traced ``tf.function`` a NumPy mask
      would be frozen into the graph as a constant, so that raises instead;
    * a ``tf.Tensor``, eager or symbolic: inside a ``tf.function`` whose *arguments* include the
      mask, set ``layer.mask = mask_argument`` before calling the model, and every call of the
      compiled function applies the mask it is given (this is how
      :class:`tf_nn.training.KerasTrainer` compiles its training step). ``last_mask`` is then None:
      the caller already holds the mask.
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
        scale = tf.constant(1 / (1 - self.rate), dtype=inputs.dtype)
        if isinstance(mask, (tf.Tensor, tf.Variable)):
            if mask.dtype != tf.bool or not mask.shape.is_compatible_with(inputs.shape):
                raise ValueError(f"InjectedDropout '{self.name}': mask must be a boolean tensor of shape "
                                 f"{tuple(inputs.shape)}, got {mask.dtype.name} {tuple(mask.shape)}")
            self.last_mask = None
            return inputs * tf.cast(mask, inputs.dtype) * scale
        if not tf.executing_eagerly():
            raise RuntimeError(f"InjectedDropout '{self.name}': a NumPy mask needs an eager call; inside a "
                               "tf.function pass the mask as an argument of the function (a tf.Tensor)")
        mask = np.asarray(mask)
        if mask.dtype != bool or tuple(mask.shape) != tuple(inputs.shape):
            raise ValueError(f"InjectedDropout '{self.name}': mask must be a boolean array of shape "
                             f"{tuple(inputs.shape)}, got {mask.dtype} {tuple(mask.shape)}")
        self.last_mask = mask
        return inputs * tf.constant(mask, dtype=inputs.dtype) * scale
