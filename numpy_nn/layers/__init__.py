"""Keras-named layers built on the functional ops (the contract: :mod:`numpy_nn.layers.base`).

    y = layer.forward(x, training=False)      # caches what backward needs
    dx = layer.backward(dy)                   # fills layer.grads, returns dL/dx

``LAYERS`` maps each layer's class name to its class: the one list of layers, which checkpoints
use to rebuild a saved model (``LAYERS[name](**config)``); a test holds ``tf_nn.models.KERAS_LAYERS``
(the Keras mapping) to the same list. A new layer is one class in this package and one entry here.
"""
from .base import ActivationLayer, Layer, to_snake_case
from .conv import AveragePooling2D, Conv2D, MaxPooling2D
from .core import Dense, Dropout, Flatten, ReLU, Softmax
from .normalization import BatchNormalization

LAYERS = {cls.__name__: cls for cls in (Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten,
                                         Dropout, ReLU, Softmax, BatchNormalization)}

__all__ = ["Layer", "ActivationLayer", "LAYERS", "to_snake_case", *LAYERS]
