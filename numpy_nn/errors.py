"""The errors numpy_nn raises beyond Python's own (``TypeError``/``ValueError`` for bad arguments)."""
from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or infinite loss or gradient. The update of that step was not applied,
    so the model keeps the weights from before it. ``epoch`` and ``step`` are 1-based (None outside
    fit). ``weights_finite`` is False in the one case those weights are not good: an earlier update
    with finite gradients overflowed them (learning rates near 1e38); the message then says so."""

    def __init__(self, reason, layer=None, epoch=None, step=None, weights_finite=True):
        self.reason, self.layer, self.epoch, self.step = reason, layer, epoch, step
        self.weights_finite = weights_finite
        where = f" at epoch {epoch}, step {step}" if epoch is not None else ""
        kept = ("the weights are those before this step" if weights_finite else
                "the weights were already non-finite before this step (an earlier update overflowed them)")
        super().__init__(f"training diverged{where}: {reason}; {kept}")
