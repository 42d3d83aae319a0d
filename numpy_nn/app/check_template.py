"""My implementation of the numpy-nn ops: a template for ``numpy-nn check``.

Write it yourself with ``numpy-nn check --template mine.py``, fill in the ops you want to learn,
and run ``numpy-nn check mine.py`` (from a checkout of numpy-nn; ``--ops relu,dense`` for some only).
An op whose functions still raise NotImplementedError is reported as skipped.

The contract (the same as numpy_nn.functional's, and CS231n's)::

    out, cache = op_forward(inputs..., settings...)   # cache: whatever your backward needs
    grads = op_backward(dout, cache)                  # dout = dL/d(out), same shape as out

``op_backward`` returns the gradient of the scalar ``L`` with respect to each input -- the
vector-Jacobian product -- one array per input named under "Returns" (a tuple when there are
several; None for an absent bias). Keep the input's dtype: float32 in, float32 out, float64 likewise.
Layout as in TensorFlow: images NHWC (batch, height, width, channels), convolution kernels HWIO
(height, width, in_channels, filters). The reference for every formula: ``help(numpy_nn.functional)``.

What the checker does with each op: your forward against numpy_nn's on random shapes, strides,
paddings and values (float64 and float32); your backward against numpy_nn's gradients, and against
central differences of *your own* forward in float64. A failure shows the smallest failing example
and, for the classic mistakes, a hint.
"""
import numpy as np  # noqa: F401  (you will need it)


# --- element-wise activations: y and dx have the shape of x ---------------------------------------
def relu_forward(x):
    """ReLU: ``y = max(x, 0)`` element-wise. Returns ``(y, cache)``."""
    raise NotImplementedError


def relu_backward(dout, cache):
    """``dx = dout * [x > 0]`` (the derivative at 0 is taken as 0). Returns ``dx``."""
    raise NotImplementedError


def sigmoid_forward(x):
    """Sigmoid: ``y = 1 / (1 + exp(-x))``, without overflow for large |x|. Returns ``(y, cache)``."""
    raise NotImplementedError


def sigmoid_backward(dout, cache):
    """``dx = dout * y * (1 - y)``. Returns ``dx``."""
    raise NotImplementedError


def tanh_forward(x):
    """``y = tanh(x)``. Returns ``(y, cache)``."""
    raise NotImplementedError


def tanh_backward(dout, cache):
    """``dx = dout * (1 - y**2)``. Returns ``dx``."""
    raise NotImplementedError


# --- softmax along one axis ---------------------------------------------------------------------
def softmax_forward(x, axis=-1):
    """``y_i = exp(x_i - m) / sum_j exp(x_j - m)`` along ``axis``, with ``m = max_j x_j`` (without the
    shift, exp overflows for logits above ~88 in float32). Returns ``(y, cache)``."""
    raise NotImplementedError


def softmax_backward(dout, cache):
    """``dx = y * (dout - sum_j dout_j * y_j)`` along the axis (the Jacobian is diag(y) - y y^T).
    Returns ``dx``."""
    raise NotImplementedError


def log_softmax_forward(x, axis=-1):
    """``y_i = (x_i - m) - log sum_j exp(x_j - m)`` along ``axis``, ``m = max_j x_j``. Returns ``(y, cache)``."""
    raise NotImplementedError


def log_softmax_backward(dout, cache):
    """``dx = dout - softmax(x) * sum_j dout_j`` along the axis. Returns ``dx``."""
    raise NotImplementedError


# --- losses: labels are class ids (N,) or rows (N, C) (one-hot or probabilities) ----------------
def softmax_cross_entropy_forward(logits, labels, reduction="mean"):
    """Cross-entropy of softmax(logits) (N, C): ``l_i = -sum_c t_ic log softmax(logits_i)_c``, with
    ``t`` the label rows (one-hot rows for class ids), then the mean over the batch (``reduction``
    "mean"), the sum ("sum") or the (N,) losses ("none"). Returns ``(loss, cache)``."""
    raise NotImplementedError


def softmax_cross_entropy_backward(dloss, cache):
    """``dlogits_ic = (p_ic * sum_k t_ik - t_ic) * dL/dl_i`` with ``p = softmax(logits)``, where
    ``dL/dl_i`` is ``dloss / N`` for "mean", ``dloss`` for "sum", ``dloss[i]`` for "none".
    Returns ``dlogits`` (N, C)."""
    raise NotImplementedError


def cross_entropy_forward(probs, labels, reduction="mean"):
    """Keras's cross-entropy on probabilities p (N, C) (``from_logits=False``), eps = 1e-7.
    Label rows t: ``q = p / sum_c p_c``, ``k = clip(q, eps, 1 - eps)``, ``l = -sum_c t_c log k_c``.
    Class ids y: ``k = clip(p, eps, 1 - eps)``, ``l = log sum_c k_c - log k_y``. Reduced as in
    :func:`softmax_cross_entropy_forward`. Returns ``(loss, cache)``."""
    raise NotImplementedError


def cross_entropy_backward(dloss, cache):
    """Each row times ``dL/dl_i`` (as above); the clip passes gradient only where
    ``eps <= value <= 1 - eps`` ([...] below). Class ids: ``dp_j = (1 / sum_c k_c - [j == y] / k_y) * [p_j]``.
    Label rows: ``g_j = -t_j / k_j * [q_j]``, ``dp_j = (g_j - sum_m g_m q_m) / sum_c p_c``. Returns ``dprobs`` (N, C)."""
    raise NotImplementedError


# --- layers ---------------------------------------------------------------------------------------
def dense_forward(x, kernel, bias=None):
    """``y = x @ kernel + bias``: x (N, D_in), kernel (D_in, D_out), bias (D_out,) or None.
    Returns ``(y, cache)``, y (N, D_out)."""
    raise NotImplementedError


def dense_backward(dout, cache):
    """``dx = dout @ kernel.T`` (N, D_in), ``dkernel = x.T @ dout`` (D_in, D_out),
    ``dbias = dout.sum(axis=0)`` (D_out,) or None without a bias. Returns ``(dx, dkernel, dbias)``."""
    raise NotImplementedError


def conv2d_forward(x, kernel, bias=None, stride=1, padding="valid"):
    """2-D cross-correlation, NHWC x (N, H, W, C), HWIO kernel (KH, KW, C, F), bias (F,) or None::

        y[n, i, j, f] = bias[f] + sum_{a, b, c} xpad[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, f]

    ``stride``: an int or (sh, sw). ``padding`` "valid": no padding, ``OH = (H - KH) // sh + 1``;
    "same": ``OH = ceil(H / sh)``, total padding ``max((OH - 1) * sh + KH - H, 0)`` split with the
    odd extra row at the bottom (``top = total // 2``); the same along W. Returns ``(y, cache)``."""
    raise NotImplementedError


def conv2d_backward(dout, cache):
    """For ``dout`` (N, OH, OW, F)::

        dkernel[a, b, c, f] = sum_{n, i, j} xpad[n, i*sh + a, j*sw + b, c] * dout[n, i, j, f]
        dbias[f]            = sum_{n, i, j} dout[n, i, j, f]          (None without a bias)
        dxpad[n, i*sh + a, j*sw + b, c] += sum_f dout[n, i, j, f] * kernel[a, b, c, f]

    and ``dx`` is ``dxpad`` without its padding. Returns ``(dx, dkernel, dbias)``."""
    raise NotImplementedError


def maxpool2d_forward(x, pool_size=2, stride=None, padding="valid"):
    """``y[n, i, j, c]`` = the max of x over window (i, j): rows ``i*sh - top ..`` (PH of them) and
    columns ``j*sw - left ..`` (PW), cut to the input. ``pool_size``, ``stride`` ints or pairs
    (``stride=None``: the pool size); padding as in :func:`conv2d_forward` (padded cells never win).
    Returns ``(y, cache)``."""
    raise NotImplementedError


def maxpool2d_backward(dout, cache):
    """Each window's ``dout[n, i, j, c]`` goes to its *first* maximum in row-major order (TensorFlow's
    and ONNX's rule: np.argmax of the window), overlapping windows add up. Returns ``dx``."""
    raise NotImplementedError


def avgpool2d_forward(x, pool_size=2, stride=None, padding="valid"):
    """``y[n, i, j, c]`` = the mean of x over the *real* cells of window (i, j) (with "same" padding
    a border window averages only the cells inside the input, as Keras does). Returns ``(y, cache)``."""
    raise NotImplementedError


def avgpool2d_backward(dout, cache):
    """Each window's ``dout / count`` goes to each of its ``count`` real cells; overlaps add up. Returns ``dx``."""
    raise NotImplementedError


def batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, epsilon=1e-3, axis=-1):
    """Batch normalization per channel (the ``axis``; NHWC: over N, H, W): with ``mu``, ``var`` the
    batch mean and *biased* variance over every other axis (``training=True``) or ``moving_mean``,
    ``moving_var`` (``training=False``), ``y = gamma * (x - mu) / sqrt(var + epsilon) + beta``
    (``gamma`` / ``beta`` None: 1 / 0). In training the moving statistics become
    ``moving * momentum + batch * (1 - momentum)`` (Keras's rule; keep them in your cache).
    Returns ``(y, cache)``."""
    raise NotImplementedError


def batchnorm_backward(dout, cache):
    """With M entries per channel, ``sigma = sqrt(var + epsilon)``, ``xhat = (x - mu) / sigma``:
    ``dbeta = sum(dout)``, ``dgamma = sum(dout * xhat)``; in training (mu and var depend on x)
    ``dx = (gamma / (M * sigma)) * (M * dout - dbeta - xhat * dgamma)``, in inference
    ``dx = dout * gamma / sigma``. Returns ``(dx, dgamma, dbeta)`` (None for an absent gamma / beta)."""
    raise NotImplementedError


# --- the rest -------------------------------------------------------------------------------------
def dropout_forward(x, rate, rng=None, training=True, mask=None):
    """Inverted dropout: ``y = x * mask / (1 - rate)`` with a boolean keep-mask (``P(keep) = 1 - rate``;
    the checker passes ``mask``). With ``training=False``, or ``rate == 0`` and no mask, the identity:
    return ``(x, None)``. Returns ``(y, cache)``."""
    raise NotImplementedError


def dropout_backward(dout, cache):
    """``dx = dout * mask / (1 - rate)``; ``dx = dout`` when the cache is None. Returns ``dx``."""
    raise NotImplementedError


def flatten_forward(x):
    """``y = x.reshape(N, -1)``: (N, ...) -> (N, prod of the rest), in C order. Returns ``(y, cache)``."""
    raise NotImplementedError


def flatten_backward(dout, cache):
    """``dx = dout.reshape(x.shape)``. Returns ``dx``."""
    raise NotImplementedError
