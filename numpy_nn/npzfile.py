"""Reading an ``.npz`` file that may be hostile: look first, then allocate.

An ``.npz`` is a zip archive of ``.npy`` members. ``numpy.load`` trusts it: it decompresses a
member as soon as it is asked for, allocates whatever the member's header says, and raises
whatever the zip, zlib or ``.npy`` parsers raise. :class:`NpzReader` instead reads, before any
array data is decompressed or allocated:

1. the archive's member list (names, declared sizes, compression methods; a duplicate name, a
   method other than stored or deflate (or than stored alone, with ``compressed=False``), a member
   whose compressed bytes would lie beyond the end of the file, or a declared size no deflate
   stream of that compressed size can produce is refused: so with ``compressed=False`` no member
   can make the reader allocate more than the file's own size);
2. each member's ``.npy`` header only (magic, version, shape, dtype, order: at most a few hundred
   bytes are decompressed), checked to describe exactly the member's declared size.

The caller then compares those headers with what *it* expects (a checkpoint's JSON header, MNIST's
shapes) and only then calls :meth:`NpzReader.read`, which allocates the array once and fills it
in bounded chunks; a stream that ends early, runs long or fails its CRC is refused. Every problem
(including ``MemoryError`` when the allocation is refused) is raised as the exception the caller's
``error(message)`` builds, so a loader's users see only its documented error type.
"""
from __future__ import annotations

import os
import stat
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

#: The largest size a deflate stream can expand to per compressed byte is 1032 (RFC 1951: a
#: 258-byte match costs at least 2 bits); a member claiming more than this is refused unread.
DEFLATE_MAX_RATIO = 1032
#: Bytes read per chunk while filling an array (bounded extra memory whatever the array's size).
CHUNK = 1 << 20
#: ``.npy`` headers longer than this are refused (NumPy's own default limit).
MAX_NPY_HEADER = 10_000
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, RuntimeError,
                NotImplementedError, OverflowError, KeyError, IndexError, TypeError, SyntaxError)


class NpyHeader(NamedTuple):
    """One member's ``.npy`` header: what :meth:`NpzReader.read` will return, before reading it."""

    name: str        # the array's name (the member name without ``.npy``)
    shape: tuple
    dtype: np.dtype
    fortran_order: bool
    nbytes: int      # bytes of array data the header implies


class NpzReader:
    """``with NpzReader(path, error) as npz:`` ``npz.headers`` (name -> :class:`NpyHeader`), then
    ``npz.read(name)`` for the arrays the caller has decided to accept.

    ``error(message)`` must return the exception to raise (it should name the file);
    ``allowed_kinds`` restricts the dtypes (NumPy kind letters; object arrays are never allowed);
    ``compressed=False`` accepts stored members only (``numpy.savez``'s, not ``savez_compressed``'s);
    ``what`` names the file in the message for a file that is no zip at all."""

    def __init__(self, path, error, allowed_kinds="biuf", compressed=True, what=".npz archive"):
        self.path, self.error, self.allowed_kinds = path, error, allowed_kinds
        self._methods = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) if compressed else (zipfile.ZIP_STORED,)
        self._zip = None
        try:
            info = os.stat(path)
            regular = stat.S_ISREG(info.st_mode)
            self._size = info.st_size
            self._zip = zipfile.ZipFile(path) if regular else None  # a FIFO would block for ever
        except (MemoryError,) + _READ_ERRORS as e:
            raise error(f"not a readable {what} ({type(e).__name__}: {e})"[:300]) from None
        if not regular:
            raise error(f"not a readable {what} (not a regular file: a folder, FIFO or device)")
        try:
            self._infos = self._check_members(self._zip.infolist())
            self.headers = {name: self._read_header(name, info) for name, info in self._infos.items()}
        except BaseException:
            self.close()
            raise

    # --- the member list -------------------------------------------------------------------------
    def _check_members(self, infos):
        members = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or "/" in name:
                raise self.error(f"member {name!r:.80} is not an .npy array at the archive's top level")
            if name[:-4] in members:
                raise self.error(f"member {name!r:.80} appears twice in the archive")
            if info.compress_type not in self._methods:
                allowed = "stored and deflate are" if len(self._methods) == 2 else "stored (uncompressed) is"
                raise self.error(f"member {name!r:.80} uses compression method {info.compress_type} "
                                 f"(only {allowed} read)")
            if info.header_offset + info.compress_size > self._size:
                raise self.error(f"member {name!r:.80} claims {info.compress_size:,} bytes at offset "
                                 f"{info.header_offset:,}, beyond the end of the {self._size:,}-byte file")
            limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else \
                DEFLATE_MAX_RATIO * info.compress_size + 64
            if info.file_size > limit:
                raise self.error(f"member {name!r:.80} claims {info.file_size:,} bytes from "
                                 f"{info.compress_size:,} compressed bytes, which cannot be")
            members[name[:-4]] = info
        return members

    # --- one member's .npy header ------------------------------------------------------------------
    def _read_header(self, name, info):
        fmt = np.lib.format
        try:
            with self._zip.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = fmt.read_array_header_1_0(f, max_header_size=MAX_NPY_HEADER)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = fmt.read_array_header_2_0(f, max_header_size=MAX_NPY_HEADER)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                offset = f.tell()
        except _READ_ERRORS as e:
            raise self.error(f"array {name!r:.80}: unreadable .npy header ({type(e).__name__}: {e})"[:300]) from None
        if dtype.hasobject or dtype.kind not in self.allowed_kinds or dtype.fields is not None:
            raise self.error(f"array {name!r:.80}: dtype {dtype} is not allowed")
        if any(d < 0 for d in shape):
            raise self.error(f"array {name!r:.80}: negative size in shape {tuple(shape)}")
        count = 1
        for d in shape:
            count *= d  # Python integers: no overflow (read_array_header checked they are ints >= 0)
        nbytes = count * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise self.error(f"array {name!r:.80}: its header says {dtype} {tuple(shape)} "
                             f"({nbytes:,} bytes) but the member holds {info.file_size - offset:,}")
        return NpyHeader(name, tuple(shape), dtype, bool(fortran), nbytes)

    # --- the data ----------------------------------------------------------------------------------
    def read(self, name):
        """The array ``name``, allocated once and filled chunk by chunk; the CRC is checked."""
        head = self.headers[name]
        try:
            array = np.empty(head.shape[::-1] if head.fortran_order else head.shape, head.dtype)
        except (MemoryError, ValueError) as e:
            raise self.error(f"array {name!r:.80}: cannot allocate {head.nbytes:,} bytes "
                             f"({type(e).__name__})") from None
        view = memoryview(array.reshape(-1).view(np.uint8)) if head.nbytes else None
        try:
            with self._zip.open(self._infos[name]) as f:
                f.read(self._infos[name].file_size - head.nbytes)  # skip the header (a few hundred bytes)
                done = 0
                while done < head.nbytes:
                    got = f.readinto(view[done:done + CHUNK])
                    if not got:
                        raise EOFError(f"data ends after {done:,} of {head.nbytes:,} bytes")
                    done += got
                if f.read(1):
                    raise ValueError("more data than its header says")
        except (MemoryError,) + _READ_ERRORS as e:
            raise self.error(f"array {name!r:.80}: damaged data ({type(e).__name__}: {e})"[:300]) from None
        return array.T if head.fortran_order else array

    def close(self):
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

