"""Atomic file writes: a file is either its old self or complete, never half-written.

The temporary file beside the target is named ``.<target>.<random>.<host>.<pid>.part``: the
writer's host and process id are in its name, so a later write of the same target can tell a part
left by a writer that was killed (SIGKILL, power loss: no ``finally`` ran) from one being written
right now, and remove only the former (:func:`remove_stale_parts`).
"""
from __future__ import annotations

import os
import re
import socket
import tempfile
from pathlib import Path

_PART = ".part"


def _host():
    """This machine's name, reduced to characters that cannot be confused with the separators."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"


def _alive(pid):
    """Whether a process ``pid`` exists on this machine (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def remove_stale_parts(path):
    """Remove the temporary files that earlier writes of ``path`` left behind when their process
    died before it could clean up: only parts named for ``path``, written on this host, by a
    process id that no longer exists. A part of a live writer is never touched (nor an older
    unnamed one, or one of another host: whether its writer lives cannot be known here). Returns
    the paths removed."""
    path = Path(path)
    prefix, host, removed = f".{path.name}.", _host(), []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_PART)):
            continue
        fields = name[len(prefix):-len(_PART)].split(".")
        if len(fields) != 3 or fields[1] != host or not fields[2].isdigit():
            continue
        pid = int(fields[2])
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # removed meanwhile by another writer's cleanup, or not ours to remove
    return removed


def _fsync_folder(folder):
    """Make a rename in ``folder`` durable (POSIX: the directory entry is data of the folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows, where folders cannot be opened; the rename is durable there
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then ``os.replace`` it into place.

    The data is flushed and ``fsync``-ed before the rename, and the folder after it, so after a
    crash the target is the old file or the complete new one, never a renamed empty file. The
    rename is atomic on POSIX and Windows, so a reader sees the old file or the new one. On any
    failure (an exception in ``write``, a full disk, Ctrl-C) the temporary file is removed and the
    error re-raised; parts that killed writers left are removed first (:func:`remove_stale_parts`).
    Returns ``path`` as a :class:`pathlib.Path`.
    """
    path = Path(path)
    remove_stale_parts(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=f".{_host()}.{os.getpid()}{_PART}")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are not secrets
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(path.parent)
    return path
