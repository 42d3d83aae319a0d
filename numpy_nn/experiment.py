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
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import zoo
from .batching import epoch_batch_indices
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
# The driver
# ----------------------------------------------------------------------------------------------

def run_epoch(trainer, x, y, batches, desc, masks=None, verbose=True, stream=None, epoch=None, model=""):
    """Train ``trainer`` on ``batches`` (index arrays) once, with a progress bar.

    ``masks``: None, or a list to fill (numpy: the drawn keep-masks of each step) or to replay
    (Keras: one list of masks per step). Returns ``(step_losses, step_accuracies, seconds)``.
    A non-finite loss (either framework) raises :class:`numpy_nn.models.TrainingDiverged` naming
    the ``model``, the framework, ``epoch`` (1-based) and the step.
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
            raise TrainingDiverged(f"{model} ({trainer.backend}): {e.reason}", e.layer, epoch, step + 1) from None
        if not np.isfinite(loss):  # Keras applies the step anyway: say so rather than "weights kept"
            bar.close()
            error = TrainingDiverged(f"{model} ({trainer.backend}): the loss is {loss}", None, epoch, step + 1)
            error.args = (f"training diverged at epoch {epoch}, step {step + 1}: {error.reason}",)
            raise error
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


def make_trainers(model, backends):
    """``{backend: trainer}`` for a compiled, untrained numpy model, numpy first.

    The Keras twin is built now, from the untrained numpy model, so both start from the same
    weights; when both frameworks train a model with dropout, the twin takes injected masks."""
    share_masks = set(backends) == set(BACKENDS) and any(isinstance(layer, Dropout) for layer in model.layers)
    trainers = {}
    if "numpy" in backends:
        trainers["numpy"] = NumpyTrainer(model)
    if "tf" in backends:
        trainers["tf"] = load_tf_trainer()(model, inject_masks=share_masks)
    return trainers, share_masks


def train_model(name, data, backends=BACKENDS, epochs=None, batch_size=None, learning_rate=None,
                seed=0, embedding_size=1000, verbose=True, stream=None):
    """Train the tutorial model ``name`` in each of ``backends`` from the same starting point.

    ``data`` is ``((x_train, y_train), (x_test, y_test))`` as :func:`numpy_nn.datasets.load_mnist`
    returns it (uint8 images). ``epochs``, ``batch_size``, ``learning_rate`` default to the model's
    tutorial settings; ``seed`` fixes the initial weights, the batch order and the dropout masks.
    Each epoch runs numpy then Keras over the same batches. Returns a :class:`ModelResult`.
    """
    spec = zoo.get(name)
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        raise ValueError(f"backends must be some of {BACKENDS}, got {tuple(backends)!r}")
    epochs = spec.epochs if epochs is None else epochs
    batch_size = spec.batch_size if batch_size is None else batch_size
    learning_rate = spec.learning_rate if learning_rate is None else learning_rate
    (train_images, y_train), (test_images, y_test) = data
    x_train, x_test = prepare_inputs(spec, train_images, test_images)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

    model = spec.build(seed=seed)
    model.compile(spec.make_optimizer(learning_rate), spec.make_loss(), metrics=["accuracy"])
    trainers, share_masks = make_trainers(model, backends)
    runs = {b: BackendRun(b) for b in trainers}
    weight_diffs = []
    for epoch in range(epochs):
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
        embedding_features=primary.features(x_test[:n_embed]))
