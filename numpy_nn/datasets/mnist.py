"""MNIST from disk: a folder of the four IDX files or a Keras-style ``mnist.npz``, validated, and
:func:`load_mnist`, which walks the fallback order (see :mod:`numpy_nn.datasets`)."""
from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..npzfile import NpzReader
from .download import MNIST_FILES, default_cache_dir, download_mnist
from .errors import DataError, abspath, data_error
from .idx import IdxReader

#: The bundled stratified sample, the last resort of :func:`load_mnist`.
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "mnist_sample.npz"

NPZ_NAME = "mnist.npz"
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10


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


def _kind(path):
    """``"dir"``, ``"file"``, ``"other"`` or ``"missing"``. Any other failure to look (a name too
    long, a NUL byte, no permission) is a DataError naming the path, never an OSError."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError) as e:
        raise data_error(path, f"cannot read: {e}") from None
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _find_idx_file(folder, stem):
    """``folder/stem.gz`` or ``folder/stem`` (the gzipped one first), or None."""
    for name in (stem + ".gz", stem):
        candidate = folder / name
        if _kind(candidate) == "file":
            return candidate
    for name in (stem + ".gz", stem):
        candidate = folder / name
        if _kind(candidate) != "missing":  # a folder, FIFO or device by that name: read_idx says so
            return candidate
    return None


def _folder_layout(folder):
    """``("idx", {role: path})``, ``("npz", path)``, or ``(None, missing_stems)``."""
    found = {role: _find_idx_file(folder, stem) for role, stem in MNIST_FILES.items()}
    if all(found.values()):
        return "idx", found
    if _kind(folder / NPZ_NAME) == "file":
        return "npz", folder / NPZ_NAME
    return None, [MNIST_FILES[role] for role, p in found.items() if p is None]


def _native(dtype):
    """``dtype`` in native byte order, so messages say ``int32``, not ``>i4``."""
    return dtype.newbyteorder("=")


def _check_split_headers(images, labels, images_path, labels_path):
    """Validate one split from its headers alone, before any data is read.

    ``images`` and ``labels`` are ``(dtype, shape)`` pairs (from IDX headers or ``.npy`` headers).
    Checked: uint8 images of shape (N, 28, 28) with N >= 1 (an empty split would train on nothing
    or divide by zero later), uint8 labels of shape (N,) with the same N. Checking both files of a
    split before reading either means a file whose size is honest but wrong for MNIST is never
    decoded, and a labels file cannot make the loader allocate more than its images file allows.
    """
    (images_dtype, images_shape), (labels_dtype, labels_shape) = images, labels
    if images_dtype != np.uint8:
        raise data_error(images_path, f"wrong dtype: expected uint8 images, got {_native(images_dtype)}")
    if len(images_shape) != 3:
        raise data_error(images_path, f"wrong dims: expected 3-D images (N, 28, 28), "
                                      f"got shape {tuple(images_shape)}")
    if tuple(images_shape[1:]) != IMAGE_SHAPE:
        raise data_error(images_path, f"wrong dims: expected images of 28x28, "
                                      f"got {images_shape[1]}x{images_shape[2]}")
    if images_shape[0] == 0:
        raise data_error(images_path, "count: 0 images (a MNIST split needs at least one)")
    if labels_dtype != np.uint8:
        raise data_error(labels_path, f"wrong dtype: expected uint8 labels, got {_native(labels_dtype)}")
    if len(labels_shape) != 1:
        raise data_error(labels_path, f"wrong dims: expected 1-D labels (N,), "
                                      f"got shape {tuple(labels_shape)}")
    if labels_shape[0] != images_shape[0]:
        raise data_error(labels_path, f"count mismatch: {labels_shape[0]:,} labels but {images_path} "
                                      f"holds {images_shape[0]:,} images")


def _check_labels(labels, labels_path):
    """Validate the label values once read: digits 0..9."""
    bad = labels >= NUM_CLASSES
    if bad.any():
        raise data_error(labels_path, f"labels out of range: expected 0..9, found {int(labels.max())} "
                                      f"({int(bad.sum()):,} labels outside 0..9)")


def _load_idx_split(images_path, labels_path):
    """One split from its two IDX files: both headers checked, then both read."""
    with IdxReader(images_path) as images, IdxReader(labels_path) as labels:
        _check_split_headers((images.header.dtype, images.header.dims),
                             (labels.header.dtype, labels.header.dims),
                             images.path, labels.path)
        x, y = images.read(), labels.read()
    _check_labels(y, abspath(labels_path))
    return x, y


def _load_idx_folder(paths):
    return tuple(_load_idx_split(paths[f"x_{split}"], paths[f"y_{split}"])
                 for split in ("train", "test"))


def _load_npz(path):
    """Load and validate a Keras-style ``mnist.npz`` through :class:`~numpy_nn.npzfile.NpzReader`.

    Before any array data is decompressed: the archive's member list and each member's ``.npy``
    header (NpzReader: no pickles, sizes the compressed sizes can hold), then the four keys and,
    per split, dtypes and shapes (:func:`_check_split_headers`). Only then are the four arrays
    read, each allocated once; then the label values are checked. Extra members are ignored.
    """
    path = abspath(path)
    if _kind(path) != "file":
        raise data_error(path, "missing: no such file")
    keys = tuple(MNIST_FILES)

    def error(message):
        return data_error(path, f"not a valid mnist.npz: {message}")

    with NpzReader(path, error) as npz:
        missing = [k for k in keys if k not in npz.headers]
        if missing:
            raise data_error(path, f"missing key(s) {', '.join(missing)} "
                                   f"(expected {', '.join(keys)})")
        for split in ("train", "test"):
            x, y = npz.headers[f"x_{split}"], npz.headers[f"y_{split}"]
            _check_split_headers((x.dtype, x.shape), (y.dtype, y.shape),
                                 f"{path}[x_{split}]", f"{path}[y_{split}]")
        arrays = {k: npz.read(k) for k in keys}
    for split in ("train", "test"):
        _check_labels(arrays[f"y_{split}"], f"{path}[y_{split}]")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_folder(folder):
    """Load the MNIST folder ``folder`` (four IDX files, or ``mnist.npz``), validated."""
    folder = Path(abspath(Path(folder).expanduser()))
    kind = _kind(folder)
    if kind != "dir":
        if kind == "file" and folder.suffix == ".npz":
            return _load_npz(folder)
        if kind != "missing":
            raise data_error(folder, "not a folder (expected a MNIST folder or an .npz file)")
        raise data_error(folder, "missing: no such folder")
    layout, found = _folder_layout(folder)
    if layout == "idx":
        return _load_idx_folder(found)
    if layout == "npz":
        return _load_npz(found)
    listed = ", ".join(f"{stem}[.gz]" for stem in found)
    raise data_error(folder / found[0], f"missing file; this folder lacks {listed} "
                                        f"(a MNIST folder holds the four IDX files or {NPZ_NAME})")


def _is_complete(folder):
    """Whether ``folder`` holds a data set; a folder that cannot even be looked at does not."""
    try:
        return _kind(folder) == "dir" and _folder_layout(Path(folder))[0] is not None
    except DataError:
        return False

def _find_mnist(data_dir, cache_dir, mirrors, download, verbose):
    """Walk the fallback order; return ``(data, MnistSource)``."""
    def note(message):
        if verbose:
            print(f"MNIST: {message}", file=sys.stderr)

    if data_dir is not None:
        folder = abspath(Path(data_dir).expanduser())
        return load_folder(folder), MnistSource("data_dir", folder)
    env = os.environ.get("NUMPY_NN_DATA")
    if env:
        folder = abspath(Path(env).expanduser())
        return load_folder(folder), MnistSource("env", folder)
    cache = Path(abspath(Path(cache_dir).expanduser() if cache_dir else default_cache_dir()))
    if _is_complete(cache):
        try:
            return load_folder(cache), MnistSource("cache", str(cache))
        except DataError as e:
            note(f"cache unusable, ignoring it: {e}")
    offline = os.environ.get("NUMPY_NN_OFFLINE") == "1"
    if download and not offline:
        try:
            download_mnist(cache, mirrors, verbose=verbose)
            return load_folder(cache), MnistSource("download", str(cache))
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
    Validated: the files themselves (see :func:`read_idx`; ``mnist.npz`` through
    :class:`~numpy_nn.npzfile.NpzReader`), then per split and from the headers alone, before any
    data is decoded: uint8 dtypes, images of shape (N, 28, 28) with N >= 1, labels of shape (N,);
    once read, labels in 0..9. Every problem is a :class:`DataError` naming the file and the field.

    Time: a download attempt gives up on a mirror after :data:`DOWNLOAD_TIMEOUT` (10 s) without a
    byte and :data:`DOWNLOAD_DEADLINE` (120 s) per file, and a failed mirror is not asked again;
    with the three default mirrors failing, the bundled sample is used, with a note on stderr,
    within 13 min at worst (6 attempts x 130 s), 390 s when they all trickle, 30 s when they are
    silent (see :func:`download_mnist`).

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
