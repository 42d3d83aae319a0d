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


#: Bounds no real run comes near (they keep hostile values from overflowing later arithmetic).
MAX_EPOCHS, MAX_SEED, MAX_COUNT = 2**31, 2**63, 2**62  # seeds: numpy_nn.layers.base.check_seed
_STATE = "header field training_state"


class _Bad(Exception):
    """One bad training-state field (path relative to ``training_state``) and what is wrong."""

    def __init__(self, field, problem):
        super().__init__(f"{_STATE}.{field}: {problem}")


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int(container, field, low, high, where=None):
    value = container.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
        raise _Bad(field if where is None else f"{where}.{field}", f"must be an integer in [{low}, {high if high < 2**31 else f'2**{high.bit_length() - 1}'}), "
                          f"got {_short(value)}")
    return value


def _is_number(value):
    """A finite JSON number that a float can hold (a 400-digit integer cannot)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:
        return False


def _numbers(container, field, length=None, where=None, high=None):
    """A list of finite numbers in ``[0, high]`` (losses, accuracies, seconds and weight gaps are
    never negative; the figures of a resumed run plot them)."""
    values = container.get(field)
    path = field if where is None else f"{where}.{field}"
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        raise _Bad(path, f"must be a list of finite numbers, got {_short(values)}")
    bad = [v for v in values if v < 0 or (high is not None and v > high)]
    if bad:
        raise _Bad(path, f"must hold numbers in [0, {'inf' if high is None else high}], got {_short(bad[0])}")
    if length is not None and len(values) != length:
        raise _Bad(path, f"has {len(values)} values, expected {length}")
    return values


def _check_data(data):
    """``training_state.data``: the training set's description (see ``numpy_nn.app.cli`` and the
    driver): its SHA-256 and size always; ``limit``, ``location``, ``source`` when the CLI wrote them."""
    if not isinstance(data, dict):
        raise _Bad("data", f"must be an object, got {_short(data)}")
    sha = data.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise _Bad("data.sha256", f"must be 64 lower-case hex digits, got {_short(sha)}")
    _int(data, "train_images", 1, MAX_COUNT, where="data")
    if data.get("limit") is not None:
        _int(data, "limit", 1, MAX_COUNT, where="data")
    for key in ("location", "source"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _Bad(f"data.{key}", f"must be a string or null, got {_short(data[key])}")


def _check_history(history, epoch):
    """``training_state.history``: the curves so far, one value per epoch for the ``epoch_*`` ones."""
    if not isinstance(history, dict):
        raise _Bad("history", f"must be an object, got {_short(history)}")
    for key in BackendRun.HISTORY:
        _numbers(history, key, epoch if key.startswith("epoch") else None, where="history",
                 high=1.0 if key.endswith("accuracy") else None)
    if len(history["step_loss"]) != len(history["step_accuracy"]):
        raise _Bad("history.step_accuracy", f"has {len(history['step_accuracy'])} values, step_loss "
                                            f"{len(history['step_loss'])}")


def _check_training_state(path, state, name, backend, backends):
    """The training_state of a checkpoint written by :func:`~numpy_nn.app.driver.train_model`, every
    field the resume uses typed and ranged; CheckpointError naming the field otherwise."""
    def fail(what):
        raise CheckpointError(f"{path}: {what}")

    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        fail("no training state: not written by `numpy-nn train --save`, cannot resume from it")
    if state.get("version") != TRAIN_STATE_VERSION or isinstance(state.get("version"), bool):
        fail(f"training state version {_short(state.get('version'))} is not supported (expected {TRAIN_STATE_VERSION})")
    if state.get("model") != name or state.get("backend") != backend:
        fail(f"holds model {_short(state.get('model'))} trained by {_short(state.get('backend'))}, "
             f"not {name!r} by {backend!r}")
    run_backends = state.get("run_backends")
    if run_backends != list(backends):
        saved = "+".join(map(str, run_backends)) if isinstance(run_backends, list) else _short(run_backends)
        fail(f"was saved by a run of {saved}, this run trains "
             f"{'+'.join(backends)}: the frameworks of a run resume together (same --backend as the saved run)")
    try:
        _check_state_fields(state, backend, len(backends))
    except _Bad as e:
        fail(str(e))


def _check_state_fields(state, backend, n_backends):
    epoch = _int(state, "epoch", 1, MAX_EPOCHS)
    _int(state, "epochs", epoch, MAX_EPOCHS)
    _int(state, "seed", 0, MAX_SEED)
    _int(state, "batch_size", 1, MAX_COUNT)
    lr = state.get("learning_rate")
    if not _is_number(lr) or lr <= 0:
        raise _Bad("learning_rate", f"must be a finite number > 0, got {_short(lr)}")
    _check_data(state.get("data"))
    _check_history(state.get("history"), epoch)
    _numbers(state, "epoch_weight_diff", epoch if n_backends == 2 else 0)
    if backend == "tf":
        keras_state = state.get("keras")
        if not isinstance(keras_state, dict) or not isinstance(keras_state.get("non_trainable"), list):
            raise _Bad("keras", f"must be an object with a list non_trainable (the Keras side's state), "
                                f"got {_short(keras_state)}")


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
