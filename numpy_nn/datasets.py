"""MNIST for numpy-nn: an IDX reader/writer, a loader with a clear fallback order, and the
tutorial preprocessing.

Where :func:`load_mnist` looks, in order:

1. the ``data_dir`` argument;
2. the ``NUMPY_NN_DATA`` environment variable;
3. the cache folder (``cache_dir``, else ``$XDG_CACHE_HOME/numpy-nn/mnist``, else
   ``~/.cache/numpy-nn/mnist``) if it already holds a complete data set;
4. a download of the four official files into the cache, each checked against its published
   SHA-256 (skipped when ``download=False`` or ``NUMPY_NN_OFFLINE=1``);
5. the bundled stratified sample ``numpy_nn/data/mnist_sample.npz`` (5,000 train / 1,000 test).

An explicit location (1 or 2) that cannot be used raises :class:`DataError` instead of falling
through, so a typo never silently trains on the sample. Every data problem raises
:class:`DataError`, with a one-line message that starts with the path of the file concerned.

This module imports NumPy and the standard library only.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import os
import struct
import sys
import time
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numpy_nn.batching import batch_indices
from numpy_nn.fileio import atomic_write as _atomic_write

__all__ = [
    "DataError", "MnistSource", "read_idx", "write_idx", "load_mnist", "download_mnist",
    "default_cache_dir", "make_sample", "scale_pixels", "standardize", "one_hot",
    "flatten_images", "iterate_minibatches", "MNIST_FILES", "MNIST_SHA256", "MNIST_MIRRORS",
    "DOWNLOAD_TIMEOUT", "SAMPLE_PATH",
]

# ----------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------

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

#: The bundled stratified sample, the last resort of :func:`load_mnist`.
SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "mnist_sample.npz"

NPZ_NAME = "mnist.npz"
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

# IDX type codes (third magic byte) -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


class DataError(ValueError):
    """Any problem with data on disk or on the wire: missing, truncated, corrupt, wrong format,
    wrong shape or dtype, labels out of range, checksum mismatch, failed download.

    The message is one line and starts with the path of the file (or folder) concerned.
    """


def _error(path, what):
    """A :class:`DataError` for ``path``; ``what`` is squeezed onto one line."""
    return DataError(f"{path}: {' '.join(str(what).split())}")


def _abspath(path):
    return os.path.abspath(os.fspath(path))


# ----------------------------------------------------------------------------------------------
# IDX reading and writing
# ----------------------------------------------------------------------------------------------

def _describe_dims(dims, itemsize):
    """'20,000 images of 28x28 (15,680,000 bytes)' and the like, for error messages."""
    nbytes = int(np.prod(dims, dtype=object)) * itemsize
    if len(dims) == 3:
        what = f"{dims[0]:,} images of {dims[1]}x{dims[2]}"
    elif len(dims) == 1:
        what = f"{dims[0]:,} items"
    else:
        what = "shape (" + ", ".join(str(d) for d in dims) + ")"
    return f"{what} ({nbytes:,} bytes)"


def _read_bytes(path):
    """The file's bytes, gunzipped when they start with the gzip magic (whatever the name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise _error(path, "missing: no such file") from None
    except OSError as e:
        raise _error(path, f"cannot read: {e}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise _error(path, f"corrupt gzip data: {e}") from None


def _parse_idx_header(path, data):
    """Validate the IDX magic and dims; return ``(dtype, dims, offset_of_data)``."""
    if len(data) < 4:
        raise _error(path, f"not an IDX file: only {len(data)} bytes, no 4-byte magic")
    zero0, zero1, code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise _error(path, f"not an IDX file: wrong magic {data[:4].hex(' ')} "
                           "(expected 00 00 <type> <ndim>)")
    if code not in _IDX_DTYPES:
        raise _error(path, f"not an IDX file: unknown type code 0x{code:02x} in magic "
                           f"{data[:4].hex(' ')} (known: 08 09 0b 0c 0d 0e)")
    if ndim < 1:
        raise _error(path, "not an IDX file: magic says 0 dimensions")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise _error(path, f"truncated: magic says {ndim} dimensions ({offset} header bytes) "
                           f"but the file has only {len(data)} bytes")
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    return _IDX_DTYPES[code], dims, offset


def read_idx(path):
    """Read an IDX file (gzipped or raw) into a native-endian NumPy array.

    Format: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data
    in C order, big-endian. Types: ``08`` uint8, ``09`` int8, ``0B`` int16, ``0C`` int32,
    ``0D`` float32, ``0E`` float64. Gzip is detected by its magic bytes, not by the file name.

    Validated: the file exists and is readable, the gzip stream is intact, the magic's first two
    bytes are zero, the type code is known, ``ndim >= 1``, and the data holds exactly
    ``prod(dims)`` items (fewer: truncated; more: trailing bytes).

    Returns
    -------
    numpy.ndarray
        A writable array of shape ``dims``.

    Raises
    ------
    DataError
        For any of the problems above; the message starts with the file's path.
    """
    path = _abspath(path)
    data = _read_bytes(path)
    dtype, dims, offset = _parse_idx_header(path, data)
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
    found = len(data) - offset
    if found < expected:
        raise _error(path, f"truncated: header says {_describe_dims(dims, dtype.itemsize)} "
                           f"but only {found:,} bytes follow")
    if found > expected:
        raise _error(path, f"trailing bytes: header says {_describe_dims(dims, dtype.itemsize)} "
                           f"but {found:,} bytes follow ({found - expected:,} too many)")
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=offset)
    return array.reshape(dims).astype(dtype.newbyteorder("="))


def _idx_code(dtype):
    for code, idx_dtype in _IDX_DTYPES.items():
        if idx_dtype.newbyteorder("=") == dtype.newbyteorder("="):
            return code
    return None


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file, the inverse of :func:`read_idx`.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; written atomically (temp file in the same folder, then ``os.replace``).
    array : array_like
        At least 1-D, of dtype uint8, int8, int16, int32, float32 or float64; every size must fit
        in a uint32.
    compress : bool, optional
        Gzip the file; by default, when ``path`` ends in ``.gz``. The gzip header carries no
        timestamp, so equal arrays give byte-identical files.

    Raises
    ------
    DataError
        For an unsupported dtype or shape (nothing is written).
    """
    path = _abspath(path)
    array = np.asarray(array)
    code = _idx_code(array.dtype)
    if code is None:
        raise _error(path, f"cannot write dtype {array.dtype} as IDX "
                           "(supported: uint8, int8, int16, int32, float32, float64)")
    if array.ndim < 1 or array.ndim > 255 or any(d > 0xFFFFFFFF for d in array.shape):
        raise _error(path, f"cannot write shape {array.shape} as IDX (need 1 to 255 dimensions, "
                           "each below 2**32)")
    if compress is None:
        compress = path.endswith(".gz")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if compress:
        payload = gzip.compress(payload, mtime=0)
    _atomic_write(path, lambda f: f.write(payload))


# ----------------------------------------------------------------------------------------------
# MNIST folders: four IDX files or a Keras-style mnist.npz
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MnistSource:
    """Where :func:`load_mnist` found its data.

    ``kind`` is one of ``"data_dir"``, ``"env"``, ``"cache"``, ``"download"``,
    ``"bundled-sample"``; ``location`` is the folder or file (an absolute path).
    """

    kind: str
    location: str

    def describe(self):
        """A short human-readable description, e.g. ``/data/mnist (data_dir)``."""
        return f"{self.location} ({self.kind})"


def _find_idx_file(folder, stem):
    """``folder/stem.gz`` or ``folder/stem`` (the gzipped one first), or None."""
    for name in (stem + ".gz", stem):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _folder_layout(folder):
    """``("idx", {role: path})``, ``("npz", path)``, or ``(None, missing_stems)``."""
    found = {role: _find_idx_file(folder, stem) for role, stem in MNIST_FILES.items()}
    if all(found.values()):
        return "idx", found
    if (folder / NPZ_NAME).is_file():
        return "npz", folder / NPZ_NAME
    return None, [MNIST_FILES[role] for role, p in found.items() if p is None]


def _check_split(images, labels, images_path, labels_path):
    """Validate one split: uint8 (N, 28, 28) images, uint8 (N,) labels in 0..9."""
    if images.dtype != np.uint8:
        raise _error(images_path, f"wrong dtype: expected uint8 images, got {images.dtype}")
    if images.ndim != 3:
        raise _error(images_path, f"wrong dims: expected 3-D images (N, 28, 28), "
                                  f"got shape {images.shape}")
    if images.shape[1:] != IMAGE_SHAPE:
        raise _error(images_path, f"wrong dims: expected images of 28x28, "
                                  f"got {images.shape[1]}x{images.shape[2]}")
    if labels.dtype != np.uint8:
        raise _error(labels_path, f"wrong dtype: expected uint8 labels, got {labels.dtype}")
    if labels.ndim != 1:
        raise _error(labels_path, f"wrong dims: expected 1-D labels (N,), got shape {labels.shape}")
    if len(labels) != len(images):
        raise _error(labels_path, f"count mismatch: {len(labels):,} labels but {images_path} "
                                  f"holds {len(images):,} images")
    bad = labels >= NUM_CLASSES
    if bad.any():
        raise _error(labels_path, f"labels out of range: expected 0..9, found {int(labels.max())} "
                                  f"({int(bad.sum()):,} labels outside 0..9)")


def _load_idx_folder(paths):
    arrays = {role: read_idx(p) for role, p in paths.items()}
    for split in ("train", "test"):
        _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"],
                     _abspath(paths[f"x_{split}"]), _abspath(paths[f"y_{split}"]))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _load_npz(path):
    """Load and validate a Keras-style ``mnist.npz`` (never unpickles)."""
    path = _abspath(path)
    if not os.path.isfile(path):
        raise _error(path, "missing: no such file")
    keys = tuple(MNIST_FILES)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise _error(path, f"missing key(s) {', '.join(missing)} "
                                   f"(expected {', '.join(keys)})")
            arrays = {k: npz[k] for k in keys}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        # ValueError includes "Object arrays cannot be loaded when allow_pickle=False".
        raise _error(path, f"not a valid mnist.npz: {e}") from None
    for split in ("train", "test"):
        _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"],
                     f"{path}[x_{split}]", f"{path}[y_{split}]")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _load_folder(folder):
    """Load the MNIST folder ``folder`` (four IDX files, or ``mnist.npz``), validated."""
    folder = Path(_abspath(Path(folder).expanduser()))
    if not folder.is_dir():
        if folder.is_file() and folder.suffix == ".npz":
            return _load_npz(folder)
        if folder.exists():
            raise _error(folder, "not a folder (expected a MNIST folder or an .npz file)")
        raise _error(folder, "missing: no such folder")
    layout, found = _folder_layout(folder)
    if layout == "idx":
        return _load_idx_folder(found)
    if layout == "npz":
        return _load_npz(found)
    listed = ", ".join(f"{stem}[.gz]" for stem in found)
    raise _error(folder / found[0], f"missing file; this folder lacks {listed} "
                                    f"(a MNIST folder holds the four IDX files or {NPZ_NAME})")


def _is_complete(folder):
    return Path(folder).is_dir() and _folder_layout(Path(folder))[0] is not None


# ----------------------------------------------------------------------------------------------
# Download
# ----------------------------------------------------------------------------------------------

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
            raise _error(dest, f"short read from {url}: got {done:,} of {total:,} bytes")
        if digest.hexdigest() != expected_sha256:
            raise _error(dest, f"checksum mismatch from {url}: sha256 {digest.hexdigest()}, "
                               f"expected {expected_sha256}")

    _atomic_write(dest, write)


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
    cache_dir = Path(_abspath(Path(cache_dir).expanduser()))
    mirrors = list(MNIST_MIRRORS if mirrors is None else mirrors)
    sums = MNIST_SHA256 if sha256 is None else sha256
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _error(cache_dir, f"cannot create the cache folder: {e}") from None
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
            raise _error(dest, f"download failed from every mirror: {tried}")
    return cache_dir


# ----------------------------------------------------------------------------------------------
# load_mnist
# ----------------------------------------------------------------------------------------------

def _find_mnist(data_dir, cache_dir, mirrors, download, verbose):
    """Walk the fallback order; return ``(data, MnistSource)``."""
    def note(message):
        if verbose:
            print(f"MNIST: {message}", file=sys.stderr)

    if data_dir is not None:
        folder = _abspath(Path(data_dir).expanduser())
        return _load_folder(folder), MnistSource("data_dir", folder)
    env = os.environ.get("NUMPY_NN_DATA")
    if env:
        folder = _abspath(Path(env).expanduser())
        return _load_folder(folder), MnistSource("env", folder)
    cache = Path(_abspath(Path(cache_dir).expanduser() if cache_dir else default_cache_dir()))
    if _is_complete(cache):
        try:
            return _load_folder(cache), MnistSource("cache", str(cache))
        except DataError as e:
            note(f"cache unusable, ignoring it: {e}")
    offline = os.environ.get("NUMPY_NN_OFFLINE") == "1"
    if download and not offline:
        try:
            download_mnist(cache, mirrors, verbose=verbose)
            return _load_folder(cache), MnistSource("download", str(cache))
        except DataError as e:
            note(f"download failed: {e}")
    elif verbose:
        note("not downloading (" + ("NUMPY_NN_OFFLINE=1" if offline else "download=False") + ")")
    data = _load_npz(SAMPLE_PATH)
    (x_train, _), (x_test, _) = data
    note(f"using the bundled SAMPLE ({len(x_train):,} train / {len(x_test):,} test images), not "
         "the full data set; pass data_dir or set NUMPY_NN_DATA to use real MNIST")
    return data, MnistSource("bundled-sample", str(SAMPLE_PATH))


def load_mnist(data_dir=None, *, cache_dir=None, mirrors=None, download=True, verbose=True,
               return_source=False):
    """Load MNIST, Keras-style: ``(x_train, y_train), (x_test, y_test)``.

    Images are uint8 of shape ``(N, 28, 28)`` (pixels 0..255), labels uint8 of shape ``(N,)``
    (digits 0..9). A folder is accepted when it holds the four IDX files
    (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each with or without ``.gz``) or a Keras-style ``mnist.npz``
    (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``; loaded with ``allow_pickle=False``).
    Validated: the files themselves (see :func:`read_idx`), dtypes, images 3-D of 28x28, labels
    1-D, equal image and label counts per split, labels in 0..9.

    Search order: ``data_dir``; ``$NUMPY_NN_DATA``; the cache folder if complete; a verified
    download into the cache (unless ``download=False`` or ``NUMPY_NN_OFFLINE=1``); the bundled
    sample. See the module docstring.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A MNIST folder (or an ``.npz`` file). If given and unusable, DataError is raised.
    cache_dir : str or os.PathLike, optional
        Download cache; default :func:`default_cache_dir`.
    mirrors : sequence of str, optional
        Base URLs for the download (default :data:`MNIST_MIRRORS`).
    download : bool
        Allow step 4.
    verbose : bool
        Print to stderr which source was used and how many images, download progress, and why a
        step was skipped.
    return_source : bool
        Also return the :class:`MnistSource`.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test)) or ((x_train, y_train), (x_test, y_test), source)

    Raises
    ------
    DataError
        When ``data_dir`` or ``$NUMPY_NN_DATA`` is given but unusable, or nothing at all loads.
    """
    (train, test), source = _find_mnist(data_dir, cache_dir, mirrors, download, verbose)
    if verbose:
        print(f"MNIST: {source.describe()}: {len(train[0]):,} train / {len(test[0]):,} test images",
              file=sys.stderr)
    return (train, test, source) if return_source else (train, test)


# ----------------------------------------------------------------------------------------------
# Tutorial preprocessing
# ----------------------------------------------------------------------------------------------

def scale_pixels(images, dtype=np.float32):
    r"""Scale raw pixels to [0, 1]: :math:`x' = x / 255`.

    ``images`` must hold integers in 0..255 (e.g. the uint8 arrays of :func:`load_mnist`); float
    input is refused because it is most likely already scaled. Any shape; returns ``dtype``.
    """
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.integer):
        raise ValueError(f"scale_pixels expects integer pixels 0..255, got dtype {images.dtype} "
                         "(already scaled?)")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(f"scale_pixels expects pixels in 0..255, got "
                         f"{images.min()}..{images.max()}")
    return images.astype(dtype) / np.asarray(255, dtype=dtype)


def standardize(train, test=None, eps=1e-7):
    r"""Standardize with the statistics of the TRAINING set only.

    .. math:: \mu = \operatorname{mean}(x_{train}),\quad
              \sigma = \max(\operatorname{std}(x_{train}), \varepsilon),\quad
              x' = (x - \mu) / \sigma

    As in the tutorial MLP, :math:`\mu` and :math:`\sigma` are single scalars over ALL training
    pixels (not per pixel), computed in float64 (population std, ``ddof=0``); the same pair is
    applied to ``test``, so no test information leaks into training. Integer input gives float32,
    float input keeps its dtype.

    Returns
    -------
    train_std, test_std, (mean, std)
        ``test_std`` is None when ``test`` is None; ``mean`` and ``std`` are Python floats, ``std``
        the divisor actually used.
    """
    train = np.asarray(train)
    if train.size == 0:
        raise ValueError("standardize needs a non-empty training set")
    mean = float(np.mean(train, dtype=np.float64))
    std = max(float(np.std(train, dtype=np.float64)), float(eps))

    def apply(x):
        x = np.asarray(x)
        out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return ((x.astype(np.float64) - mean) / std).astype(out_dtype)

    return apply(train), (None if test is None else apply(test)), (mean, std)


def one_hot(labels, num_classes=10, dtype=np.float32):
    r"""One-hot encode integer labels: :math:`Y_{ik} = [y_i = k]`, shape ``(N, num_classes)``.

    Validated: ``labels`` is 1-D of an integer dtype with values in ``0..num_classes-1``, and
    ``num_classes`` is a positive integer. ``np.argmax(one_hot(y), axis=1)`` gives back ``y``.
    """
    labels = np.asarray(labels)
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"one_hot expects 1-D integer labels, got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot labels must be in 0..{num_classes - 1}, got "
                         f"{labels.min()}..{labels.max()}")
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def flatten_images(images):
    """Flatten each image to a row: ``(N, 28, 28)`` (or ``(N, 28, 28, 1)``) -> ``(N, 784)``.

    Row-major, as Keras ``Flatten``; a view when possible. Needs at least 2 dimensions.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"flatten_images expects (N, ...) images, got shape {images.shape}")
    return images.reshape(images.shape[0], -1)


def iterate_minibatches(x, y, batch_size, shuffle=True, rng=None):
    """Yield ``(x[idx], y[idx])`` for the mini-batches of :func:`numpy_nn.batching.batch_indices`.

    The order is the one ``batch_indices(len(x), batch_size, shuffle, rng)`` gives, so a seed
    reproduces it exactly; the last batch holds the remainder. ``x`` and ``y`` must have the same
    length.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    for idx in batch_indices(len(x), batch_size, shuffle=shuffle, rng=rng):
        yield x[idx], y[idx]


# ----------------------------------------------------------------------------------------------
# The bundled sample
# ----------------------------------------------------------------------------------------------

def _stratified_counts(labels, n):
    """How many of each class to draw so the ``n`` draws keep the class proportions of
    ``labels``: floors of ``n * p_k``, the remainder to the largest fractional parts."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.int64)
    if not 0 < n <= counts.sum():
        raise ValueError(f"cannot draw {n} from {counts.sum()} labels")
    quotas = counts * n / counts.sum()
    take = np.floor(quotas).astype(np.int64)
    by_remainder = np.argsort(-(quotas - take), kind="stable")
    take[by_remainder[:n - take.sum()]] += 1
    return take


def _stratified_indices(labels, n, rng):
    """Sorted indices of a stratified random subset of size ``n``."""
    take = _stratified_counts(labels, n)
    chosen = [rng.choice(np.flatnonzero(labels == k), size=int(t), replace=False)
              for k, t in enumerate(take)]
    return np.sort(np.concatenate(chosen))


def make_sample(src_dir, out_path, n_train=5000, n_test=1000, seed=0):
    """Build the bundled sample: a stratified random subset of a MNIST folder.

    ``n_train`` training and ``n_test`` test images are drawn without replacement, per class in
    the source's proportions (largest-remainder rounding), with ``numpy.random.default_rng(seed)``,
    kept in source order and saved Keras-style (``x_train``, ``y_train``, ``x_test``, ``y_test``,
    uint8) with ``np.savez_compressed``, atomically.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    (x_train, y_train), (x_test, y_test) = _load_folder(src_dir)
    rng = np.random.default_rng(seed)
    train_idx = _stratified_indices(y_train, n_train, rng)
    test_idx = _stratified_indices(y_test, n_test, rng)
    arrays = dict(x_train=x_train[train_idx], y_train=y_train[train_idx],
                  x_test=x_test[test_idx], y_test=y_test[test_idx])
    out_path = Path(_abspath(out_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_path, lambda f: np.savez_compressed(f, **arrays))
    return out_path


def _main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m numpy_nn.datasets",
                                     description="MNIST helpers for numpy-nn.")
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("make-sample", help="build the bundled stratified sample")
    sample.add_argument("src", help="MNIST folder (four IDX files or mnist.npz)")
    sample.add_argument("out", help="output .npz")
    sample.add_argument("--n-train", type=int, default=5000)
    sample.add_argument("--n-test", type=int, default=1000)
    sample.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        out = make_sample(args.src, args.out, args.n_train, args.n_test, args.seed)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with np.load(out, allow_pickle=False) as npz:
        for split in ("train", "test"):
            counts = np.bincount(npz[f"y_{split}"], minlength=NUM_CLASSES)
            print(f"{split}: {counts.sum():,} images, per class {' '.join(map(str, counts))}")
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
