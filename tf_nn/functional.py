"""TensorFlow's implementation of every op in :mod:`numpy_nn.functional`, under the same names.

Each function takes NumPy arrays (or tensors) with the same arguments as the numpy_nn forward of
the same name -- ``softmax(x, axis)`` for ``softmax_forward(x, axis)``, ``conv2d(x, w, b, stride,
padding)`` for ``conv2d_forward(...)``, and so on -- and returns a ``tf.Tensor``, computed with
TensorFlow's own ops (``tf.nn.conv2d``, ``tf.nn.max_pool2d``, ``tf.nn.avg_pool2d``, ``tf.nn.batch_normalization``, ``tf.nn.softmax``,
``tf.nn.sparse_softmax_cross_entropy_with_logits``, Keras's cross-entropies, ...). There is no
backward here: TensorFlow's autodiff is the reference, reached through :func:`vjp`.

    out = conv2d(x, w, b, stride=2, padding="same")
    dx, dw, db = vjp(conv2d, (x, w, b), dout, stride=2, padding="same")
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402



def _t(x, dtype=None):
    """A tensor of ``x`` (cast to ``dtype`` if given: labels may arrive as int32 or uint8)."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x if dtype is None or x.dtype == dtype else tf.cast(x, dtype)
    x = np.asarray(x)
    return tf.convert_to_tensor(x if dtype is None else x.astype(tf.as_dtype(dtype).as_numpy_dtype))


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else tuple(int(a) for a in v)


def _reduce(per_example, reduction):
    if reduction == "mean":
        return tf.reduce_mean(per_example)
    if reduction == "sum":
        return tf.reduce_sum(per_example)
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# --- activations ----------------------------------------------------------------------------
def relu(x):
    """``tf.nn.relu``."""
    return tf.nn.relu(_t(x))


def sigmoid(x):
    """``tf.math.sigmoid``."""
    return tf.math.sigmoid(_t(x))


def tanh(x):
    """``tf.math.tanh``."""
    return tf.math.tanh(_t(x))


def softmax(x, axis=-1):
    """``tf.nn.softmax`` along ``axis``."""
    return tf.nn.softmax(_t(x), axis=axis)


def log_softmax(x, axis=-1):
    """``tf.nn.log_softmax`` along ``axis``."""
    return tf.nn.log_softmax(_t(x), axis=axis)


# --- losses ---------------------------------------------------------------------------------
def _is_sparse(labels):
    return len(labels.shape) == 1


def softmax_cross_entropy(logits, labels, reduction="mean"):
    """Fused softmax cross-entropy on logits: ``tf.nn.sparse_softmax_cross_entropy_with_logits`` for
    class ids of shape (N,), ``tf.nn.softmax_cross_entropy_with_logits`` for rows of shape (N, C)."""
    logits = _t(logits)
    if _is_sparse(labels):
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=_t(labels, tf.int64), logits=logits)
    else:
        per_example = tf.nn.softmax_cross_entropy_with_logits(labels=_t(labels, logits.dtype), logits=logits)
    return _reduce(per_example, reduction)


def cross_entropy(probs, labels, reduction="mean"):
    """Cross-entropy of probabilities, exactly as Keras computes it with ``from_logits=False`` on the
    TensorFlow backend: ``keras.ops.sparse_categorical_crossentropy`` (clip to [1e-7, 1 - 1e-7],
    log, then a softmax cross-entropy, which renormalises) for class ids, and
    ``keras.ops.categorical_crossentropy`` (renormalise, clip, log) for rows.

    ``probs`` must be a plain tensor: Keras would silently use the logits behind a tensor that a
    Keras softmax produced (its ``_keras_logits``), so this converts its input first."""
    probs = tf.identity(_t(probs))  # drop any _keras_logits attached by a Keras softmax
    if _is_sparse(labels):
        per_example = keras.ops.sparse_categorical_crossentropy(_t(labels, tf.int64), probs, from_logits=False)
    else:
        per_example = keras.ops.categorical_crossentropy(_t(labels, probs.dtype), probs, from_logits=False)
    return _reduce(per_example, reduction)


# --- layers' ops ----------------------------------------------------------------------------
def dense(x, w, b=None):
    """``x @ w`` (``tf.linalg.matmul``) plus ``tf.nn.bias_add``."""
    y = tf.linalg.matmul(_t(x), _t(w))
    return y if b is None else tf.nn.bias_add(y, _t(b))


def conv2d(x, w, b=None, stride=1, padding="valid"):
    """``tf.nn.conv2d`` (NHWC input, HWIO kernel) plus ``tf.nn.bias_add``."""
    sh, sw = _pair(stride)
    y = tf.nn.conv2d(_t(x), _t(w), strides=[1, sh, sw, 1], padding=padding.upper(), data_format="NHWC")
    return y if b is None else tf.nn.bias_add(y, _t(b))


def maxpool2d(x, pool_size=2, stride=None, padding="valid"):
    """``tf.nn.max_pool2d``; ``stride`` defaults to ``pool_size``."""
    pool = _pair(pool_size)
    strides = pool if stride is None else _pair(stride)
    return tf.nn.max_pool2d(_t(x), ksize=pool, strides=strides, padding=padding.upper(), data_format="NHWC")


def avgpool2d(x, pool_size=2, stride=None, padding="valid"):
    """``tf.nn.avg_pool2d``; ``stride`` defaults to ``pool_size``. With "same" each window's mean is
    over its real (unpadded) cells only, as ``keras.layers.AveragePooling2D`` computes it."""
    pool = _pair(pool_size)
    strides = pool if stride is None else _pair(stride)
    return tf.nn.avg_pool2d(_t(x), ksize=pool, strides=strides, padding=padding.upper(), data_format="NHWC")


def batchnorm(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, epsilon=1e-3, axis=-1):
    """The output of ``keras.layers.BatchNormalization`` (TensorFlow backend), computed as its
    ``call`` computes it: in training ``tf.nn.moments`` over every axis but ``axis`` (the biased
    variance, the mean of squared differences from the mean), at inference the moving statistics;
    then ``tf.nn.batch_normalization`` (``x * inv + (beta - mean * inv)``, ``inv = gamma *
    rsqrt(var + epsilon)``). ``gamma`` / ``beta`` None: no scale / offset. ``momentum`` changes only
    the moving statistics, which this function does not return (Keras's layer assigns them: see
    ``parity_tests/test_batchnorm.py``)."""
    x = _t(x)
    axis = axis % len(x.shape)
    shape = [1] * len(x.shape)
    shape[axis] = x.shape[axis]
    as_param = lambda v: None if v is None else tf.reshape(_t(v), shape)  # noqa: E731
    if training:
        mean, variance = tf.nn.moments(x, [a for a in range(len(x.shape)) if a != axis], keepdims=True)
    else:
        mean, variance = as_param(moving_mean), as_param(moving_var)
    return tf.nn.batch_normalization(x, mean, variance, offset=as_param(beta), scale=as_param(gamma),
                                     variance_epsilon=epsilon)


def dropout(x, rate, training=True, mask=None, seed=None):
    """Inverted dropout. With an injected boolean keep-mask: ``x * mask * (1 / (1 - rate))``, the
    expression numpy_nn uses; without one, ``tf.nn.dropout`` (TensorFlow's own random mask); at
    inference (``training=False``) the identity."""
    x = _t(x)
    if not training or (rate == 0 and mask is None):
        return x
    if mask is None:
        return tf.nn.dropout(x, rate=rate, seed=seed)
    scale = tf.constant(1 / (1 - rate), dtype=x.dtype)
    return x * tf.cast(_t(mask), x.dtype) * scale


def flatten(x):
    """``tf.reshape`` to (N, -1): row-major (H, W, C) order, as ``keras.layers.Flatten`` on NHWC."""
    x = _t(x)
    return tf.reshape(x, (tf.shape(x)[0], -1))


# --- gradients ------------------------------------------------------------------------------
def value_and_vjp(fn, inputs, dout, **kwargs):
    """``(fn(*inputs, **kwargs), gradients)``: the forward value and TensorFlow's vector-Jacobian
    product for the upstream gradient ``dout`` (``dL/d(out)``), computed with ``tf.GradientTape``.

    ``gradients[i]`` is ``sum(dout * d out / d inputs[i])`` as a NumPy array of ``inputs[i]``'s shape,
    or ``None`` for an input that is not a float array (labels, masks) or is ``None`` (no bias).
    Inputs the output does not depend on get zeros, not ``None``."""
    tensors = [None if a is None else _t(a) for a in inputs]
    watched = [t for t in tensors if t is not None and t.dtype.is_floating]
    with tf.GradientTape() as tape:
        for t in watched:
            tape.watch(t)
        out = fn(*tensors, **kwargs)
    dout = _t(np.asarray(dout), out.dtype)
    grads = iter(tape.gradient(out, watched, output_gradients=dout,
                               unconnected_gradients=tf.UnconnectedGradients.ZERO))
    result = tuple(next(grads).numpy() if t is not None and t.dtype.is_floating else None for t in tensors)
    return out.numpy(), result


def vjp(fn, inputs, dout, **kwargs):
    """TensorFlow's gradients of ``sum(fn(*inputs, **kwargs) * dout)`` with respect to each input
    (see :func:`value_and_vjp`); a tuple with one entry per input."""
    return value_and_vjp(fn, inputs, dout, **kwargs)[1]


#: Every public function above: the op twins (named as in the catalogue's ``tf_twin``) and the VJP helpers.
__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
