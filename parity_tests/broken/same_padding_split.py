"""Conv2D whose "same" padding puts the odd extra row (column) at the top (left), where TensorFlow
puts it at the bottom (right). Forward and backward agree with each other (the finite differences
pass); both disagree with TensorFlow's padding rule."""
from typing import Any, NamedTuple

import numpy as np

from numpy_nn.functional import conv2d_backward as _backward
from numpy_nn.functional import conv2d_forward as _forward
from numpy_nn.functional import same_padding


class Cache(NamedTuple):
    inner: Any       # the cache of the "valid" convolution of the padded input
    pads: tuple      # ((top, bottom), (left, right))
    x_hw: tuple


def conv2d_forward(x, kernel, bias=None, stride=1, padding="valid"):
    strides = (stride, stride) if isinstance(stride, int) else tuple(stride)
    pads = ((0, 0), (0, 0))
    if padding == "same":
        pads = []
        for size, k, s in zip(x.shape[1:3], kernel.shape[:2], strides):
            _, before, after = same_padding(size, k, s)
            pads.append((after, before))  # BUG: the extra row goes before, not after
        pads = tuple(pads)
    xpad = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    y, inner = _forward(xpad, kernel, bias, stride, "valid")
    return y, Cache(inner, pads, x.shape[1:3])


def conv2d_backward(dout, cache):
    dxpad, dkernel, dbias = _backward(dout, cache.inner)
    (top, _), (left, _) = cache.pads
    h, w = cache.x_hw
    return dxpad[:, top:top + h, left:left + w, :], dkernel, dbias
