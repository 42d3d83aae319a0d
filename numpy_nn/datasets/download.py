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

#: Seconds urllib waits on a mirror (connect or read) before giving up on it.
DOWNLOAD_TIMEOUT = 20.0
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


def _fetch_to(url, dest, expected_sha256, timeout, verbose):
    """Stream ``url`` to ``dest`` through a temp file; ``dest`` appears only if complete and the
    SHA-256 matches. Raises OSError / http.client.HTTPException / DataError on failure."""
    name = Path(dest).name

    def write(f):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress = _Progress(name, total, verbose)
            digest, done = hashlib.sha256(), 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress.update(done)
            progress.update(done, final=True)
        if total is not None and done != total:
            raise data_error(dest, f"short read from {url}: got {done:,} of {total:,} bytes")
        if digest.hexdigest() != expected_sha256:
            raise data_error(dest, f"checksum mismatch from {url}: sha256 {digest.hexdigest()}, "
                                   f"expected {expected_sha256}")

    atomic_write(dest, write)


def download_mnist(cache_dir, mirrors=None, sha256=None, timeout=DOWNLOAD_TIMEOUT, *,
                   verbose=True):
    """Download the four gzipped MNIST files into ``cache_dir``, verified.

    Each file is streamed to a temp file in ``cache_dir``, its size checked against
    ``Content-Length`` and its SHA-256 against ``sha256[name]``; only then is it moved into place
    with ``os.replace``. On any failure (HTTP error, dropped connection, short read, timeout,
    checksum mismatch) the temp file is deleted and the next mirror is tried, so nothing partial or
    corrupt is ever left in the cache. A file already in the cache with the right SHA-256 is kept.

    Parameters
    ----------
    cache_dir : str or os.PathLike
        Folder to download into (created if needed).
    mirrors : sequence of str, optional
        Base URLs, tried in order (default :data:`MNIST_MIRRORS`).
    sha256 : dict, optional
        ``{"train-images-idx3-ubyte.gz": hexdigest, ...}`` (default :data:`MNIST_SHA256`).
    timeout : float
        Seconds urllib waits on a connection or a read.
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
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                _fetch_to(url, dest, sums[name], timeout, verbose)
                break
            except DataError as e:
                errors.append(str(e)[len(str(dest)) + 2:])  # drop the "<dest>: " prefix
            except (OSError, http.client.HTTPException, ValueError) as e:
                # urllib.error.URLError/HTTPError and socket timeouts are OSErrors.
                errors.append(f"{url}: {e}")
            if verbose:
                print(f"MNIST: {errors[-1]}; trying the next mirror", file=sys.stderr)
        else:
            tried = "; ".join(errors) if errors else "no mirrors given"
            raise data_error(dest, f"download failed from every mirror: {tried}")
    return cache_dir
