"""2-D max-pooling over NHWC inputs.

    y[n, i, j, c] = max_{0 <= a < PH, 0 <= b < PW} xpad[n, i*sh + a, j*sw + b, c]

Shapes: ``x`` (N, H, W, C); ``y`` (N, OH, OW, C). ``stride`` defaults to ``pool_size``. Padding
follows TensorFlow (see :mod:`._windows`): "valid" uses only whole windows
(``OH = floor((H - PH) / sh) + 1``); "same" gives ``OH = ceil(H / sh)`` and pads with -inf (the odd
extra row at the bottom), so padding never wins a max.

Backward: each window's gradient goes to its *first* maximum in row-major (a, b) order, the rule of
``tf.nn.max_pool2d`` and of the ONNX reference MaxPool; where windows overlap, the gradients add up:

    dxpad[n, i*sh + a*, j*sw + b*, c] += dy[n, i, j, c],   (a*, b*) = first argmax of window (n, i, j, c)
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from ._checks import check_cache, check_dout
from ._windows import offset_slices, pad_hw, pool_geometry, unpad


class MaxPool2DCache(NamedTuple):
    xpad: Any        #: the input padded with -inf, (N, H + pad, W + pad, C)
    out: Any         #: the forward output y, (N, OH, OW, C)
    x_shape: tuple   #: (N, H, W, C)
    pads: tuple      #: ((top, bottom), (left, right))
    pool: tuple      #: (PH, PW)
    strides: tuple   #: (sh, sw)
    out_hw: tuple    #: (OH, OW)


# ---------------------------------------------------------------------------------------------
# Reference: one window at a time. NumPy arrays only; slow; obviously correct.
# ---------------------------------------------------------------------------------------------

def maxpool2d_forward_reference(x, pool_size=2, stride=None, padding="valid"):
    """Reference max-pooling: ``y[:, i, j, :]`` is the max over the window
    ``xpad[:, i*sh : i*sh + PH, j*sw : j*sw + PW, :]``, one window at a time.

    Same arguments, checks and output as :func:`maxpool2d_forward`; returns ``(y, MaxPool2DCache)``
    (the same cache type, so either backward accepts it).
    """
    op = "maxpool2d_forward_reference"
    (ph, pw), (sh, sw), (oh, ow), pads = pool_geometry(x, pool_size, stride, padding, op)
    xpad = pad_hw(x, pads, value=-np.inf)
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            y[:, i, j, :] = xpad[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
    return y, MaxPool2DCache(xpad, y, tuple(x.shape), pads, (ph, pw), (sh, sw), (oh, ow))


def maxpool2d_backward_reference(dout, cache):
    """Reference max-pooling backward: for every window (n, i, j, c), ``dout[n, i, j, c]`` goes to
    ``argmax`` of the window flattened in row-major order, i.e. its first maximum (TensorFlow's and
    ONNX's rule); overlapping windows add up. Returns ``dx`` of shape (N, H, W, C).
    """
    xpad, y, x_shape, pads, (ph, pw), (sh, sw), (oh, ow) = check_cache(cache, MaxPool2DCache, "maxpool2d_backward_reference")
    check_dout(dout, y.shape, y.dtype, "maxpool2d_backward_reference")
    dxpad = np.zeros(xpad.shape, dtype=xpad.dtype)
    for n in range(x_shape[0]):
        for i in range(oh):
            for j in range(ow):
                for c in range(x_shape[3]):
                    window = xpad[n, i * sh:i * sh + ph, j * sw:j * sw + pw, c]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dxpad[n, i * sh + a, j * sw + b, c] += dout[n, i, j, c]
    return unpad(dxpad, pads, x_shape[1:3])


# ---------------------------------------------------------------------------------------------
# Fast path: one vectorised step per window offset (PH*PW of them), over all windows at once.
# ---------------------------------------------------------------------------------------------

def maxpool2d_forward(x, pool_size=2, stride=None, padding="valid"):
    """Max-pooling: ``y[n, i, j, c] = max_{0 <= a < PH, 0 <= b < PW} xpad[n, i*sh + a, j*sw + b, c]``.

    ``x`` (N, H, W, C); ``pool_size`` and ``stride`` ints or pairs (``stride=None``: ``pool_size``);
    ``padding`` "valid" or "same" (-inf padding). Returns ``(y, MaxPool2DCache)``, ``y`` (N, OH, OW, C).

    Computed as a running maximum over the PH*PW window offsets: at offset (a, b), the pixel of
    every window is one strided slice ``xpad[:, a::sh, b::sw, :]`` cut to (N, OH, OW, C), so
    ``y = max over (a, b) of those slices``.
    """
    op = "maxpool2d_forward"
    pool, strides, out_hw, pads = pool_geometry(x, pool_size, stride, padding, op)
    xp = get_array_module(x)
    xpad = pad_hw(x, pads, value=-xp.inf)
    ph, pw = pool
    y = None
    for a in range(ph):
        for b in range(pw):
            slab = xpad[offset_slices(a, b, strides, out_hw)]
            y = slab.copy() if y is None else xp.maximum(y, slab, out=y)
    return y, MaxPool2DCache(xpad, y, x.shape, pads, pool, strides, out_hw)


def maxpool2d_backward(dout, cache):
    """Max-pooling backward: ``dx`` (N, H, W, C) from ``dout`` (N, OH, OW, C).

    Scanning the window offsets (a, b) in row-major order, each window's ``dout[n, i, j, c]`` is
    added at the first offset where ``xpad[n, i*sh + a, j*sw + b, c] == y[n, i, j, c]``: its first
    maximum, as ``tf.nn.max_pool2d`` and ONNX route it. Overlapping windows add up; the padding is
    cut off at the end.

    Not defined here (and never drawn by the tests): a window holding a NaN (``NaN == NaN`` is false,
    so its gradient is dropped, where the reference's ``argmax`` sends it to the NaN), and an all
    ``-inf`` window under "same" padding (its gradient lands in the padding and is cut off, in both).
    """
    xpad, y, x_shape, pads, (ph, pw), strides, out_hw = check_cache(cache, MaxPool2DCache, "maxpool2d_backward")
    check_dout(dout, y.shape, y.dtype, "maxpool2d_backward")
    xp = get_array_module(dout)
    dxpad = xp.zeros(xpad.shape, dtype=dout.dtype)
    routed = xp.zeros(y.shape, dtype=bool)  # has this window's gradient been placed yet?
    for a in range(ph):  # row-major scan, so the first maximum found is the one TensorFlow picks
        for b in range(pw):
            idx = offset_slices(a, b, strides, out_hw)
            hit = (xpad[idx] == y) & ~routed
            dxpad[idx] += dout * hit
            routed |= hit
    return unpad(dxpad, pads, x_shape[1:3])
