"""2-D convolution (cross-correlation, as in every deep-learning framework), NHWC in, HWIO kernels.

The fast path is im2col + one GEMM: a strided *view* of the padded input exposes every receptive
field as a row without copying; one reshape copies them into the column matrix, and a single matrix
product with the kernel does all the arithmetic in BLAS. Its adjoint, col2im, scatters the column
gradients back by looping over the KH*KW kernel offsets (9 vectorised adds for a 3x3 kernel), never
with ``np.add.at``. The plain loop version in :mod:`numpy_nn.functional.reference` is the
documented reference; the tests hold the two equal to float64 round-off.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ._checks import check_dout, check_float, check_ndim, check_padding, check_same_dtype, pair


def same_padding(size, kernel, stride):
    """TensorFlow's "same" rule along one axis: output ``ceil(size / stride)``, and the total padding
    ``max((out - 1) * stride + kernel - size, 0)`` split with the odd extra row/column at the end.

    Returns ``(out, pad_before, pad_after)``.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def output_geometry(in_hw, kernel_hw, strides, padding, op, what="kernel"):
    """Output size and padding for a sliding window; raises if the window does not fit.

    "valid": ``out = floor((size - kernel) / stride) + 1`` with no padding (needs ``size >= kernel``).
    "same": see :func:`same_padding`.  Returns ``((out_h, out_w), ((top, bottom), (left, right)))``.
    """
    outs, pads = [], []
    for size, k, s, axis in zip(in_hw, kernel_hw, strides, ("height", "width")):
        if padding == "same":
            out, before, after = same_padding(size, k, s)
        else:
            if size < k:
                raise ValueError(f"{op}: {what} {axis} {k} is larger than the (padded) input {axis} {size} with padding='valid'")
            out, before, after = (size - k) // s + 1, 0, 0
        outs.append(out)
        pads.append((before, after))
    return tuple(outs), tuple(pads)


def _check_conv_args(x, w, b, stride, padding, op):
    check_float(x, "x", op)
    check_float(w, "kernel", op)
    check_ndim(x, 4, "x", op, "NHWC (batch, height, width, channels)")
    check_ndim(w, 4, "kernel", op, "HWIO (kernel_h, kernel_w, in_channels, filters)")
    check_same_dtype(x, w, "x", "kernel", op)
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"{op}: x has {x.shape[3]} channels but kernel expects {w.shape[2]} input channels (kernel shape {tuple(w.shape)})")
    if b is not None:
        check_float(b, "bias", op)
        check_same_dtype(x, b, "x", "bias", op)
        if tuple(b.shape) != (w.shape[3],):
            raise ValueError(f"{op}: bias must have shape ({w.shape[3]},), got {tuple(b.shape)}")
    strides = pair(stride, "stride", op)
    padding = check_padding(padding, op)
    return strides, padding


def pad_hw(x, pads, value=0):
    """Pad the H and W axes of an NHWC array; a no-op (no copy) when there is nothing to pad."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def windows(xp_, kernel_hw, strides, out_hw):
    """A strided view of shape (N, OH, OW, KH, KW, C): ``view[n, i, j, a, b, c] =
    x[n, i*sh + a, j*sw + b, c]``. No data is copied; NumPy's view is read-only (CuPy has no flag)."""
    xp = get_array_module(xp_)
    n, _, _, c = xp_.shape
    (kh, kw), (sh, sw), (oh, ow) = kernel_hw, strides, out_hw
    s0, s1, s2, s3 = xp_.strides
    shape, steps = (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3)
    if xp is not np:
        return xp.lib.stride_tricks.as_strided(xp_, shape=shape, strides=steps)
    return np.lib.stride_tricks.as_strided(xp_, shape=shape, strides=steps, writeable=False)


def conv2d_forward(x, w, b=None, stride=1, padding="valid"):
    """2-D convolution: ``y[n, i, j, f] = b[f] + sum_{a, b', c} xpad[n, i*sh + a, j*sw + b', c] * w[a, b', c, f]``.

    Shapes: ``x`` (N, H, W, C), ``w`` (KH, KW, C, F), ``b`` (F,) or None; ``y`` (N, OH, OW, F) with
    ``OH = floor((H - KH) / sh) + 1`` for "valid" and ``ceil(H / sh)`` for "same" (TensorFlow's rule:
    total padding ``max((OH - 1) * sh + KH - H, 0)``, the odd extra row at the bottom; same for W).

    As matrices, with ``X`` the (N*OH*OW, KH*KW*C) im2col matrix and ``W`` the kernel as (KH*KW*C, F):
    ``Y = X W + b``. Backward, for ``dY`` of shape (N*OH*OW, F)::

        dW = X^T dY          db = sum over rows of dY          dX = dY W^T  -> col2im -> dx

    where col2im adds each column block back onto the input window it came from; with
    ``conv2d_backward(dy, cache, need_dx=False)`` that whole branch is skipped (dx is None), as a
    model's first layer needs no input gradient.

    ``db`` stays NumPy's plain row-by-row ``sum(axis=0)``, although ``ones @ dY`` (BLAS) is 4-7x
    faster and more accurate: TensorFlow's own bias gradient sums sequentially too, and the more
    accurate sum moves float32 training trajectories measurably further from Keras's.
    """
    op = "conv2d_forward"
    strides, padding = _check_conv_args(x, w, b, stride, padding, op)
    kh, kw, c, f = w.shape
    n, h, wd, _ = x.shape
    out_hw, pads = output_geometry((h, wd), (kh, kw), strides, padding, op)
    xpad = pad_hw(x, pads)
    cols = windows(xpad, (kh, kw), strides, out_hw).reshape(n * out_hw[0] * out_hw[1], kh * kw * c)
    y = cols @ w.reshape(kh * kw * c, f)
    if b is not None:
        y += b
    cache = (cols, w, b is not None, x.shape, xpad.shape, pads, strides, out_hw)
    return y.reshape(n, out_hw[0], out_hw[1], f), cache


def col2im(dcols, padded_shape, kernel_hw, strides, out_hw):
    """Adjoint of im2col: sum each window's gradient back onto the padded input.

    ``dcols`` has shape (N, OH, OW, KH, KW, C). For each kernel offset (a, b) the slab
    ``dcols[:, :, :, a, b, :]`` lands on the input pixels ``[a : a + sh*OH : sh, b : b + sw*OW : sw]``;
    within one offset no two output positions touch the same pixel, so a plain ``+=`` is exact.
    """
    xp = get_array_module(dcols)
    (kh, kw), (sh, sw), (oh, ow) = kernel_hw, strides, out_hw
    dxpad = xp.zeros(padded_shape, dtype=dcols.dtype)
    for a in range(kh):
        for b in range(kw):
            dxpad[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :] += dcols[:, :, :, a, b, :]
    return dxpad


def conv2d_backward(dy, cache, need_dx=True):
    cols, w, has_bias, x_shape, padded_shape, pads, strides, out_hw = cache
    kh, kw, c, f = w.shape
    n = x_shape[0]
    check_dout(dy, (n, out_hw[0], out_hw[1], f), w.dtype, "conv2d_backward")
    dy2 = dy.reshape(-1, f)
    dw = (cols.T @ dy2).reshape(w.shape)
    db = dy2.sum(axis=0) if has_bias else None
    if not need_dx:
        return None, dw, db
    dcols = (dy2 @ w.reshape(kh * kw * c, f).T).reshape(n, out_hw[0], out_hw[1], kh, kw, c)
    dxpad = col2im(dcols, padded_shape, (kh, kw), strides, out_hw)
    (top, _), (left, _) = pads
    dx = dxpad[:, top:top + x_shape[1], left:left + x_shape[2], :]
    return dx, dw, db
