"""The one exception of :mod:`numpy_nn.datasets`, and the helpers that phrase it."""
from __future__ import annotations

import os


class DataError(ValueError):
    """Any problem with data on disk or on the wire: missing, truncated, corrupt, wrong format,
    wrong shape or dtype, labels out of range, checksum mismatch, failed download.

    The message is one line and starts with the path of the file (or folder) concerned.
    """


def data_error(path, what):
    """A :class:`DataError` for ``path``; ``what`` is squeezed onto one line."""
    return DataError(f"{path}: {' '.join(str(what).split())}")


def abspath(path):
    """``path`` as an absolute string (messages name files by their absolute path)."""
    return os.path.abspath(os.fspath(path))

