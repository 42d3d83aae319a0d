"""The functional core: every op as a ``forward`` that returns ``(out, cache)`` and a ``backward``
that takes ``(dout, cache)`` and returns the gradients of its inputs (``dout`` = dL/d(out)).

One op (or one tight family) per module, each opening with its math; for the window ops a plain
reference in the same contract comes first, then the fast path:

    activations            relu, sigmoid, tanh
    softmax                softmax, log_softmax
    softmax_cross_entropy  the fused loss on logits (from_logits=True)
    cross_entropy          the loss on probabilities (from_logits=False), EPSILON
    dense                  x @ kernel + bias
    conv2d                 2-D convolution (reference, then im2col + GEMM)
    maxpool2d, avgpool2d   2-D pooling (reference, then running max / sum over window offsets)
    batchnorm              batch normalization (reference graph, then the compact backward)
    dropout, flatten
    _windows               shared window geometry: same padding, padding, window views, im2col, col2im

The caching rule: **the arrays handed to a forward and the arrays it returns are what its backward
uses.** A cache holds references, not copies: dense, conv2d (its im2col matrix can be a view of
``x``), max-pooling (its padded input is ``x`` itself when nothing is padded) and the losses (the
probabilities and labels given) keep their inputs, so changing an input in place between the
forward and the backward changes the gradient. Where the op's output is also its cache (sigmoid,
tanh, softmax, log-softmax, max-pooling, and relu), the output is handed out read-only on NumPy (a copy on
CuPy, which has no read-only arrays), so an in-place edit raises instead of silently changing the
gradient; ``y.copy()`` gives a writeable one. Flatten's output is a view of its input (a reshape);
its backward needs only the shape. The ops never write to their inputs.

Sizes: zero-size inputs follow TensorFlow where it is well defined (a batch of 0, 0 channels, an
empty spatial axis under "same" padding, softmax over an axis of length 0, Flatten of a batch of 0
all give empty outputs and gradients of the inputs' shapes); kernels with a zero-length axis, and
strides or pool sizes above ``2**31 - 1`` (TensorFlow's int32 limit), are refused with a ValueError
naming the argument. The memory a pooling op allocates is a small multiple of its input and output
whatever its ``pool_size`` (see ``_windows.fit_window_to_input``).

Conventions (shared with TensorFlow): NHWC activations, HWIO convolution kernels, Flatten in
(H, W, C) order, float32 by default and float64 kept end to end. Each fast op takes its array
module from its inputs (``xp = get_array_module(x)``), so the same code runs on CuPy arrays.
"""
from ._windows import output_geometry, same_padding
from .activations import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward
from .avgpool2d import avgpool2d_backward, avgpool2d_backward_reference, avgpool2d_forward, avgpool2d_forward_reference
from .batchnorm import batchnorm_backward, batchnorm_backward_reference, batchnorm_forward, batchnorm_forward_reference
from .conv2d import conv2d_backward, conv2d_backward_reference, conv2d_forward, conv2d_forward_reference
from .cross_entropy import EPSILON, cross_entropy_backward, cross_entropy_forward
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward
from .flatten import flatten_backward, flatten_forward
from .maxpool2d import maxpool2d_backward, maxpool2d_backward_reference, maxpool2d_forward, maxpool2d_forward_reference
from .softmax import log_softmax_backward, log_softmax_forward, softmax_backward, softmax_forward
from .softmax_cross_entropy import softmax_cross_entropy_backward, softmax_cross_entropy_forward

__all__ = [name for name in dir() if name.endswith(("_forward", "_backward", "_reference"))] + ["EPSILON", "output_geometry", "same_padding"]
