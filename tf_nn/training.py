"""The TensorFlow side of ``numpy-nn train``: the Keras twin of a numpy_nn model, trained batch by batch.

    np_model = numpy_nn.zoo.get("mlp").build(seed=0)
    trainer = KerasTrainer(np_model, inject_masks=False, seed=0)   # same layers, same initial weights
    loss, accuracy = trainer.train_on_batch(x[idx], y[idx])

:class:`KerasTrainer` has the same small interface as ``numpy_nn.app.driver.NumpyTrainer``
(``train_on_batch``, ``evaluate``, ``predict``, ``features``, ``get_weights``), so the driver in
:mod:`numpy_nn.app.driver` runs both frameworks with one epoch loop (:func:`numpy_nn.loop.run_epoch`), on one batch order.

This is the only Keras training step in the project: the demo, the 50-step trajectory parity tests
(``parity_tests/lockstep.py``), the benchmarks and the profiler all run it. One training step is what
``keras.Model.fit`` does for a batch: a forward pass in training mode
under a ``tf.GradientTape``, the compiled Keras loss (for a final softmax Keras computes the
cross-entropy from the softmax's input logits, as numpy_nn does), ``tape.gradient`` and one
``optimizer.apply_gradients``, all in one ``tf.function``, public as :attr:`KerasTrainer.compiled_step`
(so a benchmark times exactly it). Injected dropout keep-masks are
arguments of that function (see :class:`tf_nn.layers.InjectedDropout`), so the step stays compiled.
As in ``numpy_nn.Sequential.train_on_batch``, a step whose loss or a gradient is not finite is not
applied: it raises :class:`numpy_nn.errors.TrainingDiverged` naming the first layer concerned, and
the model keeps the weights from before the step.

For checkpoints, :meth:`KerasTrainer.export_state` copies the Keras weights and optimizer state into
a numpy_nn model of the same architecture (whose own checkpoint format then stores them) and
returns the rest (Keras's dropout seed generators); :meth:`KerasTrainer.import_state` does the reverse.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from numpy_nn.errors import TrainingDiverged  # noqa: E402

from .layers import InjectedDropout  # noqa: E402
from .losses import from_numpy as loss_from_numpy  # noqa: E402
from .models import copy_weights_to_keras, copy_weights_to_numpy, to_keras  # noqa: E402
from .optimizers import from_numpy as optimizer_from_numpy  # noqa: E402
from .runtime import enable_determinism  # noqa: E402

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

    ``seed`` (optional) turns on TensorFlow's op determinism and seeds Python, NumPy and Keras with
    it (:func:`tf_nn.runtime.enable_determinism`) *before* the twin is built, so the generators of
    Keras's own Dropout layers start from the same state run after run (see the README's "Determinism in detail").

    ``loss`` (optional, a numpy_nn loss) replaces the numpy model's compiled loss on the Keras side.

    The step is two halves: :meth:`_forward_backward` (forward in training mode under a tape, the
    loss, the gradients) and the guarded update. :attr:`compiled_step` is both, compiled;
    :meth:`gradients` runs the first half alone, eagerly, for the parity tests.
    """

    backend = "tf"

    def __init__(self, np_model, inject_masks=False, seed=None, loss=None):
        if np_model.loss is None or np_model.optimizer is None:
            raise ValueError("KerasTrainer: compile the numpy model first (it supplies the loss and optimizer)")
        if seed is not None:
            enable_determinism(seed)
        self.model = to_keras(np_model, dropout_masks=inject_masks)
        self.dtype = np.dtype(np_model.layers[0].dtype)
        self.loss = loss_from_numpy(np_model.loss if loss is None else loss, dtype=self.dtype)
        self.optimizer = optimizer_from_numpy(np_model.optimizer, dtype=self.dtype)
        self.optimizer.build(self.model.trainable_variables)
        self.dropouts = [layer for layer in self.model.layers if isinstance(layer, InjectedDropout)]
        self.inject_masks = bool(inject_masks and self.dropouts)
        dropout_inputs = [np_layer.input_shape for np_layer in np_model.layers
                          if type(np_layer).__name__ == "Dropout"] if self.inject_masks else []
        self._mask_shapes = [tuple(shape) for shape in dropout_inputs]
        # Which layer each trainable variable belongs to, to name the first one that diverges.
        self._variable_layers = [layer.name for layer in self.model.layers for _ in layer.trainable_variables]
        spec = (tf.TensorSpec((None,) + tuple(np_model.input_shape), self.dtype.name),
                tf.TensorSpec((None,), tf.int32),
                tuple(tf.TensorSpec((None,) + shape, tf.bool) for shape in self._mask_shapes))
        #: The compiled step, a ``tf.function`` ``(x, y, masks) -> [loss, accuracy, bad]`` (float64
        #: tensor; ``bad`` is -1 when the step was applied, see :meth:`_make_train_step`), on tensors:
        #: ``x`` of the model's dtype, ``y`` int32 class ids, ``masks`` a tuple of boolean keep-masks.
        self.compiled_step = self._make_train_step(spec)
        model = self.model
        self._infer = tf.function(lambda x: model(x, training=False), input_signature=spec[:1])

    def _make_train_step(self, spec):
        """``step(x, y, masks) -> [loss, accuracy, bad]`` (one float64 tensor: one transfer), a
        ``tf.function``. ``bad`` is -1 when the step was applied; otherwise it was skipped, and ``bad``
        is the index of the first variable with a non-finite gradient (``len(variables)`` if only the
        loss is non-finite).

        The check costs one sum per gradient: a sum is non-finite whenever a term is, so only when
        some sum is not finite are the gradients checked element by element (a sum of finite float32
        terms can overflow), as ``numpy_nn.Sequential`` does."""
        optimizer, variables = self.optimizer, self.model.trainable_variables

        def step(x, y, masks):
            out, loss, grads = self._forward_backward(x, y, masks)
            correct = tf.cast(tf.equal(tf.argmax(out, axis=-1, output_type=tf.int32), y), tf.float32)

            def apply():
                optimizer.apply_gradients(zip(grads, variables))
                return tf.constant(-1)

            def check_each():
                finite = tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
                all_finite = tf.reduce_all(finite)
                first_bad = tf.where(all_finite, len(variables),
                                     tf.argmin(tf.cast(finite, tf.int32), output_type=tf.int32))
                return tf.cond(tf.logical_and(tf.math.is_finite(loss), all_finite), apply, lambda: first_bad)

            sums = tf.stack([tf.reduce_sum(g) for g in grads] + [loss])
            bad = tf.cond(tf.reduce_all(tf.math.is_finite(sums)), apply, check_each)
            return tf.stack([tf.cast(loss, tf.float64), tf.cast(tf.reduce_mean(correct), tf.float64),
                             tf.cast(bad, tf.float64)])

        return tf.function(step, input_signature=spec)

    def _forward_backward(self, x, y, masks):
        """``(outputs, loss, gradients)`` of one batch in training mode: the first half of the step.
        ``masks`` go to the InjectedDropout layers first (symbolic arguments inside the compiled
        step: each call applies its own masks)."""
        for layer, mask in zip(self.dropouts, masks):
            layer.mask = mask
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            loss = self.loss(y, out)
        return out, loss, tape.gradient(loss, self.model.trainable_variables)

    def gradients(self, x, y, masks=None):
        """The step's forward and backward half on ``(x, y)``, eagerly and without any update:
        ``(outputs, loss, [gradient, ...])`` as NumPy, gradients in ``get_weights`` order (of the
        trainable weights). ``y`` may be class ids or one-hot rows (whatever the loss takes);
        ``masks`` as for :meth:`train_on_batch`."""
        masks = self._check_masks(x, masks, "gradients")
        out, loss, grads = self._forward_backward(tf.convert_to_tensor(x, self.dtype.name),
                                                  tf.convert_to_tensor(np.asarray(y)), masks)
        return out.numpy(), loss.numpy(), [g.numpy() for g in grads]

    def _check_masks(self, x, masks, op):
        if self.inject_masks != (masks is not None) or (masks is not None and len(masks) != len(self.dropouts)):
            got = "no" if masks is None else len(masks)
            raise ValueError(f"KerasTrainer.{op}: got {got} dropout masks for "
                             f"{len(self.dropouts) if self.inject_masks else 0} injectable Dropout layers")
        masks = tuple(masks or ())
        for mask, shape in zip(masks, self._mask_shapes):
            if mask.dtype != bool or tuple(mask.shape) != (len(x),) + shape:
                raise ValueError(f"KerasTrainer.{op}: a dropout mask must be a boolean array of shape "
                                 f"{(len(x),) + shape}, got {mask.dtype} {tuple(mask.shape)}")
        return tuple(tf.convert_to_tensor(m) for m in masks)

    def train_on_batch(self, x, y, masks=None):
        """One step on ``(x, y)``; returns ``(loss, accuracy)`` on the batch, as Python floats.

        ``masks`` (with ``inject_masks=True``, required then): one boolean keep-mask per Dropout
        layer, in layer order, each of that layer's input shape; they are used for this step only.
        Raises :class:`numpy_nn.errors.TrainingDiverged` (the step not applied) if the loss or a
        gradient is not finite."""
        masks = self._check_masks(x, masks, "train_on_batch")
        loss, acc, bad = self.compiled_step(tf.convert_to_tensor(x, self.dtype.name),
                                            tf.convert_to_tensor(np.asarray(y, np.int32)), masks).numpy()
        loss, acc, bad = float(loss), float(acc), int(bad)
        if bad >= 0:
            layer = self._variable_layers[bad] if bad < len(self._variable_layers) else None
            reason = f"the loss is {loss}" if not np.isfinite(loss) else f"non-finite gradient in layer '{layer}'"
            raise TrainingDiverged(reason, layer=layer)
        return loss, acc

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

    # --- checkpoints -------------------------------------------------------------------------
    def _slot_variables(self, np_model):
        """The Keras optimizer's slot variables grouped per parameter, ``[(param, [slot, ...]), ...]``
        in numpy_nn's order. Keras creates them parameter by parameter, slot by slot (Adam: momentum
        then velocity; SGD with momentum: momentum), exactly numpy_nn's order for the same rule."""
        opt, np_opt = self.optimizer, np_model.optimizer
        slots = [v for v in opt.variables if v is not opt.iterations and v.name != "learning_rate"]
        params = [p for layer in np_model.layers for p in layer.params.values()]
        per = len(np_opt.slot_names)
        if len(slots) != per * len(params) or any(
                tuple(s.shape) != p.shape for k, p in enumerate(params) for s in slots[k * per:(k + 1) * per]):
            raise NotImplementedError(f"KerasTrainer: cannot map {type(opt).__name__}'s {len(slots)} slot variables "
                                      f"onto numpy_nn's {per} per parameter")
        return [(p, slots[k * per:(k + 1) * per]) for k, p in enumerate(params)]

    def export_state(self, np_model):
        """Copy the Keras weights and optimizer state (step count, moments) into ``np_model`` -- a
        compiled numpy_nn model of the same architecture and optimizer settings -- so that its
        checkpoint holds this trainer's state; returns the rest, JSON-ready: the state of every
        non-trainable Keras variable (the seed generators of Keras's own Dropout layers)."""
        copy_weights_to_numpy(self.model, np_model)
        np_opt = np_model.optimizer
        np_opt.iterations = int(self.optimizer.iterations.numpy())
        for param, slots in self._slot_variables(np_model):
            for target, slot in zip(np_opt.slots(param), slots):
                target[...] = slot.numpy()
        return {"non_trainable": [np.asarray(v.numpy()).tolist() for v in self.model.non_trainable_variables]}

    def import_state(self, np_model, keras_state):
        """The reverse of :meth:`export_state`: weights and optimizer state from ``np_model`` (e.g.
        loaded from a checkpoint), Keras's non-trainable variables from ``keras_state``. Everything
        is checked before anything is assigned; ValueError on a mismatch."""
        variables = self.model.non_trainable_variables
        saved = (keras_state or {}).get("non_trainable", [])
        values = []
        for k, (variable, value) in enumerate(zip(variables, saved)):
            try:
                value = np.asarray(value, dtype=np.dtype(variable.dtype))
            except (TypeError, ValueError, OverflowError) as e:
                raise ValueError(f"KerasTrainer.import_state: Keras variable {k}: {e}") from None
            if value.shape != tuple(variable.shape):
                raise ValueError(f"KerasTrainer.import_state: Keras variable {k} ({variable.path}) has shape "
                                 f"{tuple(variable.shape)}, the saved state {value.shape}")
            values.append(value)
        if len(saved) != len(variables):
            raise ValueError(f"KerasTrainer.import_state: {len(saved)} saved Keras variables for {len(variables)}")
        pairs = self._slot_variables(np_model)
        np_opt = np_model.optimizer
        copy_weights_to_keras(np_model, self.model)  # checks the two structures match before assigning
        self.optimizer.iterations.assign(np_opt.iterations)
        for param, slots in pairs:
            for source, slot in zip(np_opt.slots(param), slots):
                slot.assign(source)
        for variable, value in zip(variables, values):
            variable.assign(value)
