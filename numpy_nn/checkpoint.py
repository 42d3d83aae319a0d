"""Checkpoints: a model's architecture, weights and (optionally) optimizer and training state in one
``.npz`` file, loaded with ``allow_pickle=False``.

Layout of the file: the array ``header`` holds UTF-8 JSON (format name and version, the layers'
configs, the input shape and dtype, the shape and dtype of every array, the optimizer's settings and
step count, the training state needed to resume); ``weight_000``, ``weight_001``, ... hold every
layer's ``weights`` in Keras order (layer by layer, trainable then non-trainable: see
:mod:`numpy_nn.layers.base`), and ``slot_000``, ... the optimizer's slots (``optimizer.slots(p)``
for each trainable parameter ``p`` in the same order). Each layer's config rebuilds it through
:data:`numpy_nn.layers.LAYERS`; a layer with a random generator (``layer.rng``) has its state saved.

Loading checks everything (format, version, every layer config, every shape and dtype, values
finite) *before* any weight is assigned, so a damaged or mismatched file raises
:class:`CheckpointError` naming the file and the problem, and a model in memory is left unchanged.
Writing goes to a temporary file in the same folder, renamed into place only when complete.

This module knows layers and optimizers, not models: :func:`numpy_nn.models.load_model` builds the
``Sequential`` from :func:`read_checkpoint` and :func:`layers_from_header`, then :func:`assign`.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .fileio import atomic_write
from .layers import LAYERS
from .optimizers import OPTIMIZERS

FORMAT, VERSION = "numpy-nn-checkpoint", 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, damaged, of another format, or not matching the model."""


# --- writing ---------------------------------------------------------------------------------------
def _weights(model):
    """Every layer's weights, in Keras order (trainable, then non-trainable, layer by layer)."""
    return [w for layer in model.layers for _, w in layer.weights]


def _trainable(model):
    return [p for layer in model.layers for p in layer.params.values()]


def _optimizer_state(model):
    opt = model.optimizer
    slots = [s for param in _trainable(model) for s in opt.slots(param)]
    return {"class": type(opt).__name__, "config": opt.get_config(), "iterations": opt.iterations,
            "slots_per_param": len(opt.slot_names)}, slots


def save_model(model, path, include_optimizer=True, training_state=None):
    """Write ``model`` (built) to ``path`` atomically. ``training_state`` is any JSON-serialisable dict
    (the CLI stores the epoch, seed and history there to resume)."""
    if not model.built:
        raise ValueError("save_model: the model is not built yet; build it or run one batch first")
    path = Path(path)
    weights = _weights(model)
    header = {
        "format": FORMAT, "version": VERSION, "name": model.name, "seed": model.seed,
        "input_shape": list(model.input_shape), "dtype": str(model.layers[0].dtype),
        "layers": [{"class": type(layer).__name__, "config": layer.get_config(),
                    "rng_state": _rng_state(layer)} for layer in model.layers],
        "weights": [{"shape": list(w.shape), "dtype": str(w.dtype)} for w in weights],
        "optimizer": None, "training_state": training_state,
    }
    arrays = {f"weight_{k:03d}": w for k, w in enumerate(weights)}
    if include_optimizer and model.optimizer is not None:
        header["optimizer"], slots = _optimizer_state(model)
        arrays.update({f"slot_{k:03d}": s for k, s in enumerate(slots)})
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    _atomic_savez(path, arrays)
    return path


def _rng_state(layer):
    return layer.rng.bit_generator.state if layer.rng is not None else None


def _atomic_savez(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **arrays))


# --- reading ---------------------------------------------------------------------------------------
def read_checkpoint(path):
    """Open and validate the file's structure; returns ``(header, arrays)``. Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({type(e).__name__}: {e})") from None
    if "header" not in arrays or arrays["header"].dtype != np.uint8 or arrays["header"].ndim != 1:
        raise CheckpointError(f"{path}: no numpy-nn header (not a numpy-nn checkpoint)")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: damaged header ({e})") from None
    _check_header(path, header, arrays)
    return header, arrays


def _check_header(path, header, arrays):
    def fail(what):
        raise CheckpointError(f"{path}: {what}")

    if not isinstance(header, dict) or header.get("format") != FORMAT:
        fail(f"header format is not {FORMAT!r}")
    if header.get("version") != VERSION:
        fail(f"checkpoint version {header.get('version')!r} is not supported (expected {VERSION})")
    for key, kind in (("layers", list), ("weights", list), ("input_shape", list), ("dtype", str)):
        if not isinstance(header.get(key), kind):
            fail(f"header field {key!r} is missing or not a {kind.__name__}")
    if header["dtype"] not in ("float32", "float64"):
        fail(f"dtype {header['dtype']!r} is not float32 or float64")
    for k, spec in enumerate(header["weights"]):
        arr = arrays.get(f"weight_{k:03d}")
        if arr is None:
            fail(f"weight_{k:03d} is missing")
        if not isinstance(spec, dict) or list(arr.shape) != spec.get("shape") or str(arr.dtype) != spec.get("dtype"):
            fail(f"weight_{k:03d} has {arr.dtype} {arr.shape}, header says {spec}")
        if str(arr.dtype) != header["dtype"]:
            fail(f"weight_{k:03d} has dtype {arr.dtype}, the model's dtype is {header['dtype']}")
        if not np.all(np.isfinite(arr)):
            fail(f"weight_{k:03d} holds NaN or infinite values")
    extra = set(arrays) - {f"weight_{k:03d}" for k in range(len(header["weights"]))} - {
        k for k in arrays if k.startswith("slot_")}
    if extra:
        fail(f"unexpected arrays {sorted(extra)}")


def layers_from_header(path, header):
    """The layers a checked header describes, unbuilt: ``LAYERS[class](**config)`` for each."""
    layers = []
    for k, spec in enumerate(header["layers"]):
        cls = LAYERS.get(spec.get("class")) if isinstance(spec, dict) else None
        if cls is None or not isinstance(spec.get("config"), dict):
            raise CheckpointError(f"{path}: layer {k} has an unknown class or no config: {spec!r:.200}")
        try:
            layers.append(cls(**spec["config"]))
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: layer {k} ({spec['class']}) config is invalid: {e}") from None
    return layers


def load_weights(model, path):
    """Load weights (and optimizer state and dropout generators) saved from a model of the same
    architecture into ``model``; on any mismatch raise CheckpointError and leave ``model`` unchanged."""
    header, arrays = read_checkpoint(path)
    if not model.built:
        model.build(tuple(header["input_shape"]), header["dtype"])
    saved = [(spec.get("class"), spec.get("config", {})) for spec in header["layers"]]
    ours = [(type(layer).__name__, layer.get_config()) for layer in model.layers]
    strip = lambda cfg: {k: v for k, v in cfg.items() if k != "name"}  # noqa: E731 - names may differ
    if [(c, strip(cfg)) for c, cfg in saved] != [(c, strip(cfg)) for c, cfg in ours]:
        raise CheckpointError(f"{path}: architecture differs from the model's: saved {saved}, model {ours}")
    if list(model.input_shape) != header["input_shape"] or str(model.layers[0].dtype) != header["dtype"]:
        raise CheckpointError(f"{path}: saved for input {header['input_shape']} {header['dtype']}, "
                              f"the model takes {list(model.input_shape)} {model.layers[0].dtype}")
    assign(path, model, header, arrays)
    return header.get("training_state")


def assign(path, model, header, arrays):
    """Put a checked file's contents into a built ``model`` of its architecture: validate the
    optimizer part and the generator states, then assign weights, slots and generator states
    (nothing fails after the first assignment)."""
    targets = _weights(model)
    weights = [arrays[f"weight_{k:03d}"] for k in range(len(header["weights"]))]
    if [w.shape for w in weights] != [t.shape for t in targets]:
        raise CheckpointError(f"{path}: weight shapes {[w.shape for w in weights]} do not fit the model's {[t.shape for t in targets]}")
    params = _trainable(model)
    optimizer, slots = _optimizer_from_header(path, header, arrays, params)
    rng_states = _rng_states_from_header(path, model, header)
    for t, w in zip(targets, weights):
        t[...] = w
    for layer, state in zip(model.layers, rng_states):
        if state is not None:
            layer.rng.bit_generator.state = state
    if optimizer is not None:
        for p, saved in zip(params, slots):
            for slot, value in zip(optimizer.slots(p), saved):
                slot[...] = value
        model.optimizer = optimizer


def _rng_states_from_header(path, model, header):
    """Each Dropout layer's saved generator state, tried on a scratch generator first."""
    states = []
    for k, (layer, spec) in enumerate(zip(model.layers, header["layers"])):
        state = spec.get("rng_state")
        if state is not None and layer.rng is not None:
            try:
                np.random.default_rng().bit_generator.state = state
            except (TypeError, ValueError, KeyError) as e:
                raise CheckpointError(f"{path}: layer {k} has an invalid random-generator state: {e}") from None
        else:
            state = None
        states.append(state)
    return states


def _optimizer_from_header(path, header, arrays, params):
    spec = header.get("optimizer")
    if spec is None:
        return None, None
    cls = OPTIMIZERS.get(spec.get("class")) if isinstance(spec, dict) else None
    if cls is None:
        raise CheckpointError(f"{path}: unknown optimizer {spec!r:.200}")
    try:
        optimizer = cls(**spec["config"])
        optimizer.iterations = int(spec["iterations"])
        per_param = int(spec["slots_per_param"])
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: optimizer settings are invalid: {e}") from None
    if per_param != len(optimizer.slot_names):
        raise CheckpointError(f"{path}: the optimizer has {len(optimizer.slot_names)} slots per parameter "
                              f"{optimizer.slot_names}, the file {per_param}")
    slots = []
    for k, p in enumerate(params):
        mine = []
        for j in range(per_param):
            s = arrays.get(f"slot_{k * per_param + j:03d}")
            if s is None or s.shape != p.shape or s.dtype != p.dtype or not np.all(np.isfinite(s)):
                raise CheckpointError(f"{path}: optimizer slot {k * per_param + j} is missing, misshapen or not finite")
            mine.append(s)
        slots.append(mine)
    return optimizer, slots
