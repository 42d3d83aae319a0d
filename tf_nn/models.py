"""The Keras twin of a ``numpy_nn.Sequential``, and weight transfer between the two.

    import numpy_nn.zoo, tf_nn
    np_model = numpy_nn.zoo.get("cnn").build(seed=0)
    keras_model = tf_nn.to_keras(np_model)                  # same layers, dtype, input shape, weights
    ...train one of them...
    tf_nn.copy_weights_to_numpy(keras_model, np_model)     # or copy_weights_to_keras(np_model, keras_model)

Both frameworks list weights in the same order -- layer by layer, each layer's trainable weights
(kernel, bias) then its non-trainable ones -- with the same layouts (Dense kernels (in, out); Conv2D
kernels HWIO; NHWC activations; Flatten in (H, W, C) order), so weights move across with
``get_weights`` / ``set_weights`` and no transposes. The non-trainable weights (BatchNormalization's moving
mean and variance, after its gamma and beta, as Keras lists them) travel the same way.

:data:`KERAS_LAYERS` is the one numpy_nn -> Keras mapping (a table keyed by numpy_nn layer class):
:func:`to_keras` builds from it and the weight copy relies on it; adding a layer means one entry.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from numpy_nn import layers as np_layers  # noqa: E402

from .layers import InjectedDropout  # noqa: E402


def _dropout(layer, common, dropout_masks):
    cls = InjectedDropout if dropout_masks else keras.layers.Dropout
    return cls(layer.rate, seed=layer.seed, **common)


#: numpy_nn layer class -> ``make(layer, common, dropout_masks)`` returning the Keras layer with the
#: same type, arguments, activation and name (``common`` = name and dtype).
KERAS_LAYERS = {
    np_layers.Dense: lambda layer, common, _: keras.layers.Dense(
        layer.units, activation=layer.activation, use_bias=layer.use_bias, **common),
    np_layers.Conv2D: lambda layer, common, _: keras.layers.Conv2D(
        layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
        activation=layer.activation, use_bias=layer.use_bias, data_format="channels_last", **common),
    np_layers.MaxPooling2D: lambda layer, common, _: keras.layers.MaxPooling2D(
        layer.pool_size, strides=layer.strides, padding=layer.padding, data_format="channels_last", **common),
    np_layers.AveragePooling2D: lambda layer, common, _: keras.layers.AveragePooling2D(
        layer.pool_size, strides=layer.strides, padding=layer.padding, data_format="channels_last", **common),
    np_layers.Flatten: lambda layer, common, _: keras.layers.Flatten(data_format="channels_last", **common),
    np_layers.Dropout: _dropout,
    np_layers.ReLU: lambda layer, common, _: keras.layers.ReLU(**common),
    np_layers.Softmax: lambda layer, common, _: keras.layers.Softmax(axis=-1, **common),
    np_layers.BatchNormalization: lambda layer, common, _: keras.layers.BatchNormalization(
        axis=layer.axis, momentum=layer.momentum, epsilon=layer.epsilon, center=layer.center, scale=layer.scale,
        **common),
}


def keras_layer(layer, dtype, dropout_masks=False):
    """The Keras layer equivalent to one numpy_nn layer, from :data:`KERAS_LAYERS`."""
    make = KERAS_LAYERS.get(type(layer))
    if make is None:
        raise TypeError(f"to_keras: no Keras equivalent for numpy_nn layer {type(layer).__name__} '{layer.name}'")
    return make(layer, dict(name=layer.name, dtype=dtype), dropout_masks)


def to_keras(np_model, dropout_masks=False):
    """Build the ``keras.Sequential`` equivalent to a built ``numpy_nn.Sequential``.

    Same layer types, arguments and activations, in the same order and with the same names; the
    numpy model's dtype (float32 or float64) for every layer; built for the numpy model's input
    shape; and the numpy model's current weights. With ``dropout_masks=True`` each Dropout becomes
    an :class:`~tf_nn.layers.InjectedDropout`, whose keep-mask can be set from outside.

    A final softmax stays a softmax *activation*, as in the tutorials: Keras then computes a
    ``from_logits=False`` cross-entropy from the softmax's input logits, as numpy_nn does.
    """
    if not getattr(np_model, "built", False):
        raise ValueError("to_keras: build the numpy model first (model.build(input_shape) or one forward pass)")
    dtypes = {np.dtype(layer.dtype).name for layer in np_model.layers}
    if len(dtypes) != 1:
        raise ValueError(f"to_keras: the numpy model mixes dtypes {sorted(dtypes)}")
    (dtype,) = dtypes
    inputs = keras.Input(shape=tuple(np_model.input_shape), dtype=dtype, name="input")
    model = keras.Sequential([inputs] + [keras_layer(layer, dtype, dropout_masks) for layer in np_model.layers],
                             name=np_model.name)
    copy_weights_to_keras(np_model, model)
    return model


def _check_same_structure(np_model, keras_model, op):
    """Same weights, layer by layer: the shapes, and which are trainable (Keras's ``trainable`` flag
    against numpy_nn's ``params`` / ``state``)."""
    ours = [(tuple(w.shape), k in layer.params) for layer in np_model.layers for k, w in layer.weights]
    theirs = [(tuple(v.shape), bool(v.trainable)) for v in keras_model.weights]
    if ours != theirs:
        raise ValueError(f"{op}: the models do not match: numpy weight (shape, trainable) {ours} vs Keras {theirs}")


def copy_weights_to_keras(np_model, keras_model):
    """Assign the numpy model's weights (trainable and not) to the Keras model (cast to each Keras
    variable's dtype)."""
    _check_same_structure(np_model, keras_model, "copy_weights_to_keras")
    for variable, w in zip(keras_model.weights, np_model.get_weights()):
        variable.assign(np.asarray(w, dtype=np.dtype(variable.dtype)))
    return keras_model


def copy_weights_to_numpy(keras_model, np_model):
    """Assign the Keras model's weights to the numpy model, in place (cast to the numpy dtype)."""
    _check_same_structure(np_model, keras_model, "copy_weights_to_numpy")
    np_model.set_weights([np.asarray(v.numpy()) for v in keras_model.weights])
    return np_model
