"""The TensorFlow side of ``numpy-nn train``: the Keras twin of a numpy_nn model, trained batch by batch.

    np_model = numpy_nn.zoo.get("mlp").build(seed=0)
    trainer = KerasTrainer(np_model, inject_masks=False)    # same layers, same initial weights
    loss, accuracy = trainer.train_on_batch(x[idx], y[idx])

:class:`KerasTrainer` has the same small interface as ``numpy_nn.experiment.NumpyTrainer``
(``train_on_batch``, ``evaluate``, ``predict``, ``features``, ``get_weights``), so the driver in
:mod:`numpy_nn.experiment` runs both frameworks with one loop, on one batch order.

One training step is what ``keras.Model.fit`` does for a batch: a forward pass in training mode
under a ``tf.GradientTape``, the compiled Keras loss (for a final softmax Keras computes the
cross-entropy from the softmax's input logits, as numpy_nn does), ``tape.gradient`` and one
``optimizer.apply_gradients``. The step runs as a ``tf.function`` except when dropout keep-masks are
injected: :class:`tf_nn.layers.InjectedDropout` reads its mask eagerly, so that step runs eagerly.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from .layers import InjectedDropout  # noqa: E402
from .losses import from_numpy as loss_from_numpy  # noqa: E402
from .models import to_keras  # noqa: E402
from .optimizers import from_numpy as optimizer_from_numpy  # noqa: E402

tf.get_logger().setLevel("ERROR")  # each trainer traces its own steps: retracing notices are expected

#: Images per forward pass when evaluating or predicting (inference only; no effect on results).
EVAL_BATCH = 500


class KerasTrainer:
    """Trains the Keras twin of a compiled ``numpy_nn.Sequential`` one mini-batch at a time.

    The twin is built by :func:`tf_nn.models.to_keras` from ``np_model`` as it is *now* (so create
    the trainer before training the numpy model: both then start from the same weights), with the
    numpy model's loss (:func:`tf_nn.losses.from_numpy`) and a fresh Keras optimizer with the same
    settings (:func:`tf_nn.optimizers.from_numpy`).

    With ``inject_masks=True`` every Dropout is an :class:`~tf_nn.layers.InjectedDropout` and
    :meth:`train_on_batch` takes the keep-masks that the numpy model drew for the same batch.
    """

    backend = "tf"

    def __init__(self, np_model, inject_masks=False):
        if np_model.loss is None or np_model.optimizer is None:
            raise ValueError("KerasTrainer: compile the numpy model first (it supplies the loss and optimizer)")
        self.model = to_keras(np_model, dropout_masks=inject_masks)
        self.dtype = np.dtype(np_model.layers[0].dtype)
        self.loss = loss_from_numpy(np_model.loss, dtype=self.dtype)
        self.optimizer = optimizer_from_numpy(np_model.optimizer, dtype=self.dtype)
        self.optimizer.build(self.model.trainable_variables)
        self.dropouts = [layer for layer in self.model.layers if isinstance(layer, InjectedDropout)]
        self.inject_masks = bool(inject_masks and self.dropouts)
        spec = (tf.TensorSpec((None,) + tuple(np_model.input_shape), self.dtype.name),
                tf.TensorSpec((None,), tf.int32))
        self._train_step = self._make_train_step(spec)
        model = self.model
        self._infer = tf.function(lambda x: model(x, training=False), input_signature=spec[:1])

    def _make_train_step(self, spec):
        """``step(x, y) -> (loss, accuracy)``: a ``tf.function``, or, when masks are injected (they
        are read eagerly), an eager forward/backward followed by a compiled update."""
        model, loss_fn, optimizer = self.model, self.loss, self.optimizer
        variables = model.trainable_variables

        def forward_backward(x, y):
            """Forward in training mode, the loss and its gradients; the batch accuracy."""
            with tf.GradientTape() as tape:
                out = model(x, training=True)
                loss = loss_fn(y, out)
            grads = tape.gradient(loss, variables)
            correct = tf.cast(tf.equal(tf.argmax(out, axis=-1, output_type=tf.int32), y), tf.float32)
            return loss, tf.reduce_mean(correct), grads

        def apply(grads):
            optimizer.apply_gradients(zip(grads, variables))

        if not self.inject_masks:
            def step(x, y):
                loss, accuracy, grads = forward_backward(x, y)
                apply(grads)
                return loss, accuracy

            return tf.function(step, input_signature=spec)

        apply_compiled = tf.function(apply)

        def eager_step(x, y):
            loss, accuracy, grads = forward_backward(x, y)
            apply_compiled(grads)
            return loss, accuracy

        return eager_step

    def train_on_batch(self, x, y, masks=None):
        """One step on ``(x, y)``; returns ``(loss, accuracy)`` on the batch, as Python floats.

        ``masks`` (with ``inject_masks=True``): one boolean keep-mask per Dropout layer, in layer
        order, each of that layer's input shape; they are used for this step only."""
        if masks is not None:
            if not self.inject_masks or len(masks) != len(self.dropouts):
                raise ValueError(f"KerasTrainer.train_on_batch: got {len(masks)} dropout masks for "
                                 f"{len(self.dropouts) if self.inject_masks else 0} injectable Dropout layers")
            for layer, mask in zip(self.dropouts, masks):
                layer.mask = mask
        loss, acc = self._train_step(tf.convert_to_tensor(x, self.dtype.name),
                                     tf.convert_to_tensor(np.asarray(y, np.int32)))
        return float(loss), float(acc)

    def predict(self, x):
        """The model's outputs (probabilities, or logits for a logits model) in inference mode."""
        chunks = [self._infer(tf.convert_to_tensor(x[i:i + EVAL_BATCH], self.dtype.name)).numpy()
                  for i in range(0, len(x), EVAL_BATCH)]
        return np.concatenate(chunks)

    def evaluate(self, x, y):
        """Mean loss and accuracy over ``(x, y)`` in inference mode: ``(loss, accuracy)``."""
        total_loss = total_correct = 0.0
        for i in range(0, len(x), EVAL_BATCH):
            xb, yb = x[i:i + EVAL_BATCH], np.asarray(y[i:i + EVAL_BATCH], np.int32)
            out = self._infer(tf.convert_to_tensor(xb, self.dtype.name))
            total_loss += float(self.loss(tf.convert_to_tensor(yb), out)) * len(xb)
            total_correct += float(np.sum(np.argmax(out.numpy(), axis=-1) == yb))
        return total_loss / len(x), total_correct / len(x)

    def features(self, x):
        """The last hidden layer's activations (the input of the final layer) in inference mode;
        for a one-layer model, which has no hidden layer, its pre-activation logits."""
        hidden = self.model.layers[:-1]
        last = self.model.layers[-1]
        out = []
        for i in range(0, len(x), EVAL_BATCH):
            h = tf.convert_to_tensor(x[i:i + EVAL_BATCH], self.dtype.name)
            for layer in hidden:
                h = layer(h, training=False)
            if not hidden:  # softmax regression: x @ kernel + bias, before the softmax
                h = tf.matmul(h, last.kernel) + last.bias
            out.append(h.numpy())
        return np.concatenate(out)

    def get_weights(self):
        """The current weights as NumPy arrays, in numpy_nn's order (layer by layer, kernel, bias)."""
        return [np.asarray(v.numpy()) for v in self.model.weights]
