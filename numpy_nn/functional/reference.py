"""Plain loop implementations of convolution and max-pooling: slow, obviously correct, and the
documented reference that the fast paths in :mod:`conv` and :mod:`pooling` are tested against.

They work on NumPy arrays only and return plain arrays (no cache).
"""
from __future__ import annotations

import numpy as np

from ._checks import pair
from .conv import output_geometry, pad_hw


def conv2d_forward_reference(x, w, b=None, stride=1, padding="valid"):
    """``y[n, i, j, :] = b + sum over the window of xpad[n, i*sh:i*sh+KH, j*sw:j*sw+KW, :] * w``, one output pixel at a time."""
    (sh, sw), kh, kw = pair(stride, "stride", "ref"), w.shape[0], w.shape[1]
    (oh, ow), pads = output_geometry(x.shape[1:3], (kh, kw), (sh, sw), padding, "ref")
    xpad = pad_hw(x, pads)
    y = np.zeros((x.shape[0], oh, ow, w.shape[3]), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            window = xpad[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]   # (N, KH, KW, C)
            y[:, i, j, :] = np.tensordot(window, w, axes=([1, 2, 3], [0, 1, 2]))
    return y if b is None else y + b


def conv2d_backward_reference(dy, x, w, stride=1, padding="valid"):
    """Each output pixel's gradient flows back to the window and the kernel that produced it."""
    (sh, sw), kh, kw = pair(stride, "stride", "ref"), w.shape[0], w.shape[1]
    (oh, ow), pads = output_geometry(x.shape[1:3], (kh, kw), (sh, sw), padding, "ref")
    xpad = pad_hw(x, pads)
    dxpad, dw = np.zeros_like(xpad), np.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            window = xpad[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            g = dy[:, i, j, :]                                              # (N, F)
            dw += np.tensordot(window, g, axes=([0], [0]))                  # (KH, KW, C, F)
            dxpad[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :] += np.tensordot(g, w, axes=([1], [3]))
    (top, _), (left, _) = pads
    dx = dxpad[:, top:top + x.shape[1], left:left + x.shape[2], :]
    return dx, dw, dy.sum(axis=(0, 1, 2))


def maxpool2d_forward_reference(x, pool_size=2, stride=None, padding="valid"):
    """``y[n, i, j, c]`` = the max of each window, one window at a time."""
    (ph, pw) = pair(pool_size, "pool_size", "ref")
    (sh, sw) = (ph, pw) if stride is None else pair(stride, "stride", "ref")
    (oh, ow), pads = output_geometry(x.shape[1:3], (ph, pw), (sh, sw), padding, "ref", what="pool_size")
    xpad = pad_hw(x, pads, value=-np.inf)
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            y[:, i, j, :] = xpad[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
    return y


def maxpool2d_backward_reference(dy, x, pool_size=2, stride=None, padding="valid"):
    """Route each window's gradient to ``argmax`` of the window flattened in row-major order (its first maximum)."""
    (ph, pw) = pair(pool_size, "pool_size", "ref")
    (sh, sw) = (ph, pw) if stride is None else pair(stride, "stride", "ref")
    (oh, ow), pads = output_geometry(x.shape[1:3], (ph, pw), (sh, sw), padding, "ref", what="pool_size")
    xpad = pad_hw(x, pads, value=-np.inf)
    dxpad = np.zeros_like(xpad)
    for n in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                for c in range(x.shape[3]):
                    window = xpad[n, i * sh:i * sh + ph, j * sw:j * sw + pw, c]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dxpad[n, i * sh + a, j * sw + b, c] += dy[n, i, j, c]
    (top, _), (left, _) = pads
    return dxpad[:, top:top + x.shape[1], left:left + x.shape[2], :]
