"""Keras-named layers built on the functional ops.

A layer holds its parameters in ``params`` and, after ``backward``, their gradients in ``grads``,
both keyed by Keras's names (``"kernel"``, ``"bias"``). It builds its weights on the first
``forward`` from the input's shape and dtype (float64 in, float64 weights), drawing them from a
``numpy.random.Generator`` that ``Sequential`` hands down (or from the layer's own ``seed``).

    y = layer.forward(x, training=False)      # caches what backward needs
    dx = layer.backward(dy)                   # fills layer.grads, returns dL/dx
"""
from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from . import functional as F
from . import initializers
from .functional._checks import check_float, check_padding, pair

_ACTIVATIONS = {
    "relu": (F.relu_forward, F.relu_backward),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward),
    "tanh": (F.tanh_forward, F.tanh_backward),
    "softmax": (F.softmax_forward, F.softmax_backward),
}
_name_counters = defaultdict(itertools.count)


def _check_activation(activation):
    if activation in (None, "linear"):
        return None
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected None, 'linear' or one of {sorted(_ACTIVATIONS)}")
    return activation


def _snake(name):
    out = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")
    return out.replace("max_pooling2_d", "max_pooling2d").replace("conv2_d", "conv2d")


class Layer:
    """Base class: shape bookkeeping, lazy build, and the ``params``/``grads`` dictionaries."""

    def __init__(self, name=None, seed=None):
        cls = type(self).__name__
        index = next(_name_counters[cls])
        self.name = name or (_snake(cls) if index == 0 else f"{_snake(cls)}_{index}")
        self.seed = seed
        self.params, self.grads = {}, {}
        self.built = False
        self.input_shape = None  # without the batch axis
        self.dtype = None

    # --- building -------------------------------------------------------------------------
    def build(self, input_shape, dtype=np.float32, rng=None):
        """Create the weights for inputs of shape ``(batch,) + input_shape``; ``rng`` defaults to the layer's seed."""
        self.input_shape, self.dtype = tuple(int(d) for d in input_shape), np.dtype(dtype)
        self._build(np.random.default_rng(self.seed if rng is None else rng))
        self.built = True
        self.output_shape = self.compute_output_shape(self.input_shape)

    def _build(self, rng):
        pass

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    # --- running --------------------------------------------------------------------------
    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def forward(self, x, training=False):
        check_float(x, "x", f"{type(self).__name__} '{self.name}'")
        if not self.built:
            self.build(x.shape[1:], x.dtype)
        elif tuple(x.shape[1:]) != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"{type(self).__name__} '{self.name}': expected input of shape (batch, {expected}), got {tuple(x.shape)}")
        elif x.dtype != self.dtype:
            raise TypeError(f"{type(self).__name__} '{self.name}': built for {self.dtype} inputs, got {x.dtype}")
        return self._forward(x, training)

    def backward(self, dout, need_dx=True):
        """Fill ``grads`` from ``dout`` = dL/d(output) and return dL/dx. With ``need_dx=False`` (a
        model's first layer) a layer with parameters skips computing dL/dx and returns None."""
        if not self.built:
            raise RuntimeError(f"{type(self).__name__} '{self.name}': backward called before forward")
        return self._backward(dout, need_dx=False) if not need_dx and self.params else self._backward(dout)

    # --- weights --------------------------------------------------------------------------
    def get_weights(self):
        return [p.copy() for p in self.params.values()]

    def get_config(self):
        """The constructor arguments (JSON-serialisable) that rebuild this layer, as in Keras."""
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class _WithActivation(Layer):
    """A layer whose output goes through an optional activation, as Keras's ``activation=`` argument."""

    def __init__(self, activation=None, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self.activation = _check_activation(activation)

    @property
    def outputs_softmax(self):
        return self.activation == "softmax"

    _preactivation_only = False

    def _activate(self, z):
        if self.activation is None or self._preactivation_only:
            self._act_cache = None
            self.preactivation = z
            return z
        out, self._act_cache = _ACTIVATIONS[self.activation][0](z)
        self.preactivation = z  # the logits, when the activation is softmax
        return out

    def forward_preactivation(self, x, training=False):
        """Forward without the activation: returns z (the logits, for a final softmax). Used when the
        loss is fused with a final softmax, as Keras does, so the softmax is not computed twice."""
        self._preactivation_only = True
        try:
            return self.forward(x, training=training)
        finally:
            self._preactivation_only = False

    def backward_from_preactivation(self, dz, need_dx=True):
        """Backward starting from dL/dz, the gradient at the activation's input (used when the loss
        is fused with a final softmax, as Keras does)."""
        if not self.params or need_dx:
            return self._backward(dz, skip_activation=True)
        return self._backward(dz, skip_activation=True, need_dx=False)

    def _deactivate(self, dout, skip_activation):
        if self.activation is None or skip_activation:
            return dout
        return _ACTIVATIONS[self.activation][1](dout, self._act_cache)


class Dense(_WithActivation):
    """``y = activation(x @ kernel + bias)``, kernel (in, units), bias (units,)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, seed=None):
        super().__init__(activation, name, seed)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units, self.use_bias = int(units), use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _build(self, rng):
        if len(self.input_shape) != 1:
            raise ValueError(f"Dense '{self.name}': expects 2-D input (batch, features), got shape (batch, {', '.join(map(str, self.input_shape))}); add a Flatten layer first")
        self.params["kernel"] = self.kernel_initializer((self.input_shape[0], self.units), self.dtype, rng)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.units,), self.dtype, rng)

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias, "name": self.name}

    def _forward(self, x, training):
        z, self._cache = F.dense_forward(x, self.params["kernel"], self.params.get("bias"))
        return self._activate(z)

    def _backward(self, dout, skip_activation=False, need_dx=True):
        dx, self.grads["kernel"], db = F.dense_backward(self._deactivate(dout, skip_activation), self._cache, need_dx)
        if self.use_bias:
            self.grads["bias"] = db
        return dx


class Conv2D(_WithActivation):
    """``y = activation(conv2d(x, kernel, strides, padding) + bias)``, kernel (KH, KW, C_in, filters)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", name=None, seed=None):
        super().__init__(activation, name, seed)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"Conv2D: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = pair(strides, "strides", "Conv2D")
        self.padding = check_padding(padding, "Conv2D")
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _build(self, rng):
        if len(self.input_shape) != 3:
            raise ValueError(f"Conv2D '{self.name}': expects 4-D NHWC input (batch, height, width, channels), got shape (batch, {', '.join(map(str, self.input_shape))})")
        shape = self.kernel_size + (self.input_shape[2], self.filters)
        self.params["kernel"] = self.kernel_initializer(shape, self.dtype, rng)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,), self.dtype, rng)

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = F.output_geometry(input_shape[:2], self.kernel_size, self.strides, self.padding, f"Conv2D '{self.name}'")
        return (oh, ow, self.filters)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "activation": self.activation, "use_bias": self.use_bias, "name": self.name}

    def _forward(self, x, training):
        z, self._cache = F.conv2d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides, self.padding)
        return self._activate(z)

    def _backward(self, dout, skip_activation=False, need_dx=True):
        dx, self.grads["kernel"], db = F.conv2d_backward(self._deactivate(dout, skip_activation), self._cache, need_dx)
        if self.use_bias:
            self.grads["bias"] = db
        return dx


class MaxPooling2D(Layer):
    """Max over ``pool_size`` windows moved by ``strides`` (default: ``pool_size``)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name)
        self.pool_size = pair(pool_size, "pool_size", "MaxPooling2D")
        self.strides = self.pool_size if strides is None else pair(strides, "strides", "MaxPooling2D")
        self.padding = check_padding(padding, "MaxPooling2D")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"MaxPooling2D '{self.name}': expects 4-D NHWC input, got shape (batch, {', '.join(map(str, input_shape))})")
        (oh, ow), _ = F.output_geometry(input_shape[:2], self.pool_size, self.strides, self.padding,
                                             f"MaxPooling2D '{self.name}'", what="pool_size")
        return (oh, ow, input_shape[2])

    def get_config(self):
        return {"pool_size": list(self.pool_size), "strides": list(self.strides), "padding": self.padding, "name": self.name}

    def _forward(self, x, training):
        y, self._cache = F.maxpool2d_forward(x, self.pool_size, self.strides, self.padding)
        return y

    def _backward(self, dout):
        return F.maxpool2d_backward(dout, self._cache)


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...), in row-major (H, W, C) order."""

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape, dtype=np.int64)),)

    def _forward(self, x, training):
        y, self._cache = F.flatten_forward(x)
        return y

    def _backward(self, dout):
        return F.flatten_backward(dout, self._cache)


class Dropout(Layer):
    """Inverted dropout at training time (``training=True``), the identity at inference."""

    def __init__(self, rate, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.mask = None  # set this to inject the next keep-mask (tests, cross-framework runs)

    def _build(self, rng):
        # A generator of its own, seeded from the model's: masks are reproducible from the model's
        # seed, and the layer's generator state can be saved and restored with a checkpoint.
        self.rng = np.random.default_rng(int(rng.integers(2**63)))

    def get_config(self):
        return {"rate": self.rate, "name": self.name}

    def _forward(self, x, training):
        mask, self.mask = self.mask, None
        y, self._cache = F.dropout_forward(x, self.rate, rng=self.rng, training=training, mask=mask)
        self.last_mask = None if self._cache is None else self._cache[0]
        return y

    def _backward(self, dout):
        return F.dropout_backward(dout, self._cache)


class ReLU(_WithActivation):
    """``y = max(x, 0)`` as a layer."""

    def __init__(self, name=None):
        super().__init__("relu", name)

    def _forward(self, x, training):
        return self._activate(x)

    def _backward(self, dout, skip_activation=False):
        return self._deactivate(dout, skip_activation)


class Softmax(_WithActivation):
    """Softmax over the last axis as a layer."""

    def __init__(self, name=None):
        super().__init__("softmax", name)

    def _forward(self, x, training):
        return self._activate(x)

    def _backward(self, dout, skip_activation=False):
        return self._deactivate(dout, skip_activation)
