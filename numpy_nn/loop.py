"""The epoch loop: the only loop in numpy-nn that trains over mini-batches.

``Sequential.fit`` runs it with the model's own ``train_on_batch``; the side-by-side driver of
``numpy-nn train`` (:mod:`numpy_nn.app`) runs it once per framework over the same batches, with a
NumPy or a Keras step. One loop means the two frameworks are timed, logged and stopped on
divergence in exactly the same way.

    result = run_epoch(lambda xb, yb, step: model.train_on_batch(xb, yb), x, y, batches, bar)
    result.losses, result.accuracies, result.seconds

The mean loss of an epoch is the batch losses weighted by batch size (the last batch may be
smaller), as Keras reports it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import TrainingDiverged
from .progress import ProgressBar


@dataclass
class EpochResult:
    """What one epoch produced: per-step losses and accuracies, batch sizes, wall time."""

    losses: list
    accuracies: list
    sizes: list
    seconds: float
    loss: float = float("nan")       # mean training loss over the epoch's examples
    accuracy: float = float("nan")   # mean training accuracy over the epoch's examples


def run_epoch(train_step, x, y, batches, bar=None, epoch=None):
    """Train once over ``batches`` (index arrays into ``x`` and ``y``).

    ``train_step(x_batch, y_batch, step) -> (loss, accuracy)`` is one optimizer step (``step`` is
    the 0-based index of the batch in this epoch, for a caller that replays per-step inputs such as
    dropout masks). ``bar`` (a :class:`~numpy_nn.progress.ProgressBar`, optional) is updated after
    every step with the running mean loss and accuracy; it is closed here only when training stops
    with an error, so that the caller can add validation metrics before closing it.

    A step that raises :class:`~numpy_nn.errors.TrainingDiverged` (a non-finite loss or gradient,
    its update not applied; or an update that overflowed, ``weights_finite=False``) stops the epoch:
    the error is raised again with ``epoch`` (as given, 1-based by convention) and the 1-based
    ``step`` filled in. No batches at all (0 training examples) is a ValueError: an epoch without a
    step has no loss to report.
    """
    batches = list(batches)
    if not batches or any(len(idx) == 0 for idx in batches):
        raise ValueError(f"run_epoch: every epoch needs at least one non-empty batch, got {len(batches)} batches "
                         f"over {len(x)} training examples")
    bar = bar if bar is not None else ProgressBar(len(batches), enabled=False)
    losses, accuracies, sizes = [], [], []
    seen, total_loss, total_correct = 0, 0.0, 0.0
    start = time.perf_counter()
    for step, idx in enumerate(batches):
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss is reported, not warned about
                loss, acc = train_step(x[idx], y[idx], step)
        except TrainingDiverged as e:
            bar.close()
            raise e.where(epoch, step + 1) from None
        losses.append(loss)
        accuracies.append(acc)
        sizes.append(len(idx))
        seen += len(idx)
        total_loss, total_correct = total_loss + loss * len(idx), total_correct + acc * len(idx)
        bar.update(step + 1, samples=seen, loss=total_loss / seen, accuracy=total_correct / seen)
    seconds = time.perf_counter() - start
    return EpochResult(losses, accuracies, sizes, seconds, total_loss / seen, total_correct / seen)
