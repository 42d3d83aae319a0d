"""The four official MNIST files: their names, published checksums and mirrors, and a verified download.

:func:`download_mnist` streams each file to a temporary file, checks its size and SHA-256, and only
then moves it into place, so nothing partial or corrupt is ever left in the cache.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.request
from pathlib import Path

from ..fileio import atomic_write
from .errors import DataError, abspath, data_error

#: The four MNIST IDX files, by role; each may be stored with or without ``.gz``.
MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

#: Published SHA-256 of the official gzipped files (what the mirrors serve).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Mirrors that serve the four official names, tried in order.
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: Seconds to wait for a mirror to connect, to send its first byte, and for each later read;
#: a silent mirror is given up after this long.
DOWNLOAD_TIMEOUT = 10.0
#: Seconds one file may take from one mirror, connecting included (the monotonic clock is checked
#: between reads, so one attempt ends within DOWNLOAD_DEADLINE + DOWNLOAD_TIMEOUT); a mirror that
#: trickles bytes is given up after this long. 120 s is 83 KB/s for the largest file (9.9 MB).
DOWNLOAD_DEADLINE = 120.0
#: Bytes one file may have (the official largest is 9,912,422): a longer Content-Length is refused
#: before reading, and a body running past it is cut off, so a mirror cannot fill the disk.
MAX_DOWNLOAD_BYTES = 64 << 20
_CHUNK = 1 << 16


def default_cache_dir():
    """``$XDG_CACHE_HOME/numpy-nn/mnist`` if ``XDG_CACHE_HOME`` is set, else
    ``~/.cache/numpy-nn/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "numpy-nn" / "mnist"


def _sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Progress:
    """One self-overwriting stderr line: ``name: 1,234,567 / 9,912,422 bytes (12%)``."""

    def __init__(self, name, total, enabled):
        self.name, self.total, self.enabled = name, total, enabled
        self.last = 0.0

    def update(self, done, final=False):
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.1):
            return
        self.last = now
        total = f" / {self.total:,} bytes ({100 * done // max(self.total, 1)}%)" \
            if self.total else " bytes"
        sys.stderr.write(f"\r  {self.name}: {done:,}{total}" + ("\n" if final else ""))
        sys.stderr.flush()


def _announced_length(response, url, dest, max_bytes):
    """The Content-Length as an int, or None when absent or malformed; refused above ``max_bytes``."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    if total is not None and total > max_bytes:
        raise data_error(dest, f"too large from {url}: Content-Length {total:,} bytes, more than "
                               f"the {max_bytes:,} a MNIST file may have")
    return total


def _fetch_to(url, dest, expected_sha256, timeout, deadline, max_bytes, verbose):
    """Stream ``url`` to ``dest`` through a temp file; ``dest`` appears only if complete and the
    SHA-256 matches. Raises OSError / http.client.HTTPException / DataError on failure.

    Bounded in time and size: connecting and every read wait at most ``timeout`` seconds; each
    read returns what has arrived (``read1``), and the monotonic clock is checked after it, so the
    attempt is abandoned once ``deadline`` seconds have passed since it began, however slowly the
    bytes trickle in; more than ``max_bytes`` bytes are refused."""
    name = Path(dest).name
    give_up = time.monotonic() + deadline

    def write(f):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = _announced_length(response, url, dest, max_bytes)
            progress = _Progress(name, total, verbose)
            digest, done = hashlib.sha256(), 0
            while chunk := response.read1(_CHUNK):
                done += len(chunk)
                if done > max_bytes:
                    raise data_error(dest, f"too large from {url}: more than {max_bytes:,} bytes")
                if time.monotonic() > give_up:
                    raise data_error(dest, f"too slow from {url}: {done:,} bytes in {deadline:g} s "
                                           "(the deadline per file)")
                f.write(chunk)
                digest.update(chunk)
                progress.update(done)
            progress.update(done, final=True)
        if total is not None and done != total:
            raise data_error(dest, f"short read from {url}: got {done:,} of {total:,} bytes")
        if digest.hexdigest() != expected_sha256:
            raise data_error(dest, f"checksum mismatch from {url}: sha256 {digest.hexdigest()}, "
                                   f"expected {expected_sha256}")

    atomic_write(dest, write)


def download_mnist(cache_dir, mirrors=None, sha256=None, timeout=None, *, deadline=None,
                   max_bytes=None, verbose=True):
    """Download the four gzipped MNIST files into ``cache_dir``, verified.

    Each file is streamed to a temp file in ``cache_dir``, its size checked against
    ``Content-Length`` and its SHA-256 against ``sha256[name]``; only then is it moved into place
    with ``os.replace``. On any failure (HTTP error, dropped connection, short read, timeout,
    too slow, too large, checksum mismatch) the temp file is deleted and the next mirror is tried, so nothing partial or
    corrupt is ever left in the cache. A file already in the cache with the right SHA-256 is kept.

    Time is bounded: one attempt (one file from one mirror) gives up after ``timeout`` seconds
    without a byte (connecting, waiting for the first byte, or between bytes) and after
    ``deadline`` seconds in all (checked between reads, so it ends within ``deadline + timeout``).
    A mirror that fails one file is not asked for the later ones, and the first file that no
    mirror delivers ends the call, so a call makes at most ``4 + len(mirrors) - 1`` attempts and
    returns within ``(3 + len(mirrors)) * (deadline + timeout)`` seconds (defaults, three
    mirrors: 13 min). When every mirror fails at the first file it returns within
    ``len(mirrors) * (deadline + timeout)``: 30 s for silent mirrors, 390 s for trickling ones.
    Known gap: the deadline is checked from the first body byte on; a server that trickles its
    status line and headers one byte per ``timeout`` is bounded only by urllib's header limits.

    Parameters
    ----------
    cache_dir : str or os.PathLike
        Folder to download into (created if needed).
    mirrors : sequence of str, optional
        Base URLs, tried in order (default :data:`MNIST_MIRRORS`).
    sha256 : dict, optional
        ``{"train-images-idx3-ubyte.gz": hexdigest, ...}`` (default :data:`MNIST_SHA256`).
    timeout : float, optional
        Seconds to wait to connect, for the first byte and for each read (default
        :data:`DOWNLOAD_TIMEOUT`, 10 s).
    deadline : float, optional
        Seconds one file may take from one mirror (default :data:`DOWNLOAD_DEADLINE`, 120 s).
    max_bytes : int, optional
        Largest file accepted (default :data:`MAX_DOWNLOAD_BYTES`, 64 MiB).
    verbose : bool
        Show a one-line byte progress per file on stderr.

    Returns
    -------
    pathlib.Path
        ``cache_dir``, now holding the four files.

    Raises
    ------
    DataError
        When a file cannot be had from any mirror; the message lists each mirror's error.
    """
    cache_dir = Path(abspath(Path(cache_dir).expanduser()))
    mirrors = list(MNIST_MIRRORS if mirrors is None else mirrors)
    sums = MNIST_SHA256 if sha256 is None else sha256
    # Defaults are read at call time, so load_mnist's downloads follow the module's settings.
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    deadline = DOWNLOAD_DEADLINE if deadline is None else deadline
    max_bytes = MAX_DOWNLOAD_BYTES if max_bytes is None else max_bytes
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise data_error(cache_dir, f"cannot create the cache folder: {e}") from None
    for stem in MNIST_FILES.values():
        name = stem + ".gz"
        dest = cache_dir / name
        if dest.is_file() and _sha256_of(dest) == sums[name]:
            continue
        errors = []
        for mirror in list(mirrors):
            url = mirror.rstrip("/") + "/" + name
            try:
                _fetch_to(url, dest, sums[name], timeout, deadline, max_bytes, verbose)
                break
            except DataError as e:
                errors.append(str(e)[len(str(dest)) + 2:])  # drop the "<dest>: " prefix
            except (OSError, http.client.HTTPException, ValueError) as e:
                # urllib.error.URLError/HTTPError and socket timeouts are OSErrors.
                errors.append(f"{url}: {e}")
            mirrors.remove(mirror)  # a mirror that failed one file is not asked for the others
            if verbose:
                print(f"MNIST: {errors[-1]}; trying the next mirror", file=sys.stderr)
        else:
            tried = "; ".join(errors) if errors else "no mirrors given"
            raise data_error(dest, f"download failed from every mirror: {tried}")
    return cache_dir
