"""Sliding-window geometry shared by convolution, max-pooling and average-pooling.

A window op slides a KH x KW window over the H and W axes of an NHWC input with strides (sh, sw).
Output position (i, j) sees the padded input rows ``i*sh .. i*sh + KH - 1`` and columns
``j*sw .. j*sw + KW - 1``:

* "valid": no padding, only whole windows: ``OH = floor((H - KH) / sh) + 1`` (needs ``H >= KH``).
* "same" (TensorFlow's rule): ``OH = ceil(H / sh)``; the total padding
  ``max((OH - 1) * sh + KH - H, 0)`` is split with the odd extra row at the bottom.

The same for W. This module computes that geometry (:func:`same_padding`, :func:`output_geometry`),
pads and unpads (:func:`pad_hw`, :func:`unpad`), exposes every window as a strided view
(:func:`windows`) and as the im2col matrix (:func:`im2col`), the input pixels seen at one window offset (:func:`offset_slices`), and adds
per-window gradients back onto the input (:func:`col2im`, the adjoint of taking windows).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ._checks import check_pool_args


def same_padding(size, kernel, stride):
    """TensorFlow's "same" rule along one axis: output ``ceil(size / stride)``, and the total padding
    ``max((out - 1) * stride + kernel - size, 0)`` split with the odd extra row/column at the end.

    Returns ``(out, pad_before, pad_after)``.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def output_geometry(in_hw, window_hw, strides, padding, op, what="kernel"):
    """Output size and padding for a sliding window; raises if the window does not fit.

    "valid": ``out = floor((size - window) / stride) + 1`` with no padding (needs ``size >= window``).
    "same": see :func:`same_padding`.  Returns ``((out_h, out_w), ((top, bottom), (left, right)))``.
    ``op`` and ``what`` (the window's argument name) go into the error message.
    """
    outs, pads = [], []
    for size, k, s, axis in zip(in_hw, window_hw, strides, ("height", "width")):
        if padding == "same":
            out, before, after = same_padding(size, k, s)
        else:
            if size < k:
                raise ValueError(f"{op}: {what} {axis} {k} is larger than the (padded) input {axis} {size} with padding='valid'")
            out, before, after = (size - k) // s + 1, 0, 0
        outs.append(out)
        pads.append((before, after))
    return tuple(outs), tuple(pads)


def fit_window_to_input(size, window, stride, out, pad_before, pad_after):
    """An exactly equivalent pooling geometry along one axis whose padding the windows actually use.

    Window ``i`` (of ``out``) covers the rows ``[i*stride - pad_before, i*stride - pad_before + window)``
    of the input; a pooling op only sees their intersection with ``[0, size)`` (padding is -inf for
    a max and is not counted by an average). With "same" padding and a window larger than the input
    (``pool_size=10**5`` on a 5x5 image) almost all of that padding is seen by no window as anything
    but padding, yet materialising it costs ``(window - 1)`` rows. Cut from every window

    * the first ``d1 = max(0, pad_before - (out - 1) * stride)`` rows: they lie before row 0 even for
      the last window (``(out - 1) * stride - pad_before + d1 <= 0``), and
    * the last ``d2 = max(0, window - pad_before - size)`` rows: they lie past the last row even for
      the first window (``-pad_before + window - d2 >= size``),

    so every window keeps exactly the same intersection with the input. The padded extent
    ``(out - 1) * stride + window`` becomes less than ``3 * size`` (less than ``2 * size`` when the
    window is no larger than the input, where nothing changes: then ``d1 = d2 = 0``). A single
    window (``out == 1``) takes stride 1, which changes no index and keeps stride products small;
    no window at all (``out == 0``, an empty axis) takes a window of 1 and no padding.

    Returns ``(window, stride, pad_before, pad_after)``.
    """
    if out == 0:
        return 1, 1, 0, 0
    d1 = max(0, pad_before - (out - 1) * stride)
    d2 = max(0, window - pad_before - size)
    return window - d1 - d2, (stride if out > 1 else 1), pad_before - d1, pad_after - d2


def pool_geometry(x, pool_size, stride, padding, op, fit=True):
    """The checked window geometry of a pooling op on NHWC ``x``: ``(pool, strides, out_hw, pads)``,
    with ``stride`` defaulting to ``pool_size`` (Keras's rule).

    With ``fit=True`` (the fast paths) the window, strides and padding are those of
    :func:`fit_window_to_input`: the same windows as seen by the input, without padding no window
    uses; with ``fit=False`` (the references) the geometry exactly as the arguments say.
    """
    pool, strides, padding = check_pool_args(x, pool_size, stride, padding, op)
    out_hw, pads = output_geometry(x.shape[1:3], pool, strides, padding, op, what="pool_size")
    if not fit:
        return pool, strides, out_hw, pads
    fitted = [fit_window_to_input(size, k, s, o, before, after)
              for size, k, s, o, (before, after) in zip(x.shape[1:3], pool, strides, out_hw, pads)]
    (kh, sh, top, bottom), (kw, sw, left, right) = fitted
    return (kh, kw), (sh, sw), out_hw, ((top, bottom), (left, right))


def real_cells(i, size, window, stride, pad_before):
    """The slice of the input that window ``i`` covers along one axis (its padding cut off):
    ``[i*stride - pad_before, i*stride - pad_before + window)`` intersected with ``[0, size)``."""
    start = i * stride - pad_before
    return slice(max(start, 0), min(start + window, size))


def real_offsets(xp, a, size, stride, out, pad_before):
    """Which output positions see a real (unpadded) input row at window offset ``a``: a boolean
    vector of length ``out``, ``pad_before <= i*stride + a < pad_before + size``."""
    rows = xp.arange(out) * stride + a
    return (rows >= pad_before) & (rows < pad_before + size)


def pad_hw(x, pads, value=0):
    """Pad the H and W axes of an NHWC array with ``value``; no copy when there is nothing to pad."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def unpad(xpad, pads, in_hw):
    """Cut the padding off again: the (N, H, W, C) part of a padded array that is the real input."""
    (top, _), (left, _) = pads
    return xpad[:, top:top + in_hw[0], left:left + in_hw[1], :]


def windows(xpad, window_hw, strides, out_hw):
    """Every window at once, as a strided view of shape (N, OH, OW, KH, KW, C):

    ``view[n, i, j, a, b, c] = xpad[n, i*sh + a, j*sw + b, c]``.

    No data is copied. NumPy's view is read-only (CuPy's ``as_strided`` has no such flag).
    """
    xp = get_array_module(xpad)
    n, _, _, c = xpad.shape
    (kh, kw), (sh, sw), (oh, ow) = window_hw, strides, out_hw
    s0, s1, s2, s3 = xpad.strides
    shape, steps = (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3)
    if xp is not np:
        return xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=steps)
    return np.lib.stride_tricks.as_strided(xpad, shape=shape, strides=steps, writeable=False)


def im2col(xpad, window_hw, strides, out_hw):
    """The im2col matrix (N*OH*OW, KH*KW*C): row (n, i, j) is the window ``windows(xpad)[n, i, j]``
    flattened in (a, b, c) order (a copy, or a view of ``xpad`` where the windows need none, e.g. a
    1x1 kernel).

    Plain form: ``windows(xpad).reshape(N*OH*OW, KH*KW*C)``, one copy of the strided view; its
    innermost contiguous run is KW*C elements. With a single input channel (the MNIST cnn's first
    layer) that run is 3 elements, so the copy instead goes one kernel offset at a time,
    ``cols[n, i, j, a, b, :] = xpad[offset_slices(a, b)]``, runs of OW elements: about 3x faster
    there, but slower for every C > 1 measured (benchmarks/README.md, "Speed notes"). The tests
    hold the two equal.
    """
    (kh, kw), (oh, ow) = window_hw, out_hw
    n, c = xpad.shape[0], xpad.shape[3]
    if c != 1 or kh * kw == 1:  # (a 1x1 kernel's windows need no copy at stride 1: the view is kept)
        return windows(xpad, window_hw, strides, out_hw).reshape(n * oh * ow, kh * kw * c)
    return im2col_by_offsets(xpad, window_hw, strides, out_hw)


def im2col_by_offsets(xpad, window_hw, strides, out_hw):
    """:func:`im2col` by one copy per kernel offset (a, b) (any C; chosen by :func:`im2col` for C == 1)."""
    xp = get_array_module(xpad)
    (kh, kw), (oh, ow) = window_hw, out_hw
    n, c = xpad.shape[0], xpad.shape[3]
    cols = xp.empty((n, oh, ow, kh, kw, c), dtype=xpad.dtype)
    for a in range(kh):
        for b in range(kw):
            cols[:, :, :, a, b, :] = xpad[offset_slices(a, b, strides, out_hw)]
    return cols.reshape(n * oh * ow, kh * kw * c)


def offset_slices(a, b, strides, out_hw):
    """Index of the pixels seen at window offset (a, b) by every output position:
    ``xpad[offset_slices(a, b, ...)][n, i, j, c] = xpad[n, i*sh + a, j*sw + b, c]``, shape (N, OH, OW, C)."""
    (sh, sw), (oh, ow) = strides, out_hw
    return (slice(None), slice(a, a + sh * oh, sh), slice(b, b + sw * ow, sw), slice(None))


def col2im(dcols, padded_shape, window_hw, strides, out_hw):
    """Adjoint of :func:`windows`: add each window's gradient back onto the padded input.

    ``dcols`` has shape (N, OH, OW, KH, KW, C); the result (``padded_shape``) is
    ``dxpad[n, i*sh + a, j*sw + b, c] = sum over (i, j, a, b) landing there of dcols[n, i, j, a, b, c]``.
    """
    xp = get_array_module(dcols)
    kh, kw = window_hw
    dxpad = xp.zeros(padded_shape, dtype=dcols.dtype)
    # One vectorised add per kernel offset (9 for a 3x3 kernel), never np.add.at: within one offset
    # no two output positions touch the same pixel, so a plain += is exact.
    for a in range(kh):
        for b in range(kw):
            dxpad[offset_slices(a, b, strides, out_hw)] += dcols[:, :, :, a, b, :]
    return dxpad
