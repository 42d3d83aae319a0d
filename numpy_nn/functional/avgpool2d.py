"""2-D average pooling over NHWC inputs, with Keras's (TensorFlow's) semantics.

    y[n, i, j, c] = (1 / count[i, j]) * sum over the real cells (r, s) of window (i, j) of x[n, r, s, c]

Window (i, j) covers the rows ``i*sh - top .. i*sh - top + PH - 1`` and the columns
``j*sw - left .. j*sw - left + PW - 1`` of ``x`` (``top``, ``left``: the padding before, see
:mod:`._windows`); its real cells are those inside ``x``, and ``count[i, j]`` is how many there are.
Shapes: ``x`` (N, H, W, C); ``y`` (N, OH, OW, C). ``stride`` defaults to ``pool_size``.

* "valid": only whole windows, ``OH = floor((H - PH) / sh) + 1``; every count is ``PH * PW``.
* "same": ``OH = ceil(H / sh)`` with TensorFlow's padding rule (odd extra row at the bottom), and a
  window that hangs over the edge is the mean of the cells it does cover: padding is not counted
  as zeros (``tf.nn.avg_pool2d``, ``keras.layers.AveragePooling2D``). Every window covers >= 1 cell.

Backward: each window spreads its gradient evenly over its real cells; overlapping windows add up:

    dx[n, r, s, c] = sum over the windows (i, j) that contain (r, s) of dy[n, i, j, c] / count[i, j]
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from ._checks import check_cache, check_dout
from ._windows import offset_slices, pad_hw, pool_geometry, real_cells, unpad


class AvgPool2DReferenceCache(NamedTuple):
    x_shape: tuple   #: (N, H, W, C)
    dtype: Any       #: the input's dtype
    pads: tuple      #: ((top, bottom), (left, right))
    pool: tuple      #: (PH, PW)
    strides: tuple   #: (sh, sw)
    out_hw: tuple    #: (OH, OW)


class AvgPool2DCache(NamedTuple):
    counts: Any        #: real (unpadded) cells per window, (OH, OW, 1) in the input's dtype
    x_shape: tuple     #: (N, H, W, C)
    padded_shape: tuple  #: the zero-padded input's shape, (N, H + pad, W + pad, C)
    pads: tuple        #: ((top, bottom), (left, right))
    pool: tuple        #: (PH, PW)
    strides: tuple     #: (sh, sw)
    out_hw: tuple      #: (OH, OW)


# ---------------------------------------------------------------------------------------------
# Reference: one window at a time, over the cells of x it covers. NumPy arrays only; slow.
# ---------------------------------------------------------------------------------------------

def avgpool2d_forward_reference(x, pool_size=2, stride=None, padding="valid"):
    """Reference average pooling: ``y[:, i, j, :]`` is the mean of the cells of ``x`` that window
    (i, j) covers, ``x[:, rows(i), cols(j), :].mean(axis=(1, 2))``, one window at a time.

    Same arguments, checks and output as :func:`avgpool2d_forward`; returns ``(y, AvgPool2DReferenceCache)``.
    """
    op = "avgpool2d_forward_reference"
    (ph, pw), (sh, sw), (oh, ow), pads = pool_geometry(x, pool_size, stride, padding, op, fit=False)
    (top, _), (left, _) = pads
    _, h, w, _ = x.shape
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            rows, cols = real_cells(i, h, ph, sh, top), real_cells(j, w, pw, sw, left)
            y[:, i, j, :] = x[:, rows, cols, :].mean(axis=(1, 2))
    return y, AvgPool2DReferenceCache(tuple(x.shape), x.dtype, pads, (ph, pw), (sh, sw), (oh, ow))


def avgpool2d_backward_reference(dout, cache):
    """Reference average-pooling backward: window (i, j) adds ``dout[:, i, j, :] / count`` to each of
    the ``count`` cells of ``x`` it covers. Returns ``dx`` of shape (N, H, W, C).
    """
    x_shape, dtype, pads, (ph, pw), (sh, sw), (oh, ow) = check_cache(cache, AvgPool2DReferenceCache, "avgpool2d_backward_reference")
    (top, _), (left, _) = pads
    n, h, w, c = x_shape
    check_dout(dout, (n, oh, ow, c), dtype, "avgpool2d_backward_reference")
    dx = np.zeros(x_shape, dtype=dtype)
    for i in range(oh):
        for j in range(ow):
            rows, cols = real_cells(i, h, ph, sh, top), real_cells(j, w, pw, sw, left)
            count = (rows.stop - rows.start) * (cols.stop - cols.start)
            dx[:, rows, cols, :] += dout[:, i, j, None, None, :] / count
    return dx


# ---------------------------------------------------------------------------------------------
# Fast path: a running sum over the PH*PW window offsets, divided by the per-window counts.
# ---------------------------------------------------------------------------------------------

def _counts(xp, x_hw, pool, strides, out_hw, pads, dtype):
    """count[i, j] = (real rows of window i) * (real columns of window j), shape (OH, OW, 1)."""
    per_axis = []
    for size, k, s, out, (before, _) in zip(x_hw, pool, strides, out_hw, pads):
        start = xp.arange(out) * s - before
        per_axis.append(xp.minimum(start + k, size) - xp.maximum(start, 0))
    rows, cols = per_axis
    return (rows[:, None] * cols[None, :]).astype(dtype)[:, :, None]


def avgpool2d_forward(x, pool_size=2, stride=None, padding="valid"):
    """Average pooling: ``y[n, i, j, c] = sum_{a, b} xpad[n, i*sh + a, j*sw + b, c] / count[i, j]``,
    with zero padding and ``count[i, j]`` the number of real (unpadded) cells of window (i, j).

    ``x`` (N, H, W, C); ``pool_size`` and ``stride`` ints or pairs (``stride=None``: ``pool_size``);
    ``padding`` "valid" or "same". Returns ``(y, AvgPool2DCache)``, ``y`` (N, OH, OW, C).

    The window sums are a running sum over the PH*PW offsets (a, b) of the strided slices
    ``xpad[:, a::sh, b::sw, :]`` cut to (N, OH, OW, C), as in :func:`maxpool2d_forward`, on the
    geometry fitted to the input (``_windows.fit_window_to_input``: the same real cells per window,
    without the padding that no window uses), so a pool far larger than the image costs at most 9
    times the input.
    """
    op = "avgpool2d_forward"
    pool, strides, out_hw, pads = pool_geometry(x, pool_size, stride, padding, op)
    xp = get_array_module(x)
    xpad = pad_hw(x, pads)  # zeros: they add nothing to a sum
    ph, pw = pool
    y = None
    for a in range(ph):
        for b in range(pw):
            slab = xpad[offset_slices(a, b, strides, out_hw)]
            y = slab.copy() if y is None else xp.add(y, slab, out=y)
    counts = _counts(xp, x.shape[1:3], pool, strides, out_hw, pads, x.dtype)
    y /= counts
    return y, AvgPool2DCache(counts, x.shape, xpad.shape, pads, pool, strides, out_hw)


def avgpool2d_backward(dout, cache):
    """Average-pooling backward: ``dx`` (N, H, W, C) from ``dout`` (N, OH, OW, C).

    With ``g = dout / count`` (each window's share per cell, (N, OH, OW, C)), every window offset
    (a, b) adds ``g`` onto the pixels it saw, ``dxpad[n, i*sh + a, j*sw + b, c] += g[n, i, j, c]``,
    summing where windows overlap; cutting the padding off then leaves each window's gradient on
    exactly its ``count`` real cells.
    """
    counts, x_shape, padded_shape, pads, (ph, pw), strides, out_hw = check_cache(cache, AvgPool2DCache, "avgpool2d_backward")
    check_dout(dout, (x_shape[0], out_hw[0], out_hw[1], x_shape[3]), counts.dtype, "avgpool2d_backward")
    xp = get_array_module(dout)
    share = dout / counts
    dxpad = xp.zeros(padded_shape, dtype=dout.dtype)
    for a in range(ph):
        for b in range(pw):
            dxpad[offset_slices(a, b, strides, out_hw)] += share
    return unpad(dxpad, pads, x_shape[1:3])
