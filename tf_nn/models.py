"""The Keras twin of a ``numpy_nn.Sequential``, and weight transfer between the two.

    import numpy_nn.zoo, tf_nn
    np_model = numpy_nn.zoo.get("cnn").build(seed=0)
    keras_model = tf_nn.to_keras(np_model)                  # same layers, dtype, input shape, weights
    ...train one of them...
    tf_nn.copy_weights_to_numpy(keras_model, np_model)     # or copy_weights_to_keras(np_model, keras_model)

Both frameworks list weights in the same order -- layer by layer, kernel then bias -- with the same
layouts (Dense kernels (in, out); Conv2D kernels HWIO; NHWC activations; Flatten in (H, W, C)
order), so weights move across with ``get_weights`` / ``set_weights`` and no transposes.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from numpy_nn import layers as np_layers  # noqa: E402

from .layers import InjectedDropout  # noqa: E402


def _keras_layer(layer, dtype, dropout_masks):
    """The Keras layer equivalent to one numpy_nn layer (same type, arguments, activation, name)."""
    common = dict(name=layer.name, dtype=dtype)
    if isinstance(layer, np_layers.Dense):
        return keras.layers.Dense(layer.units, activation=layer.activation, use_bias=layer.use_bias, **common)
    if isinstance(layer, np_layers.Conv2D):
        return keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                   activation=layer.activation, use_bias=layer.use_bias,
                                   data_format="channels_last", **common)
    if isinstance(layer, np_layers.MaxPooling2D):
        return keras.layers.MaxPooling2D(layer.pool_size, strides=layer.strides, padding=layer.padding,
                                         data_format="channels_last", **common)
    if isinstance(layer, np_layers.Flatten):
        return keras.layers.Flatten(data_format="channels_last", **common)
    if isinstance(layer, np_layers.Dropout):
        cls = InjectedDropout if dropout_masks else keras.layers.Dropout
        return cls(layer.rate, seed=layer.seed, **common)
    if isinstance(layer, np_layers.ReLU):
        return keras.layers.ReLU(**common)
    if isinstance(layer, np_layers.Softmax):
        return keras.layers.Softmax(axis=-1, **common)
    raise TypeError(f"to_keras: no Keras equivalent for numpy_nn layer {type(layer).__name__} '{layer.name}'")


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
    model = keras.Sequential([inputs] + [_keras_layer(layer, dtype, dropout_masks) for layer in np_model.layers],
                             name=np_model.name)
    copy_weights_to_keras(np_model, model)
    return model


def _check_same_structure(np_model, keras_model, op):
    np_shapes = [tuple(w.shape) for w in np_model.get_weights()]
    keras_shapes = [tuple(v.shape) for v in keras_model.weights]
    if np_shapes != keras_shapes:
        raise ValueError(f"{op}: the models do not match: numpy weight shapes {np_shapes} vs Keras {keras_shapes}")


def copy_weights_to_keras(np_model, keras_model):
    """Assign the numpy model's weights to the Keras model (cast to each Keras variable's dtype)."""
    _check_same_structure(np_model, keras_model, "copy_weights_to_keras")
    for variable, w in zip(keras_model.weights, np_model.get_weights()):
        variable.assign(np.asarray(w, dtype=np.dtype(variable.dtype)))
    return keras_model


def copy_weights_to_numpy(keras_model, np_model):
    """Assign the Keras model's weights to the numpy model, in place (cast to the numpy dtype)."""
    _check_same_structure(np_model, keras_model, "copy_weights_to_numpy")
    np_model.set_weights([np.asarray(v.numpy()) for v in keras_model.weights])
    return np_model


def keras_loss_and_gradients(keras_model, loss, x, y, training=False):
    """One forward and backward pass through a Keras model with ``tf.GradientTape``.

    Returns ``(loss_value, outputs, grads)``: the loss as a NumPy scalar, the model's outputs and
    the gradient of every weight, as NumPy arrays in ``get_weights`` order (matching
    ``[g for g, _ in np_model.trainable_pairs()]``). ``loss`` is a Keras loss object (see
    :func:`tf_nn.losses.from_numpy`).
    """
    dtype = keras_model.weights[0].dtype if keras_model.weights else "float32"
    x = tf.convert_to_tensor(np.asarray(x), dtype=dtype)
    with tf.GradientTape() as tape:
        out = keras_model(x, training=training)
        value = loss(tf.convert_to_tensor(np.asarray(y)), out)
    grads = tape.gradient(value, keras_model.trainable_weights)
    return value.numpy(), out.numpy(), [g.numpy() for g in grads]
