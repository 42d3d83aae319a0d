"""The functional core: every op as a ``forward`` that returns ``(out, cache)`` and a ``backward``
that takes ``(dout, cache)`` and returns the gradients of its inputs.

Conventions (shared with TensorFlow): NHWC activations, HWIO convolution kernels, Flatten in
(H, W, C) order, float32 by default and float64 kept end to end. Each op takes its array module
from its inputs, so the same code runs on CuPy arrays.
"""
from .activations import (
    log_softmax_backward,
    log_softmax_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)
from .conv import conv2d_backward, conv2d_forward, output_geometry, same_padding
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward, flatten_backward, flatten_forward
from .losses import (
    EPSILON,
    cross_entropy_backward,
    cross_entropy_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from .pooling import maxpool2d_backward, maxpool2d_forward

__all__ = [name for name in dir() if name.endswith(("_forward", "_backward"))] + ["EPSILON", "output_geometry", "same_padding"]
