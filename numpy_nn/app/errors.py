"""The application's own errors, each mapped to an exit status by :func:`numpy_nn.app.cli.main`
(the library's are :class:`numpy_nn.errors.TrainingDiverged`, :class:`numpy_nn.checkpoint.CheckpointError`
and :class:`numpy_nn.datasets.DataError`, all exit status 1)."""
from __future__ import annotations


class UsageError(Exception):
    """A bad argument or a missing optional dependency: exit status 2."""


class OutputError(Exception):
    """The output folder cannot be created or written: exit status 1."""
