"""Shared test configuration: hypothesis profiles and the MNIST folder.

Profiles (choose with HYPOTHESIS_PROFILE):
  ci        derandomized, fixed example counts, no deadline (used by ``make test``)
  dev       random, a few more examples, for local work (the default)
  thorough  at least 500 examples per property (``make parity-thorough``)
"""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=True)
settings.register_profile("ci", derandomize=True, max_examples=25, **_common)
settings.register_profile("dev", max_examples=40, **_common)
settings.register_profile("thorough", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

REPO = Path(__file__).resolve().parents[1]


def mnist_dir():
    """The real MNIST folder: $NUMPY_NN_TEST_DATA, else ../shared/data/mnist-20k beside the repo."""
    candidates = [os.environ.get("NUMPY_NN_TEST_DATA"), REPO.parent / "shared" / "data" / "mnist-20k"]
    for c in candidates:
        if c and (Path(c) / "t10k-labels-idx1-ubyte.gz").exists():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def mnist_folder():
    folder = mnist_dir()
    if folder is None:
        pytest.skip("the MNIST folder ../shared/data/mnist-20k is not beside this checkout (set NUMPY_NN_TEST_DATA)")
    return folder


PROXY_VARS = ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]


@pytest.fixture
def isolated_data_env(monkeypatch, tmp_path):
    """No network, no real cache, no stray data location, no proxy for 127.0.0.1 (the data tests)."""
    monkeypatch.delenv("NUMPY_NN_DATA", raising=False)
    monkeypatch.setenv("NUMPY_NN_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def pytest_configure(config):
    """``NUMPY_NN_THREADS=n`` (``make parity-matrix``): TensorFlow and NumPy's BLAS on n threads. Set
    here, before any test module runs a TensorFlow op: TensorFlow fixes its pools at the first op."""
    if os.environ.get("NUMPY_NN_THREADS"):
        from parity_tests.runtime import parity_threads, set_threads

        if not set_threads(parity_threads()):
            raise pytest.UsageError("NUMPY_NN_THREADS: TensorFlow's runtime had started before it could be set")
