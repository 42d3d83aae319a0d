"""The side-by-side driver behind ``numpy-nn train``: one tutorial model, trained in NumPy, TensorFlow or both.

For a side-by-side run (``backends=("numpy", "tf")``) the two frameworks get

* the same initial weights: the Keras twin is built from the numpy model before either trains;
* the same data and preprocessing: :func:`prepare_inputs`, from the model's definition in
  :mod:`numpy_nn.zoo`;
* the same mini-batches in the same order: :func:`numpy_nn.batching.epoch_batch_indices` of
  ``(seed, epoch)``, the order ``Sequential.fit(seed=seed)`` uses;
* the same epoch loop: :func:`numpy_nn.loop.run_epoch`, the one ``Sequential.fit`` runs, so both are
  timed, logged and stopped on divergence alike;
* the same dropout keep-masks: numpy draws each step's mask, and the Keras twin's
  ``InjectedDropout`` receives it for the same step (:func:`train_step`).

Each epoch runs the numpy model through all its batches, then the Keras model through the same
batches (each timed on its own). Nothing here imports TensorFlow at import time; the Keras side
lives in :mod:`tf_nn.training` and is imported only when the ``"tf"`` backend is asked for
(:func:`load_tf_trainer`). Checkpoints and resuming: :mod:`numpy_nn.app.resume`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import zoo
from ..batching import epoch_batch_indices
from ..checkpoint import CheckpointError
from ..datasets import scale_pixels, standardize
from ..errors import TrainingDiverged
from ..layers import Dropout
from ..loop import run_epoch
from ..progress import ProgressBar
from .results import BACKENDS, BackendRun, ModelResult, max_abs_diff
from .resume import checkpoint_path, check_resume, data_fingerprint, training_state

#: Images per forward pass when evaluating, predicting or extracting features (no effect on results).
EVAL_BATCH = 500


def load_tf_trainer():
    """The Keras trainer class, importing TensorFlow; ImportError when TensorFlow is not installed."""
    from tf_nn.training import KerasTrainer

    return KerasTrainer


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

def prepare_inputs(spec, train_images, test_images):
    """The tutorial preprocessing of ``spec`` applied to uint8 images, reshaped to its input shape.

    ``"scale"``: pixels / 255. ``"standardize"``: (x - mean) / std with the scalar mean and std of
    the *training* images (see :func:`numpy_nn.datasets.standardize`). Returns float32
    ``(x_train, x_test)`` of shapes ``(N,) + spec.input_shape``, e.g. (N, 28, 28, 1) for the CNN.
    """
    if spec.preprocessing == "standardize":
        x_train, x_test, _ = standardize(train_images, test_images)
    elif spec.preprocessing == "scale":
        x_train, x_test = scale_pixels(train_images), scale_pixels(test_images)
    else:
        raise ValueError(f"model {spec.name!r}: unknown preprocessing {spec.preprocessing!r}")
    return x_train.reshape((-1,) + spec.input_shape), x_test.reshape((-1,) + spec.input_shape)


# ----------------------------------------------------------------------------------------------
# The numpy side (same interface as tf_nn.training.KerasTrainer)
# ----------------------------------------------------------------------------------------------

class NumpyTrainer:
    """A compiled ``numpy_nn.Sequential`` behind the interface the driver uses for both frameworks."""

    backend = "numpy"

    def __init__(self, model):
        self.model = model
        self.dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]

    def train_on_batch(self, x, y, masks=None):
        """One step; returns ``(loss, accuracy)`` on the batch. ``masks`` is ignored: numpy draws them."""
        return self.model.train_on_batch(x, y)

    def last_masks(self):
        """The keep-masks the Dropout layers drew in the last training step, in layer order."""
        return [layer.last_mask for layer in self.dropouts]

    def predict(self, x):
        return self.model.predict(x, batch_size=EVAL_BATCH)

    def evaluate(self, x, y):
        loss, accuracy = self.model.evaluate(x, y, batch_size=EVAL_BATCH)
        return loss, accuracy

    def features(self, x):
        """The last hidden layer's activations (the input of the final layer) in inference mode;
        for a one-layer model, which has no hidden layer, its pre-activation logits."""
        layers, out = self.model.layers, []
        for i in range(0, len(x), EVAL_BATCH):
            h = x[i:i + EVAL_BATCH]
            for layer in layers[:-1]:
                h = layer.forward(h, training=False)
            if len(layers) == 1:  # softmax regression: its logits, the layer stopped before its softmax
                h = layers[0].forward(h, training=False, logits=True)
            out.append(h)
        return np.concatenate(out)

    def get_weights(self):
        return self.model.get_weights()


# ----------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------

def train_step(trainer, model, masks=None, layer_names=None):
    """The ``train_step(x, y, step) -> (loss, accuracy)`` that :func:`numpy_nn.loop.run_epoch` runs
    for ``trainer`` (one framework's training of model ``model``).

    ``masks``: None, or the list a side-by-side epoch shares between its two frameworks: the numpy
    step appends the keep-masks its Dropout layers drew at each step, and the Keras step, which runs
    the same batches afterwards, replays ``masks[step]``. A diverging step (its update not applied)
    raises :class:`~numpy_nn.errors.TrainingDiverged` whose reason names the model and the framework,
    and the first layer with a non-finite gradient; ``run_epoch`` adds the epoch and the step."""
    record = masks is not None and trainer.backend == "numpy"

    def step(x, y, k):
        replay = masks[k] if masks is not None and not record else None
        try:
            loss, accuracy = trainer.train_on_batch(x, y, replay)
        except TrainingDiverged as e:
            raise _named(e, trainer, model, layer_names) from None
        if record:
            masks.append([m.copy() for m in trainer.last_masks()])
        return loss, accuracy

    return step


def _named(e, trainer, model, layer_names=None):
    """``e`` with the model and framework in its reason and the first layer named, and with
    ``weights_finite`` made true to the weights: a step that refused its update because the loss was
    NaN may have found weights that an earlier update had already overflowed (the Keras step does
    not check its updates), and then the weights are not good ones."""
    reason = f"{model} ({trainer.backend}): {e.reason}"
    if e.layer is not None and f"'{e.layer}'" not in e.reason:
        reason += f", first non-finite gradient in layer '{e.layer}'"
    if e.weights_finite and layer_names is not None:
        layer = _first_non_finite_weight(trainer.get_weights(), layer_names)
        if layer is not None:
            return TrainingDiverged(f"{reason}; layer '{layer}' already holds non-finite weights", layer,
                                    weights_finite=False)
    return e.where(reason=reason)


def weight_layer_names(model):
    """The layer name of each array of a numpy_nn ``model``'s ``get_weights()``; the Keras twin's
    ``get_weights()`` keeps that order."""
    return [layer.name for layer in model.layers for _ in layer.weights]


#: What a TrainingDiverged found at the end of an epoch says about the weights (a step in the epoch
#: overflowed them; the epoch's steps had finite losses and gradients, so none stopped it).
_OVERFLOWED = ("an update during this epoch overflowed them, in place (no copy is kept to undo it): this model "
               "cannot continue, and no checkpoint of this epoch is written")


def check_finite_after_epoch(trainers, model, epoch, steps, layer_names):
    """After an epoch: every framework's weights must be finite (numpy_nn's optimizer checks each
    update; the Keras step checks only the loss and gradients, so an update that overflowed a Keras
    weight is found here). TrainingDiverged with ``weights_finite=False`` otherwise."""
    for backend, trainer in trainers.items():
        layer = _first_non_finite_weight(trainer.get_weights(), layer_names)
        if layer is not None:
            raise TrainingDiverged(f"{model} ({backend}): non-finite weights in layer '{layer}' after the epoch's "
                                   "last step", layer, epoch, steps, weights_finite=False, kept=_OVERFLOWED)


def check_data(data):
    """``((x_train, y_train), (x_test, y_test))``: both splits non-empty, labels one per image.
    ValueError naming the split otherwise (an epoch of 0 batches has no loss; a test set of 0
    images no accuracy)."""
    for split, (images, labels) in zip(("training", "test"), data):
        if len(images) == 0:
            raise ValueError(f"the {split} split has 0 images; training needs at least one in each split")
        if len(labels) != len(images):
            raise ValueError(f"the {split} split has {len(images)} images but {len(labels)} labels")


def check_results(runs, model):
    """After the test evaluation: a non-finite test loss or accuracy (finite weights whose outputs
    overflow) is divergence too, never a result to report."""
    for backend, run in runs.items():
        for what in ("test_loss", "test_accuracy"):
            value = getattr(run, what)
            if not np.isfinite(value):
                raise TrainingDiverged(f"{model} ({backend}): the {what.replace('_', ' ')} is {value} after training",
                                       weights_finite=True,
                                       kept="the weights are finite, but the model's outputs on the test set overflow")


def make_trainers(models, backends, seed=None):
    """``{backend: trainer}`` for compiled numpy models, numpy first; ``models`` is one untrained
    model for every backend, or ``{backend: model}`` (e.g. each loaded from its checkpoint).

    The Keras twin is built now, from its numpy model, so both start from the same weights; when
    both frameworks train a model with dropout, the twin takes injected masks. ``seed`` goes to
    the Keras trainer (op determinism, seeded Keras generators: see the README's "Determinism in detail")."""
    if not isinstance(models, dict):
        models = {b: models for b in backends}
    some = next(iter(models.values()))
    share_masks = set(backends) == set(BACKENDS) and any(isinstance(layer, Dropout) for layer in some.layers)
    trainers = {}
    if "numpy" in backends:
        trainers["numpy"] = NumpyTrainer(models["numpy"])
    if "tf" in backends:
        trainers["tf"] = load_tf_trainer()(models["tf"], inject_masks=share_masks, seed=seed)
    return trainers, share_masks


def train_model(name, data, backends=BACKENDS, epochs=None, batch_size=None, learning_rate=None,
                seed=0, embedding_size=1000, verbose=True, stream=None, save_dir=None, resume=None, data_info=None):
    """Train the tutorial model ``name`` in each of ``backends`` from the same starting point.

    ``data`` is ``((x_train, y_train), (x_test, y_test))`` as :func:`numpy_nn.datasets.load_mnist`
    returns it (uint8 images). ``epochs``, ``batch_size``, ``learning_rate`` default to the model's
    tutorial settings; ``seed`` fixes the initial weights, the batch order and the dropout masks.
    Each epoch runs numpy then Keras over the same batches, each through
    :func:`numpy_nn.loop.run_epoch` with its :func:`train_step`. Returns a :class:`ModelResult`.

    ``save_dir``: after every epoch, write each framework's checkpoint to
    :func:`~numpy_nn.app.resume.checkpoint_path` ``(save_dir, name, backend)`` (atomically; never a
    non-finite one). ``resume``: a :class:`~numpy_nn.app.resume.ResumePoint`
    (:func:`~numpy_nn.app.resume.read_resume_point`) to continue from, up to ``epochs`` in all; its
    batch size, learning rate, seed and data must be this call's (ValueError otherwise).
    ``data_info``: a JSON-ready description of the data stored in the checkpoints.
    A :class:`~numpy_nn.errors.TrainingDiverged` raised here carries ``checkpoint_epoch``, the
    epoch of the last checkpoint this call wrote (0 if none), and ``checkpoints``, their paths.
    """
    spec = zoo.get(name)
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        raise ValueError(f"backends must be some of {BACKENDS}, got {tuple(backends)!r}")
    epochs = spec.epochs if epochs is None else epochs
    batch_size = spec.batch_size if batch_size is None else batch_size
    learning_rate = spec.learning_rate if learning_rate is None else learning_rate
    check_data(data)
    (train_images, y_train), (test_images, y_test) = data
    data_info = {**(data_info or {}), "train_images": len(train_images),
                 "sha256": data_fingerprint(train_images, y_train)}
    x_train, x_test = prepare_inputs(spec, train_images, test_images)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

    start_epoch, weight_diffs = 0, []
    if resume is None:
        model = spec.build(seed=seed)
        model.compile(spec.make_optimizer(learning_rate), spec.make_loss(), metrics=["accuracy"])
        trainers, share_masks = make_trainers(model, backends, seed)
        runs = {b: BackendRun(b) for b in trainers}
    else:
        check_resume(resume, name, backends, epochs, batch_size, learning_rate, seed, data_info)
        trainers, share_masks = make_trainers(resume.models, backends, seed)
        if "tf" in trainers:
            try:
                trainers["tf"].import_state(resume.models["tf"], resume.states["tf"]["keras"])
            except ValueError as e:
                raise CheckpointError(f"{resume.paths['tf']}: {e}") from None
        runs = {b: BackendRun.from_history(b, resume.states[b]["history"]) for b in trainers}
        start_epoch, weight_diffs = resume.epoch, list(resume.states[backends[0]]["epoch_weight_diff"])

    layer_names = weight_layer_names(model if resume is None else next(iter(resume.models.values())))
    saver = _Saver(save_dir, spec, trainers, seed, learning_rate) if save_dir is not None else None
    try:
        for epoch in range(start_epoch, epochs):
            batches = epoch_batch_indices(len(x_train), batch_size, seed, epoch)
            masks = [] if share_masks else None   # filled by numpy, replayed by Keras
            for backend, trainer in trainers.items():
                bar = ProgressBar(len(batches), f"{name:<7} {backend:<5} epoch {epoch + 1}/{epochs}", stream=stream,
                                  enabled=verbose)
                result = run_epoch(train_step(trainer, name, masks, layer_names), x_train, y_train, batches, bar, epoch + 1)
                bar.close()
                runs[backend].add_epoch(result)
            check_finite_after_epoch(trainers, name, epoch + 1, len(batches), layer_names)
            if len(trainers) == 2:
                weight_diffs.append(max_abs_diff(trainers["numpy"].get_weights(), trainers["tf"].get_weights()))
            if saver is not None:
                state = training_state(name, trainers, epoch + 1, epochs, seed, batch_size, learning_rate, data_info,
                                       weight_diffs)
                saver.save(state, runs, len(batches))
    except TrainingDiverged as e:
        e.checkpoint_epoch, e.checkpoints = (saver.epoch, saver.paths) if saver is not None else (0, [])
        raise
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite test loss is reported by check_results
        for backend, trainer in trainers.items():
            runs[backend].finish(trainer, x_test, y_test)
    check_results(runs, name)

    n_embed = min(embedding_size, len(x_test))
    primary = next(iter(trainers.values()))
    settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
                "optimizer": spec.optimizer, "preprocessing": spec.preprocessing,
                "train_images": len(x_train), "test_images": len(x_test)}
    return ModelResult(
        spec=spec, settings=settings, runs=runs, epoch_weight_diff=weight_diffs, test_labels=y_test,
        embedding_labels=y_test[:n_embed],
        embedding_pixels=scale_pixels(test_images[:n_embed]).reshape(n_embed, -1),
        embedding_features=primary.features(x_test[:n_embed]),
        resumed_from=start_epoch, checkpoints=saver.paths if saver is not None else [])


# ----------------------------------------------------------------------------------------------
# Checkpoints after every epoch
# ----------------------------------------------------------------------------------------------

def _first_non_finite_weight(weights, layer_names):
    """The layer of the first non-finite weight (layer by layer, kernel then bias), or None."""
    for w, layer in zip(weights, layer_names):
        if not np.all(np.isfinite(w)):
            return layer
    return None


class _Saver:
    """Writes each framework's checkpoint after an epoch; the Keras side through a scratch numpy model."""

    def __init__(self, folder, spec, trainers, seed, learning_rate):
        self.folder, self.trainers, self.epoch, self.paths = Path(folder), trainers, 0, []
        self.scratch = None
        if "tf" in trainers:
            self.scratch = spec.build(seed=seed)
            self.scratch.compile(spec.make_optimizer(learning_rate), spec.make_loss(), metrics=["accuracy"])

    def save(self, state, runs, steps):
        """Prepare every framework's model (the Keras state copied into the scratch model), check
        its weights and optimizer slots, then write every file (so a diverged epoch writes none)."""
        prepared = []
        for backend, trainer in self.trainers.items():
            backend_state = {**state, "backend": backend, "history": runs[backend].history()}
            if backend == "tf":
                backend_state["keras"] = trainer.export_state(self.scratch)
                model = self.scratch
            else:
                model = trainer.model
            problem = _state_problem(model)
            if problem is not None:
                raise TrainingDiverged(f"{state['model']} ({backend}): {problem} after the epoch's last step",
                                       None, state["epoch"], steps, weights_finite=False, kept=_OVERFLOWED)
            prepared.append((model, backend, backend_state))
        paths = [model.save(checkpoint_path(self.folder, state["model"], backend), training_state=backend_state)
                 for model, backend, backend_state in prepared]
        self.epoch, self.paths = state["epoch"], paths


def _state_problem(model):
    """What makes ``model``'s state unfit for a checkpoint (a non-finite weight, or an optimizer slot
    that :meth:`~numpy_nn.optimizers.Optimizer.slot_problem` refuses), or None."""
    names = [layer.name for layer in model.layers for _ in layer.weights]
    layer = _first_non_finite_weight(model.get_weights(), names)
    if layer is not None:
        return f"non-finite weights in layer '{layer}'"
    optimizer = model.optimizer
    for layer in model.layers:
        for key, param in layer.params.items():
            for name, slot in zip(optimizer.slot_names, optimizer.slots(param)):
                problem = optimizer.slot_problem(name, slot)
                if problem is not None:
                    return f"the optimizer slot '{name}' of layer '{layer.name}' ({key}) {problem}"
    return None
