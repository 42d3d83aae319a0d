"""What ``numpy-nn train`` reports: each framework's run of a model (:class:`BackendRun`), a model's
side-by-side result (:class:`ModelResult`), the printed table and ``metrics.json``.

NumPy and the standard library only (the environment record imports threadpoolctl when installed).
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..fileio import atomic_write
from .environment import describe

#: The frameworks a model can be trained in, in the order they train and are reported.
BACKENDS = ("numpy", "tf")


# ----------------------------------------------------------------------------------------------
# One framework's run, one model's result
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

    def add_epoch(self, epoch):
        """Record one epoch (a :class:`numpy_nn.loop.EpochResult`): its per-step values, their
        batch-size-weighted means, its time."""
        sizes = np.asarray(epoch.sizes)
        self.step_loss += epoch.losses
        self.step_accuracy += epoch.accuracies
        self.epoch_loss.append(float(np.dot(epoch.losses, sizes) / sizes.sum()))
        self.epoch_accuracy.append(float(np.dot(epoch.accuracies, sizes) / sizes.sum()))
        self.epoch_seconds.append(epoch.seconds)

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


# ----------------------------------------------------------------------------------------------
# The table and metrics.json
# ----------------------------------------------------------------------------------------------

def _fmt(value, spec):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def results_table(results):
    """The side-by-side table (Markdown), one row per model."""
    backends = [b for b in ("numpy", "tf") if any(b in r.runs for r in results)]
    both = len(backends) == 2
    head = ["model"]
    head += [f"{b} test acc" for b in backends] + (["diff (pp)"] if both else [])
    head += [f"{b} final loss" for b in backends] + [f"{b} s/epoch" for b in backends]
    head += ["max |w_numpy - w_tf|"] if both else []
    rows = []
    for r in results:
        runs = [r.runs.get(b) for b in backends]
        row = [r.name]
        row += [_fmt(None if run is None else 100 * run.test_accuracy, ".2f") + ("%" if run else "") for run in runs]
        if both:
            diff = r.summary().get("test_accuracy_diff_pp")
            row.append(_fmt(diff, "+.2f"))
        row += [_fmt(None if run is None else run.final_loss, ".4f") for run in runs]
        row += [_fmt(None if run is None else run.seconds_per_epoch, ".3g") for run in runs]
        if both:
            row.append(_fmt(r.max_weight_diff, ".2e"))
        rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(head, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def finite_json(value):
    """``(clean, replaced)``: ``value`` with every NaN or infinite float replaced by None (JSON has
    no NaN: ``NaN`` in a file is not JSON), and the ``{path: repr}`` of the values replaced."""
    replaced = {}

    def clean(v, path):
        if isinstance(v, dict):
            return {k: clean(item, f"{path}.{k}" if path else str(k)) for k, item in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(item, f"{path}[{i}]") for i, item in enumerate(v)]
        if isinstance(v, (float, np.floating)) and not math.isfinite(v):
            replaced[path] = repr(float(v))
            return None
        return v

    return clean(value, ""), replaced


def write_json(path, payload):
    """Write ``payload`` as strict JSON at ``path`` atomically (:func:`numpy_nn.fileio.atomic_write`).
    A NaN or infinite number is written as null and listed, with its value, under ``"non_finite"``
    (``allow_nan=False``: the file is always valid JSON)."""
    clean, replaced = finite_json(payload)
    if replaced and isinstance(clean, dict):
        clean["non_finite"] = {"reason": "JSON has no NaN or infinity: these values are written as null",
                               "values": replaced}

    def dump(f):
        f.write((json.dumps(clean, indent=2, allow_nan=False) + "\n").encode("utf-8"))

    return atomic_write(path, dump)


def thread_settings():
    """The thread counts this run computes with (its results depend on them in the last bits)."""
    threads = {"blas": None, "env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                              "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                                              "TF_NUM_INTEROP_THREADS") if k in os.environ}}
    try:
        import threadpoolctl

        pools = threadpoolctl.threadpool_info()
        threads["blas"] = [pool["num_threads"] for pool in pools if pool["user_api"] == "blas"]
    except ImportError:
        pass
    return threads


def run_metrics(command, backends, source, data, results, figures, seconds, resumed=False):
    """``metrics.json`` of a ``numpy-nn train`` run: the command, the data, every model's settings
    and scores (:meth:`ModelResult.summary`), the printed table, the figures written, the
    checkpoints saved and resumed from, the total time, the thread counts and the environment
    (:func:`numpy_nn.app.environment.describe`)."""
    (x_train, _), (x_test, _) = data
    versions = {"numpy_nn": __version__, "numpy": np.__version__, "python": platform.python_version()}
    tensorflow = sys.modules.get("tensorflow")  # only if this run imported it
    if getattr(tensorflow, "__version__", None):
        versions["tensorflow"] = tensorflow.__version__
        versions["tensorflow_op_determinism"] = True  # tf_nn.training.KerasTrainer(seed=...) turns it on
    return {
        "command": list(command),
        "data": {"source": source.kind, "location": source.location,
                 "train_images": len(x_train), "test_images": len(x_test)},
        "backends": list(backends),
        "models": {r.name: r.summary() for r in results},
        "table": results_table(results).splitlines(),
        "figures": figures,
        "checkpoints": {"saved": [str(p) for r in results for p in r.checkpoints],
                        "resumed_from_epoch": {r.name: r.resumed_from for r in results if resumed}},
        "total_seconds": seconds,
        "threads": thread_settings(),
        "versions": versions,
        "environment": describe(tensorflow=None),  # TensorFlow's part only if this run imported it
    }
