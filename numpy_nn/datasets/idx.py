"""The IDX file format (the format MNIST is published in): :func:`read_idx` and :func:`write_idx`.

An IDX file is a 4-byte magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then
the data in C order, big-endian; MNIST's files are gzipped. Imports NumPy and the standard library only.
"""
from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np

from ..fileio import atomic_write
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
        raise data_error(path, "missing: no such file") from None
    except OSError as e:
        raise data_error(path, f"cannot read: {e}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise data_error(path, f"corrupt gzip data: {e}") from None


def _parse_idx_header(path, data):
    """Validate the IDX magic and dims; return ``(dtype, dims, offset_of_data)``."""
    if len(data) < 4:
        raise data_error(path, f"not an IDX file: only {len(data)} bytes, no 4-byte magic")
    zero0, zero1, code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise data_error(path, f"not an IDX file: wrong magic {data[:4].hex(' ')} "
                               "(expected 00 00 <type> <ndim>)")
    if code not in _IDX_DTYPES:
        raise data_error(path, f"not an IDX file: unknown type code 0x{code:02x} in magic "
                               f"{data[:4].hex(' ')} (known: 08 09 0b 0c 0d 0e)")
    if ndim < 1:
        raise data_error(path, "not an IDX file: magic says 0 dimensions")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise data_error(path, f"truncated: magic says {ndim} dimensions ({offset} header bytes) "
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
    path = abspath(path)
    data = _read_bytes(path)
    dtype, dims, offset = _parse_idx_header(path, data)
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
    found = len(data) - offset
    if found < expected:
        raise data_error(path, f"truncated: header says {_describe_dims(dims, dtype.itemsize)} "
                               f"but only {found:,} bytes follow")
    if found > expected:
        raise data_error(path, f"trailing bytes: header says {_describe_dims(dims, dtype.itemsize)} "
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
