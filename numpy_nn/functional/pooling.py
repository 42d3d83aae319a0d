"""2-D max-pooling over NHWC inputs."""
from __future__ import annotations

from ..backend import get_array_module
from ._checks import check_dout, check_float, check_ndim, check_padding, pair
from .conv import output_geometry, pad_hw


def _offset_slices(a, b, strides, out_hw):
    """Index of the input pixels seen at window offset (a, b) by every output position."""
    (sh, sw), (oh, ow) = strides, out_hw
    return (slice(None), slice(a, a + sh * oh, sh), slice(b, b + sw * ow, sw), slice(None))


def maxpool2d_forward(x, pool_size=2, stride=None, padding="valid"):
    """Max-pooling: ``y[n, i, j, c] = max_{0 <= a < PH, 0 <= b < PW} xpad[n, i*sh + a, j*sw + b, c]``.

    ``stride`` defaults to ``pool_size``. Padding follows TensorFlow: "valid" uses only whole windows
    (``OH = floor((H - PH) / sh) + 1``); "same" gives ``OH = ceil(H / sh)`` and pads with -inf (the
    odd extra row at the bottom), so padding never wins a max.

    The forward is a running maximum over the PH*PW window offsets: at offset (a, b) every window's
    pixel is one strided view of the input, ``xpad[:, a::sh, b::sw, :]`` cut to (N, OH, OW, C), so
    the whole op is PH*PW vectorised ``maximum`` calls into one output array. (For tiling windows,
    ``stride == pool_size``, a max over the window axes of a (N, OH, PH, OW, PW, C) reshape gives the
    same numbers, but NumPy reduces over two non-adjacent axes 3-6x more slowly.)

    Backward: each window's gradient goes to its *first* maximum in row-major (a, b) order, as
    ``tf.nn.max_pool2d`` does: ``dxpad[n, i*sh + a*, j*sw + b*, c] += dy[n, i, j, c]``, summed where
    windows overlap.
    """
    op = "maxpool2d_forward"
    check_float(x, "x", op)
    check_ndim(x, 4, "x", op, "NHWC (batch, height, width, channels)")
    pool = pair(pool_size, "pool_size", op)
    strides = pool if stride is None else pair(stride, "stride", op)
    padding = check_padding(padding, op)
    _, h, w, _ = x.shape
    out_hw, pads = output_geometry((h, w), pool, strides, padding, op, what="pool_size")
    xp = get_array_module(x)
    xpad = pad_hw(x, pads, value=-xp.inf)
    ph, pw = pool
    y = None
    for a in range(ph):
        for b in range(pw):
            slab = xpad[_offset_slices(a, b, strides, out_hw)]
            y = slab.copy() if y is None else xp.maximum(y, slab, out=y)
    return y, (xpad, y, x.shape, pads, pool, strides, out_hw)


def maxpool2d_backward(dy, cache):
    xpad, y, x_shape, pads, (ph, pw), strides, out_hw = cache
    check_dout(dy, y.shape, y.dtype, "maxpool2d_backward")
    xp = get_array_module(dy)
    dxpad = xp.zeros(xpad.shape, dtype=dy.dtype)
    routed = xp.zeros(y.shape, dtype=bool)  # has this window's gradient been placed yet?
    for a in range(ph):  # row-major scan, so the first maximum found is the one TensorFlow picks
        for b in range(pw):
            idx = _offset_slices(a, b, strides, out_hw)
            hit = (xpad[idx] == y) & ~routed
            dxpad[idx] += dy * hit
            routed |= hit
    (top, _), (left, _) = pads
    return dxpad[:, top:top + x_shape[1], left:left + x_shape[2], :]
