"""The training driver behind ``numpy-nn train``: one tutorial model, trained in NumPy, TensorFlow or both.

For a side-by-side run (``backends=("numpy", "tf")``) the two frameworks get

* the same initial weights: the Keras twin is built from the numpy model before either trains;
* the same data and preprocessing: :func:`prepare_inputs`, from the model's definition in
  :mod:`numpy_nn.zoo`;
* the same mini-batches in the same order: :func:`numpy_nn.batching.epoch_batch_indices` of
  ``(seed, epoch)``, the order ``Sequential.fit(seed=seed)`` uses;
* the same dropout keep-masks: numpy draws each step's mask, and the Keras twin's
  ``InjectedDropout`` receives it for the same step.

Each epoch runs the numpy model through all its batches, then the Keras model through the same
batches (each timed on its own). Nothing here imports TensorFlow; the Keras side lives in
:mod:`tf_nn.training` and is imported only when the ``"tf"`` backend is asked for.

Checkpoints (``save_dir`` / ``resume`` of :func:`train_model`, the CLI's ``--save`` / ``--resume``):
after every epoch each framework's state goes to ``<save_dir>/<model>-<backend>.npz`` in numpy_nn's
checkpoint format (:mod:`numpy_nn.checkpoint`; the Keras side as a numpy_nn model holding the Keras
weights and optimizer moments, see :meth:`tf_nn.training.KerasTrainer.export_state`), with a
``training_state`` that holds everything else a resumed run needs: the settings, the data's
fingerprint, the epochs done and the curves so far. Since epoch ``e``'s batches depend only on
``(seed, e)`` and the optimizer state and dropout generators are restored, a run resumed after
``k`` epochs is bit for bit the run that was never interrupted.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import zoo
from .batching import epoch_batch_indices
from .checkpoint import CheckpointError, read_checkpoint
from .datasets import scale_pixels, standardize
from .layers import Dropout
from .models import TrainingDiverged
from .progress import ProgressBar

BACKENDS = ("numpy", "tf")

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
            if len(layers) == 1:  # softmax regression: x @ kernel + bias, before the softmax
                last = layers[0]
                h = h @ last.params["kernel"] + last.params["bias"]
            out.append(h)
        return np.concatenate(out)

    def get_weights(self):
        return self.model.get_weights()


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------

@dataclass
class BackendRun:
    """One framework's training of one model: per-step and per-epoch curves, timings, test scores."""

    backend: str
    step_loss: list = field(default_factory=list)        # training loss of every batch
    step_accuracy: list = field(default_factory=list)
    epoch_loss: list = field(default_factory=list)       # mean training loss of each epoch
    epoch_accuracy: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)    # training time of each epoch
    test_loss: float = float("nan")
    test_accuracy: float = float("nan")
    test_outputs: np.ndarray = None                      # model outputs on the test set
    weights: list = None                                 # final weights

    def add_epoch(self, step_losses, step_accuracies, batch_sizes, seconds):
        """Record one epoch: its per-step values, their batch-size-weighted means, its time."""
        self.step_loss += step_losses
        self.step_accuracy += step_accuracies
        self.epoch_loss.append(float(np.dot(step_losses, batch_sizes) / batch_sizes.sum()))
        self.epoch_accuracy.append(float(np.dot(step_accuracies, batch_sizes) / batch_sizes.sum()))
        self.epoch_seconds.append(seconds)

    def finish(self, trainer, x_test, y_test):
        """Record the trained model's test loss, accuracy and outputs, and its final weights."""
        self.test_loss, self.test_accuracy = (float(v) for v in trainer.evaluate(x_test, y_test))
        self.test_outputs = trainer.predict(x_test)
        self.weights = trainer.get_weights()

    @property
    def final_loss(self):
        return self.epoch_loss[-1] if self.epoch_loss else float("nan")

    @property
    def seconds_per_epoch(self):
        return float(np.mean(self.epoch_seconds)) if self.epoch_seconds else float("nan")

    #: The per-step and per-epoch curves, as a checkpoint's ``training_state["history"]`` holds them.
    HISTORY = ("step_loss", "step_accuracy", "epoch_loss", "epoch_accuracy", "epoch_seconds")

    def history(self):
        """The curves so far, JSON-ready (floats survive JSON exactly: ``repr`` round-trips)."""
        return {key: [float(v) for v in getattr(self, key)] for key in self.HISTORY}

    @classmethod
    def from_history(cls, backend, history):
        """A run that has already done the epochs in ``history`` (see :meth:`history`)."""
        return cls(backend, **{key: list(history[key]) for key in cls.HISTORY})

    def summary(self):
        """The figures of the results table, JSON-ready."""
        return {"test_accuracy": self.test_accuracy, "test_loss": self.test_loss,
                "final_loss": self.final_loss, "seconds_per_epoch": self.seconds_per_epoch,
                "epoch_loss": self.epoch_loss, "epoch_accuracy": self.epoch_accuracy,
                "epoch_seconds": self.epoch_seconds}


@dataclass
class ModelResult:
    """Everything ``numpy-nn train`` reports and plots for one model."""

    spec: object                     # the zoo.TutorialModel
    settings: dict                   # epochs, batch_size, learning_rate, seed, train/test sizes
    runs: dict                       # backend name -> BackendRun
    epoch_weight_diff: list          # max |w_numpy - w_tf| after each epoch (empty unless both ran)
    test_labels: np.ndarray
    embedding_labels: np.ndarray     # labels of the images below
    embedding_pixels: np.ndarray     # raw test pixels (N, 784), float in [0, 1]
    embedding_features: np.ndarray   # the primary backend's last hidden layer on those images
    resumed_from: int = 0            # epochs done by the checkpoints this run resumed from (0: none)
    checkpoints: list = field(default_factory=list)   # checkpoint files written (after the last epoch)

    @property
    def name(self):
        return self.spec.name

    @property
    def primary(self):
        """The run the single-framework figures show: numpy's when there is one."""
        return self.runs["numpy"] if "numpy" in self.runs else next(iter(self.runs.values()))

    @property
    def max_weight_diff(self):
        """max |w_numpy - w_tf| over every final weight, or None unless both frameworks ran."""
        if set(self.runs) != set(BACKENDS):
            return None
        return max_abs_diff(self.runs["numpy"].weights, self.runs["tf"].weights)

    def probabilities(self, backend=None):
        """Class probabilities on the test set (softmax of the outputs of a logits model)."""
        run = self.primary if backend is None else self.runs[backend]
        return softmax(run.test_outputs) if self.spec.from_logits else run.test_outputs

    def summary(self):
        out = {"description": self.spec.description, **self.settings,
               "backends": {name: run.summary() for name, run in self.runs.items()}}
        if self.max_weight_diff is not None:
            a, b = self.runs["numpy"], self.runs["tf"]
            out["test_accuracy_diff_pp"] = 100 * (a.test_accuracy - b.test_accuracy)
            out["max_weight_diff"] = self.max_weight_diff
            out["epoch_max_weight_diff"] = self.epoch_weight_diff
        return out


def max_abs_diff(weights_a, weights_b):
    """max |a - b| over two lists of arrays (computed in float64)."""
    return float(max(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
                     for a, b in zip(weights_a, weights_b, strict=True)))


def softmax(z):
    """Row-wise softmax, computed stably in float64."""
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------------------
# Checkpoints: one file per model and framework, and everything needed to resume
# ----------------------------------------------------------------------------------------------

#: ``training_state["format"]`` of the checkpoints that :func:`train_model` writes.
TRAIN_STATE_FORMAT, TRAIN_STATE_VERSION = "numpy-nn-train", 1


def checkpoint_path(folder, name, backend):
    """Where :func:`train_model` saves model ``name`` trained by ``backend``: ``folder/<name>-<backend>.npz``."""
    return Path(folder) / f"{name}-{backend}.npz"


def data_fingerprint(images, labels):
    """SHA-256 of the training images and labels (shape, dtype and bytes): a resumed run must see
    exactly the data of the run it continues, or its batches would not be the same examples."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(images), np.ascontiguousarray(labels)):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class ResumePoint:
    """One model's checkpoints (one per framework), loaded and checked, ready to train on."""

    name: str
    epoch: int          # epochs done
    settings: dict      # epochs (the saved run's target), batch_size, learning_rate, seed, data
    paths: dict         # backend -> checkpoint file
    models: dict        # backend -> compiled numpy_nn model holding that framework's weights and optimizer state
    states: dict        # backend -> training_state

    @property
    def path(self):
        """The first checkpoint file, to name in messages."""
        return next(iter(self.paths.values()))


def _check_training_state(path, state, name, backend, backends):
    """The training_state of a checkpoint written by :func:`train_model`; CheckpointError otherwise."""
    def fail(what):
        raise CheckpointError(f"{path}: {what}")

    def is_int(v, low):
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        fail("no training state: not written by `numpy-nn train --save`, cannot resume from it")
    if state.get("version") != TRAIN_STATE_VERSION:
        fail(f"training state version {state.get('version')!r} is not supported (expected {TRAIN_STATE_VERSION})")
    if state.get("model") != name or state.get("backend") != backend:
        fail(f"holds model {state.get('model')!r} trained by {state.get('backend')!r}, not {name!r} by {backend!r}")
    if state.get("run_backends") != list(backends):
        fail(f"was saved by a run of {'+'.join(map(str, state.get('run_backends') or ['?']))}, this run trains "
             f"{'+'.join(backends)}: the frameworks of a run resume together (same --backend as the saved run)")
    epoch = state.get("epoch")
    if not is_int(epoch, 1) or not is_int(state.get("epochs"), epoch):
        fail(f"training state: epoch {epoch!r} of {state.get('epochs')!r} is not a valid pair of epoch counts")
    if not (is_int(state.get("seed"), 0) and is_int(state.get("batch_size"), 1)):
        fail("training state: seed or batch_size missing or invalid")
    lr = state.get("learning_rate")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
        fail(f"training state: learning_rate {lr!r} is not a positive number")
    data = state.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("sha256"), str) or not is_int(data.get("train_images"), 1):
        fail("training state: the description of the training data is missing")
    history = state.get("history")
    if not isinstance(history, dict):
        fail("training state: no history")
    def numbers(values):
        return isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    for key in BackendRun.HISTORY:
        values = history.get(key)
        if not numbers(values):
            fail(f"training state: history {key!r} missing or not a list of numbers")
        if key.startswith("epoch") and len(values) != epoch:
            fail(f"training state: history {key!r} has {len(values)} values for {epoch} epochs")
    if len(history["step_loss"]) != len(history["step_accuracy"]):
        fail("training state: history step_loss and step_accuracy differ in length")
    diffs = state.get("epoch_weight_diff")
    if not numbers(diffs):
        fail("training state: epoch_weight_diff missing or not a list of numbers")
    if backend == "tf":
        keras_state = state.get("keras")
        if not isinstance(keras_state, dict) or not isinstance(keras_state.get("non_trainable"), list):
            fail("training state: the Keras side's state is missing")


def load_checkpoint(path, name, backend, backends=None):
    """``(model, training_state)``: the compiled numpy_nn model ``name`` with the weights, optimizer
    state and dropout generators saved in ``path`` by ``backend``'s run. CheckpointError (naming the
    file) if it is missing, damaged, of another model or architecture, or not a training checkpoint,
    or saved by a run of other ``backends`` (default: ``backend`` alone)."""
    backends = [backend] if backends is None else list(backends)
    header, _ = read_checkpoint(path)   # the file's structure; then what it holds, then the architecture
    state = header.get("training_state")
    _check_training_state(path, state, name, backend, backends)
    spec = zoo.get(name)
    model = spec.build(seed=state["seed"])
    fresh = spec.make_optimizer()
    model.compile(fresh, spec.make_loss(), metrics=["accuracy"])
    model.load_weights(path)  # checks the architecture; weights, optimizer state, dropout generators
    if model.optimizer is fresh:
        raise CheckpointError(f"{path}: saved without its optimizer state, cannot resume from it exactly")
    if type(model.optimizer) is not type(fresh):
        raise CheckpointError(f"{path}: holds a {type(model.optimizer).__name__} optimizer, model {name!r} trains "
                              f"with {type(fresh).__name__}")
    if model.optimizer.learning_rate != state["learning_rate"]:
        raise CheckpointError(f"{path}: the optimizer's learning rate {model.optimizer.learning_rate} differs from "
                              f"the training state's {state['learning_rate']}")
    return model, state


def read_resume_point(folder, name, backends):
    """The checkpoints of model ``name`` for every one of ``backends`` in ``folder`` (as
    :func:`train_model` writes them), loaded and checked: a :class:`ResumePoint`, or None when
    ``folder`` holds none of them. CheckpointError when one is bad, or only some are there, or they
    disagree (different epochs or settings: the frameworks of a side-by-side run resume together)."""
    paths = {b: checkpoint_path(folder, name, b) for b in backends}
    present = [b for b, path in paths.items() if path.exists()]
    if not present:
        return None
    if len(present) != len(paths):
        missing = [str(paths[b]) for b in paths if b not in present]
        raise CheckpointError(f"{missing[0]}: no such checkpoint file (a side-by-side run resumes both frameworks; "
                              f"{paths[present[0]]} is there)")
    models, states = {}, {}
    for backend, path in paths.items():
        models[backend], states[backend] = load_checkpoint(path, name, backend, backends)
    first, *others = backends
    keys = ("epoch", "epochs", "seed", "batch_size", "learning_rate", "data", "epoch_weight_diff")
    for other in others:
        for key in keys:
            if states[other][key] != states[first][key]:
                raise CheckpointError(f"{paths[other]}: {key} {states[other][key]!r} differs from {paths[first]}'s "
                                      f"{states[first][key]!r}; both frameworks must resume from the same epoch")
    state = states[first]
    settings = {key: state[key] for key in ("epochs", "batch_size", "learning_rate", "seed", "data")}
    return ResumePoint(name, state["epoch"], settings, paths, models, states)


def _first_non_finite_weight(weights, layer_names):
    """The layer of the first non-finite weight (layer by layer, kernel then bias), or None."""
    for w, layer in zip(weights, layer_names):
        if not np.all(np.isfinite(w)):
            return layer
    return None


# ----------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------

def run_epoch(trainer, x, y, batches, desc, masks=None, verbose=True, stream=None, epoch=None, model=""):
    """Train ``trainer`` on ``batches`` (index arrays) once, with a progress bar.

    ``masks``: None, or a list to fill (numpy: the drawn keep-masks of each step) or to replay
    (Keras: one list of masks per step). Returns ``(step_losses, step_accuracies, seconds)``.
    A non-finite loss or gradient (either framework; the step is then not applied) raises
    :class:`numpy_nn.models.TrainingDiverged` naming the ``model``, the framework, ``epoch``
    (1-based), the step and the first layer with a non-finite gradient.
    """
    record = masks is not None and trainer.backend == "numpy"
    bar = ProgressBar(len(batches), desc, stream=stream, enabled=verbose)
    losses, accuracies, seen, start = [], [], 0, time.perf_counter()
    total_loss = total_correct = 0.0
    for step, idx in enumerate(batches):
        replay = masks[step] if masks is not None and not record else None
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss is reported below
                loss, acc = trainer.train_on_batch(x[idx], y[idx], replay)
        except TrainingDiverged as e:
            bar.close()
            reason = f"{model} ({trainer.backend}): {e.reason}"
            if e.layer is not None and f"'{e.layer}'" not in e.reason:
                reason += f", first non-finite gradient in layer '{e.layer}'"
            raise TrainingDiverged(reason, e.layer, epoch, step + 1) from None
        if record:
            masks.append([m.copy() for m in trainer.last_masks()])
        losses.append(loss)
        accuracies.append(acc)
        seen += len(idx)
        total_loss, total_correct = total_loss + loss * len(idx), total_correct + acc * len(idx)
        bar.update(step + 1, samples=seen, loss=total_loss / seen, accuracy=total_correct / seen)
    seconds = time.perf_counter() - start
    bar.close()
    return losses, accuracies, seconds


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
    Each epoch runs numpy then Keras over the same batches. Returns a :class:`ModelResult`.

    ``save_dir``: after every epoch, write each framework's checkpoint to
    :func:`checkpoint_path` ``(save_dir, name, backend)`` (atomically; never a non-finite one).
    ``resume``: a :class:`ResumePoint` (:func:`read_resume_point`) to continue from, up to
    ``epochs`` in all; its batch size, learning rate, seed and data must be this call's (ValueError
    otherwise). ``data_info``: a JSON-ready description of the data stored in the checkpoints.
    A :class:`~numpy_nn.models.TrainingDiverged` raised here carries ``checkpoint_epoch``, the
    epoch of the last checkpoint this call wrote (0 if none), and ``checkpoints``, their paths.
    """
    spec = zoo.get(name)
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        raise ValueError(f"backends must be some of {BACKENDS}, got {tuple(backends)!r}")
    epochs = spec.epochs if epochs is None else epochs
    batch_size = spec.batch_size if batch_size is None else batch_size
    learning_rate = spec.learning_rate if learning_rate is None else learning_rate
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
        _check_resume(resume, name, backends, epochs, batch_size, learning_rate, seed, data_info)
        trainers, share_masks = make_trainers(resume.models, backends, seed)
        if "tf" in trainers:
            try:
                trainers["tf"].import_state(resume.models["tf"], resume.states["tf"]["keras"])
            except ValueError as e:
                raise CheckpointError(f"{resume.paths['tf']}: {e}") from None
        runs = {b: BackendRun.from_history(b, resume.states[b]["history"]) for b in trainers}
        start_epoch, weight_diffs = resume.epoch, list(resume.states[backends[0]]["epoch_weight_diff"])

    saver = _Saver(save_dir, spec, trainers, seed, learning_rate) if save_dir is not None else None
    try:
        for epoch in range(start_epoch, epochs):
            batches = epoch_batch_indices(len(x_train), batch_size, seed, epoch)
            sizes = np.array([len(idx) for idx in batches])
            masks = [] if share_masks else None   # filled by numpy, replayed by Keras
            for backend, trainer in trainers.items():
                desc = f"{name:<7} {backend:<5} epoch {epoch + 1}/{epochs}"
                losses, accs, seconds = run_epoch(trainer, x_train, y_train, batches, desc, masks, verbose, stream,
                                                  epoch + 1, name)
                runs[backend].add_epoch(losses, accs, sizes, seconds)
            if len(trainers) == 2:
                weight_diffs.append(max_abs_diff(trainers["numpy"].get_weights(), trainers["tf"].get_weights()))
            if saver is not None:
                state = {"format": TRAIN_STATE_FORMAT, "version": TRAIN_STATE_VERSION, "model": name,
                         "run_backends": list(trainers), "epoch": epoch + 1, "epochs": epochs, "seed": seed, "batch_size": batch_size,
                         "learning_rate": learning_rate, "data": data_info, "epoch_weight_diff": weight_diffs}
                saver.save(state, runs, len(batches))
    except TrainingDiverged as e:
        e.checkpoint_epoch, e.checkpoints = (saver.epoch, saver.paths) if saver is not None else (0, [])
        raise
    for backend, trainer in trainers.items():
        runs[backend].finish(trainer, x_test, y_test)

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


def _check_resume(resume, name, backends, epochs, batch_size, learning_rate, seed, data_info):
    """ValueError unless ``resume`` continues this very run (the CLI checks first, with its own words)."""
    if resume.name != name or set(resume.paths) != set(backends):
        raise ValueError(f"train_model: the resume point is {resume.name!r} for {sorted(resume.paths)}, "
                         f"not {name!r} for {sorted(backends)}")
    ours = {"batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    for key, value in ours.items():
        if resume.settings[key] != value:
            raise ValueError(f"train_model: {key} {value!r} differs from the {resume.settings[key]!r} of {resume.path}")
    if resume.settings["data"]["sha256"] != data_info["sha256"]:
        raise ValueError(f"train_model: the training data differs from the data {resume.path} was trained on")
    if epochs < resume.epoch:
        raise ValueError(f"train_model: epochs={epochs}, but {resume.path} has already done {resume.epoch}")


class _Saver:
    """Writes each framework's checkpoint after an epoch; the Keras side through a scratch numpy model."""

    def __init__(self, folder, spec, trainers, seed, learning_rate):
        self.folder, self.trainers, self.epoch, self.paths = Path(folder), trainers, 0, []
        self.scratch = None
        if "tf" in trainers:
            self.scratch = spec.build(seed=seed)
            self.scratch.compile(spec.make_optimizer(learning_rate), spec.make_loss(), metrics=["accuracy"])
        some = self.scratch or trainers["numpy"].model
        self.layer_names = [layer.name for layer in some.layers for _ in layer.params]

    def save(self, state, runs, steps):
        """Check every framework's weights, then write every file (so a diverged epoch writes none)."""
        for backend, trainer in self.trainers.items():
            layer = _first_non_finite_weight(trainer.get_weights(), self.layer_names)
            if layer is not None:
                raise TrainingDiverged(f"{state['model']} ({backend}): non-finite weights in layer '{layer}' after "
                                       "the epoch's last step", layer, state["epoch"], steps)
        paths = []
        for backend, trainer in self.trainers.items():
            backend_state = {**state, "backend": backend, "history": runs[backend].history()}
            if backend == "tf":
                backend_state["keras"] = trainer.export_state(self.scratch)
                model = self.scratch
            else:
                model = trainer.model
            paths.append(model.save(checkpoint_path(self.folder, state["model"], backend),
                                    training_state=backend_state))
        self.epoch, self.paths = state["epoch"], paths
