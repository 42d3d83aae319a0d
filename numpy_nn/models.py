"""``Sequential``: a list of layers with Keras's training API (compile / fit / evaluate / predict).

The training step is the whole of backprop in four steps (see :meth:`Sequential.train_on_batch`):
forward through the layers, the loss and its gradient, backward through the layers in reverse,
and one optimizer update of every (gradient, parameter) pair.

Checkpoints: :meth:`Sequential.save`, :meth:`Sequential.load_weights` and :func:`load_model` use
:mod:`numpy_nn.checkpoint` (which knows layers, not models: it never imports this module).
"""
from __future__ import annotations


import numpy as np

from . import checkpoint
from . import losses as losses_module
from . import optimizers as optimizers_module
from .batching import batch_indices, epoch_batch_indices
from .checkpoint import CheckpointError
from .errors import TrainingDiverged
from .functional._checks import check_float
from .layers import ActivationLayer, Layer
from .loop import run_epoch
from .progress import ProgressBar
from .training_checks import check_count, check_finite, check_fit_arguments, check_seed

__all__ = ["Sequential", "History", "TrainingDiverged", "load_model"]


class History:
    """What ``fit`` returns, as in Keras: ``history.history["loss"]`` is one value per epoch."""

    def __init__(self):
        self.epoch, self.history = [], {}

    def append(self, epoch, **logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


class Sequential:
    """A linear stack of layers. Weights are built on the first forward (or by :meth:`build`) from
    one ``numpy.random.Generator`` seeded with ``seed``, so a seed fixes the whole starting point."""

    def __init__(self, layers=None, seed=None, input_shape=None, name="sequential"):
        self.layers, self.name, self.seed = [], name, check_seed(seed, "Sequential")
        self._layer_ids = set()  # id of every layer added: the duplicate check of add() in O(1)
        self._rng = np.random.default_rng(self.seed)
        self.optimizer = self.loss = None
        self.metrics = []
        for layer in layers or []:
            self.add(layer)
        if input_shape is not None:
            self.build(input_shape)

    # --- structure ---------------------------------------------------------------------------
    def add(self, layer):
        """Append ``layer``. The same instance twice is refused: its one forward cache would hold
        only the later input, so its gradient would be wrong, and it would be updated twice."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a numpy_nn layer, got {type(layer).__name__}")
        if id(layer) in self._layer_ids and any(layer is other for other in self.layers):  # the set: O(1) per add
            raise ValueError(f"Sequential.add: layer '{layer.name}' is already in this model (at position "
                             f"{next(i for i, other in enumerate(self.layers) if other is layer)}); a layer may "
                             "appear once: create another instance to repeat its architecture")
        self.layers.append(layer)
        self._layer_ids.add(id(layer))

    def _require_layers(self, op):
        if not self.layers:
            raise ValueError(f"Sequential.{op}: the model has no layers; add() some first")

    @property
    def built(self):
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def build(self, input_shape, dtype=np.float32):
        """Build every layer for inputs of shape ``(batch,) + input_shape`` (batch axis excluded)."""
        if not self.layers:
            raise ValueError("Sequential.build: the model has no layers")
        shape = tuple(int(d) for d in input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape, dtype, rng=self._rng if layer.seed is None else None)
            shape = layer.output_shape
        return self

    @property
    def input_shape(self):
        return self.layers[0].input_shape if self.built else None

    def count_params(self):
        """Every weight, trainable or not (Keras's ``count_params``)."""
        return sum(layer.count_params() for layer in self.layers)

    # --- forward / backward ------------------------------------------------------------------
    def _check_input(self, x, op):
        check_float(x, "x", f"Sequential.{op}")
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"Sequential.{op}: x must be a non-empty batch (N, ...), got shape {tuple(x.shape)}")
        if self.built and tuple(x.shape[1:]) != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"Sequential.{op}: the first layer '{self.layers[0].name}' expects input of shape "
                             f"(batch, {expected}), got {tuple(x.shape)}")
        if self.built and x.dtype != self.layers[0].dtype:  # as every layer checks: no silent casts
            raise TypeError(f"Sequential.{op}: the model is built for {self.layers[0].dtype} inputs, got {x.dtype}")

    def forward(self, x, training=False, logits=False):
        """Run every layer in order; with ``training=True`` dropout is active. With ``logits=True`` a
        last layer with an activation stops before it (the logits of a final softmax; see
        :attr:`softmax_in_loss`)."""
        if not self.layers:
            raise ValueError("Sequential.forward: the model has no layers")
        if not self.built:
            check_float(x, "x", "Sequential.forward")
            self.build(x.shape[1:], x.dtype)
        for layer in self.layers[:-1]:
            x = layer.forward(x, training=training)
        last = self.layers[-1]
        if logits and isinstance(last, ActivationLayer):
            return last.forward(x, training=training, logits=True)
        return last.forward(x, training=training)

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def backward(self, dout, need_input_grad=True):
        """Backprop ``dout`` = dL/d(output of the last forward) through the layers in reverse; fills
        each ``layer.grads``. (After ``forward(..., logits=True)`` ``dout`` is dL/d(logits): the last
        layer knows it skipped its activation.) Returns dL/dx; with ``need_input_grad=False``
        (training) it stops at the first layer with parameters, which skips its input gradient, and
        returns None."""
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for i in range(len(self.layers) - 1, -1, -1):
            if not need_input_grad and i < first:
                return None
            dout = self.layers[i].backward(dout, need_dx=need_input_grad or i > first)
        return dout

    def trainable_pairs(self):
        """``[(grad, param), ...]`` for every parameter, the input of ``optimizer.apply_gradients``."""
        return [(layer.grads[k], p) for layer in self.layers for k, p in layer.params.items()]

    # --- weights -----------------------------------------------------------------------------
    def get_weights(self):
        """Copies of all weights in Keras's order: layer by layer, each layer's ``weights`` (the
        trainable ones, kernel then bias, then the non-trainable ``state``)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """Assign weights in :meth:`get_weights`' order. Everything is checked before anything is assigned."""
        if not self.built:
            raise ValueError("Sequential.set_weights: build the model first (model.build(input_shape) or one forward)")
        params = [(layer.name, k, p) for layer in self.layers for k, p in layer.weights]
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"Sequential.set_weights: expected {len(params)} arrays, got {len(weights)}")
        for (lname, k, p), w in zip(params, weights):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(f"Sequential.set_weights: {lname}/{k} must have shape {p.shape}, got {w.shape}")
            if w.dtype.kind not in "fiu":
                raise TypeError(f"Sequential.set_weights: {lname}/{k} must be numeric, got dtype {w.dtype}")
            if not np.all(np.isfinite(w)):  # training would only report it later, as an overflowing update
                raise ValueError(f"Sequential.set_weights: {lname}/{k} holds NaN or infinite values")
        for (_, _, p), w in zip(params, weights):
            p[...] = w  # in place: optimizer state stays attached to the same arrays

    def save(self, path, include_optimizer=True, training_state=None):
        """Save architecture, weights and optimizer state to ``path`` (.npz), atomically.
        See :mod:`numpy_nn.checkpoint`; reload with ``numpy_nn.load_model(path)``."""
        return checkpoint.save_model(self, path, include_optimizer, training_state)

    def load_weights(self, path):
        """Load a checkpoint of the same architecture into this model (weights, optimizer state,
        dropout generators); returns its ``training_state``. On any problem the model is unchanged."""
        return checkpoint.load_weights(self, path)

    # --- summary -----------------------------------------------------------------------------
    def summary(self, print_fn=print):
        """Print (and return) a Keras-like table of layers, output shapes and parameter counts."""
        if not self.built:
            raise ValueError("Sequential.summary: the model is not built yet; call build(input_shape) or run one batch")
        rule, width = "_" * 65, (29, 26, 10)
        rows = [f'Model: "{self.name}"', rule,
                f"{'Layer (type)':<{width[0]}}{'Output Shape':<{width[1]}}{'Param #':>{width[2]}}", "=" * 65]
        for k, layer in enumerate(self.layers):
            shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")"
            label = f"{layer.name} ({type(layer).__name__})"
            rows.append(f"{label:<{width[0]}}{shape:<{width[1]}}{layer.count_params():>{width[2]},}")
            rows.append(rule if k < len(self.layers) - 1 else "=" * 65)
        total = self.count_params()
        trainable = sum(layer.count_trainable_params() for layer in self.layers)
        rows += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {total - trainable:,}", rule]
        text = "\n".join(rows)
        if print_fn is not None:
            print_fn(text)
        return text

    # --- training ----------------------------------------------------------------------------
    def compile(self, optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=None):
        """Choose the optimizer and loss (Keras names or objects); ``metrics=["accuracy"]`` is supported."""
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        metrics = list(metrics or [])
        unknown = [m for m in metrics if m not in ("accuracy", "acc")]
        if unknown:
            raise ValueError(f"Sequential.compile: unsupported metrics {unknown}; only 'accuracy' is available")
        self.metrics = ["accuracy"] if metrics else []

    def _require_compiled(self, op):
        if self.loss is None:
            raise RuntimeError(f"Sequential.{op}: call compile(optimizer, loss) first")

    @property
    def softmax_in_loss(self):
        """True when the loss takes the final softmax over: a ``from_logits=False`` cross-entropy on a
        last layer whose activation is softmax. Keras (TensorFlow backend) computes that loss from
        the softmax's *input* logits, without clipping; so does numpy_nn, for stability and parity:
        the model runs ``forward(x, logits=True)``, the loss uses ``from_logits=True``, and backward
        starts from dL/d(logits). This is the only place the fused softmax is decided."""
        return (self.loss is not None and not self.loss.from_logits and bool(self.layers)
                and getattr(self.layers[-1], "activation", None) == "softmax")

    def _check_labels(self, x, y, op):
        """One label per example of ``x``, and (once the model is built) labels of the loss's kind
        for the last layer's classes, all checked by the loss (:meth:`losses.check_labels`)."""
        if not (hasattr(y, "shape") and hasattr(y, "ndim")) or y.ndim == 0:
            raise TypeError(f"Sequential.{op}: y must be an array of labels (class ids or rows), got "
                            f"{type(y).__name__}{'' if not hasattr(y, 'ndim') else ' of shape ' + str(y.shape)}")
        if len(y) != len(x):
            raise ValueError(f"Sequential.{op}: y must have one label per example ({len(x)}), got {len(y)}")
        out_shape = self.layers[-1].output_shape if self.built else None
        if out_shape is not None and len(out_shape) == 1:
            try:
                self.loss.check_labels(y, out_shape[0])
            except (TypeError, ValueError) as e:
                raise type(e)(f"Sequential.{op}: {e}") from None

    def _check_data(self, x, y, op, where=""):
        """Check ``x`` and every label of ``y`` as each batch's step will, building an unbuilt model
        for ``x`` first; ``where`` is added to the message (e.g. " (in validation_data)")."""
        try:
            self._check_input(x, op)
            self._build_for(x)
            self._check_labels(x, y, op)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{e}{where}") from None

    def _build_for(self, x):
        """Build an unbuilt model for ``x`` (as its first forward would), so that labels can be
        checked against the output before any step draws a dropout mask or changes a weight."""
        if not self.built:
            self.build(x.shape[1:], x.dtype)

    def train_on_batch(self, x, y):
        """One step of gradient descent on a batch; returns ``(loss, accuracy)`` on that batch.

        Everything that can fail runs before the update: the input and label checks (before the
        forward, so a refused batch draws no dropout mask), the loss and the accuracy, and the
        finite check of the loss and gradients: a failure there leaves the trainable weights,
        optimizer slots and ``iterations`` exactly as they were (BatchNormalization's moving
        statistics, which its training forward updates as Keras's does, are not rolled back), and a
        NaN/inf raises :class:`TrainingDiverged` with ``weights_finite=True``.
        ``model.check_finite = False`` skips the gradient check (one read of every gradient by the
        optimizer, before it updates anything). An update that overflows a weight or an optimizer slot
        is caught by the optimizer in the same step: TrainingDiverged naming the layer and
        parameter, with ``weights_finite=False`` (applied in place, it cannot be undone).
        """
        self._require_compiled("train_on_batch")
        self._require_layers("train_on_batch")
        self._check_input(x, "train_on_batch")
        self._build_for(x)
        self._check_labels(x, y, "train_on_batch")
        fused = self.softmax_in_loss  # final softmax + from_logits=False: work on the logits, as Keras
        out = self.forward(x, training=True, logits=fused)                       # 1. forward
        loss = float(self.loss.forward(y, out, from_logits=True if fused else None))  # 2. loss
        accuracy = self.loss.last_accuracy(out)  # argmax of logits = argmax of probabilities
        self.backward(self.loss.backward(), need_input_grad=False)               # 3. backward
        check_finite(self, loss)
        self._apply_update(check_gradients=self.check_finite)                    # 4. update
        return loss, accuracy

    check_finite = True

    def _parameter_names(self):
        """``[(layer name, parameter name), ...]`` in :meth:`trainable_pairs` order."""
        return [(layer.name, k) for layer in self.layers for k in layer.params]

    def _apply_update(self, check_gradients=False):
        """The optimizer's update of every pair (with ``check_gradients``: after it has checked that
        every gradient is finite); its TrainingDiverged (a non-finite gradient: nothing changed; an
        update that overflowed a weight or slot) raised again with the layer and parameter named."""
        try:
            self.optimizer.apply_gradients(self.trainable_pairs(), check_gradients=check_gradients)
        except TrainingDiverged as e:
            if e.parameter is None:
                raise
            layer, name = self._parameter_names()[e.parameter]
            reason = f"non-finite gradient in layer '{layer}' ({name})" if e.weights_finite else f"layer '{layer}' ({name}): {e.reason}"
            raise TrainingDiverged(reason, layer=layer, weights_finite=e.weights_finite, parameter=e.parameter) from None

    def fit(self, x, y, epochs=1, batch_size=32, shuffle=True, seed=None, verbose=1, validation_data=None,
            initial_epoch=0, on_epoch_end=None):
        """Train until epoch ``epochs`` over ``(x, y)`` in mini-batches. Returns a :class:`History`
        with the mean training loss and accuracy of each epoch (and ``val_*`` with validation data).

        Epoch e's batch order is :func:`numpy_nn.batching.epoch_batch_indices` of ``(seed, e)``, so
        ``initial_epoch=k`` (Keras's name) resumes exactly where a run stopped after k epochs.
        ``seed=None`` draws one (recorded as ``history.seed``). ``on_epoch_end(epoch, logs)`` is called
        after each epoch (the CLI saves checkpoints there). Every argument and every label is
        checked before the first step (:func:`~numpy_nn.training_checks.check_fit_arguments`, then
        :meth:`_check_data`). A NaN/inf loss or gradient stops training with
        :class:`TrainingDiverged` naming the epoch, step and layer, the last good weights kept; an
        update that overflows stops it in that very step, with ``weights_finite=False``.
        """
        self._require_compiled("fit")
        self._require_layers("fit")
        epochs, batch_size, initial_epoch, seed = check_fit_arguments(epochs, batch_size, initial_epoch, seed,
                                                                      validation_data, on_epoch_end)
        self._check_data(x, y, "fit")
        if validation_data is not None:
            self._check_data(*validation_data, "fit", " (in validation_data)")
        history = History()
        history.seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed
        for epoch in range(initial_epoch, epochs):
            batches = epoch_batch_indices(len(x), batch_size, history.seed, epoch, shuffle)
            bar = ProgressBar(len(batches), f"Epoch {epoch + 1}/{epochs}", enabled=bool(verbose))
            result = run_epoch(lambda xb, yb, step: self.train_on_batch(xb, yb), x, y, batches, bar, epoch + 1)
            logs = {"loss": result.loss, "accuracy": result.accuracy}
            if validation_data is not None:
                val_loss, val_acc = self.evaluate(*validation_data, batch_size=batch_size)
                logs.update(val_loss=val_loss, val_accuracy=val_acc)
                bar.metrics.update(val_loss=val_loss, val_accuracy=val_acc)
            bar.close()
            history.append(epoch, **logs)
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
        return history

    def evaluate(self, x, y, batch_size=32, verbose=0):
        """Mean loss and accuracy over ``(x, y)``, in inference mode: ``[loss, accuracy]``."""
        self._require_compiled("evaluate")
        self._require_layers("evaluate")
        batch_size = check_count(batch_size, "batch_size", "evaluate", 1)
        self._check_input(x, "evaluate")
        self._build_for(x)
        self._check_labels(x, y, "evaluate")
        fused = self.softmax_in_loss  # the loss from the logits, the accuracy from the probabilities
        total_loss = total_correct = 0.0
        for idx in batch_indices(len(x), batch_size, shuffle=False):
            out = self.forward(x[idx], logits=fused)
            loss = self.loss.forward(y[idx], out, from_logits=True if fused else None)
            if fused:
                out = self.layers[-1].activate(out)
            total_loss += float(loss) * len(idx)
            total_correct += self.loss.accuracy(y[idx], out) * len(idx)
        return [total_loss / len(x), total_correct / len(x)]

    def predict(self, x, batch_size=32, verbose=0):
        """The model's outputs for ``x`` in inference mode, computed batch by batch."""
        self._require_layers("predict")
        batch_size = check_count(batch_size, "batch_size", "predict", 1)
        self._check_input(x, "predict")
        return np.concatenate([self.forward(x[idx]) for idx in batch_indices(len(x), batch_size, shuffle=False)])


def load_model(path):
    """Rebuild the model saved at ``path``: architecture, weights, and the optimizer with its state
    (compiling it with the same loss is up to the caller: ``model.compile(model.optimizer, loss)``).
    The whole file is checked before the model is built (see :mod:`numpy_nn.checkpoint`); raises
    :class:`~numpy_nn.checkpoint.CheckpointError` for a file that cannot be used."""
    saved = checkpoint.open_checkpoint(path)
    model = Sequential(saved.layers, seed=saved.header["seed"], name=saved.header["name"])
    checkpoint.build_model(path, model, saved.header)
    checkpoint.assign(path, model, saved)
    return model
