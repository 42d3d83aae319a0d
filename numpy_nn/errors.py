"""The errors numpy_nn raises beyond Python's own (``TypeError``/``ValueError`` for bad arguments)."""
from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or infinite value. ``epoch`` and ``step`` are 1-based (None outside
    fit); ``layer`` names the first layer concerned (also in the message).

    Two cases, told apart by ``weights_finite``:

    * ``weights_finite=True``: the loss or a gradient was not finite, so the step's update was not
      applied: the model and its optimizer are exactly as they were before this step. For a
      gradient found non-finite by the optimizer (``apply_gradients(check_gradients=True)``),
      ``parameter`` is its index in the ``apply_gradients`` list.
    * ``weights_finite=False``: an update left a weight or an optimizer slot (e.g. Adam's second
      moment, when ``g**2`` overflows) non-finite, detected in the step that did it. Updates are
      applied in place and numpy_nn keeps no copy of the weights, so the step cannot be undone: the
      weights and optimizer state are *not* those before it, and the model cannot continue. The
      message says so. ``parameter`` is then the index of the first such parameter in the
      ``apply_gradients`` list (None if unknown).

    ``kept`` replaces the message's closing sentence about the weights where neither default fits
    (e.g. a finite model whose test outputs overflow); it must be as true as they are.
    """

    def __init__(self, reason, layer=None, epoch=None, step=None, weights_finite=True, parameter=None, kept=None):
        self.reason, self.layer, self.epoch, self.step = reason, layer, epoch, step
        self.weights_finite, self.parameter, self.kept = weights_finite, parameter, kept
        where = f" at epoch {epoch}" + (f", step {step}" if step is not None else "") if epoch is not None else ""
        if kept is None:
            kept = ("the update was not applied: the weights are those before this step" if weights_finite else
                    "the weights or optimizer state are non-finite and NOT those before this step (updates are "
                    "applied in place and no copy is kept to undo one): this model cannot continue")
        super().__init__(f"training diverged{where}: {reason}; {kept}")

    def where(self, epoch=None, step=None, reason=None):
        """The same error with ``epoch``/``step`` (and optionally a fuller ``reason``) filled in."""
        return TrainingDiverged(self.reason if reason is None else reason, self.layer, epoch, step,
                                self.weights_finite, self.parameter, self.kept)
