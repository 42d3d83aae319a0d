"""2-D max-pooling over NHWC inputs.

    y[n, i, j, c] = max over the cells (r, s) of x that window (i, j) covers of x[n, r, s, c]

Window (i, j) covers the rows ``i*sh - top .. i*sh - top + PH - 1`` and the columns
``j*sw - left .. j*sw - left + PW - 1`` of ``x`` (``top``, ``left``: the padding before, see
:mod:`._windows`), cut to the input. Shapes: ``x`` (N, H, W, C); ``y`` (N, OH, OW, C). ``stride``
defaults to ``pool_size``. Padding follows TensorFlow: "valid" uses only whole windows
(``OH = floor((H - PH) / sh) + 1``); "same" gives ``OH = ceil(H / sh)`` (the odd extra row at the
bottom) and every window covers at least one real cell. The fast path pads with -inf, so padding
never wins a max.

Backward: each window's gradient goes to its *first* maximum among its real cells in row-major
order, the rule of ``tf.nn.max_pool2d`` and of the ONNX reference MaxPool; where windows overlap,
the gradients add up:

    dx[n, r*, s*, c] += dy[n, i, j, c],   (r*, s*) = first argmax of window (n, i, j, c)

NaN: a window holding a NaN has the maximum NaN (NumPy's ``max``; TensorFlow's CPU kernel ignores
NaN instead, a documented difference), and its gradient goes to its first NaN, in both paths.
A window whose real cells are all -inf has the maximum -inf (TensorFlow gives the lowest float,
-3.4e38 in float32) and its gradient goes to its first real cell, as TensorFlow's does.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from ._checks import check_cache, check_dout, handed_out
from ._windows import offset_slices, pad_hw, pool_geometry, real_cells, real_offsets, unpad


class MaxPool2DReferenceCache(NamedTuple):
    x: Any           #: the input (N, H, W, C)
    pads: tuple      #: ((top, bottom), (left, right)), as the arguments say
    pool: tuple      #: (PH, PW)
    strides: tuple   #: (sh, sw)
    out_hw: tuple    #: (OH, OW)


class MaxPool2DCache(NamedTuple):
    xpad: Any        #: the input padded with -inf, (N, H + pad, W + pad, C), ``x`` itself without padding
    out: Any         #: the forward output y, (N, OH, OW, C)
    x_shape: tuple   #: (N, H, W, C)
    pads: tuple      #: ((top, bottom), (left, right)) of the fitted geometry
    pool: tuple      #: (PH, PW) of the fitted geometry (see ``_windows.fit_window_to_input``)
    strides: tuple   #: (sh, sw)
    out_hw: tuple    #: (OH, OW)


# ---------------------------------------------------------------------------------------------
# Reference: one window at a time, over the cells of x it covers. NumPy arrays only; slow.
# ---------------------------------------------------------------------------------------------

def maxpool2d_forward_reference(x, pool_size=2, stride=None, padding="valid"):
    """Reference max-pooling: ``y[:, i, j, :]`` is the max over the cells of ``x`` that window (i, j)
    covers, ``x[:, rows(i), cols(j), :].max(axis=(1, 2))``, one window at a time (no padding is
    built, so the memory is that of ``y`` whatever the pool size).

    Same arguments, checks and output as :func:`maxpool2d_forward`; returns ``(y, MaxPool2DReferenceCache)``.
    """
    op = "maxpool2d_forward_reference"
    (ph, pw), (sh, sw), (oh, ow), pads = pool_geometry(x, pool_size, stride, padding, op, fit=False)
    (top, _), (left, _) = pads
    n, h, w, c = x.shape
    y = np.empty((n, oh, ow, c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            y[:, i, j, :] = x[:, real_cells(i, h, ph, sh, top), real_cells(j, w, pw, sw, left), :].max(axis=(1, 2))
    return y, MaxPool2DReferenceCache(x, pads, (ph, pw), (sh, sw), (oh, ow))


def maxpool2d_backward_reference(dout, cache):
    """Reference max-pooling backward: for every window (n, i, j, c), ``dout[n, i, j, c]`` goes to
    ``argmax`` of the window's real cells flattened in row-major order, i.e. its first maximum
    (TensorFlow's and ONNX's rule; ``np.argmax`` takes a NaN as the maximum); overlapping windows add
    up. Returns ``dx`` of shape (N, H, W, C).
    """
    x, pads, (ph, pw), (sh, sw), (oh, ow) = check_cache(cache, MaxPool2DReferenceCache, "maxpool2d_backward_reference")
    (top, _), (left, _) = pads
    n, h, w, c = x.shape
    check_dout(dout, (n, oh, ow, c), x.dtype, "maxpool2d_backward_reference")
    dx = np.zeros(x.shape, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            rows, cols = real_cells(i, h, ph, sh, top), real_cells(j, w, pw, sw, left)
            for b in range(n):
                for k in range(c):
                    window = x[b, rows, cols, k]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[b, rows.start + r, cols.start + s, k] += dout[b, i, j, k]
    return dx


# ---------------------------------------------------------------------------------------------
# Fast path: one vectorised step per window offset (PH*PW of them), over all windows at once.
# ---------------------------------------------------------------------------------------------

def maxpool2d_forward(x, pool_size=2, stride=None, padding="valid"):
    """Max-pooling: ``y[n, i, j, c] = max_{0 <= a < PH, 0 <= b < PW} xpad[n, i*sh + a, j*sw + b, c]``.

    ``x`` (N, H, W, C); ``pool_size`` and ``stride`` ints or pairs (``stride=None``: ``pool_size``);
    ``padding`` "valid" or "same" (-inf padding). Returns ``(y, MaxPool2DCache)``, ``y`` (N, OH, OW, C),
    read-only: the cache keeps it for the backward.

    Computed as a running maximum over the PH*PW window offsets: at offset (a, b), the pixel of
    every window is one strided slice ``xpad[:, a::sh, b::sw, :]`` cut to (N, OH, OW, C), so
    ``y = max over (a, b) of those slices``. The geometry is fitted to the input first
    (``_windows.fit_window_to_input``: the same windows as the input sees them, without the padding
    that no window uses), so a pool far larger than the image costs at most 9 times the input.
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
    return handed_out(y), MaxPool2DCache(xpad, y, x.shape, pads, pool, strides, out_hw)


def maxpool2d_backward(dout, cache):
    """Max-pooling backward: ``dx`` (N, H, W, C) from ``dout`` (N, OH, OW, C).

    Scanning the window offsets (a, b) in row-major order, each window's ``dout[n, i, j, c]`` is
    added at the first offset where ``xpad[n, i*sh + a, j*sw + b, c] == y[n, i, j, c]``: its first
    maximum, as ``tf.nn.max_pool2d`` and ONNX route it. Overlapping windows add up; the padding is
    cut off at the end. Two cases need more than ``==``, and are handled only when ``y`` has them
    (so ordinary inputs take exactly the plain scan):

    * a NaN window (``y`` NaN, and ``NaN == NaN`` is false): its first NaN is the hit, as
      ``np.argmax`` in the reference picks it;
    * an all -inf window under padding (the -inf padding equals ``y``): only real cells can be hit.
    """
    xpad, y, x_shape, pads, (ph, pw), strides, out_hw = check_cache(cache, MaxPool2DCache, "maxpool2d_backward")
    check_dout(dout, y.shape, y.dtype, "maxpool2d_backward")
    xp = get_array_module(dout)
    nan_windows = bool(xp.isnan(y).any())
    padded_neginf = any(p for side in pads for p in side) and bool(xp.isneginf(y).any())
    dxpad = xp.zeros(xpad.shape, dtype=dout.dtype)
    routed = xp.zeros(y.shape, dtype=bool)  # has this window's gradient been placed yet?
    for a in range(ph):  # row-major scan, so the first maximum found is the one TensorFlow picks
        for b in range(pw):
            idx = offset_slices(a, b, strides, out_hw)
            slab = xpad[idx]
            hit = slab == y
            if nan_windows:
                hit |= slab != slab
            if padded_neginf:
                (top, _), (left, _) = pads
                real_rows = real_offsets(xp, a, x_shape[1], strides[0], out_hw[0], top)
                real_cols = real_offsets(xp, b, x_shape[2], strides[1], out_hw[1], left)
                hit &= (real_rows[:, None] & real_cols[None, :])[None, :, :, None]
            hit &= ~routed
            dxpad[idx] += dout * hit
            routed |= hit
    return unpad(dxpad, pads, x_shape[1:3])
