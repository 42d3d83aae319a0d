"""numpy_nn.datasets (the package: idx, mnist, download, preprocessing, sample): IDX reading/writing, MNIST loading and its fallback order, the verified
download (against a local HTTP server only), the bundled sample, and the tutorial preprocessing.

No test touches the internet or the real ~/.cache: an autouse fixture sets NUMPY_NN_OFFLINE=1 and
points XDG_CACHE_HOME into tmp_path; the download tests lift the first and pass mirrors on
127.0.0.1.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from numpy_nn import datasets as ds
from numpy_nn.fileio import atomic_write
from numpy_nn.datasets import (
    DataError, MnistSource, download_mnist, flatten_images, load_mnist, make_sample, one_hot, read_idx, scale_pixels, standardize, write_idx,
)

REPO = Path(__file__).resolve().parents[1]
# Published class counts: the first 20,000 training labels (SOURCE.md) and the official test set.
TRAIN_20K_COUNTS = [1994, 2281, 1929, 2076, 1945, 1775, 1971, 2093, 1922, 2014]
TEST_10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
GZ_NAMES = [stem + ".gz" for stem in ds.MNIST_FILES.values()]


# ----------------------------------------------------------------------------------------------
# Fixtures and helpers
# ----------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def isolated_env(isolated_data_env):
    """Every test here runs in :func:`conftest.isolated_data_env`."""


@pytest.fixture(scope="module")
def real_dir():
    candidate = os.environ.get("NUMPY_NN_TEST_DATA") or str(REPO.parent / "shared/data/mnist-20k")
    path = Path(candidate)
    if not (path / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST folder not found at {path} (set NUMPY_NN_TEST_DATA)")
    return path


@pytest.fixture(scope="module")
def real_mnist(real_dir):
    return load_mnist(real_dir, verbose=False, return_source=True)


def fake_mnist(seed=0, n_train=12, n_test=7):
    """Random uint8 images and labels with every digit present when n >= 10."""
    rng = np.random.default_rng(seed)
    def split(n):
        labels = (np.arange(n) % 10).astype(np.uint8)
        return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.permutation(labels)
    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write_fake_folder(folder, arrays, gz=True):
    """Write ``arrays`` as the four MNIST IDX files; return {role: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, stem in ds.MNIST_FILES.items():
        paths[role] = folder / (stem + (".gz" if gz else ""))
        write_idx(paths[role], arrays[role])
    return paths


def assert_loaded_equal(loaded, arrays):
    (x_train, y_train), (x_test, y_test) = loaded
    for got, role in [(x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"),
                      (y_test, "y_test")]:
        assert got.dtype == np.uint8, role
        np.testing.assert_array_equal(got, arrays[role], err_msg=role)


def raises_data_error(call, path, *words):
    """Assert ``call()`` raises a one-line DataError naming ``path`` and containing ``words``."""
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert str(path) in message, f"message does not name {path}: {message}"
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    return message


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------------
# The real folder
# ----------------------------------------------------------------------------------------------

def test_real_folder_loads_20000_train_and_10000_test_uint8_images(real_mnist, real_dir):
    (x_train, y_train), (x_test, y_test), source = real_mnist
    assert source == MnistSource("data_dir", str(real_dir.resolve()))
    assert x_train.shape == (20000, 28, 28) and y_train.shape == (20000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert x_train.max() == 255 and y_train.max() == 9


def test_real_labels_have_the_published_class_counts(real_mnist):
    (_, y_train), (_, y_test), _ = real_mnist
    assert np.bincount(y_train, minlength=10).tolist() == TRAIN_20K_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == TEST_10K_COUNTS


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
def test_real_test_files_match_the_published_sha256(real_dir, name):
    assert sha256((real_dir / name).read_bytes()) == ds.MNIST_SHA256[name]


# ----------------------------------------------------------------------------------------------
# IDX round trips
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_idx_then_read_idx_gives_back_the_exact_array(tmp_path, dtype, name):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.flags.writeable
    np.testing.assert_array_equal(back, array)
    assert (tmp_path / name).read_bytes().startswith(b"\x1f\x8b") == name.endswith(".gz")
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left behind


def test_read_idx_detects_gzip_by_magic_not_by_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "gzipped.raw", array, compress=True)
    write_idx(tmp_path / "raw.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "gzipped.raw"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw.gz"), array)


def test_write_idx_gzip_output_is_byte_identical_for_equal_arrays(tmp_path):
    array = np.arange(784, dtype=np.uint8).reshape(1, 28, 28)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_write_idx_rejects_dtypes_idx_cannot_hold(tmp_path):
    raises_data_error(lambda: write_idx(tmp_path / "a.idx", np.zeros(3, np.int64)),
                      tmp_path / "a.idx", "int64")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_atomic_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "a.idx"
    write_idx(target, np.arange(3, dtype=np.uint8))
    def explode(f):
        f.write(b"half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert [p.name for p in tmp_path.iterdir()] == ["a.idx"]
    np.testing.assert_array_equal(read_idx(target), [0, 1, 2])


# ----------------------------------------------------------------------------------------------
# Damaged IDX files: each raises DataError naming the file
# ----------------------------------------------------------------------------------------------

IMAGES = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)


def _idx_bytes(tmp_path, array=IMAGES, gz=False):
    write_idx(tmp_path / "src", array, compress=gz)
    return (tmp_path / "src").read_bytes()


DAMAGE = {
    # name: (bytes to write, given the helper; words the message must contain)
    "truncated data": (lambda t: _idx_bytes(t)[:-5],
                       ["truncated", "2 images of 28x28 (1,568 bytes)", "1,563 bytes follow"]),
    "truncated data inside intact gzip": (
        lambda t: gzip.compress(_idx_bytes(t)[:100]), ["truncated", "84 bytes follow"]),
    "truncated header": (lambda t: _idx_bytes(t)[:9], ["truncated", "3 dimensions"]),
    "trailing bytes": (lambda t: _idx_bytes(t) + b"\0\0\0", ["trailing bytes", "3 too many"]),
    "truncated gzip stream": (lambda t: _idx_bytes(t, gz=True)[:-20], ["corrupt gzip"]),
    "corrupt gzip stream": (lambda t: _flip(_idx_bytes(t, gz=True), 30), ["corrupt gzip"]),
    "random bytes": (lambda t: np.random.default_rng(5).bytes(3000), ["not an IDX file"]),
    "text": (lambda t: b"train-images, but as a CSV\n1,2,3\n", ["not an IDX file", "74 72"]),
    "empty": (lambda t: b"", ["not an IDX file", "only 0 bytes"]),
    "wrong magic": (lambda t: b"\x00\x01" + _idx_bytes(t)[2:], ["wrong magic", "00 01 08 03"]),
    "unknown type code": (lambda t: b"\x00\x00\x07" + _idx_bytes(t)[3:],
                          ["unknown type code 0x07"]),
    "zero dimensions": (lambda t: b"\x00\x00\x08\x00", ["0 dimensions"]),
}


def _flip(data, at):
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_read_idx_raises_data_error_naming_the_file_for(tmp_path, damage):
    make_bytes, words = DAMAGE[damage]
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(make_bytes(tmp_path))
    raises_data_error(lambda: read_idx(bad), bad, *words)


def test_read_idx_raises_data_error_for_a_missing_file(tmp_path):
    raises_data_error(lambda: read_idx(tmp_path / "nope.gz"), tmp_path / "nope.gz", "missing")


def test_read_idx_raises_data_error_for_a_folder(tmp_path):
    raises_data_error(lambda: read_idx(tmp_path), tmp_path, "cannot read")


# ----------------------------------------------------------------------------------------------
# MNIST folders: valid layouts load, every inconsistency raises DataError naming the file
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_a_folder_of_four_idx_files_loads_gz_or_raw(tmp_path, gz):
    arrays = fake_mnist()
    write_fake_folder(tmp_path / "d", arrays, gz=gz)
    assert_loaded_equal(load_mnist(tmp_path / "d", verbose=False), arrays)


def test_a_folder_with_keras_style_mnist_npz_loads(tmp_path):
    arrays = fake_mnist()
    np.savez(tmp_path / "mnist.npz", **arrays)
    loaded = load_mnist(tmp_path, verbose=False, return_source=True)
    assert_loaded_equal(loaded[:2], arrays)
    assert loaded[2] == MnistSource("data_dir", str(tmp_path))


def _replace(role, value):
    arrays = fake_mnist()
    arrays[role] = value
    return arrays


FOLDER_DAMAGE = {
    # name: (arrays to write, role of the file the message must name, words)
    "27x28 images": (lambda: _replace("x_train", np.zeros((12, 27, 28), np.uint8)),
                     "x_train", ["wrong dims", "28x28", "27x28"]),
    "2-D images": (lambda: _replace("x_test", np.zeros((7, 784), np.uint8)),
                   "x_test", ["wrong dims", "(7, 784)"]),
    "2-D labels": (lambda: _replace("y_train", np.zeros((12, 1), np.uint8)),
                   "y_train", ["wrong dims", "1-D"]),
    "int32 images": (lambda: _replace("x_train", np.zeros((12, 28, 28), np.int32)),
                     "x_train", ["wrong dtype", "int32"]),
    "count mismatch": (lambda: _replace("y_test", np.zeros(6, np.uint8)),
                       "y_test", ["count mismatch", "6 labels", "7 images"]),
    "label 10": (lambda: _replace("y_train", np.full(12, 10, np.uint8)),
                 "y_train", ["labels out of range", "0..9", "found 10"]),
}


@pytest.mark.parametrize("damage", list(FOLDER_DAMAGE))
def test_load_mnist_raises_data_error_naming_the_file_for(tmp_path, damage):
    make_arrays, role, words = FOLDER_DAMAGE[damage]
    paths = write_fake_folder(tmp_path / "d", make_arrays())
    raises_data_error(lambda: load_mnist(tmp_path / "d", verbose=False), paths[role], *words)


def test_load_mnist_names_the_missing_file_of_an_incomplete_folder(tmp_path):
    paths = write_fake_folder(tmp_path / "d", fake_mnist())
    paths["y_test"].unlink()
    raises_data_error(lambda: load_mnist(tmp_path / "d", verbose=False),
                      tmp_path / "d" / "t10k-labels-idx1-ubyte", "missing")


def test_load_mnist_passes_on_a_damaged_idx_file_in_a_folder(tmp_path):
    paths = write_fake_folder(tmp_path / "d", fake_mnist())
    paths["x_test"].write_bytes(paths["x_test"].read_bytes()[:-10])
    raises_data_error(lambda: load_mnist(tmp_path / "d", verbose=False), paths["x_test"],
                      "corrupt gzip")


def _npz_missing_key(path):
    arrays = fake_mnist()
    del arrays["y_test"]
    np.savez(path, **arrays)


def _npz_float_images(path):
    arrays = fake_mnist()
    arrays["x_train"] = arrays["x_train"].astype(np.float32) / 255
    np.savez(path, **arrays)


def _npz_pickled_objects(path):
    arrays = fake_mnist()
    arrays["y_train"] = np.array([object()] * 12, dtype=object)
    np.savez(path, **arrays)  # np.save pickles object arrays


NPZ_DAMAGE = {
    "missing key": (_npz_missing_key, ["missing key(s) y_test"]),
    "float images": (_npz_float_images, ["[x_train]", "wrong dtype", "float32"]),
    "pickled object array": (_npz_pickled_objects, ["not a valid mnist.npz", "'y_train'",
                                                    "dtype object is not allowed"]),
    "not a zip file": (lambda p: p.write_bytes(b"PK but not really a zip"),
                       ["not a valid mnist.npz"]),
}


@pytest.mark.parametrize("damage", list(NPZ_DAMAGE))
def test_mnist_npz_raises_data_error_naming_the_file_for(tmp_path, damage):
    write, words = NPZ_DAMAGE[damage]
    write(tmp_path / "mnist.npz")
    raises_data_error(lambda: load_mnist(tmp_path, verbose=False), tmp_path / "mnist.npz", *words)


# ----------------------------------------------------------------------------------------------
# Where load_mnist looks
# ----------------------------------------------------------------------------------------------

def test_data_dir_beats_env_beats_cache(tmp_path, monkeypatch):
    for name, n in [("arg", 11), ("env", 12), ("cache", 13)]:
        write_fake_folder(tmp_path / name, fake_mnist(n_train=n))
    monkeypatch.setenv("NUMPY_NN_DATA", str(tmp_path / "env"))
    def load(**kw):
        (x_train, _), _, source = load_mnist(cache_dir=tmp_path / "cache", verbose=False,
                                             return_source=True, **kw)
        return len(x_train), source.kind
    assert load(data_dir=tmp_path / "arg") == (11, "data_dir")
    assert load() == (12, "env")
    monkeypatch.delenv("NUMPY_NN_DATA")
    assert load() == (13, "cache")


def test_an_unusable_data_dir_raises_instead_of_falling_through(tmp_path, monkeypatch):
    write_fake_folder(tmp_path / "env", fake_mnist())
    write_fake_folder(tmp_path / "cache", fake_mnist())
    monkeypatch.setenv("NUMPY_NN_DATA", str(tmp_path / "env"))
    raises_data_error(lambda: load_mnist(tmp_path / "typo", cache_dir=tmp_path / "cache",
                                         verbose=False), tmp_path / "typo", "missing")


def test_an_unusable_env_location_raises_instead_of_falling_through(tmp_path, monkeypatch):
    write_fake_folder(tmp_path / "cache", fake_mnist())
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("NUMPY_NN_DATA", str(tmp_path / "empty"))
    raises_data_error(lambda: load_mnist(cache_dir=tmp_path / "cache", verbose=False),
                      tmp_path / "empty", "missing")


def test_the_default_cache_honours_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ds.default_cache_dir() == tmp_path / "xdg" / "numpy-nn" / "mnist"
    arrays = fake_mnist(seed=3)
    write_fake_folder(ds.default_cache_dir(), arrays)
    loaded = load_mnist(verbose=False, return_source=True)
    assert_loaded_equal(loaded[:2], arrays)
    assert loaded[2].kind == "cache"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ds.default_cache_dir() == tmp_path / "home" / ".cache" / "numpy-nn" / "mnist"


def test_offline_with_an_empty_cache_gives_the_bundled_sample(tmp_path, server, capsys):
    (x_train, y_train), (x_test, _), source = load_mnist(
        cache_dir=tmp_path / "cache", mirrors=[server.url + "/good/"], return_source=True)
    assert source == MnistSource("bundled-sample", str(ds.SAMPLE_PATH))
    assert x_train.shape == (5000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert server.hits == []  # NUMPY_NN_OFFLINE=1: not even a local request
    err = capsys.readouterr().err
    assert "SAMPLE" in err and "(bundled-sample): 5,000 train / 1,000 test images" in err


def test_download_false_gives_the_bundled_sample_without_a_request(tmp_path, server,
                                                                   monkeypatch):
    monkeypatch.delenv("NUMPY_NN_OFFLINE")
    *_, source = load_mnist(cache_dir=tmp_path / "cache", mirrors=[server.url + "/good/"],
                            download=False, verbose=False, return_source=True)
    assert source.kind == "bundled-sample" and server.hits == []


def test_a_damaged_cache_is_skipped_not_trusted(tmp_path, capsys):
    paths = write_fake_folder(tmp_path / "cache", fake_mnist())
    paths["x_train"].write_bytes(b"\x00\x00\x08\x03")
    *_, source = load_mnist(cache_dir=tmp_path / "cache", return_source=True)
    assert source.kind == "bundled-sample"
    assert "cache unusable" in capsys.readouterr().err


def test_verbose_load_prints_one_line_naming_the_source_and_counts(tmp_path, capsys):
    write_fake_folder(tmp_path / "d", fake_mnist())
    load_mnist(tmp_path / "d")
    expected = f"MNIST: {tmp_path / 'd'} (data_dir): 12 train / 7 test images\n"
    assert capsys.readouterr().err == expected
    load_mnist(tmp_path / "d", verbose=False)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------------------------
# Download, against a local HTTP server
# ----------------------------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, mode)``; mode "ok", or "drop": announce more bytes
    than are sent, then close the connection."""

    def do_GET(self):
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, mode = route
        extra = 1000 if mode == "drop" else 0
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "drop" else body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.hits = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def fake_files(tmp_path, server):
    """A fake data set as four .gz files, served under /good/, with damaged copies of
    train-images under /corrupt/ (one byte changed) and /drop/ (connection dropped); the other
    three files are served everywhere. Returns (arrays, {name: sha256})."""
    arrays = fake_mnist(seed=7)
    paths = write_fake_folder(tmp_path / "served", arrays)
    bodies = {p.name: p.read_bytes() for p in paths.values()}
    for prefix in ("good", "corrupt", "drop", "missing"):
        for name, body in bodies.items():
            server.routes[f"/{prefix}/{name}"] = (body, "ok")
    images = "train-images-idx3-ubyte.gz"
    server.routes[f"/corrupt/{images}"] = (_flip(bodies[images], len(bodies[images]) // 2), "ok")
    server.routes[f"/drop/{images}"] = (bodies[images], "drop")
    del server.routes[f"/missing/{images}"]
    return arrays, {name: sha256(body) for name, body in bodies.items()}


def test_download_puts_verified_files_in_the_cache_and_they_load(tmp_path, server, fake_files):
    arrays, sums = fake_files
    cache = tmp_path / "cache"
    assert download_mnist(cache, [server.url + "/good/"], sha256=sums, verbose=False) == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(GZ_NAMES)
    *loaded, source = load_mnist(cache_dir=cache, verbose=False, return_source=True)
    assert_loaded_equal(loaded, arrays)
    assert source == MnistSource("cache", str(cache))


def test_download_keeps_cached_files_whose_sha256_matches(tmp_path, server, fake_files):
    _, sums = fake_files
    download_mnist(tmp_path / "cache", [server.url + "/good/"], sha256=sums, verbose=False)
    server.hits.clear()
    download_mnist(tmp_path / "cache", [server.url + "/good/"], sha256=sums, verbose=False)
    assert server.hits == []


@pytest.mark.parametrize("damage", ["corrupt", "drop", "missing"])
def test_a_failed_download_leaves_nothing_in_the_cache_and_raises(tmp_path, server, fake_files,
                                                                  damage):
    _, sums = fake_files
    cache = tmp_path / "cache"
    words = {"corrupt": "checksum mismatch", "drop": "short read", "missing": "404"}[damage]
    raises_data_error(
        lambda: download_mnist(cache, [f"{server.url}/{damage}/"], sha256=sums, verbose=False),
        cache / "train-images-idx3-ubyte.gz", "download failed from every mirror", words)
    assert list(cache.iterdir()) == []  # train-images comes first: no file, no temp file


@pytest.mark.parametrize("damage", ["corrupt", "drop", "missing"])
def test_a_failed_mirror_falls_through_to_the_next_good_one(tmp_path, server, fake_files,
                                                            damage, capsys):
    _, sums = fake_files
    cache = tmp_path / "cache"
    download_mnist(cache, [f"{server.url}/{damage}/", f"{server.url}/good/"], sha256=sums)
    assert sorted(p.name for p in cache.iterdir()) == sorted(GZ_NAMES)
    assert {p.name: sha256(p.read_bytes()) for p in cache.iterdir()} == sums
    assert server.hits[:2] == [f"/{damage}/train-images-idx3-ubyte.gz",
                               "/good/train-images-idx3-ubyte.gz"]
    assert "trying the next mirror" in capsys.readouterr().err


def test_load_mnist_downloads_into_an_empty_cache_with_progress(tmp_path, server, fake_files,
                                                                monkeypatch, capsys):
    arrays, sums = fake_files
    monkeypatch.delenv("NUMPY_NN_OFFLINE")
    monkeypatch.setattr(ds.download, "MNIST_SHA256", sums)
    *loaded, source = load_mnist(cache_dir=tmp_path / "cache", mirrors=[server.url + "/good/"],
                                 return_source=True)
    assert_loaded_equal(loaded, arrays)
    assert source == MnistSource("download", str(tmp_path / "cache"))
    err = capsys.readouterr().err
    size = (tmp_path / "cache" / "train-labels-idx1-ubyte.gz").stat().st_size
    assert f"train-labels-idx1-ubyte.gz: {size:,} / {size:,} bytes (100%)" in err
    assert err.endswith("(download): 12 train / 7 test images\n")


def test_load_mnist_falls_back_to_the_sample_when_every_mirror_fails(tmp_path, server,
                                                                     fake_files, monkeypatch,
                                                                     capsys):
    _, sums = fake_files
    monkeypatch.delenv("NUMPY_NN_OFFLINE")
    monkeypatch.setattr(ds.download, "MNIST_SHA256", sums)
    *_, source = load_mnist(cache_dir=tmp_path / "cache", mirrors=[server.url + "/corrupt/"],
                            return_source=True)
    assert source.kind == "bundled-sample"
    assert "download failed" in capsys.readouterr().err
    assert list((tmp_path / "cache").iterdir()) == []


# ----------------------------------------------------------------------------------------------
# The bundled sample
# ----------------------------------------------------------------------------------------------

def test_the_bundled_sample_is_small_stratified_28x28_uint8():
    assert ds.SAMPLE_PATH.stat().st_size <= 1_050_000
    (x_train, y_train), (x_test, y_test), source = load_mnist(
        ds.SAMPLE_PATH, verbose=False, return_source=True)
    assert x_train.shape == (5000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == x_test.dtype == y_train.dtype == np.uint8
    for labels, source_counts in [(y_train, TRAIN_20K_COUNTS), (y_test, TEST_10K_COUNTS)]:
        sample_p = np.bincount(labels, minlength=10) / len(labels)
        source_p = np.array(source_counts) / sum(source_counts)
        assert np.abs(sample_p - source_p).max() < 0.01, (sample_p, source_p)


def test_make_sample_reproduces_the_bundled_sample(real_dir, tmp_path):
    make_sample(real_dir, tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as made, np.load(ds.SAMPLE_PATH) as bundled:
        assert sorted(made.files) == sorted(bundled.files) == sorted(ds.MNIST_FILES)
        for key in made.files:
            np.testing.assert_array_equal(made[key], bundled[key], err_msg=key)


def test_make_sample_runs_as_a_module_and_draws_exact_class_shares(tmp_path):
    arrays = fake_mnist(n_train=200, n_test=100)
    write_fake_folder(tmp_path / "src", arrays)
    pythonpath = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=pythonpath)
    done = subprocess.run(
        [sys.executable, "-m", "numpy_nn.datasets", "make-sample", str(tmp_path / "src"),
         str(tmp_path / "out.npz"), "--n-train", "50", "--n-test", "20"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path / "out.npz", verbose=False)
    assert np.bincount(y_train).tolist() == [5] * 10  # 20 of each digit in the source
    assert np.bincount(y_test).tolist() == [2] * 10
    # every drawn image is a source image with its own label
    rows = {img.tobytes(): lab for img, lab in zip(arrays["x_train"], arrays["y_train"])}
    assert all(rows[img.tobytes()] == lab for img, lab in zip(x_train, y_train))


# ----------------------------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------------------------

def test_one_hot_round_trips_through_argmax():
    labels = np.array([3, 0, 9, 3, 7], dtype=np.uint8)
    encoded = one_hot(labels)
    assert encoded.shape == (5, 10) and encoded.dtype == np.float32
    assert encoded.sum(axis=1).tolist() == [1] * 5
    np.testing.assert_array_equal(encoded.argmax(axis=1), labels)


@pytest.mark.parametrize("labels", [np.array([0, 10]), np.array([-1, 2]), np.array([0.0, 1.0]),
                                    np.zeros((2, 2), int)])
def test_one_hot_rejects_labels_it_cannot_encode(labels):
    with pytest.raises(ValueError):
        one_hot(labels)


def test_scale_pixels_maps_0_255_onto_0_1_and_refuses_floats():
    images = np.array([[0, 128, 255]], dtype=np.uint8)
    scaled = scale_pixels(images)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0, 128 / 255, 1]], rtol=1e-7)
    with pytest.raises(ValueError, match="already scaled"):
        scale_pixels(scaled)


def test_standardize_uses_one_scalar_mean_and_std_of_the_training_set():
    rng = np.random.default_rng(2)
    train = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 128, (20, 28, 28), dtype=np.uint8)
    train_std, test_std, (mean, std) = standardize(train, test)
    assert train_std.dtype == test_std.dtype == np.float32
    assert abs(float(train_std.mean(dtype=np.float64))) < 1e-6
    assert abs(float(train_std.std(dtype=np.float64)) - 1) < 1e-6
    assert mean == pytest.approx(train.mean()) and std == pytest.approx(train.std())
    np.testing.assert_allclose(test_std, (test - mean) / std, rtol=1e-6, atol=1e-6)
    assert test_std.mean() < -0.5  # test statistics did not leak in
    constant, none, (_, eps_std) = standardize(np.full((2, 2), 7, np.uint8))
    assert none is None and eps_std > 0 and np.all(constant == 0)


def test_flatten_images_gives_row_major_rows_of_784():
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28)
    flat = flatten_images(images)
    assert flat.shape == (2, 784)
    np.testing.assert_array_equal(flat[1], images[1].ravel())
    assert flatten_images(images[..., None]).shape == (2, 784)


def test_the_package_exports_its_public_names_from_the_modules_that_define_them():
    """``numpy_nn.datasets`` is split by concern; the names users import stay where they were."""
    import importlib

    for name in ds.__all__:
        assert hasattr(ds, name), name
    for module, names in {"idx": ["read_idx", "write_idx"], "mnist": ["load_mnist", "SAMPLE_PATH", "MnistSource"],
                          "download": ["download_mnist", "MNIST_FILES", "MNIST_SHA256", "MNIST_MIRRORS"],
                          "preprocessing": ["scale_pixels", "standardize", "one_hot", "flatten_images"],
                          "sample": ["make_sample"], "errors": ["DataError"]}.items():
        for name in names:
            assert getattr(importlib.import_module(f"numpy_nn.datasets.{module}"), name) is getattr(ds, name)
