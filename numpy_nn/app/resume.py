"""Resuming ``numpy-nn train``: the checkpoint files of a run, what they must hold to be resumed
bit for bit, and how the command line's options meet the saved settings.

After every epoch, :func:`numpy_nn.app.driver.train_model` writes each framework's state to
:func:`checkpoint_path` ``(folder, model, backend)`` in numpy_nn's checkpoint format, with a
``training_state`` (:data:`TRAIN_STATE_FORMAT`) holding everything else a resumed run needs: the
settings, the data's fingerprint, the epochs done and the curves so far. Since epoch ``e``'s
batches depend only on ``(seed, e)`` and the optimizer state and dropout generators are restored,
a run resumed after ``k`` epochs is bit for bit the run that was never interrupted.

Everything here is checked before anything is written: a bad, missing or foreign checkpoint is a
:class:`~numpy_nn.checkpoint.CheckpointError` naming the file; an option that contradicts the
checkpoint is a :class:`~numpy_nn.app.errors.UsageError`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import zoo
from ..checkpoint import CheckpointError, read_checkpoint
from .errors import UsageError
from .results import BackendRun

#: Training images used unless --limit says otherwise: all of them. (`make demo` passes
#: --limit 20000, the mnist-20k reference setting, so that it stays within 5 minutes on 2 cores even
#: when the loader has downloaded the full 60,000.)
DEFAULT_LIMIT = None
DEFAULT_SEED = 0
#: Default of options that --resume takes from the checkpoint when they are not given.
NOT_GIVEN = None
#: ``--limit all``.
ALL_IMAGES = "all"


# ----------------------------------------------------------------------------------------------
# The files: one per model and framework
# ----------------------------------------------------------------------------------------------

#: ``training_state["format"]`` of the checkpoints that :func:`~numpy_nn.app.driver.train_model` writes.
TRAIN_STATE_FORMAT, TRAIN_STATE_VERSION = "numpy-nn-train", 1


def checkpoint_path(folder, name, backend):
    """Where :func:`~numpy_nn.app.driver.train_model` saves model ``name`` trained by ``backend``:
    ``folder/<name>-<backend>.npz``."""
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
    """The training_state of a checkpoint written by :func:`~numpy_nn.app.driver.train_model`;
    CheckpointError otherwise."""
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
    :func:`~numpy_nn.app.driver.train_model` writes them), loaded and checked: a :class:`ResumePoint`, or None when
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


def training_state(name, run_backends, epoch, epochs, seed, batch_size, learning_rate, data, epoch_weight_diff):
    """The ``training_state`` a checkpoint of epoch ``epoch`` carries, before the parts of its own
    framework (``backend``, ``history`` and, for Keras, ``keras``) are added."""
    return {"format": TRAIN_STATE_FORMAT, "version": TRAIN_STATE_VERSION, "model": name,
            "run_backends": list(run_backends), "epoch": epoch, "epochs": epochs, "seed": seed,
            "batch_size": batch_size, "learning_rate": learning_rate, "data": data,
            "epoch_weight_diff": epoch_weight_diff}


def check_resume(resume, name, backends, epochs, batch_size, learning_rate, seed, data_info):
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


# ----------------------------------------------------------------------------------------------
# The command line's options against the checkpoints
# ----------------------------------------------------------------------------------------------

def read_resume_points(folder, names, backends):
    """``{model: ResumePoint or None}`` for ``--resume folder``; CheckpointError (exit 1) for a missing
    folder, a bad file, or a folder holding none of this run's checkpoints."""
    folder = Path(folder)
    if folder.is_file():
        raise UsageError(f"argument --resume: {folder} is a file; --resume takes the folder that --save wrote "
                         f"(it holds {checkpoint_path(folder, names[0], backends[0]).name} and the like)")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder (--resume)")
    points = {name: read_resume_point(folder, name, backends) for name in names}
    if all(point is None for point in points.values()):
        expected = checkpoint_path(folder, names[0], backends[0])
        found = sorted(p.name for p in folder.glob("*.npz"))
        holds = f"it holds {', '.join(found)}" if found else "it holds no .npz file"
        raise CheckpointError(f"{expected}: no such checkpoint file ({holds}; check --model and --backend)")
    return points


def resolve_settings(args, name, point):
    """``{epochs, batch_size, learning_rate, seed}`` for model ``name``: the options given, else the
    resumed checkpoint's values, else the model's defaults. UsageError if a given option
    contradicts the checkpoint (the run would not be the one that was interrupted)."""
    spec = zoo.get(name)
    given = {"batch_size": args.batch_size, "learning_rate": args.learning_rate, "seed": args.seed}
    if point is None:
        defaults = {"batch_size": spec.batch_size, "learning_rate": spec.learning_rate, "seed": DEFAULT_SEED}
        settings = {k: defaults[k] if v is NOT_GIVEN else v for k, v in given.items()}
        settings["epochs"] = spec.epochs if args.epochs is None else args.epochs
        return settings
    settings = {}
    for key, value in given.items():
        saved = point.settings[key]
        if value is not NOT_GIVEN and value != saved:
            option = "--" + key.replace("_", "-")
            raise UsageError(f"argument {option}: {value} differs from the {saved} that {point.path} was trained with; "
                             f"leave {option} out to resume, or train afresh without --resume")
        settings[key] = saved
    settings["epochs"] = point.settings["epochs"] if args.epochs is None else args.epochs
    if settings["epochs"] < point.epoch:
        raise UsageError(f"argument --epochs: {settings['epochs']}, but {point.path} has already done {point.epoch} "
                         f"epochs; ask for --epochs {point.epoch} or more")
    return settings


def resolve_limit(args, points):
    """The --limit to use: the option if given, else the resumed checkpoints' (they must agree)."""
    if args.limit is not NOT_GIVEN:
        return None if args.limit == ALL_IMAGES else args.limit
    saved = {p.settings["data"].get("limit") for p in points.values() if p is not None}
    if len(saved) > 1:
        raise UsageError(f"argument --limit: the checkpoints to resume were trained with different --limit values "
                         f"{sorted(saved, key=str)}; resume them one --model at a time")
    return saved.pop() if saved else DEFAULT_LIMIT


def check_resumed_data(points, data_info, fingerprint):
    """UsageError unless each resumed checkpoint was trained on exactly this training data."""
    def where(d):
        return f"{d['train_images']:,} training images from {d.get('location')} (--limit {d.get('limit') or 'all'})"

    for point in points.values():
        if point is not None and point.settings["data"]["sha256"] != fingerprint:
            raise UsageError(f"argument --resume: {point.path} was trained on {where(point.settings['data'])}, "
                             f"this run has {where(data_info)}; pass the same --data-dir and --limit")
