"""Max-pooling whose backward sends a window's gradient to every cell equal to the window's
maximum, where TensorFlow (and ONNX) send it to the first maximum only. numpy_nn's backward
without its ``routed`` mask; inputs without ties give the right answer."""
import numpy as np

from numpy_nn.functional import maxpool2d_forward
from numpy_nn.functional._windows import offset_slices, unpad


def maxpool2d_backward(dout, cache):
    xpad, y, x_shape, pads, (ph, pw), strides, out_hw = cache
    dxpad = np.zeros(xpad.shape, dtype=dout.dtype)
    for a in range(ph):
        for b in range(pw):
            idx = offset_slices(a, b, strides, out_hw)
            dxpad[idx] += dout * (xpad[idx] == y)  # BUG: every tied maximum gets the gradient
    return unpad(dxpad, pads, x_shape[1:3])


__all__ = ["maxpool2d_forward", "maxpool2d_backward"]
