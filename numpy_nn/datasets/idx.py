"""The IDX file format (the format MNIST is published in): :func:`read_idx` and :func:`write_idx`.

An IDX file is a 4-byte magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then
the data in C order, big-endian; MNIST's files are gzipped. Imports NumPy and the standard library only.

Reading never trusts the header's sizes: :class:`IdxReader` opens the file (through a streaming
gzip decoder when it starts with the gzip magic), reads and validates the magic and dims, compares
the size they announce with what the file can hold, and only then allocates the array once and
fills it in bounded chunks, stopping at the announced size. Memory use is the array plus one chunk,
whatever the file inflates to.
"""
from __future__ import annotations

import gzip
import os
import stat
import struct
import zlib
from typing import NamedTuple

import numpy as np

from ..fileio import atomic_write
from ..npzfile import DEFLATE_MAX_RATIO
from .errors import abspath, data_error

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
#: Bytes decoded per read while filling an array (bounded extra memory whatever the file's size).
CHUNK = 1 << 20
#: NumPy 2's limit on an array's dimensions (an IDX header may announce up to 255).
MAX_NUMPY_DIMS = 64
# What a damaged gzip stream raises: BadGzipFile is an OSError, a cut stream an EOFError.
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


class IdxHeader(NamedTuple):
    """What an IDX file's header announces, before any data is read."""

    dtype: np.dtype      # native byte order (the dtype :meth:`IdxReader.read` returns)
    dims: tuple
    header_bytes: int    # 4 + 4 * ndim
    nbytes: int          # bytes of data the dims imply (a Python int: never overflows)


def _describe_dims(dims, itemsize):
    """'20,000 images of 28x28 (15,680,000 bytes)' and the like, for error messages."""
    nbytes = _count(dims) * itemsize
    if len(dims) == 3:
        what = f"{dims[0]:,} images of {dims[1]}x{dims[2]}"
    elif len(dims) == 1:
        what = f"{dims[0]:,} items"
    else:
        what = "shape (" + ", ".join(str(d) for d in dims) + ")"
    return f"{what} ({nbytes:,} bytes)"


def _count(dims):
    count = 1
    for d in dims:
        count *= d
    return count


class IdxReader:
    """``with IdxReader(path) as idx:`` look at ``idx.header`` (an :class:`IdxHeader`), then
    ``idx.read()`` if the caller accepts it.

    Opening reads only the 4-byte magic and the ``ndim`` sizes, and checks them: the magic's first
    two bytes are zero, the type code is known, ``ndim >= 1``, and the announced size fits the
    file (raw: exactly the file size minus the header; gzip: at most
    ``DEFLATE_MAX_RATIO`` times the compressed size, the most deflate can expand). So a file
    claiming more data than it can hold is refused before anything is allocated, and a caller (the
    MNIST loader) can refuse a wrong dtype or shape before a byte of data is decoded. Every
    problem is a :class:`DataError` whose message starts with the path.
    """

    def __init__(self, path):
        self.path = abspath(path)
        self._file, self._stream = self._open()
        try:
            self.header = self._read_header()
            self._check_fits(self.header)
        except BaseException:
            self.close()
            raise

    # --- opening ---------------------------------------------------------------------------------
    def _open(self):
        """``(raw file, stream to decode)``: the same file, or a gzip decoder over it."""
        try:
            regular = stat.S_ISREG(os.stat(self.path).st_mode)
            raw = open(self.path, "rb") if regular else None  # a FIFO would block open() for ever
        except FileNotFoundError:
            raise data_error(self.path, "missing: no such file") from None
        except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
            raise data_error(self.path, f"cannot read: {e}") from None
        if raw is None:
            raise data_error(self.path, "cannot read: not a regular file (a folder, FIFO or device)")
        try:
            self.size = os.fstat(raw.fileno()).st_size
            self.gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
        except OSError as e:  # a folder opens on Linux, then fails to read
            raw.close()
            raise data_error(self.path, f"cannot read: {e}") from None
        return raw, (gzip.GzipFile(fileobj=raw, mode="rb") if self.gzipped else raw)

    def _read(self, n):
        """Up to ``n`` decoded bytes (fewer only at the end of the data)."""
        try:
            return self._stream.read(n)
        except _GZIP_ERRORS as e:
            raise self._corrupt(e) from None

    def _corrupt(self, e):
        if self.gzipped:
            return data_error(self.path, f"corrupt gzip data: {e}")
        return data_error(self.path, f"cannot read: {e}")

    # --- the header ------------------------------------------------------------------------------
    def _read_header(self):
        """Validate the magic and read the dims (at most ``4 + 4 * 255`` bytes are decoded)."""
        magic = self._read(4)
        if len(magic) < 4:
            raise data_error(self.path, f"not an IDX file: only {len(magic)} bytes, no 4-byte magic")
        zero0, zero1, code, ndim = magic
        if zero0 != 0 or zero1 != 0:
            raise data_error(self.path, f"not an IDX file: wrong magic {magic.hex(' ')} "
                                        "(expected 00 00 <type> <ndim>)")
        if code not in _IDX_DTYPES:
            raise data_error(self.path, f"not an IDX file: unknown type code 0x{code:02x} in magic "
                                        f"{magic.hex(' ')} (known: 08 09 0b 0c 0d 0e)")
        if ndim < 1:
            raise data_error(self.path, "not an IDX file: magic says 0 dimensions")
        sizes = self._read(4 * ndim)
        if len(sizes) < 4 * ndim:
            raise data_error(self.path, f"truncated: magic says {ndim} dimensions ({4 + 4 * ndim} "
                                        f"header bytes) but the file has only {4 + len(sizes)} bytes")
        dims = struct.unpack(f">{ndim}I", sizes)
        dtype = _IDX_DTYPES[code]
        return IdxHeader(dtype.newbyteorder("="), dims, 4 + 4 * ndim, _count(dims) * dtype.itemsize)

    def _check_fits(self, head):
        """Refuse a header announcing more (or, raw, other) data than this file can hold."""
        announced = _describe_dims(head.dims, head.dtype.itemsize)
        if not self.gzipped:
            found = self.size - head.header_bytes
            if found < head.nbytes:
                raise data_error(self.path, f"truncated: header says {announced} "
                                            f"but only {found:,} bytes follow")
            if found > head.nbytes:
                raise data_error(self.path, f"trailing bytes: header says {announced} but "
                                            f"{found:,} bytes follow ({found - head.nbytes:,} too many)")
        elif head.header_bytes + head.nbytes > DEFLATE_MAX_RATIO * self.size:
            raise data_error(self.path, f"truncated: header says {announced} but this gzip file of "
                                        f"{self.size:,} bytes can hold at most "
                                        f"{DEFLATE_MAX_RATIO * self.size:,} (deflate expands at most "
                                        f"{DEFLATE_MAX_RATIO}:1)")

    # --- the data --------------------------------------------------------------------------------
    def read(self):
        """The data as a writable native-endian array of shape ``dims``: allocated once, filled in
        chunks of :data:`CHUNK` bytes, then at most one more byte is read to refuse trailing data
        (for gzip, reading to the end of the stream also checks its CRC and length)."""
        head = self.header
        array = self._allocate(head)
        view = memoryview(array.reshape(-1).view(np.uint8))
        done = 0
        while done < head.nbytes:
            got = self._readinto(view[done:done + CHUNK])
            if not got:
                raise data_error(self.path, f"truncated: header says "
                                            f"{_describe_dims(head.dims, head.dtype.itemsize)} "
                                            f"but only {done:,} bytes follow")
            done += got
        if self._read(1):
            raise data_error(self.path, f"trailing bytes: header says "
                                        f"{_describe_dims(head.dims, head.dtype.itemsize)} but more "
                                        "data follows")
        if head.dtype.itemsize > 1 and np.little_endian:
            array.byteswap(inplace=True)  # the file's bytes are big-endian, the array native
        return array

    def _allocate(self, head):
        if len(head.dims) > MAX_NUMPY_DIMS:
            raise data_error(self.path, f"dims: {len(head.dims)} dimensions, more than a NumPy array can have "
                                        f"({MAX_NUMPY_DIMS})")
        try:
            return np.empty(head.dims, head.dtype)
        except (MemoryError, ValueError) as e:
            raise data_error(self.path, f"cannot allocate {head.nbytes:,} bytes for "
                                        f"{_describe_dims(head.dims, head.dtype.itemsize)} "
                                        f"({type(e).__name__})") from None

    def _readinto(self, view):
        try:
            return self._stream.readinto(view)
        except _GZIP_ERRORS as e:
            raise self._corrupt(e) from None

    def close(self):
        if self._stream is not self._file:
            self._stream.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_idx(path):
    """Read an IDX file (gzipped or raw) into a native-endian NumPy array.

    Format: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data
    in C order, big-endian. Types: ``08`` uint8, ``09`` int8, ``0B`` int16, ``0C`` int32,
    ``0D`` float32, ``0E`` float64. Gzip is detected by its magic bytes, not by the file name.

    Validated, in this order and before any data is allocated: the file exists and is readable,
    the magic's first two bytes are zero, the type code is known, ``ndim >= 1``, and the announced
    ``prod(dims)`` items fit the file (raw: exactly; gzip: within deflate's 1032:1 maximum). Then
    the array is allocated once and filled by streaming: the data must hold exactly ``prod(dims)``
    items (fewer: truncated; more: trailing bytes, refused after reading one extra byte, never the
    rest) and the gzip stream must be intact (CRC and length). See :class:`IdxReader` to look at
    the header before reading the data.

    Returns
    -------
    numpy.ndarray
        A writable array of shape ``dims``.

    Raises
    ------
    DataError
        For any of the problems above, and when the array cannot be allocated (MemoryError); the
        message starts with the file's path.
    """
    with IdxReader(path) as idx:
        return idx.read()


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
    path = abspath(path)
    array = np.asarray(array)
    code = _idx_code(array.dtype)
    if code is None:
        raise data_error(path, f"cannot write dtype {array.dtype} as IDX "
                               "(supported: uint8, int8, int16, int32, float32, float64)")
    if array.ndim < 1 or array.ndim > 255 or any(d > 0xFFFFFFFF for d in array.shape):
        raise data_error(path, f"cannot write shape {array.shape} as IDX (need 1 to 255 dimensions, "
                               "each below 2**32)")
    if compress is None:
        compress = path.endswith(".gz")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if compress:
        payload = gzip.compress(payload, mtime=0)
    atomic_write(path, lambda f: f.write(payload))
