"""Atomic file writes: a file is either its old self or complete, never half-written."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then ``os.replace`` it into place.

    The rename is atomic on POSIX and Windows, so a reader sees the old file or the new one. On any
    failure (an exception in ``write``, a full disk, Ctrl-C) the temporary file is removed and the
    error re-raised. Returns ``path`` as a :class:`pathlib.Path`.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are not secrets
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
