"""Dense, Flatten, Dropout and the activation layers ReLU and Softmax."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import initializers
from .base import ActivationLayer, Layer, check_bool


def positive_int(value, what, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)


def initial_kernel_and_bias(layer, shapes, dtype, rng):
    """``{"kernel": ..., "bias": ...}`` from the layer's initializers, kernel first (the draw order
    fixes the weights a seed gives); Dense's and Conv2D's ``initial_weights``."""
    weights = {"kernel": layer.kernel_initializer(shapes["kernel"], dtype, rng)}
    if layer.use_bias:
        weights["bias"] = layer.bias_initializer(shapes["bias"], dtype, rng)
    return weights


class Dense(ActivationLayer):
    """``y = activation(x @ kernel + bias)``, kernel (in, units), bias (units,)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, seed=None):
        super().__init__(activation, name, seed)
        self.units = positive_int(units, "units", "Dense")
        self.use_bias = check_bool(use_bias, "use_bias", "Dense")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def param_shapes(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"Dense '{self.name}': expects 2-D input (batch, features), got shape (batch, {', '.join(map(str, input_shape))}); add a Flatten layer first")
        shapes = {"kernel": (input_shape[0], self.units)}
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def initial_weights(self, shapes, dtype, rng):
        return initial_kernel_and_bias(self, shapes, dtype, rng)

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias, "name": self.name}

    def _forward(self, x, training):
        z, self._cache = F.dense_forward(x, self.params["kernel"], self.params.get("bias"))
        return z

    def _backward(self, dz, need_dx):
        dx, self.grads["kernel"], db = F.dense_backward(dz, self._cache, need_dx)
        if self.use_bias:
            self.grads["bias"] = db
        return dx


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...), in row-major (H, W, C) order."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)  # Python integers: no overflow whatever the shape

    def _forward(self, x, training):
        y, self._cache = F.flatten_forward(x)
        return y

    def _backward(self, dout, need_dx):
        return F.flatten_backward(dout, self._cache) if need_dx else None


class Dropout(Layer):
    """Inverted dropout at training time (``training=True``), the identity at inference.

    Set ``layer.mask`` (a boolean keep-mask of the input's shape) to inject the mask of the next
    training-mode forward (tests, cross-framework runs); ``layer.last_mask`` is the mask the last
    training-mode forward applied (None at inference)."""

    keeps_rng = True

    def __init__(self, rate, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.mask = None
        self.last_mask = None

    def _make_rng(self, rng):
        # A generator of its own, seeded from the model's: masks are reproducible from the model's
        # seed, and the layer's generator state can be saved and restored with a checkpoint.
        return np.random.default_rng(int(rng.integers(2**63)))

    def get_config(self):
        return {"rate": self.rate, "name": self.name}

    def _forward(self, x, training):
        mask, self.mask = self.mask, None
        y, self._cache = F.dropout_forward(x, self.rate, rng=self.rng, training=training, mask=mask)
        self.last_mask = None if self._cache is None else self._cache.mask
        return y

    def _backward(self, dout, need_dx):
        return F.dropout_backward(dout, self._cache) if need_dx else None


class ReLU(ActivationLayer):
    """``y = max(x, 0)`` as a layer."""

    def __init__(self, name=None):
        super().__init__("relu", name)

    def _forward(self, x, training):
        return x

    def _backward(self, dz, need_dx):
        return dz if need_dx else None


class Softmax(ActivationLayer):
    """Softmax over the last axis as a layer."""

    def __init__(self, name=None):
        super().__init__("softmax", name)

    def _forward(self, x, training):
        return x

    def _backward(self, dz, need_dx):
        return dz if need_dx else None
