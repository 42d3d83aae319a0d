"""The checks of the training API that are not the model itself: the optimizers' settings
(:func:`check_number`, :func:`check_block`), ``Sequential``'s arguments
(:func:`check_fit_arguments`, :func:`check_count`, :func:`check_seed`) and the finiteness of a step's
loss and gradients before its update (:func:`check_finite`). Each runs before anything changes, so
that a refused call leaves weights, optimizer state and generators exactly as they were."""
from __future__ import annotations

import math

import numpy as np

from .errors import TrainingDiverged
from .layers.base import check_seed  # one rule for every seed: None or an int in [0, 2**63)


def check_number(value, name, low, high, owner, high_open=True, low_open=False):
    """``value`` as a float after checking it is a real finite number in the given interval (a bool,
    a string, NaN or an infinity is refused): ValueError naming ``owner`` and the argument."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    ok = ok and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{owner}: {name} must be a finite number in {interval}, got {value!r:.80}")
    return float(value)


def check_block(block, owner):
    """``block``: None (no blocking) or a positive integer number of elements."""
    if block is not None and (isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1):
        raise ValueError(f"{owner}: block must be None or a positive integer, got {block!r:.80}")
    return None if block is None else int(block)


def check_count(value, name, op, low):
    """An integer argument (not a bool, not a float) ``>= low``: ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        kind = "a positive" if low == 1 else "a non-negative"
        raise ValueError(f"Sequential.{op}: {name} must be {kind} integer, got {value!r:.80}")
    return int(value)


def check_finite(model, loss):
    """Before the update: a non-finite ``loss`` raises :class:`TrainingDiverged` naming the first
    layer with a non-finite gradient in its text. A NaN loss over weights that are already
    non-finite says so (``weights_finite=False``). The gradients of a finite loss are checked by the
    optimizer itself (``apply_gradients(..., check_gradients=True)``), before it changes anything."""
    if not np.isfinite(loss):
        overflowed = first_bad_layer(model.layers, kind="params")
        if overflowed is not None:
            raise TrainingDiverged(f"the loss is {loss}: layer '{overflowed}' holds non-finite weights",
                                   layer=overflowed, weights_finite=False)
        layer = first_bad_layer(model.layers)
        where = f", first non-finite gradient in layer '{layer}'" if layer is not None else ""
        raise TrainingDiverged(f"the loss is {loss}{where}", layer=layer)


def first_bad_layer(layers, kind="grads"):
    """The first layer, in forward order, with a NaN/inf parameter gradient (or parameter, with
    ``kind="params"``); None if all are finite. A sum is non-finite whenever any term is, so one
    reduction per array suffices (an overflowing sum of finite terms is confirmed element-wise)."""
    for layer in layers:
        for g in getattr(layer, kind).values():
            if not np.isfinite(g.sum()) and not np.all(np.isfinite(g)):
                return layer.name
    return None


def check_fit_arguments(epochs, batch_size, initial_epoch, seed, validation_data, on_epoch_end):
    """``Sequential.fit``'s arguments other than the data: ``(epochs, batch_size, initial_epoch,
    seed)`` as Python ints (seed may be None) after checking their ranges (``initial_epoch <=
    epochs``: ``epochs`` is the epoch to train until, as in Keras), that ``validation_data`` is None
    or a pair, and ``on_epoch_end`` None or callable. The data themselves are the model's to check."""
    epochs = check_count(epochs, "epochs", "fit", 0)
    batch_size = check_count(batch_size, "batch_size", "fit", 1)
    initial_epoch = check_count(initial_epoch, "initial_epoch", "fit", 0)
    if initial_epoch > epochs:
        raise ValueError(f"Sequential.fit: initial_epoch ({initial_epoch}) must not exceed epochs ({epochs}): "
                         "epochs is the epoch to train until, not a count of more epochs")
    seed = check_seed(seed, "Sequential.fit")
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise TypeError(f"Sequential.fit: on_epoch_end must be callable or None, got {type(on_epoch_end).__name__}")
    if validation_data is not None and not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
        length = f" of length {len(validation_data)}" if hasattr(validation_data, "__len__") else ""
        raise ValueError(f"Sequential.fit: validation_data must be a pair (x_val, y_val), got "
                         f"{type(validation_data).__name__}{length}")
    return epochs, batch_size, initial_epoch, seed
