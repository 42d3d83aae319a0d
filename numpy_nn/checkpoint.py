"""Checkpoints: a model's architecture, weights and (optionally) optimizer and training state in one
``.npz`` file, loaded with ``allow_pickle=False``.

Layout of the file: the array ``header`` holds UTF-8 JSON (format name and version, the layers'
configs, the input shape and dtype, the shape and dtype of every array, the optimizer's settings and
step count, the training state needed to resume; :mod:`numpy_nn.checkpoint_header` lists every
field); ``weight_000``, ``weight_001``, ... hold every layer's ``weights`` in Keras order (layer by
layer, trainable then non-trainable: see :mod:`numpy_nn.layers.base`), and ``slot_000``, ... the
optimizer's slots (``optimizer.slots(p)`` for each trainable parameter ``p`` in the same order).
Each layer's config rebuilds it through :data:`numpy_nn.layers.LAYERS`; a layer with a random
generator (``layer.rng``) has its state saved. Members are stored uncompressed (``numpy.savez``).

**Reading looks before it allocates** (:func:`open_checkpoint`), in this order:

1. the archive's member list and each member's ``.npy`` header (:class:`numpy_nn.npzfile.NpzReader`;
   only stored members, each within the file's size, so no member can claim more than the file has);
2. the ``header`` member (1-D uint8, at most :data:`MAX_HEADER_BYTES`), parsed and every field
   checked (:mod:`numpy_nn.checkpoint_header`);
3. the layers rebuilt from their configs (unbuilt: each constructor checks its arguments), the
   shape of every weight they imply for the declared input shape (``Layer.weight_shapes``, shapes
   only), compared with the header's list; the optimizer rebuilt from its config and step count;
4. the exact set of members that implies (``weight_*``, ``slot_*`` = trainable weights x slots per
   parameter) compared with the file's, with each member's shape and dtype: a missing, unexpected
   or misshapen member is refused unread;
5. only then the arrays are read, and their values checked (finite; optimizer slots through
   ``Optimizer.slot_problem``, e.g. Adam's second moment is never negative).

Every problem, ``MemoryError`` included, is a :class:`CheckpointError` naming the file and the field;
nothing is assigned to a model until all of it has passed (:func:`assign`, :func:`load_weights`).

**Writing checks with the same rules** (:func:`save_model`): the header about to be written is
parsed back and put through steps 2-5 with the in-memory arrays, so ``save`` never writes a file
that ``load_model`` refuses (a NaN weight, a float128 model, a non-JSON training state are a
ValueError, and the file on disk is left as it was). Writing goes through
:func:`numpy_nn.fileio.atomic_write`.

This module knows layers and optimizers, not models: :func:`numpy_nn.models.load_model` builds the
``Sequential`` from :func:`open_checkpoint`, then :func:`build_model` and :func:`assign`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .checkpoint_header import (FORMAT, MAX_HEADER_BYTES, VERSION, HeaderProblem, check_header,
                                parse_header)
from .fileio import atomic_write
from .layers import LAYERS
from .npzfile import NpzReader
from .optimizers import OPTIMIZERS

__all__ = ["CheckpointError", "Checkpoint", "FORMAT", "VERSION", "save_model", "open_checkpoint",
           "read_checkpoint", "load_weights", "build_model", "assign"]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, damaged, of another format, or not matching the model."""


class Checkpoint(NamedTuple):
    """A checked checkpoint, read and ready to assign."""

    header: dict       # the parsed, checked JSON header
    layers: list       # the layers it describes, unbuilt
    optimizer: object  # the optimizer it describes (iterations set, slots not yet assigned), or None
    arrays: dict       # member name -> array (weights and slots; not the header)
    plan: "_Plan"


class _Plan(NamedTuple):
    """What a checked header implies: the layers, the optimizer and every member the file must hold."""

    layers: list
    optimizer: object
    weights: list      # [(member name, shape, label)] in Keras order
    slots: list        # per trainable weight: [(member name, slot name, shape, label)]
    dtype: np.dtype

    def members(self):
        expected = {name: (shape, label) for name, shape, label in self.weights}
        expected.update({name: (shape, label) for per in self.slots for name, _, shape, label in per})
        return expected


def _file_error(path):
    return lambda message: CheckpointError(f"{path}: {message}")


# --- what a header implies (shared by reading and writing) -------------------------------------------
def _plan(header, error):
    """Steps 2-4's checks of a parsed header; returns the :class:`_Plan`. Allocates nothing."""
    try:
        check_header(header, LAYERS, OPTIMIZERS)
    except HeaderProblem as e:
        raise error(str(e)) from None
    layers = [_layer(k, spec, error) for k, spec in enumerate(header["layers"])]
    implied = _implied_weights(layers, header["input_shape"], error)
    declared = [tuple(spec["shape"]) for spec in header["weights"]]
    if declared != [shape for shape, _, _ in implied]:
        raise error(f"header field weights: shapes {[list(s) for s in declared]} are not the weights the layers "
                    f"build for input_shape {header['input_shape']}: {[list(s) for s, _, _ in implied]}"[:600])
    optimizer = _optimizer(header["optimizer"], error)
    if optimizer is not None:
        try:
            optimizer.check_dtype(header["dtype"])  # e.g. an epsilon that rounds to 0 in float16
        except ValueError as e:
            raise error(f"header field optimizer.config: {e}"[:300]) from None
    weights = [(f"weight_{k:03d}", shape, label) for k, (shape, label, _) in enumerate(implied)]
    slot_names = optimizer.slot_names if optimizer is not None else ()
    trainable = [(shape, label) for shape, label, is_param in implied if is_param]
    slots = [[(f"slot_{k * len(slot_names) + j:03d}", slot, shape, f"optimizer slot {slot!r} of {label}")
              for j, slot in enumerate(slot_names)] for k, (shape, label) in enumerate(trainable)]
    return _Plan(layers, optimizer, weights, slots, np.dtype(header["dtype"]))


def _layer(k, spec, error):
    """``LAYERS[class](**config)``, its constructor checking every argument; the config may hold only
    the fields that layer's ``get_config`` writes; a generator state only for a layer with one."""
    path, cls = f"header field layers[{k}]", LAYERS[spec["class"]]
    try:
        layer = cls(**spec["config"])
    except (TypeError, ValueError, OverflowError) as e:
        raise error(f"{path}.config: {spec['class']} refuses it: {e}"[:400]) from None
    unknown = sorted(set(spec["config"]) - set(layer.get_config()))
    if unknown:
        raise error(f"{path}.config.{unknown[0]}: not a field of {spec['class']}'s config {sorted(layer.get_config())}")
    state = spec["rng_state"]
    if state is not None and not layer.keeps_rng:
        raise error(f"{path}.rng_state: {spec['class']} keeps no random generator, must be null")
    if state is not None:
        try:
            np.random.Generator(np.random.PCG64()).bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as e:
            raise error(f"{path}.rng_state: not a valid PCG64 state ({e})"[:300]) from None
    return layer


def _implied_weights(layers, input_shape, error):
    """``[(shape, label, trainable)]``: every weight ``layers`` build for ``input_shape``, Keras order,
    from shapes alone (``Layer.weight_shapes``, ``compute_output_shape``)."""
    implied, shape = [], tuple(input_shape)
    for k, layer in enumerate(layers):
        try:
            params, state = layer.weight_shapes(shape)
            shape = tuple(layer.compute_output_shape(shape))
        except (TypeError, ValueError, OverflowError) as e:
            raise error(f"header field layers[{k}]: the architecture does not build for input_shape "
                        f"{list(input_shape)}: {e}"[:400]) from None
        label = f"layer {k} ({type(layer).__name__} '{layer.name}')"
        implied += [(tuple(s), f"{label} {key}", True) for key, s in params.items()]
        implied += [(tuple(s), f"{label} {key}", False) for key, s in state.items()]
    return implied


def _optimizer(spec, error):
    """``OPTIMIZERS[class](**config)`` with ``iterations`` set, its slot count the file's; or None."""
    if spec is None:
        return None
    fields = OPTIMIZERS[spec["class"]]().get_config()  # what save writes: nothing else is read
    unknown = sorted(set(spec["config"]) - set(fields))
    if unknown:
        raise error(f"header field optimizer.config.{unknown[0]}: not a field of {spec['class']}'s config "
                    f"{sorted(fields)}")
    try:
        optimizer = OPTIMIZERS[spec["class"]](**spec["config"])
    except (TypeError, ValueError, OverflowError) as e:
        raise error(f"header field optimizer.config: {spec['class']} refuses it: {e}"[:400]) from None
    try:
        optimizer.iterations = spec["iterations"]
    except (TypeError, ValueError) as e:
        raise error(f"header field optimizer.iterations: {e}"[:300]) from None
    if spec["slots_per_param"] != len(optimizer.slot_names):
        raise error(f"header field optimizer.slots_per_param: {spec['class']} keeps {len(optimizer.slot_names)} "
                    f"per parameter {list(optimizer.slot_names)}, the file says {spec['slots_per_param']}")
    return optimizer


def _check_members(found, plan, error):
    """``found`` (name -> (shape, dtype)) must be exactly the plan's members, each of its shape and dtype."""
    expected = plan.members()
    unexpected = sorted(set(found) - set(expected))
    if unexpected:
        raise error(f"unexpected arrays {unexpected[:5]} (the header implies exactly {len(expected)}: "
                    f"{len(plan.weights)} weights and {len(expected) - len(plan.weights)} optimizer slots)")
    for name, (shape, label) in expected.items():
        if name not in found:
            raise error(f"array {name} ({label}) is missing")
        got_shape, got_dtype = found[name]
        if tuple(got_shape) != shape or got_dtype != plan.dtype:
            raise error(f"array {name} ({label}) is {got_dtype} {tuple(got_shape)}, the header implies "
                        f"{plan.dtype} {shape}")


def _check_values(arrays, plan, error):
    """Weights finite; each slot acceptable to its optimizer (``slot_problem``: finite, above its minimum)."""
    for name, _, label in plan.weights:
        if not np.all(np.isfinite(arrays[name])):
            raise error(f"array {name} ({label}) holds NaN or infinite values")
    for per in plan.slots:
        for name, slot, _, label in per:
            problem = plan.optimizer.slot_problem(slot, arrays[name])
            if problem is not None:
                raise error(f"array {name} ({label}) {problem}")


# --- writing -----------------------------------------------------------------------------------------
def _weights(model):
    """Every layer's weights, in Keras order (trainable, then non-trainable, layer by layer)."""
    return [w for layer in model.layers for _, w in layer.weights]


def _trainable(model):
    return [p for layer in model.layers for p in layer.params.values()]


def _plain_int(value):
    """numpy integers as Python ints (``seed=np.int64(0)`` is a seed like 0); anything else as is."""
    return int(value) if isinstance(value, np.integer) else value


def _contents(model, include_optimizer, training_state):
    """``(header, arrays)`` that describe ``model`` (see the module docstring for the layout)."""
    weights = _weights(model)
    header = {
        "format": FORMAT, "version": VERSION, "name": model.name, "seed": _plain_int(model.seed),
        "input_shape": [int(d) for d in model.input_shape], "dtype": str(model.layers[0].dtype),
        "layers": [{"class": type(layer).__name__, "config": layer.get_config(),
                    "rng_state": layer.rng.bit_generator.state if layer.rng is not None else None}
                   for layer in model.layers],
        "weights": [{"shape": list(w.shape), "dtype": str(w.dtype)} for w in weights],
        "optimizer": None, "training_state": training_state,
    }
    arrays = {f"weight_{k:03d}": w for k, w in enumerate(weights)}
    opt = model.optimizer if include_optimizer else None
    if opt is not None:
        header["optimizer"] = {"class": type(opt).__name__, "config": opt.get_config(),
                               "iterations": opt.iterations, "slots_per_param": len(opt.slot_names)}
        slots = [s for param in _trainable(model) for s in opt.slots(param)]
        arrays.update({f"slot_{k:03d}": s for k, s in enumerate(slots)})
    return header, arrays


def save_model(model, path, include_optimizer=True, training_state=None):
    """Write ``model`` (built) to ``path`` atomically. ``training_state`` is any JSON-serialisable dict
    (the CLI stores the epoch, seed and history there to resume). The file is first checked with
    the rules :func:`open_checkpoint` applies; ValueError (and the old file untouched) if it fails."""
    if not model.built:
        raise ValueError("save_model: the model is not built yet; build it or run one batch first")
    path = Path(path)

    def error(message):
        return ValueError(f"save_model: {path}: not written, load_model would refuse it: {message}")

    header, arrays = _contents(model, include_optimizer, training_state)
    try:
        raw = json.dumps(header, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise error(f"the header is not JSON with finite numbers ({type(e).__name__}: {e}); "
                    "training_state, name and seed must be plain JSON values"[:400]) from None
    plan = _plan(parse_header(raw, error), error)
    _check_members({name: (a.shape, a.dtype) for name, a in arrays.items()}, plan, error)
    _check_values(arrays, plan, error)
    arrays["header"] = np.frombuffer(raw, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


# --- reading -----------------------------------------------------------------------------------------
def open_checkpoint(path):
    """Read and check the file at ``path`` in the order of the module docstring; a :class:`Checkpoint`.
    CheckpointError naming the file and the field for anything wrong, MemoryError included."""
    path = Path(path)
    error = _file_error(path)
    if not path.is_file():
        raise error("no such checkpoint file")
    try:
        with NpzReader(path, error, allowed_kinds="uf", compressed=False, what=".npz checkpoint") as npz:
            header = parse_header(_header_bytes(npz, error), error)
            plan = _plan(header, error)
            _check_members({n: (h.shape, h.dtype) for n, h in npz.headers.items() if n != "header"}, plan, error)
            arrays = {name: npz.read(name) for name in plan.members()}
    except MemoryError:
        raise error("not enough memory to read it") from None
    _check_values(arrays, plan, error)
    return Checkpoint(header, plan.layers, plan.optimizer, arrays, plan)


def _header_bytes(npz, error):
    """The ``header`` member's bytes: it must be 1-D uint8 and at most :data:`MAX_HEADER_BYTES`."""
    head = npz.headers.get("header")
    if head is None:
        raise error("no numpy-nn header (not a numpy-nn checkpoint)")
    if head.dtype != np.uint8 or len(head.shape) != 1:
        raise error(f"no numpy-nn header: its header array is {head.dtype} {head.shape}, not 1-D uint8")
    if head.nbytes > MAX_HEADER_BYTES:
        raise error(f"header of {head.nbytes:,} bytes, more than the {MAX_HEADER_BYTES:,} a checkpoint may have")
    return npz.read("header").tobytes()


def read_checkpoint(path):
    """``(header, arrays)`` of a checked file (see :func:`open_checkpoint`); ``arrays`` maps member
    names (``weight_000``, ``slot_000``, ...) to arrays. Raises CheckpointError."""
    checkpoint = open_checkpoint(path)
    return checkpoint.header, checkpoint.arrays


# --- into a model ------------------------------------------------------------------------------------
def _strip_name(config):
    return {k: v for k, v in config.items() if k != "name"}  # layer names may differ


def load_weights(model, path):
    """Load weights (and optimizer state and dropout generators) saved from a model of the same
    architecture into ``model``; returns the file's ``training_state``. Everything is checked
    first; an unbuilt model is built only then (and unbuilt again if building runs out of memory).
    On any problem, CheckpointError and ``model`` unchanged."""
    checkpoint = open_checkpoint(path)
    error, header = _file_error(path), checkpoint.header
    saved = [(type(layer).__name__, _strip_name(layer.get_config())) for layer in checkpoint.layers]
    ours = [(type(layer).__name__, _strip_name(layer.get_config())) for layer in model.layers]
    if saved != ours:
        raise error(f"architecture differs from the model's: saved {saved}, model {ours}"[:1000])
    if model.built and (list(model.input_shape) != header["input_shape"]
                        or str(model.layers[0].dtype) != header["dtype"]):
        raise error(f"saved for input {header['input_shape']} {header['dtype']}, "
                    f"the model takes {list(model.input_shape)} {model.layers[0].dtype}")
    fresh = [layer for layer in model.layers if not layer.built]
    build_model(path, model, header)
    try:
        assign(path, model, checkpoint)
    except BaseException:
        for layer in fresh:
            layer.unbuild()
        raise
    return header["training_state"]


def build_model(path, model, header):
    """Build ``model``'s unbuilt layers for the header's input shape and dtype (shapes checked
    already, so only memory can fail: then the layers built here are unbuilt again)."""
    fresh = [layer for layer in model.layers if not layer.built]
    try:
        model.build(tuple(header["input_shape"]), header["dtype"])
    except (MemoryError, TypeError, ValueError) as e:
        for layer in fresh:
            layer.unbuild()
        raise _file_error(path)(f"the model does not build for input {header['input_shape']} "
                                f"({type(e).__name__}: {e})"[:400]) from None


def assign(path, model, checkpoint):
    """Put a checked file's contents into a built ``model`` of its architecture: check the weights'
    shapes against the model's and make the optimizer's slot arrays, then assign weights, slots
    and generator states (nothing can fail after the first assignment)."""
    error, plan = _file_error(path), checkpoint.plan
    targets = _weights(model)
    weights = [checkpoint.arrays[name] for name, _, _ in plan.weights]
    if [(t.shape, t.dtype) for t in targets] != [(w.shape, w.dtype) for w in weights]:
        raise error(f"weights {[(w.dtype.name, w.shape) for w in weights]} do not fit the model's "
                    f"{[(t.dtype.name, t.shape) for t in targets]}"[:600])
    optimizer = checkpoint.optimizer
    try:
        slot_targets = [optimizer.slots(p) for p in _trainable(model)] if optimizer is not None else []
    except MemoryError:
        raise error("not enough memory for the optimizer's slots") from None
    # Nothing below can fail.
    for target, value in zip(targets, weights):
        target[...] = value
    for layer, spec in zip(model.layers, checkpoint.header["layers"]):
        if spec["rng_state"] is not None:
            layer.rng.bit_generator.state = spec["rng_state"]
    for targets_of_param, per in zip(slot_targets, plan.slots):
        for target, (name, _, _, _) in zip(targets_of_param, per):
            target[...] = checkpoint.arrays[name]
    if optimizer is not None:
        model.optimizer = optimizer
