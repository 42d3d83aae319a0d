"""Conv2D and the pooling layers, NHWC (``channels_last``) as Keras's defaults."""
from __future__ import annotations

from .. import functional as F
from .. import initializers
from ..functional._checks import check_padding, pair
from .base import ActivationLayer, Layer, check_bool
from .core import initial_kernel_and_bias, positive_int


class Conv2D(ActivationLayer):
    """``y = activation(conv2d(x, kernel, strides, padding) + bias)``, kernel (KH, KW, C_in, filters)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", name=None, seed=None):
        super().__init__(activation, name, seed)
        self.filters = positive_int(filters, "filters", "Conv2D")
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = pair(strides, "strides", "Conv2D")
        self.padding = check_padding(padding, "Conv2D")
        self.use_bias = check_bool(use_bias, "use_bias", "Conv2D")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def param_shapes(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D '{self.name}': expects 4-D NHWC input (batch, height, width, channels), got shape (batch, {', '.join(map(str, input_shape))})")
        shapes = {"kernel": self.kernel_size + (input_shape[2], self.filters)}
        if self.use_bias:
            shapes["bias"] = (self.filters,)
        return shapes

    def initial_weights(self, shapes, dtype, rng):
        return initial_kernel_and_bias(self, shapes, dtype, rng)

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = F.output_geometry(input_shape[:2], self.kernel_size, self.strides, self.padding, f"Conv2D '{self.name}'")
        return (oh, ow, self.filters)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "activation": self.activation, "use_bias": self.use_bias, "name": self.name}

    def _forward(self, x, training):
        z, self._cache = F.conv2d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides, self.padding)
        return z

    def _backward(self, dz, need_dx):
        dx, self.grads["kernel"], db = F.conv2d_backward(dz, self._cache, need_dx)
        if self.use_bias:
            self.grads["bias"] = db
        return dx


class _Pooling2D(Layer):
    """A window reduction over ``pool_size`` windows moved by ``strides`` (default: ``pool_size``);
    a subclass names its functional pair in ``_ops = (forward, backward)``."""

    _ops = None

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name)
        cls = type(self).__name__
        self.pool_size = pair(pool_size, "pool_size", cls)
        self.strides = self.pool_size if strides is None else pair(strides, "strides", cls)
        self.padding = check_padding(padding, cls)

    def compute_output_shape(self, input_shape):
        cls = type(self).__name__
        if len(input_shape) != 3:
            raise ValueError(f"{cls} '{self.name}': expects 4-D NHWC input, got shape (batch, {', '.join(map(str, input_shape))})")
        (oh, ow), _ = F.output_geometry(input_shape[:2], self.pool_size, self.strides, self.padding,
                                        f"{cls} '{self.name}'", what="pool_size")
        return (oh, ow, input_shape[2])

    def get_config(self):
        return {"pool_size": list(self.pool_size), "strides": list(self.strides), "padding": self.padding, "name": self.name}

    def _forward(self, x, training):
        y, self._cache = self._ops[0](x, self.pool_size, self.strides, self.padding)
        return y

    def _backward(self, dout, need_dx):
        return self._ops[1](dout, self._cache) if need_dx else None


class MaxPooling2D(_Pooling2D):
    """The maximum of each window (the first maximum gets the gradient, as in TensorFlow)."""

    _ops = (F.maxpool2d_forward, F.maxpool2d_backward)


class AveragePooling2D(_Pooling2D):
    """The mean of each window; with ``padding="same"`` each window is divided by its count of real
    (unpadded) cells, as Keras and TensorFlow do."""

    _ops = (F.avgpool2d_forward, F.avgpool2d_backward)
