"""Same command, same seed, same machine: bit-identical runs. NumPy: weights, optimizer state, every
loss and metric (everything in metrics.json but the timings). TensorFlow on CPU, with op
determinism on and Keras's generators seeded (see the README's "Determinism in detail"): identical weights and
losses, Keras's own dropout masks included. A different seed gives a different run (the control)."""
import json

import pytest

from numpy_nn.datasets import SAMPLE_PATH
from parity_tests.cli_helpers import checkpoint_arrays, run_cli, without_timings

NOT_REPRODUCIBLE = {"command", "total_seconds", "table", "checkpoints"}  # timings, and the paths of this run


def run_twice(capsys, tmp_path, model, backend, *extra, seeds=("0", "0")):
    """Run the same training command twice in-process (only the output folders differ); returns
    ``[(metrics without timings, {backend: checkpoint arrays}), ...]`` for the two runs."""
    runs = []
    for k, seed in enumerate(seeds):
        out, ck = tmp_path / f"out{k}", tmp_path / f"ck{k}"
        status, _, err = run_cli(["train", "--model", model, "--backend", backend, "--epochs", "2", "--limit", "300",
                                  "--seed", seed, "--data-dir", SAMPLE_PATH, "--out", out, "--save", ck,
                                  "--no-figures", "--quiet", *extra], capsys)
        assert status == 0, err
        metrics = json.loads((out / "metrics.json").read_text())
        metrics = without_timings({k: v for k, v in metrics.items() if k not in NOT_REPRODUCIBLE})
        files = {p.name: checkpoint_arrays(p)[0] for p in sorted(ck.iterdir())}
        runs.append((metrics, files))
    return runs


def test_the_numpy_backend_is_bit_identical_run_after_run(tmp_path, capsys):
    (metrics_a, files_a), (metrics_b, files_b) = run_twice(capsys, tmp_path, "dropout", "numpy")
    assert list(files_a) == ["dropout-numpy.npz"]
    assert files_a == files_b  # weights and Adam moments, byte for byte
    assert metrics_a == metrics_b  # every loss, accuracy and setting
    losses = metrics_a["models"]["dropout"]["backends"]["numpy"]["epoch_loss"]
    assert len(losses) == 2 and losses[1] < losses[0]


def test_a_different_seed_gives_a_different_numpy_run(tmp_path, capsys):
    (metrics_a, files_a), (metrics_b, files_b) = run_twice(capsys, tmp_path, "dropout", "numpy", seeds=("0", "1"))
    assert files_a["dropout-numpy.npz"]["weight_000"] != files_b["dropout-numpy.npz"]["weight_000"]
    assert metrics_a["models"] != metrics_b["models"]


def test_tensorflow_on_cpu_is_bit_identical_run_after_run_with_its_own_dropout(tmp_path, capsys):
    """The tf backend alone: Keras draws its own dropout masks, from generators that the seed fixes."""
    pytest.importorskip("tensorflow")
    (metrics_a, files_a), (metrics_b, files_b) = run_twice(capsys, tmp_path, "dropout", "tf")
    assert list(files_a) == ["dropout-tf.npz"]
    assert files_a == files_b
    assert metrics_a == metrics_b
    from tensorflow.python.framework import config as tf_config  # the public API has no getter

    assert tf_config.is_op_determinism_enabled()
    assert metrics_a["versions"]["tensorflow_op_determinism"] is True


def blas_threads():
    import threadpoolctl

    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


def test_blas_threads_is_applied_recorded_and_restored(tmp_path, capsys):
    """``--blas-threads 1``: the run computes with one BLAS thread (metrics.json says so), is itself
    reproducible, and leaves the process's BLAS as it found it."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    # Other test modules limit BLAS to one thread for the whole process (configure_for_parity): start from two.
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        if not before or min(before) < 2:
            pytest.skip(f"BLAS cannot run 2 threads here ({before}): nothing to limit")
        (metrics_a, files_a), (metrics_b, files_b) = run_twice(capsys, tmp_path, "mlp", "numpy", "--blas-threads", "1")
        assert metrics_a["threads"]["blas"] == [1] * len(before)
        assert files_a == files_b and metrics_a == metrics_b
        assert blas_threads() == before
        status, _, err = run_cli(["train", "--model", "mlp", "--backend", "numpy", "--epochs", "1", "--limit", "100",
                                  "--data-dir", SAMPLE_PATH, "--out", tmp_path / "default", "--no-figures", "--quiet"],
                                 capsys)
        assert status == 0, err
        assert json.loads((tmp_path / "default" / "metrics.json").read_text())["threads"]["blas"] == before


def test_blas_threads_without_threadpoolctl_is_a_usage_error(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    status, _, err = run_cli(["train", "--model", "mlp", "--backend", "numpy", "--blas-threads", "1",
                              "--data-dir", SAMPLE_PATH, "--out", tmp_path / "out"], capsys)
    assert status == 2
    from parity_tests.test_cli import assert_one_line_error

    assert_one_line_error(err, "argument --blas-threads", "threadpoolctl", "OPENBLAS_NUM_THREADS")
    assert not (tmp_path / "out").exists()
