"""Keras's layers one at a time, NumPy in and NumPy out: the TensorFlow side of an op-by-op
comparison (``numpy-nn diverge`` localises a divergence with it, :mod:`numpy_nn.app.divergence_localise`).

A Keras layer with an ``activation=`` does two things; these functions split them as numpy_nn's
layers do (``forward(x, logits=True)`` stops before the activation): :func:`main_forward` is the
layer without its activation (training mode, a dropout mask injected), :func:`activation_forward`
the activation alone. A ReLU or Softmax layer's main op is the identity and its activation itself.
The gradients are TensorFlow's autodiff, as everywhere in tf_nn: :func:`main_vjp`,
:func:`activation_vjp`, :func:`loss_and_gradient`.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _is_activation_layer(klayer):
    return isinstance(klayer, (keras.layers.ReLU, keras.layers.Softmax))


def _activation(klayer):
    return klayer if _is_activation_layer(klayer) else klayer.activation


def _main(klayer, h, mask):
    """``klayer`` on tensor ``h`` without its activation, training mode (``mask`` into a dropout layer)."""
    if _is_activation_layer(klayer):
        return tf.identity(h)
    if mask is not None:
        klayer.mask = tf.constant(mask)
    act = getattr(klayer, "activation", None)
    if act is None:
        return klayer(h, training=True)
    klayer.activation = keras.activations.linear
    try:
        return klayer(h, training=True)
    finally:
        klayer.activation = act


def main_forward(klayer, h, mask=None):
    """The layer's output before its activation, as a NumPy array."""
    return _main(klayer, tf.constant(h), mask).numpy()


def activation_forward(klayer, z):
    """The layer's activation of ``z`` (its pre-activation), as a NumPy array."""
    return _activation(klayer)(tf.constant(z)).numpy()


def activation_vjp(klayer, z, dout):
    """dL/dz of the layer's activation at ``z`` for the upstream gradient ``dout``."""
    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        a = _activation(klayer)(zt)
    return tape.gradient(a, zt, output_gradients=tf.constant(dout)).numpy()


def main_vjp(klayer, h, mask, dout):
    """``(dx, [d of each trainable variable])`` of :func:`main_forward` at ``h`` for ``dout``
    (None where TensorFlow has no gradient)."""
    ht = tf.constant(h)
    with tf.GradientTape() as tape:
        tape.watch(ht)
        z = _main(klayer, ht, mask)
    grads = tape.gradient(z, [ht] + list(klayer.trainable_variables), output_gradients=tf.constant(dout))
    return (None if grads[0] is None else grads[0].numpy()), [None if g is None else g.numpy() for g in grads[1:]]


def loss_and_gradient(loss_fn, y, out, final_layer=None):
    """``(loss, dL/d out)`` of Keras's ``loss_fn(y, .)`` at ``out``; with ``final_layer`` the loss is
    taken of that layer's activation of ``out`` (a fused final softmax: ``out`` is its input)."""
    ot = tf.constant(out)
    with tf.GradientTape() as tape:
        tape.watch(ot)
        loss = loss_fn(tf.constant(y), _activation(final_layer)(ot) if final_layer is not None else ot)
    return np.float64(loss.numpy()), tape.gradient(loss, ot).numpy()


def preactivations(klayers, x, plan):
    """``{layer index: pre-activation}`` for the layers ``plan`` marks: ``plan[i] = (mask, has an
    activation, keep)``, run in training mode from ``x`` through ``klayers`` in order."""
    out, h = {}, tf.constant(x)
    for i, (klayer, (mask, has_activation, keep)) in enumerate(zip(klayers, plan)):
        z = _main(klayer, h, mask)
        if keep:
            out[i] = z.numpy()
        h = _activation(klayer)(z) if has_activation else z
    return out
