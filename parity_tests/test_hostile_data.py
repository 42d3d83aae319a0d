"""Hostile data: files and mirrors built to hurt the loaders of numpy_nn.datasets.

What is promised (issue 11, classes 1, 2, 7 and 8):

* **Sizes are checked before they are allocated.** An IDX header's size is compared with what the
  file can hold (raw: exactly; gzip: deflate's 1032:1 at most) before the array is allocated; the
  MNIST loader checks both headers of a split (dtype, dims, the same N >= 1) before reading either
  file's data, and a ``mnist.npz`` from its ``.npy`` headers before decompressing a member; data is
  streamed and reading stops one byte past the announced size. Under a memory limit (``RLIMIT_AS``
  in a child process) a gzip bomb gives ``DataError``, never ``MemoryError``, with bounded memory.
* **Only DataError escapes**, naming the file and the field, from ``read_idx``, ``load_folder``
  and ``load_mnist`` -- checked here for every truncation length and every flipped byte of small
  files, on top of the hypothesis properties in ``test_reliability.py``.
* **An empty split is refused** ("0 images").
* **A download gives up**: after ``timeout`` seconds without a byte, after ``deadline`` seconds per
  file however slowly bytes trickle, on a wrong Content-Length, and past ``max_bytes``; when every
  mirror fails, ``load_mnist`` ends at the bundled sample with a note on stderr. Each test here
  passes timeouts of a fraction of a second and finishes in about a second.

Everything hostile is built in ``tmp_path`` and is small on disk.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from numpy_nn import datasets as ds
from numpy_nn.datasets import DataError, download_mnist, load_mnist, read_idx, write_idx
from numpy_nn.datasets.idx import IdxReader
from numpy_nn.datasets.mnist import load_folder
from numpy_nn.npzfile import NpzReader

from .test_datasets import write_fake_folder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_env(isolated_data_env):
    """Every test here runs in :func:`conftest.isolated_data_env`."""


def idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def fake_mnist(n_train=3, n_test=2, seed=0):
    rng = np.random.default_rng(seed)
    def split(n):
        return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)
    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def data_error_message(call, path, *words):
    """``call()`` raises a one-line DataError naming ``path`` and containing ``words``."""
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    return message


# ----------------------------------------------------------------------------------------------
# Class 1: sizes are validated before anything is allocated
# ----------------------------------------------------------------------------------------------

def test_a_small_gzip_claiming_more_than_deflate_can_inflate_is_refused_before_allocation(tmp_path, monkeypatch):
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(idx_header(0x08, (2**31,)) + bytes(1000), mtime=0))
    monkeypatch.setattr(IdxReader, "_allocate", lambda self, head: pytest.fail("allocated"))
    data_error_message(lambda: read_idx(bad), bad, "truncated", "2,147,483,648 items",
                       "can hold at most", "1032:1")


def test_a_raw_idx_whose_header_disagrees_with_the_file_size_is_refused_before_allocation(tmp_path, monkeypatch):
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(idx_header(0x08, (10**9, 28, 28)) + bytes(784))
    monkeypatch.setattr(IdxReader, "_allocate", lambda self, head: pytest.fail("allocated"))
    data_error_message(lambda: read_idx(bad), bad, "truncated", "1,000,000,000 images of 28x28",
                       "only 784 bytes follow")


def test_gzip_data_is_read_only_up_to_the_announced_size_plus_one_byte(tmp_path, monkeypatch):
    """A gzip that keeps inflating after its honest header: at most one byte past the data is
    decoded, then the file is refused (a reader that inflates it all would decode 1 GiB here)."""
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(_labels_bomb(inflated_mib=1024))
    decoded = []
    original = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda f, n=-1: decoded.append(n) or original(f, n))
    data_error_message(lambda: read_idx(bad), bad, "trailing bytes", "3 items")
    assert -1 not in decoded and sum(decoded) <= 4 + 4 + 3 + 1 + (1 << 20), decoded


def _labels_bomb(inflated_mib, count=3):
    """An honest labels header and ``count`` labels, then gzip members inflating to
    ``inflated_mib`` MiB of zeros (members concatenate; each 16 MiB member is ~16 KB)."""
    honest = gzip.compress(idx_header(0x08, (count,)) + bytes(range(count)), mtime=0)
    member = gzip.compress(bytes(16 << 20), compresslevel=9, mtime=0)
    return honest + member * (inflated_mib // 16)


def test_the_mnist_loader_checks_both_headers_of_a_split_before_reading_either(tmp_path, monkeypatch):
    paths = write_fake_folder(tmp_path / "d", fake_mnist())
    paths["y_train"].unlink()
    labels = paths["y_train"].with_suffix("")  # raw: its header claims 2**32 - 1 labels
    labels.write_bytes(idx_header(0x08, (2**32 - 1,)))
    monkeypatch.setattr(IdxReader, "read", lambda self: pytest.fail(f"read {self.path}"))
    data_error_message(lambda: load_mnist(tmp_path / "d", verbose=False), labels, "truncated",
                       "4,294,967,295 items")
    labels.write_bytes(idx_header(0x08, (4,)) + bytes(4))  # honest, but 4 labels for 3 images
    data_error_message(lambda: load_mnist(tmp_path / "d", verbose=False), labels,
                       "count mismatch", "4 labels", "3 images")


def _npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("role, value, words", [
    ("y_train", np.zeros(4, np.uint8), ["[y_train]", "count mismatch", "4 labels", "3 images"]),
    ("x_test", np.zeros((2, 28, 27), np.uint8), ["[x_test]", "wrong dims", "28x27"]),
    ("y_test", np.zeros(2, np.int64), ["[y_test]", "wrong dtype", "int64"]),
])
def test_a_mnist_npz_is_checked_from_its_npy_headers_before_any_member_is_read(tmp_path, monkeypatch,
                                                                               role, value, words):
    arrays = fake_mnist()
    arrays[role] = value
    (tmp_path / "mnist.npz").write_bytes(_npz_bytes(arrays))
    monkeypatch.setattr(NpzReader, "read", lambda self, name: pytest.fail(f"read {name}"))
    data_error_message(lambda: load_mnist(tmp_path, verbose=False), tmp_path / "mnist.npz", *words)


def test_a_small_mnist_npz_claiming_a_huge_member_is_refused_unread(tmp_path, monkeypatch):
    """The zip directory says x_train inflates to 2 GiB; its 1 KB of deflate data cannot."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 28, 28), np.uint8))
    header["shape"] = (2_800_000, 28, 28)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, header)
    path = tmp_path / "mnist.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x_train.npy", head.getvalue() + bytes(1000))
    blob = bytearray(path.read_bytes())
    size = len(head.getvalue()) + 2_800_000 * 784
    for at in (blob.find(b"PK\x03\x04") + 22, blob.find(b"PK\x01\x02") + 24):  # uncompressed size
        blob[at:at + 4] = struct.pack("<I", size)
    path.write_bytes(bytes(blob))
    monkeypatch.setattr(NpzReader, "read", lambda self, name: pytest.fail(f"read {name}"))
    data_error_message(lambda: load_mnist(path, verbose=False), path, "not a valid mnist.npz",
                       "cannot be")


# --- under a memory limit, in a child process ----------------------------------------------------

_CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from numpy_nn.datasets import DataError, read_idx
    from numpy_nn.datasets.mnist import load_folder
    def vm_bytes():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    limit = vm_bytes() + {headroom}
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        {call}
        print("LOADED")
    except DataError as e:
        print("DATAERROR", e)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("PEAK_GROWTH_KB", after - before)
""")
HEADROOM = 300 << 20


def run_under_memory_limit(call):
    """Run ``call`` (Python source) in a child whose address space is capped at its own size after
    importing numpy_nn plus 300 MB; returns ``(DataError message, peak RSS growth in MB)``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _CHILD.format(headroom=HEADROOM, call=call)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert "DATAERROR" in lines, done.stdout
    return lines["DATAERROR"], int(lines["PEAK_GROWTH_KB"]) / 1024


def test_under_a_memory_limit_a_gzip_bomb_after_an_honest_header_is_a_data_error(tmp_path):
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(_labels_bomb(inflated_mib=1024))  # 1 GiB of zeros in 1 MB, over the 300 MB headroom
    message, growth_mb = run_under_memory_limit(f"read_idx({str(bad)!r})")
    assert message.startswith(f"{bad}: trailing bytes"), message
    assert growth_mb < 50, growth_mb


def test_under_a_memory_limit_a_bomb_in_a_mnist_folder_is_a_data_error(tmp_path):
    paths = write_fake_folder(tmp_path / "d", fake_mnist())
    paths["y_train"].write_bytes(_labels_bomb(inflated_mib=1024))
    message, growth_mb = run_under_memory_limit(f"load_folder({str(tmp_path / 'd')!r})")
    assert message.startswith(f"{paths['y_train']}: trailing bytes"), message
    assert growth_mb < 50, growth_mb


def test_under_a_memory_limit_a_header_claiming_more_than_the_limit_is_a_data_error(tmp_path):
    """600 MB announced in a 700 KB gzip of random bytes: within deflate's ratio, so the header is
    plausible, but the allocation is over the limit; the MemoryError must arrive as DataError."""
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    noise = np.random.default_rng(0).bytes(700_000)
    bad.write_bytes(gzip.compress(idx_header(0x08, (600_000_000,)) + noise, compresslevel=1, mtime=0))
    message, growth_mb = run_under_memory_limit(f"read_idx({str(bad)!r})")
    assert message.startswith(f"{bad}: cannot allocate 600,000,000 bytes"), message
    assert growth_mb < 50, growth_mb


# ----------------------------------------------------------------------------------------------
# Class 2: only DataError, naming the file and the field
# ----------------------------------------------------------------------------------------------

SMALL = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)


@pytest.mark.parametrize("compress", [True, False])
def test_every_truncation_of_an_idx_file_is_a_data_error(tmp_path, compress):
    write_idx(tmp_path / "src", SMALL, compress=compress)
    blob = (tmp_path / "src").read_bytes()
    path = tmp_path / "cut"
    for cut in range(len(blob)):
        path.write_bytes(blob[:cut])
        data_error_message(lambda: read_idx(path), path)


@pytest.mark.parametrize("compress", [True, False])
def test_every_flipped_byte_of_an_idx_file_is_a_data_error_or_a_valid_array(tmp_path, compress):
    write_idx(tmp_path / "src", SMALL, compress=compress)
    blob = (tmp_path / "src").read_bytes()
    path = tmp_path / "flipped"
    for at in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            path.write_bytes(blob[:at] + bytes([blob[at] ^ mask]) + blob[at + 1:])
            try:
                out = read_idx(path)
            except DataError as e:
                assert str(e).startswith(str(path)), e
            else:  # a data byte, a gzip header's mtime or OS byte, int8 for uint8: still valid
                assert isinstance(out, np.ndarray) and out.size == SMALL.size, (at, mask)


@pytest.mark.parametrize("role", ["x_train", "y_test"])
def test_every_truncation_of_a_file_in_a_mnist_folder_is_a_data_error_naming_it(tmp_path, role):
    paths = write_fake_folder(tmp_path / "d", fake_mnist(n_train=2, n_test=1))
    blob = paths[role].read_bytes()
    for cut in range(len(blob)):
        paths[role].write_bytes(blob[:cut])
        data_error_message(lambda: load_folder(tmp_path / "d"), paths[role])


FIELD_DAMAGE = {
    # name: (role, bytes for that file, words naming the field)
    "magic": ("x_train", idx_header(0x08, (3, 28, 28))[:1] + b"\x07" + bytes(3), ["wrong magic"]),
    "type code": ("y_train", b"\x00\x00\x0a\x01" + struct.pack(">I", 3) + bytes(3),
                  ["unknown type code 0x0a"]),
    "dims": ("x_test", idx_header(0x08, (2, 784)) + bytes(2 * 784), ["wrong dims", "(2, 784)"]),
    "count": ("x_train", idx_header(0x08, (0, 28, 28)), ["0 images"]),
    "count mismatch": ("y_train", idx_header(0x08, (5,)) + bytes(5), ["count mismatch", "5 labels"]),
    "dtype": ("y_test", idx_header(0x0C, (2,)) + bytes(8), ["wrong dtype", "int32"]),
    "labels range": ("y_test", idx_header(0x08, (2,)) + b"\x03\xff", ["labels out of range", "255"]),
    "truncated dims": ("x_test", b"\x00\x00\x08\x03" + bytes(5), ["truncated", "3 dimensions"]),
}


@pytest.mark.parametrize("damage", list(FIELD_DAMAGE))
def test_load_mnist_names_the_file_and_the_field_for(tmp_path, damage):
    role, blob, words = FIELD_DAMAGE[damage]
    paths = write_fake_folder(tmp_path / "d", fake_mnist(), gz=False)
    paths[role].write_bytes(blob)
    data_error_message(lambda: load_mnist(tmp_path / "d", verbose=False), paths[role], *words)


@pytest.mark.parametrize("name", ["mnist\0data", "x" * 5000], ids=["NUL byte", "5000-char name"])
def test_a_path_that_cannot_even_be_looked_at_is_a_data_error_from_every_loader(name):
    for load in (read_idx, load_folder, lambda p: load_mnist(p, verbose=False)):
        with pytest.raises(DataError, match="cannot read"):
            load(name)


def test_a_cache_folder_that_cannot_be_looked_at_is_skipped_for_the_bundled_sample():
    *_, source = load_mnist(cache_dir="y" * 5000, download=False, verbose=False, return_source=True)
    assert source.kind == "bundled-sample"


# ----------------------------------------------------------------------------------------------
# Class 7: empty splits
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("split", ["train", "test"])
def test_an_idx_split_with_0_images_is_refused_naming_the_file(tmp_path, split):
    arrays = fake_mnist()
    arrays[f"x_{split}"], arrays[f"y_{split}"] = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    paths = write_fake_folder(tmp_path / "d", arrays)
    np.testing.assert_array_equal(read_idx(paths[f"x_{split}"]), arrays[f"x_{split}"])  # IDX allows it
    data_error_message(lambda: load_mnist(tmp_path / "d", verbose=False), paths[f"x_{split}"], "0 images")


def test_a_mnist_npz_split_with_0_images_is_refused(tmp_path):
    arrays = fake_mnist()
    arrays["x_test"], arrays["y_test"] = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    (tmp_path / "mnist.npz").write_bytes(_npz_bytes(arrays))
    data_error_message(lambda: load_mnist(tmp_path, verbose=False), tmp_path / "mnist.npz",
                       "[x_test]", "0 images")


# ----------------------------------------------------------------------------------------------
# Class 8: downloads that give up, against hostile local mirrors
# ----------------------------------------------------------------------------------------------

class _HostileHandler(http.server.BaseHTTPRequestHandler):
    """``/<mode>/<name>``: ``ok`` serves the file; ``trickle`` one byte every 50 ms (for at most
    3 s); ``silent`` accepts and never answers (until the test ends, at most 5 s); ``long-length``
    announces 1,000 bytes more than it sends and holds the connection open; ``short-length``
    announces fewer bytes than the file has; ``no-length`` sends the file without Content-Length."""

    def do_GET(self):
        self.server.hits.append(self.path)
        mode, _, name = self.path.strip("/").partition("/")
        body = self.server.bodies.get(name)
        if body is None:
            self.send_error(404)
            return
        if mode == "silent":
            self.server.stop.wait(5)
            return
        self.send_response(200)
        length = {"long-length": len(body) + 1000, "short-length": len(body) // 2,
                  "no-length": None}.get(mode, len(body))
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if mode == "trickle":
            self._trickle(body, seconds=3.0)
            return
        self.wfile.write(body)
        if mode == "long-length":
            self.server.stop.wait(5)

    def _trickle(self, body, seconds):
        end = time.monotonic() + seconds
        for i in range(len(body)):
            if time.monotonic() > end or self.server.stop.is_set():
                return
            try:
                self.wfile.write(body[i:i + 1])
            except OSError:  # the client gave up: what the test wants
                return
            time.sleep(0.05)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A hostile HTTP server on 127.0.0.1 serving a fake data set's four .gz files; yields
    ``(server, sums)``."""
    paths = write_fake_folder(tmp_path / "served", fake_mnist(seed=7))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    httpd.daemon_threads = True
    httpd.bodies = {p.name: p.read_bytes() for p in paths.values()}
    httpd.hits, httpd.stop = [], threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd, {name: hashlib.sha256(b).hexdigest() for name, b in httpd.bodies.items()}
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


IMAGES = "train-images-idx3-ubyte.gz"


def _timed_download(mirror, modes, **limits):
    server, sums = mirror
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "cache"
    start = time.monotonic()
    try:
        download_mnist(cache, [f"{server.url}/{m}/" for m in modes], sha256=sums, verbose=False, **limits)
        error = None
    except DataError as e:
        error = str(e)
    return error, time.monotonic() - start, cache


def test_a_trickling_mirror_is_given_up_at_the_deadline(mirror):
    """One byte per 50 ms never trips a 1 s read timeout; only the 0.5 s deadline stops it (without
    it this takes the server's full 3 s and ends in a short read)."""
    error, elapsed, cache = _timed_download(mirror, ["trickle"], timeout=1.0, deadline=0.5)
    assert error is not None and "too slow" in error and "deadline" in error, error
    assert elapsed < 2.5, elapsed  # the server trickles for 3 s: only the deadline stops it sooner
    assert list(cache.iterdir()) == []


def test_a_silent_mirror_is_given_up_after_the_first_byte_timeout(mirror):
    error, elapsed, _ = _timed_download(mirror, ["silent"], timeout=0.3, deadline=10)
    assert error is not None and "timed out" in error, error
    assert elapsed < 2.5, elapsed  # the server stays silent for 5 s


@pytest.mark.parametrize("mode, words", [("long-length", ["timed out"]),
                                         ("short-length", ["checksum mismatch"])])
def test_a_wrong_content_length_fails_the_mirror_quickly(mirror, mode, words):
    error, elapsed, cache = _timed_download(mirror, [mode], timeout=0.3, deadline=10)
    assert error is not None and all(w in error for w in words), error
    assert elapsed < 2.5, elapsed  # long-length holds the connection for 5 s
    assert list(cache.iterdir()) == []


def test_a_file_larger_than_max_bytes_is_refused_with_or_without_content_length(mirror):
    """With a Content-Length over the limit nothing is read; without one, reading stops past it."""
    for mode, words in [("ok", ["too large", "Content-Length", "more than the 1,000"]),
                        ("no-length", ["too large", "more than 1,000 bytes"])]:
        error, _, cache = _timed_download(mirror, [mode], max_bytes=1000)
        assert error is not None and all(w in error for w in words), (mode, error)
        assert list(cache.iterdir()) == []


def test_a_good_mirror_after_hostile_ones_still_delivers_and_failed_mirrors_are_not_asked_again(mirror):
    server, _ = mirror
    error, elapsed, cache = _timed_download(mirror, ["silent", "trickle", "ok"], timeout=0.3, deadline=0.5)
    assert error is None, error
    assert sorted(p.name for p in cache.iterdir()) == sorted(server.bodies)
    assert [h.split("/")[1] for h in server.hits] == ["silent", "trickle"] + ["ok"] * 4
    assert elapsed < 2.8, elapsed  # 0.3 + 0.5 (+ reads), once; not once per file (5 s silence without the timeout)


def test_load_mnist_falls_back_to_the_bundled_sample_in_bounded_time(mirror, tmp_path, monkeypatch, capsys):
    server, sums = mirror
    monkeypatch.delenv("NUMPY_NN_OFFLINE")
    monkeypatch.setattr(ds.download, "MNIST_SHA256", sums)
    monkeypatch.setattr(ds.download, "DOWNLOAD_TIMEOUT", 0.3)
    monkeypatch.setattr(ds.download, "DOWNLOAD_DEADLINE", 0.5)
    start = time.monotonic()
    *_, source = load_mnist(cache_dir=tmp_path / "cache", return_source=True,
                            mirrors=[f"{server.url}/{m}/" for m in ("trickle", "silent", "long-length")])
    elapsed = time.monotonic() - start
    assert source.kind == "bundled-sample"
    assert elapsed < 4.5, elapsed  # 3 mirrors x (deadline + timeout) = 2.4 s at most; 13 s without the limits
    err = capsys.readouterr().err
    assert err.count("trying the next mirror") == 3 and "download failed from every mirror" in err
    assert "too slow" in err and "timed out" in err and "SAMPLE" in err
    assert [h.split("/")[1] for h in server.hits] == ["trickle", "silent", "long-length"]
    assert list((tmp_path / "cache").iterdir()) == []


# --- found by the second round of hostile probes -------------------------------------------------
def test_a_fifo_named_like_a_data_file_is_refused_without_blocking(tmp_path):
    """open() on a FIFO blocks until a writer comes: the loaders look at the file's type first. In a
    child process with a timeout, so that a regression fails instead of hanging the suite."""
    code = f"""
import os, numpy_nn as nn
from numpy_nn.datasets import DataError, read_idx
from numpy_nn.datasets.mnist import load_folder
d = {str(tmp_path)!r}
for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte", "mnist.npz", "model.npz"):
    os.mkfifo(os.path.join(d, stem))
for call in (lambda: read_idx(os.path.join(d, "train-images-idx3-ubyte")), lambda: load_folder(d),
             lambda: load_folder(os.path.join(d, "mnist.npz"))):
    try:
        call()
    except DataError as e:
        print("DataError:", e)
try:
    nn.load_model(os.path.join(d, "model.npz"))
except nn.CheckpointError as e:
    print("CheckpointError:", e)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 4, result.stdout + result.stderr
    assert sum("not a regular file" in line for line in lines[:2]) == 2, lines
    assert lines[2].startswith("DataError:") and lines[3].startswith("CheckpointError:"), lines


def test_an_idx_header_with_more_dimensions_than_numpy_allows_names_the_dims(tmp_path):
    path = tmp_path / "deep.idx"
    path.write_bytes(bytes([0, 0, 0x08, 65]) + struct.pack(">65I", *[1] * 65) + b"\0")
    with pytest.raises(DataError, match="dims: 65 dimensions, more than a NumPy array can have"):
        read_idx(path)
