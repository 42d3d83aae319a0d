"""Conv2D whose kernel gradient has the kernel's height and width swapped (``dkernel[b, a]`` for
``dkernel[a, b]`` in the loops): (KW, KH, C, F) instead of (KH, KW, C, F). The forward is right."""
from numpy_nn.functional import conv2d_backward as _backward
from numpy_nn.functional import conv2d_forward


def conv2d_backward(dout, cache):
    dx, dkernel, dbias = _backward(dout, cache)
    return dx, dkernel.transpose(1, 0, 2, 3), dbias  # BUG: axes (KH, KW) swapped


__all__ = ["conv2d_forward", "conv2d_backward"]
