"""2-D convolution (cross-correlation, as in every deep-learning framework), NHWC in, HWIO kernels.

    y[n, i, j, f] = bias[f] + sum_{a, b, c} xpad[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, f]

Shapes: ``x`` (N, H, W, C), ``kernel`` (KH, KW, C, F), ``bias`` (F,) or None; ``y`` (N, OH, OW, F).
``xpad`` is ``x`` padded as "valid" or "same" asks (see :mod:`._windows`: ``OH = floor((H - KH) / sh) + 1``
for "valid", ``ceil(H / sh)`` for "same", TensorFlow's rule with the odd extra row at the bottom).

With ``windows(xpad)[n, i, j, a, b, c] = xpad[n, i*sh + a, j*sw + b, c]`` the forward is exactly
``einsum("nijabc,abcf->nijf", windows(xpad), kernel)`` (the letters are the indices of the formula
above), and the backward, for ``dy = dL/dy``::

    dkernel[a, b, c, f] = sum_{n, i, j} windows(xpad)[n, i, j, a, b, c] * dy[n, i, j, f]
    dbias[f]            = sum_{n, i, j} dy[n, i, j, f]
    dxpad[n, i*sh + a, j*sw + b, c] += sum_f dy[n, i, j, f] * kernel[a, b, c, f]   (over all i, j, a, b)

and ``dx`` is ``dxpad`` without its padding. The reference below is that index notation; the fast
path does the same sums as matrix products (im2col + GEMM), except where the im2col matrix would be
out of all proportion to the operands (a kernel as large as the image, :data:`IM2COL_MIN_BYTES`):
then one matrix product per kernel offset (a, b), ``y += windows(xpad)[:, :, :, a, b, :] @ kernel[a, b]``,
in memory of the order of the input, kernel and output.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from ._checks import check_cache, check_dout, check_float, check_ndim, check_padding, check_same_dtype, pair
from ._windows import col2im, im2col, offset_slices, output_geometry, pad_hw, unpad, windows


class Conv2DReferenceCache(NamedTuple):
    xpad: Any        #: the padded input (N, H + pad, W + pad, C)
    kernel: Any      #: (KH, KW, C, F)
    has_bias: bool
    x_shape: tuple   #: (N, H, W, C)
    pads: tuple      #: ((top, bottom), (left, right))
    strides: tuple   #: (sh, sw)
    out_hw: tuple    #: (OH, OW)


class Conv2DCache(NamedTuple):
    cols: Any           #: the im2col matrix X, (N*OH*OW, KH*KW*C)
    kernel: Any         #: (KH, KW, C, F)
    has_bias: bool
    x_shape: tuple      #: (N, H, W, C)
    padded_shape: tuple  #: the padded input's shape, (N, H + pad, W + pad, C)
    pads: tuple         #: ((top, bottom), (left, right))
    strides: tuple      #: (sh, sw)
    out_hw: tuple       #: (OH, OW)


class Conv2DOffsetCache(Conv2DReferenceCache):
    """The cache of the offset-wise path (:func:`conv2d_forward` when im2col would not fit): the
    reference's fields (the padded input itself, no im2col matrix), its own type for dispatch."""


#: The im2col matrix holds every window, N*OH*OW*KH*KW*C numbers: KH*KW/(sh*sw) times the input. For
#: the layers of a CNN that is a few times the input and output (9x for a 3x3 kernel at stride 1), but
#: a kernel as large as the image makes it quadratic: a 300x300 "same" kernel on a 300x300 image asks
#: for 30 GiB from 720 KB of float32 operands. So :func:`conv2d_forward` builds it only when it takes at
#: most ``max(IM2COL_MIN_BYTES, IM2COL_MAX_RATIO * (bytes of x + kernel + output))``: 16 times the
#: operands keeps every ordinary layer (kernels up to 7x7 over 3 input channels, 3x3 over any number)
#: on the GEMM, and the 64 MiB floor every small call, whatever its kernel. Beyond it the offset-wise
#: path runs instead (the same sums in another order, one small GEMM per kernel offset; slower for
#: small kernels, which is why it is not the default). Tests set both to 0 to force it.
IM2COL_MIN_BYTES = 64 * 2**20
IM2COL_MAX_RATIO = 16


def im2col_fits(x_shape, kernel_shape, out_hw, itemsize):
    """Whether :func:`conv2d_forward` may build the im2col matrix (see :data:`IM2COL_MIN_BYTES`).
    Python ints throughout: no product overflows."""
    n, _, _, c = x_shape
    kh, kw, _, f = kernel_shape
    outputs = n * out_hw[0] * out_hw[1]
    cols_bytes = outputs * kh * kw * c * itemsize
    operand_bytes = (n * x_shape[1] * x_shape[2] * c + kh * kw * c * f + outputs * f) * itemsize
    return cols_bytes <= max(IM2COL_MIN_BYTES, IM2COL_MAX_RATIO * operand_bytes)


def _check_conv_args(x, kernel, bias, stride, padding, op):
    check_float(x, "x", op)
    check_float(kernel, "kernel", op)
    check_ndim(x, 4, "x", op, "NHWC (batch, height, width, channels)")
    check_ndim(kernel, 4, "kernel", op, "HWIO (kernel_h, kernel_w, in_channels, filters)")
    check_same_dtype(x, kernel, "x", "kernel", op)
    if 0 in kernel.shape:  # TensorFlow: "filter must not have zero elements"; Keras cannot build one
        raise ValueError(f"{op}: kernel must have no zero-length axis (KH, KW, in_channels, filters >= 1), "
                         f"got shape {tuple(kernel.shape)}")
    if x.shape[3] != kernel.shape[2]:
        raise ValueError(f"{op}: x has {x.shape[3]} channels but kernel expects {kernel.shape[2]} input channels "
                         f"(kernel shape {tuple(kernel.shape)})")
    if bias is not None:
        check_float(bias, "bias", op)
        check_same_dtype(x, bias, "x", "bias", op)
        if tuple(bias.shape) != (kernel.shape[3],):
            raise ValueError(f"{op}: bias must have shape ({kernel.shape[3]},), got {tuple(bias.shape)}")
    strides = pair(stride, "stride", op)
    padding = check_padding(padding, op)
    return strides, padding


# ---------------------------------------------------------------------------------------------
# Reference: the index notation above, written out. NumPy arrays only; slow; obviously correct.
# ---------------------------------------------------------------------------------------------

def conv2d_forward_reference(x, kernel, bias=None, stride=1, padding="valid"):
    """Reference convolution: ``y = einsum("nijabc,abcf->nijf", windows(xpad), kernel) + bias``.

    Same arguments, checks and output as :func:`conv2d_forward`; returns ``(y, Conv2DReferenceCache)``
    for :func:`conv2d_backward_reference`.
    """
    op = "conv2d_forward_reference"
    strides, padding = _check_conv_args(x, kernel, bias, stride, padding, op)
    window_hw = kernel.shape[:2]
    out_hw, pads = output_geometry(x.shape[1:3], window_hw, strides, padding, op)
    xpad = pad_hw(x, pads)
    # (N, OH, OW, KH, KW, C) x (KH, KW, C, F) -> (N, OH, OW, F)
    y = np.einsum("nijabc,abcf->nijf", windows(xpad, window_hw, strides, out_hw), kernel)
    if bias is not None:
        y = y + bias
    return y, Conv2DReferenceCache(xpad, kernel, bias is not None, tuple(x.shape), pads, strides, out_hw)


def conv2d_backward_reference(dout, cache, need_dx=True):
    """Reference convolution backward, for ``dout = dL/dy`` of shape (N, OH, OW, F)::

        dkernel = einsum("nijabc,nijf->abcf", windows(xpad), dout)          (KH, KW, C, F)
        dbias   = sum over n, i, j of dout                                   (F,)
        dx: output pixel (i, j) saw the window xpad[:, i*sh : i*sh + KH, j*sw : j*sw + KW, :],
            so it adds einsum("nf,abcf->nabc", dout[:, i, j, :], kernel) back onto it; then unpad.

    Returns ``(dx, dkernel, dbias)`` as :func:`conv2d_backward` does (dbias None without a bias, dx
    None with ``need_dx=False``).
    """
    xpad, kernel, has_bias, x_shape, pads, (sh, sw), (oh, ow) = check_cache(cache, Conv2DReferenceCache, "conv2d_backward_reference")
    kh, kw, _, f = kernel.shape
    check_dout(dout, (x_shape[0], oh, ow, f), kernel.dtype, "conv2d_backward_reference")
    # (N, OH, OW, KH, KW, C) x (N, OH, OW, F) -> (KH, KW, C, F)
    dkernel = np.einsum("nijabc,nijf->abcf", windows(xpad, (kh, kw), (sh, sw), (oh, ow)), dout)
    dbias = dout.sum(axis=(0, 1, 2)) if has_bias else None
    if not need_dx:
        return None, dkernel, dbias
    dxpad = np.zeros(xpad.shape, dtype=xpad.dtype)
    for i in range(oh):
        for j in range(ow):
            # (N, F) x (KH, KW, C, F) -> (N, KH, KW, C): the gradient of the window pixel (i, j) saw
            dxpad[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :] += np.einsum("nf,abcf->nabc", dout[:, i, j, :], kernel)
    return unpad(dxpad, pads, x_shape[1:3]), dkernel, dbias


# ---------------------------------------------------------------------------------------------
# Fast path: im2col + one matrix product (GEMM), and its adjoint.
# ---------------------------------------------------------------------------------------------

def conv2d_forward(x, kernel, bias=None, stride=1, padding="valid"):
    """2-D convolution: ``y[n, i, j, f] = bias[f] + sum_{a, b, c} xpad[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, f]``.

    ``x`` (N, H, W, C), ``kernel`` (KH, KW, C, F), ``bias`` (F,) or None, ``stride`` an int or a pair,
    ``padding`` "valid" or "same". Returns ``(y, Conv2DCache)`` with ``y`` of shape (N, OH, OW, F).

    As matrices: ``X`` is the im2col matrix, one row per output pixel (n, i, j) holding its
    window ``xpad[n, i*sh : i*sh + KH, j*sw : j*sw + KW, :]`` flattened, and ``K`` is the kernel
    as (KH*KW*C, F); then ``Y = X K + bias``, reshaped to (N, OH, OW, F).

    Where ``X`` would be too large (:data:`IM2COL_MIN_BYTES`) the same sum is taken one kernel offset
    at a time, ``Y = sum_{a, b} X_ab K[a, b] + bias`` with ``X_ab`` (N*OH*OW, C) the pixels that offset
    sees, and the cache is a :class:`Conv2DOffsetCache`.
    """
    op = "conv2d_forward"
    strides, padding = _check_conv_args(x, kernel, bias, stride, padding, op)
    kh, kw, c, f = kernel.shape
    n, h, wd, _ = x.shape
    out_hw, pads = output_geometry((h, wd), (kh, kw), strides, padding, op)
    xpad = pad_hw(x, pads)
    if not im2col_fits(x.shape, kernel.shape, out_hw, x.dtype.itemsize):
        y = _forward_by_offsets(xpad, kernel, strides, out_hw)
        if bias is not None:
            y += bias
        cache = Conv2DOffsetCache(xpad, kernel, bias is not None, x.shape, pads, strides, out_hw)
        return y.reshape(n, out_hw[0], out_hw[1], f), cache
    cols = im2col(xpad, (kh, kw), strides, out_hw)  # (N*OH*OW, KH*KW*C): windows(xpad), one row per output pixel
    y = cols @ kernel.reshape(kh * kw * c, f)  # (N*OH*OW, KH*KW*C) x (KH*KW*C, F) -> (N*OH*OW, F)
    if bias is not None:
        y += bias
    cache = Conv2DCache(cols, kernel, bias is not None, x.shape, xpad.shape, pads, strides, out_hw)
    return y.reshape(n, out_hw[0], out_hw[1], f), cache


def conv2d_backward(dout, cache, need_dx=True):
    """2-D convolution backward. With ``dY`` = ``dout`` (N, OH, OW, F) as (N*OH*OW, F), ``X`` the
    im2col matrix and ``K`` the kernel as (KH*KW*C, F)::

        dkernel = X^T dY                  (KH*KW*C, F) -> (KH, KW, C, F)
        dbias   = sum over the rows of dY (F,)
        dX      = dY K^T                  (N*OH*OW, KH*KW*C), one window's gradient per row
        dx      = unpad(col2im(dX))       (N, H, W, C)

    where col2im adds each row's window gradient back onto the input pixels it came from (summing
    where windows overlap). Returns ``(dx, dkernel, dbias)``; ``dbias`` is None when the forward had
    no bias, and with ``need_dx=False`` the whole dX branch is skipped and ``dx`` is None (a model's
    first layer needs no input gradient).

    A :class:`Conv2DOffsetCache` (the forward found im2col too large) gives the same sums one kernel
    offset (a, b) at a time, with ``X_ab`` (N*OH*OW, C) the pixels that offset saw::

        dkernel[a, b] = X_ab^T dY          (C, F)
        dxpad[pixels offset (a, b) saw] += dY K[a, b]^T   (N*OH*OW, C) -> (N, OH, OW, C)
    """
    if isinstance(cache, Conv2DOffsetCache):
        return _backward_by_offsets(dout, cache, need_dx)
    cols, kernel, has_bias, x_shape, padded_shape, pads, strides, out_hw = check_cache(cache, Conv2DCache, "conv2d_backward")
    kh, kw, c, f = kernel.shape
    n = x_shape[0]
    check_dout(dout, (n, out_hw[0], out_hw[1], f), kernel.dtype, "conv2d_backward")
    dy2 = dout.reshape(-1, f)
    dkernel = (cols.T @ dy2).reshape(kernel.shape)  # (KH*KW*C, N*OH*OW) x (N*OH*OW, F) -> (KH*KW*C, F)
    # NumPy's plain sequential sum, like TensorFlow's BiasAddGrad (benchmarks/README.md, "Speed notes").
    dbias = dy2.sum(axis=0) if has_bias else None
    if not need_dx:
        return None, dkernel, dbias
    dcols = dy2 @ kernel.reshape(kh * kw * c, f).T  # (N*OH*OW, F) x (F, KH*KW*C) -> (N*OH*OW, KH*KW*C)
    dcols = dcols.reshape(n, out_hw[0], out_hw[1], kh, kw, c)
    dxpad = col2im(dcols, padded_shape, (kh, kw), strides, out_hw)
    return unpad(dxpad, pads, x_shape[1:3]), dkernel, dbias


# ---------------------------------------------------------------------------------------------
# Memory-bounded path: one GEMM per kernel offset, never the im2col matrix.
# ---------------------------------------------------------------------------------------------

def _forward_by_offsets(xpad, kernel, strides, out_hw):
    """``Y = sum_{a, b} X_ab K[a, b]`` as (N*OH*OW, F), ``X_ab[(n, i, j), c] = xpad[n, i*sh + a, j*sw + b, c]``.

    Memory: the output, one ``X_ab`` (N*OH*OW*C numbers, no more than the input) and one product,
    whatever the kernel; both buffers are allocated once, not per offset (a fresh 360 KB pair per
    offset made the 300x300-kernel case 5x slower, measured). ``xp.dot`` rather than ``@``: for a thin
    product (C or F of 1, the hostile large kernels) NumPy 2.4's matmul is 4x slower than dot
    (measured, (90000, 1) x (1, 1): 290 us against 63 us).
    """
    xp = get_array_module(xpad)
    kh, kw, c, f = kernel.shape
    n, (oh, ow) = xpad.shape[0], out_hw
    y = xp.zeros((n * oh * ow, f), dtype=xpad.dtype)
    seen = xp.empty((n, oh, ow, c), dtype=xpad.dtype)   # X_ab, as (N, OH, OW, C)
    term = xp.empty((n * oh * ow, f), dtype=xpad.dtype)
    for a in range(kh):
        for b in range(kw):
            seen[...] = xpad[offset_slices(a, b, strides, out_hw)]
            # (N*OH*OW, C) x (C, F) -> (N*OH*OW, F): what offset (a, b) adds to every output pixel
            y += xp.dot(seen.reshape(-1, c), kernel[a, b], out=term)
    return y


def _backward_by_offsets(dout, cache, need_dx):
    """The backward of :func:`_forward_by_offsets` (see :func:`conv2d_backward`); the same two
    buffers, and ``dxpad``."""
    xpad, kernel, has_bias, x_shape, pads, strides, out_hw = cache
    kh, kw, c, f = kernel.shape
    n, (oh, ow) = x_shape[0], out_hw
    check_dout(dout, (n, oh, ow, f), kernel.dtype, "conv2d_backward")
    xp = get_array_module(xpad)
    dy2 = dout.reshape(-1, f)
    dkernel = xp.empty(kernel.shape, dtype=kernel.dtype)
    dxpad = xp.zeros(xpad.shape, dtype=xpad.dtype) if need_dx else None
    seen = xp.empty((n, oh, ow, c), dtype=xpad.dtype)   # X_ab, as (N, OH, OW, C)
    term = xp.empty((n * oh * ow, c), dtype=xpad.dtype) if need_dx else None
    for a in range(kh):
        for b in range(kw):
            window = offset_slices(a, b, strides, out_hw)
            seen[...] = xpad[window]
            # (C, N*OH*OW) x (N*OH*OW, F) -> (C, F)
            dkernel[a, b] = xp.dot(seen.reshape(-1, c).T, dy2)
            if need_dx:
                # (N*OH*OW, F) x (F, C) -> (N*OH*OW, C) -> (N, OH, OW, C); within one offset no two
                # output pixels see the same input pixel, so a plain += is exact (as in col2im)
                dxpad[window] += xp.dot(dy2, kernel[a, b].T, out=term).reshape(n, oh, ow, c)
    dbias = dy2.sum(axis=0) if has_bias else None
    if not need_dx:
        return None, dkernel, dbias
    return unpad(dxpad, pads, x_shape[1:3]), dkernel, dbias
