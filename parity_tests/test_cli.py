"""``numpy-nn``: the train command end to end (table, metrics.json, figures), the side-by-side
guarantees (same batch order, same dropout masks, the one epoch loop), the commands that are not
part of it (parity report, benchmarks), and every bad input ending in a one-line error with the
documented exit status and no partial file."""
import contextlib
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numpy_nn import zoo
from numpy_nn.app import cli, driver
from numpy_nn.datasets import SAMPLE_PATH, load_mnist, write_idx
from parity_tests.cli_helpers import assert_one_line_error, parse_table, run_cli

REPO = Path(__file__).resolve().parents[1]
MODELS = list(zoo.TUTORIAL_MODELS)
FIGURES = ["digits.png", "softmax_weights.png"] + [
    f"{m}_{kind}.png" for m in MODELS for kind in ("curves", "predictions", "confusion", "probabilities", "embedding")]


# ----------------------------------------------------------------------------------------------
# End to end
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tf_available():
    try:
        driver.load_tf_trainer()
    except ImportError as e:
        pytest.skip(f"TensorFlow not installed: {e}")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, tf_available):
    """All four models, both frameworks, 1 epoch on the first 300 images of the bundled sample."""
    out = tmp_path_factory.mktemp("demo") / "out"
    argv = ["train", "--model", "all", "--backend", "both", "--epochs", "1", "--limit", "300",
            "--data-dir", SAMPLE_PATH, "--out", out, "--quiet"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = cli.main([str(a) for a in argv])
    return status, stdout.getvalue(), stderr.getvalue(), out


def test_train_all_models_both_backends_exits_cleanly(demo_run):
    status, _, err, _ = demo_run
    assert status == 0, err
    assert "Traceback" not in err


def test_train_prints_a_side_by_side_row_per_model(demo_run):
    _, out, _, _ = demo_run
    table = parse_table(out)
    assert list(table) == MODELS
    for model, row in table.items():
        np_acc, tf_acc = float(row["numpy test acc"].rstrip("%")), float(row["tf test acc"].rstrip("%"))
        assert 0 < np_acc <= 100 and 0 < tf_acc <= 100
        assert float(row["diff (pp)"]) == pytest.approx(np_acc - tf_acc, abs=0.011)
        # how far apart the two runs may drift is judged by the float64 oracle (test_parity_models'
        # trajectories) and by the separation test below, not by a float32 bound here
        assert 0 <= float(row["max |w_numpy - w_tf|"]) < np.inf, f"{model}: the drift column is not a number"
        for column in ("numpy final loss", "tf final loss", "numpy s/epoch", "tf s/epoch"):
            assert float(row[column]) > 0


def test_metrics_json_holds_every_figure_of_the_table(demo_run):
    _, out, _, folder = demo_run
    metrics = json.loads((folder / "metrics.json").read_text())
    table = parse_table(out)
    assert metrics["data"] == {"source": "data_dir", "location": str(SAMPLE_PATH), "train_images": 300,
                               "test_images": 1000}
    assert list(metrics["models"]) == MODELS
    for model, row in table.items():
        m = metrics["models"][model]
        assert m["train_images"] == 300 and m["epochs"] == 1 and m["seed"] == 0
        assert m["batch_size"] == zoo.get(model).batch_size
        for backend in ("numpy", "tf"):
            b = m["backends"][backend]
            assert f"{100 * b['test_accuracy']:.2f}%" == row[f"{backend} test acc"]
            assert f"{b['final_loss']:.4f}" == row[f"{backend} final loss"]
            assert f"{b['seconds_per_epoch']:.3g}" == row[f"{backend} s/epoch"]
            assert len(b["epoch_loss"]) == 1 and b["epoch_loss"][0] == b["final_loss"]
        assert f"{m['test_accuracy_diff_pp']:+.2f}" == row["diff (pp)"]
        assert f"{m['max_weight_diff']:.2e}" == row["max |w_numpy - w_tf|"]
    assert metrics["table"] == [line for line in out.splitlines() if line.startswith("|")]


def test_metrics_json_records_the_environment_including_tensorflows_part(demo_run):
    """A run with both frameworks records the configuration it ran with: CPU and ISA level, BLAS and
    its live threads, and TensorFlow's oneDNN state, thread pools and version (numpy_nn.app.environment)."""
    _, _, _, folder = demo_run
    env = json.loads((folder / "metrics.json").read_text())["environment"]
    assert env["cpu"]["model"] and env["cpu"]["isa"] in ("AVX-512", "AVX2", "other", None)
    assert env["blas"]["build"] and "blas" in env["threads"]
    assert env["tensorflow"]["included"] is True and env["onednn"]["enabled"] in (True, False)
    assert env["onednn"]["TF_ENABLE_ONEDNN_OPTS"] == os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    assert set(env["threads"]["tensorflow"]) == {"intra_op", "inter_op"}
    assert {"numpy", "tensorflow", "keras"} <= set(env["versions"])


def test_every_figure_is_written_as_a_valid_png(demo_run):
    from parity_tests.test_plots import assert_valid_png

    _, _, _, folder = demo_run
    metrics = json.loads((folder / "metrics.json").read_text())
    assert sorted(metrics["figures"].values()) == sorted(FIGURES)
    for name in FIGURES:
        assert_valid_png(folder / name)
    assert sorted(p.name for p in folder.iterdir()) == sorted(FIGURES + ["metrics.json"])  # no temp files


def test_train_on_the_real_folder_uses_the_first_limit_images(mnist_folder, tmp_path, capsys):
    status, out, err = run_cli(["train", "--model", "softmax", "--backend", "numpy", "--epochs", "1",
                                "--limit", "500", "--data-dir", mnist_folder, "--out", tmp_path,
                                "--no-figures", "--quiet"], capsys)
    assert status == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["data"]["train_images"] == 500 and metrics["data"]["test_images"] == 10_000
    assert metrics["backends"] == ["numpy"] and list(metrics["models"]["softmax"]["backends"]) == ["numpy"]
    assert 0.3 < metrics["models"]["softmax"]["backends"]["numpy"]["test_accuracy"] < 0.95  # trained (chance: 0.1)
    assert metrics["figures"] == {} and os.listdir(tmp_path) == ["metrics.json"]
    assert set(parse_table(out)["softmax"]) == {"model", "numpy test acc", "numpy final loss", "numpy s/epoch"}


# ----------------------------------------------------------------------------------------------
# Same starting point, same batches, same masks
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_data():
    (x_train, y_train), test = load_mnist(SAMPLE_PATH, verbose=False)
    return (x_train[:256], y_train[:256]), (test[0][:100], test[1][:100])


def test_the_numpy_run_is_sequential_fit_with_the_same_seed(small_data):
    """The driver's batch order is the one ``Sequential.fit(seed=...)`` draws: identical weights."""
    result = driver.train_model("mlp", small_data, ("numpy",), epochs=2, batch_size=32, seed=3, verbose=False)
    spec = zoo.get("mlp")
    model = spec.build(seed=3)
    x_train, _ = driver.prepare_inputs(spec, small_data[0][0], small_data[1][0])
    model.fit(x_train, small_data[0][1].astype(np.int64), epochs=2, batch_size=32, seed=3, verbose=0)
    for a, b in zip(result.runs["numpy"].weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_both_frameworks_train_through_the_one_epoch_loop(small_data, monkeypatch):
    """The driver has no loop of its own: every epoch of every framework is one call of
    ``numpy_nn.loop.run_epoch``, the loop ``Sequential.fit`` runs, over that epoch's batches."""
    from numpy_nn import loop

    assert driver.run_epoch is loop.run_epoch
    calls = []

    def counting(train_step, x, y, batches, bar=None, epoch=None):
        calls.append((epoch, len(batches)))
        return loop.run_epoch(train_step, x, y, batches, bar, epoch)

    monkeypatch.setattr(driver, "run_epoch", counting)
    driver.train_model("softmax", small_data, ("numpy",), epochs=2, batch_size=100, verbose=False)
    assert calls == [(1, 3), (2, 3)]  # 256 images in batches of 100


def test_a_different_seed_gives_a_different_run(small_data):
    a = driver.train_model("softmax", small_data, ("numpy",), epochs=1, batch_size=32, seed=0, verbose=False)
    b = driver.train_model("softmax", small_data, ("numpy",), epochs=1, batch_size=32, seed=1, verbose=False)
    assert not np.array_equal(a.runs["numpy"].weights[0], b.runs["numpy"].weights[0])


def test_both_frameworks_drop_the_same_units(small_data, tf_available):
    """With the masks injected, the dropout model's two runs differ only by float32 rounding; a Keras
    model drawing its own masks from the same start ends far away. The verdict is the separation
    between the two (at least 100x), not a float32 tolerance tuned to one machine."""
    shared = driver.train_model("dropout", small_data, ("numpy", "tf"), epochs=1, verbose=False)
    own = driver.train_model("dropout", small_data, ("tf",), epochs=1, verbose=False)
    diffs = [np.max(np.abs(a - b)) for a, b in zip(shared.runs["numpy"].weights, own.runs["tf"].weights)]
    assert shared.max_weight_diff < 1e-2 * max(diffs), (shared.max_weight_diff, max(diffs))
    loss_gap = np.max(np.abs(np.subtract(shared.runs["numpy"].step_loss, shared.runs["tf"].step_loss)))
    own_gap = np.max(np.abs(np.subtract(shared.runs["numpy"].step_loss, own.runs["tf"].step_loss)))
    assert loss_gap < 1e-2 * own_gap, (loss_gap, own_gap)


def test_prepare_inputs_gives_each_model_its_input_shape(small_data):
    (x, _), (xt, _) = small_data
    for name, shape in {"softmax": (784,), "mlp": (784,), "dropout": (28, 28), "cnn": (28, 28, 1)}.items():
        a, b = driver.prepare_inputs(zoo.get(name), x, xt)
        assert a.shape == (len(x),) + shape and b.shape == (len(xt),) + shape and a.dtype == np.float32
    a, _ = driver.prepare_inputs(zoo.get("mlp"), x, xt)
    assert abs(a.mean()) < 1e-4 and abs(a.std() - 1) < 1e-4       # standardised by the training set
    a, _ = driver.prepare_inputs(zoo.get("cnn"), x, xt)
    assert a.min() == 0 and a.max() == 1                           # pixels / 255


# ----------------------------------------------------------------------------------------------
# Bad input: one line, the right exit status, nothing written
# ----------------------------------------------------------------------------------------------

def make_idx_folder(folder, n_train=40, n_test=20, labels_train=None):
    """A small, valid MNIST folder of four gzipped IDX files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz",
              labels_train if labels_train is not None else (np.arange(n_train) % 10).astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", (np.arange(n_test) % 10).astype(np.uint8))
    return folder


def train_argv(data_dir, out, *extra):
    return ["train", "--model", "softmax", "--backend", "numpy", "--epochs", "1", "--data-dir", data_dir,
            "--out", out, "--quiet", *extra]


def test_a_valid_small_folder_trains(tmp_path, capsys):
    """The control for the corruptions below: the intact folder is accepted."""
    status, _, err = run_cli(train_argv(make_idx_folder(tmp_path / "mnist"), tmp_path / "out", "--no-figures"), capsys)
    assert status == 0, err
    assert (tmp_path / "out" / "metrics.json").is_file()


def test_limit_takes_the_first_n_images_and_defaults_to_all_of_them(tmp_path, capsys):
    folder = make_idx_folder(tmp_path / "mnist", n_train=40)
    for extra, expected in (([], 40), (["--limit", "all"], 40), (["--limit", "35"], 35), (["--limit", "99"], 40)):
        out = tmp_path / f"out{len(extra)}{expected}"
        status, _, err = run_cli(train_argv(folder, out, "--no-figures", *extra), capsys)
        assert status == 0, err
        assert json.loads((out / "metrics.json").read_text())["data"]["train_images"] == expected, extra


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_gzip(path):
    data = bytearray(path.read_bytes())
    data[12:40] = b"\xff" * 28
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "missing file": ("train-labels-idx1-ubyte.gz", lambda p: p.unlink(), "missing file"),
    "truncated": ("t10k-images-idx3-ubyte.gz", _truncate, "gzip"),
    "truncated raw": ("t10k-images-idx3-ubyte.gz",
                      lambda p: (p.unlink(), p.with_suffix("").write_bytes(
                          b"\x00\x00\x08\x03" + struct.pack(">3I", 10, 28, 28) + b"\x00" * 100)),
                      "truncated: header says 10 images of 28x28"),
    "corrupt gzip": ("train-images-idx3-ubyte.gz", _corrupt_gzip, "gzip"),
    "not IDX": ("train-images-idx3-ubyte.gz",
                lambda p: (p.unlink(), p.with_suffix("").write_text("hello, I am a text file\n")), "not an IDX file"),
    "wrong magic": ("t10k-labels-idx1-ubyte.gz",
                    lambda p: (p.unlink(), p.with_suffix("").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 24)),
                    "wrong magic"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_bad_data_file_is_a_one_line_data_error(tmp_path, capsys, case):
    name, corrupt, what = CORRUPTIONS[case]
    folder = make_idx_folder(tmp_path / "mnist")
    corrupt(folder / name)
    out = tmp_path / "out"
    status, _, err = run_cli(train_argv(folder, out), capsys)
    assert status == 1
    line = assert_one_line_error(err, what, str(folder))
    assert name.replace(".gz", "") in line  # names the file concerned
    assert not out.exists() or list(out.iterdir()) == []


def test_an_image_label_count_mismatch_is_a_data_error(tmp_path, capsys):
    folder = make_idx_folder(tmp_path / "mnist", n_train=40, labels_train=(np.arange(39) % 10).astype(np.uint8))
    status, _, err = run_cli(train_argv(folder, tmp_path / "out"), capsys)
    assert status == 1
    assert_one_line_error(err, "count mismatch", "train-labels-idx1-ubyte", "39")


def test_a_missing_data_folder_is_a_data_error(tmp_path, capsys):
    status, _, err = run_cli(train_argv(tmp_path / "nowhere", tmp_path / "out"), capsys)
    assert status == 1
    assert_one_line_error(err, str(tmp_path / "nowhere"), "no such folder")


def test_a_download_with_a_wrong_checksum_is_named_and_leaves_nothing_in_the_cache(tmp_path, capsys, monkeypatch):
    """A mirror serving a file whose SHA-256 is wrong: the loader names the file and the mismatch,
    keeps nothing of it, and (its documented last resort) falls back to the bundled sample."""
    mirror = make_idx_folder(tmp_path / "mirror")
    cache = tmp_path / "cache"
    monkeypatch.delenv("NUMPY_NN_DATA", raising=False)
    monkeypatch.delenv("NUMPY_NN_OFFLINE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr("numpy_nn.datasets.download.MNIST_MIRRORS", (mirror.as_uri() + "/",))
    argv = ["train", "--model", "softmax", "--backend", "numpy", "--epochs", "1", "--limit", "50",
            "--out", tmp_path / "out", "--quiet", "--no-figures"]
    status, _, err = run_cli(argv, capsys)
    mismatch = [line for line in err.splitlines() if "checksum mismatch" in line]
    assert mismatch and "train-images-idx3-ubyte.gz" in mismatch[0]
    assert "Traceback" not in err
    leftovers = [p.name for p in cache.rglob("*") if p.is_file()]
    assert leftovers == [], f"partial downloads left in the cache: {leftovers}"
    assert status == 0 and "bundled SAMPLE" in err
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["data"]["source"] == "bundled-sample"


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
    (["train", "--backend", "torch"], "argument --backend: invalid choice: 'torch'"),
    (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["train", "--limit", "-5"], "argument --limit: expected a positive integer below 4,611,686,018,427,387,904 or 'all', got '-5'"),
    (["train", "--batch-size", "ten"], "argument --batch-size: expected a positive integer, got 'ten'"),
    (["train", "--learning-rate", "nan"], "argument --learning-rate: expected a positive finite number, got 'nan'"),
    (["train", "--seed", "-1"], "argument --seed: expected a non-negative integer, got '-1'"),
    (["train", "--seed", str(2**63)], "argument --seed: expected an integer below 2**63"),
    (["train", "--epochs", str(2**31)], "argument --epochs: expected an integer below 2,147,483,648"),
    (["train", "--batch-size", str(2**62)], "argument --batch-size: expected an integer below 4,611,686,018,427,387,904"),
    (["fly"], "invalid choice: 'fly'"),
    ([], "required: "),
])
def test_bad_usage_exits_2_with_a_one_line_error(argv, fragment, capsys, tmp_path):
    status, _, err = run_cli(argv + ["--out", tmp_path / "out"] if argv[:1] == ["train"] else argv, capsys)
    assert status == 2
    assert_one_line_error(err, fragment)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def without_tensorflow(monkeypatch):
    """Pretend TensorFlow is not installed: ``import tensorflow`` raises ImportError."""
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    for name in [n for n in sys.modules if n == "tf_nn.training"]:
        monkeypatch.delitem(sys.modules, name)


@pytest.mark.parametrize("backend", ["tf", "both"])
def test_a_tf_backend_without_tensorflow_is_a_usage_error(without_tensorflow, backend, capsys, tmp_path):
    out = tmp_path / "out"
    status, _, err = run_cli(["train", "--backend", backend, "--data-dir", SAMPLE_PATH, "--out", out], capsys)
    assert status == 2
    assert_one_line_error(err, "--backend", "needs TensorFlow", "pip install")
    assert not out.exists()


def test_the_numpy_backend_runs_without_tensorflow(without_tensorflow, capsys, tmp_path):
    status, _, err = run_cli(["train", "--model", "softmax", "--backend", "numpy", "--epochs", "1", "--limit", "100",
                              "--data-dir", SAMPLE_PATH, "--out", tmp_path, "--no-figures", "--quiet"], capsys)
    assert status == 0, err


def test_without_tensorflow_in_a_fresh_interpreter(tmp_path):
    """The same, in a subprocess whose ``import tensorflow`` is blocked: one line, status 2."""
    code = ("import sys; sys.modules['tensorflow'] = None; from numpy_nn.app.cli import main; "
            f"sys.exit(main(['train', '--backend', 'tf', '--out', {str(tmp_path / 'out')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[-1]]  # exactly one line
    assert_one_line_error(proc.stderr, "needs TensorFlow")


def test_figures_without_matplotlib_are_a_usage_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, _, err = run_cli(train_argv(SAMPLE_PATH, tmp_path / "out"), capsys)
    assert status == 2
    assert_one_line_error(err, "matplotlib", "--no-figures")


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_a_diverging_run_stops_with_a_one_line_error(backend, capsys, tmp_path):
    if backend == "tf":
        pytest.importorskip("tensorflow")
    out = tmp_path / "out"
    status, _, err = run_cli(["train", "--model", "mlp", "--backend", backend, "--learning-rate", "1e9", "--limit", "320",
                              "--data-dir", SAMPLE_PATH, "--out", out, "--quiet"], capsys)
    assert status == 1
    assert_one_line_error(err, "training diverged at epoch 1, step", f"mlp ({backend})", "--learning-rate")
    assert "RuntimeWarning" not in err
    assert list(out.iterdir()) == []


def test_an_out_path_that_is_a_file_is_an_error(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    status, _, err = run_cli(train_argv(SAMPLE_PATH, target, "--no-figures"), capsys)
    assert status == 1
    assert_one_line_error(err, str(target), "must be a folder")
    assert target.read_text() == "not a folder"


def test_a_failure_while_drawing_leaves_no_metrics_and_no_partial_figure(tmp_path, capsys, monkeypatch):
    from numpy_nn.app import plots

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "softmax_confusion.png"))

    monkeypatch.setattr(plots, "plot_confusion", disk_full)
    status, _, err = run_cli(train_argv(SAMPLE_PATH, tmp_path / "out", "--limit", "100"), capsys)
    assert status == 1
    assert_one_line_error(err, "softmax_confusion.png", "No space left on device")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "metrics.json" not in names and not [n for n in names if n.startswith(".") or n.endswith(".part")]


# ----------------------------------------------------------------------------------------------
# What the command is not, what it imports, how it is installed
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["parity", "bench"])
def test_the_parity_report_and_the_benchmarks_are_not_subcommands(command, capsys):
    """They live in the checkout, not in the installed package: ``python -m parity_tests.report`` and
    ``python -m benchmarks`` (below)."""
    status, _, err = run_cli([command], capsys)
    assert status == 2
    assert_one_line_error(err, f"invalid choice: '{command}'")


@pytest.mark.parametrize("module", ["parity_tests.report", "benchmarks"])
def test_the_parity_report_and_the_benchmarks_run_from_the_checkout(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_the_package_installs_the_library_its_twin_and_the_console_script():
    tomllib = pytest.importorskip("tomllib")
    from setuptools import find_packages

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["numpy_nn*", "tf_nn*"]
    packages = find_packages(str(REPO), include=include)
    assert {"numpy_nn", "numpy_nn.app", "numpy_nn.datasets", "numpy_nn.functional", "tf_nn"} <= set(packages)
    assert not [p for p in packages if p.startswith(("parity_tests", "benchmarks"))]
    module, _, name = config["project"]["scripts"]["numpy-nn"].partition(":")
    assert (module, name) == ("numpy_nn.app.cli", "main") and getattr(cli, name) is cli.main
    assert "data/*.npz" in config["tool"]["setuptools"]["package-data"]["numpy_nn"]
    assert SAMPLE_PATH.is_file() and SAMPLE_PATH.parent == REPO / "numpy_nn" / "data"


def test_numpy_nn_imports_neither_tensorflow_nor_matplotlib():
    code = ("import sys, numpy_nn, numpy_nn.datasets, numpy_nn.app.cli, numpy_nn.app.driver, numpy_nn.app.plots, "
            "numpy_nn.app.resume, numpy_nn.app.results; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib', 'tf_nn'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_python_dash_m_numpy_nn_is_the_cli():
    proc = subprocess.run([sys.executable, "-m", "numpy_nn", "train", "--help"], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert proc.returncode == 0
    for option in ("--model", "--backend", "--epochs", "--batch-size", "--learning-rate", "--seed", "--data-dir",
                   "--out", "--limit"):
        assert option in proc.stdout
