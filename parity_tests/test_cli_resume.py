"""``numpy-nn train --save DIR`` / ``--resume DIR``: a run interrupted after an epoch and resumed is
bit for bit the run that was never interrupted (weights, optimizer state, losses, metrics), in
NumPy, in TensorFlow and side by side; bad, missing or foreign checkpoints and options that
contradict the checkpoint end in one line with the documented exit status, and nothing is written;
a diverging run names where it diverged and leaves the last good epoch on disk."""
import json

import numpy as np
import pytest

from numpy_nn import load_model
from numpy_nn.checkpoint import read_checkpoint
from numpy_nn.datasets import SAMPLE_PATH
from parity_tests.cli_helpers import (assert_one_line_error, checkpoint_arrays, models_metrics, run_cli,
                                      without_timings)


def train(capsys, out, *extra, model="dropout", backend="numpy", limit=300):
    argv = ["train", "--model", model, "--backend", backend, "--limit", limit, "--data-dir", SAMPLE_PATH,
            "--out", out, "--no-figures", "--quiet", *extra]
    return run_cli(argv, capsys)


def snapshot(folder):
    """``{name: bytes}`` of every file in ``folder`` (to show that a failed run changed nothing)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else None


# ----------------------------------------------------------------------------------------------
# Interrupted + resumed == uninterrupted, bit for bit
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, backend", [
    ("dropout", "numpy"),   # Adam moments + the Dropout layer's generator
    ("mlp", "numpy"),       # SGD, standardised inputs
    ("dropout", "tf"),      # Keras's Adam moments + Keras's own dropout seed generator
    ("dropout", "both"),    # numpy draws the masks, Keras replays them; the per-epoch weight diffs
])
def test_a_run_resumed_after_one_epoch_is_bit_identical_to_an_uninterrupted_run(model, backend, tmp_path, capsys):
    if backend != "numpy":
        pytest.importorskip("tensorflow")
    status, _, err = train(capsys, tmp_path / "out-straight", "--epochs", "2", "--save", tmp_path / "straight",
                           model=model, backend=backend)
    assert status == 0, err
    status, _, err = train(capsys, tmp_path / "out-first", "--epochs", "1", "--save", tmp_path / "split",
                           model=model, backend=backend)
    assert status == 0, err
    status, _, err = train(capsys, tmp_path / "out-resumed", "--epochs", "2", "--resume", tmp_path / "split",
                           "--save", tmp_path / "split", model=model, backend=backend)
    assert status == 0, err
    assert "resuming from" in err and "after epoch 1 of 2" in err
    backends = ["numpy", "tf"] if backend == "both" else [backend]
    for b in backends:
        straight, straight_opt, straight_state = checkpoint_arrays(tmp_path / "straight" / f"{model}-{b}.npz")
        resumed, resumed_opt, resumed_state = checkpoint_arrays(tmp_path / "split" / f"{model}-{b}.npz")
        assert straight.keys() == resumed.keys() and len(straight) > 2
        for key in straight:
            assert straight[key] == resumed[key], f"{model} ({b}): {key} differs after resuming"
        assert straight_opt == resumed_opt  # step count and settings
        assert without_timings(straight_state) == without_timings(resumed_state)
        assert resumed_state["epoch"] == 2
    assert models_metrics(tmp_path / "out-straight") == models_metrics(tmp_path / "out-resumed")
    metrics = json.loads((tmp_path / "out-resumed" / "metrics.json").read_text())
    assert metrics["checkpoints"]["resumed_from_epoch"] == {model: 1}
    if backend == "both":  # one framework alone cannot pick up a side-by-side run
        status, _, err = train(capsys, tmp_path / "out-one", "--epochs", "3", "--resume", tmp_path / "split",
                               model=model, backend="numpy")
        assert status == 1
        assert_one_line_error(err, f"{model}-numpy.npz", "was saved by a run of numpy+tf, this run trains numpy")


def test_a_finished_checkpoint_is_evaluated_without_training_and_a_saved_tf_side_loads_in_numpy(tmp_path, capsys):
    """Resuming at the target epoch trains nothing and reports the same results; the checkpoint of
    either framework is an ordinary numpy_nn checkpoint (the Keras weights in a numpy_nn model)."""
    status, _, err = train(capsys, tmp_path / "a", "--epochs", "1", "--save", tmp_path / "ck", model="softmax")
    assert status == 0, err
    before = snapshot(tmp_path / "ck")
    status, _, err = train(capsys, tmp_path / "b", "--resume", tmp_path / "ck", "--save", tmp_path / "ck",
                           model="softmax")
    assert status == 0, err
    assert "nothing left to train" in err
    assert snapshot(tmp_path / "ck") == before
    assert models_metrics(tmp_path / "a") == models_metrics(tmp_path / "b")
    restored = load_model(tmp_path / "ck" / "softmax-numpy.npz")
    assert restored.optimizer.iterations == 3 and restored.count_params() == 7850  # 300 images / batch 100


# ----------------------------------------------------------------------------------------------
# Bad checkpoints and contradicting options: one line, the right status, nothing written
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A folder with one epoch of softmax and of mlp (numpy), written by the CLI."""
    import contextlib
    import io

    from numpy_nn.app import cli

    folder = tmp_path_factory.mktemp("saved")
    for model in ("softmax", "mlp"):
        argv = ["train", "--model", model, "--backend", "numpy", "--epochs", "1", "--limit", "300", "--data-dir",
                SAMPLE_PATH, "--out", folder / "out", "--no-figures", "--quiet", "--save", folder / "ck"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli.main([str(a) for a in argv]) == 0
    return folder / "ck"


def _damage(folder):
    path = folder / "mlp-numpy.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign(folder):
    (folder / "mlp-numpy.npz").write_bytes((folder / "softmax-numpy.npz").read_bytes())


def _header_only_changed(folder):
    """A file that claims to be mlp but holds softmax's layers: the architecture check must catch it."""
    import numpy_nn

    model = numpy_nn.load_model(folder / "softmax-numpy.npz")
    state = read_checkpoint(folder / "mlp-numpy.npz")[0]["training_state"]
    model.save(folder / "mlp-numpy.npz", training_state=state)


def _not_a_training_checkpoint(folder):
    import numpy_nn

    numpy_nn.load_model(folder / "mlp-numpy.npz").save(folder / "mlp-numpy.npz")  # no training_state


def _no_mlp(folder):
    (folder / "mlp-numpy.npz").unlink()


BAD_CHECKPOINTS = {
    "damaged": (_damage, ["mlp-numpy.npz", "not a readable .npz checkpoint"]),
    "of another model": (_foreign, ["mlp-numpy.npz", "holds model 'softmax'", "not 'mlp'"]),
    "another architecture": (_header_only_changed, ["mlp-numpy.npz", "architecture differs"]),
    "not from --save": (_not_a_training_checkpoint, ["mlp-numpy.npz", "not written by `numpy-nn train --save`"]),
    "missing": (_no_mlp, ["mlp-numpy.npz", "no such checkpoint file", "it holds softmax-numpy.npz"]),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_a_bad_checkpoint_is_a_one_line_error_with_status_1_and_nothing_written(case, saved, tmp_path, capsys):
    damage, fragments = BAD_CHECKPOINTS[case]
    folder = tmp_path / "ck"
    folder.mkdir()
    for p in saved.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    damage(folder)
    before = snapshot(folder)
    status, _, err = train(capsys, tmp_path / "out", "--epochs", "2", "--resume", folder, "--save", folder, model="mlp")
    assert status == 1
    assert_one_line_error(err, *fragments)
    assert not (tmp_path / "out").exists()
    assert snapshot(folder) == before  # no partial or temporary file, nothing overwritten


def test_a_missing_resume_folder_is_a_one_line_error(tmp_path, capsys):
    status, _, err = train(capsys, tmp_path / "out", "--resume", tmp_path / "nowhere", model="mlp")
    assert status == 1
    assert_one_line_error(err, str(tmp_path / "nowhere"), "no such checkpoint folder")
    assert not (tmp_path / "out").exists()


def test_both_frameworks_must_resume_together(saved, tmp_path, capsys):
    status, _, err = train(capsys, tmp_path / "out", "--resume", saved, model="mlp", backend="both")
    assert status == 1
    assert_one_line_error(err, "mlp-tf.npz", "no such checkpoint file", "mlp-numpy.npz is there")


@pytest.mark.parametrize("extra, fragments", [
    (["--batch-size", "50"], ["argument --batch-size: 50 differs from the 32", "mlp-numpy.npz"]),
    (["--learning-rate", "0.5"], ["argument --learning-rate: 0.5 differs from the 0.01"]),
    (["--seed", "1"], ["argument --seed: 1 differs from the 0"]),
    (["--limit", "200"], ["argument --resume", "trained on 300 training images", "this run has 200"]),
])
def test_an_option_that_contradicts_the_checkpoint_is_a_usage_error(extra, fragments, saved, tmp_path, capsys):
    before = snapshot(saved)
    status, _, err = train(capsys, tmp_path / "out", "--resume", saved, "--save", saved, *extra, model="mlp",
                           limit=extra[1] if extra[0] == "--limit" else 300)
    assert status == 2
    assert_one_line_error(err, *fragments)
    assert snapshot(saved) == before


def test_asking_for_fewer_epochs_than_the_checkpoint_has_is_a_usage_error(saved, tmp_path, capsys):
    status, _, err = run_cli(["train", "--model", "mlp", "--backend", "numpy", "--epochs", "1", "--resume", saved,
                              "--data-dir", SAMPLE_PATH, "--out", tmp_path / "out", "--no-figures", "--quiet"], capsys)
    assert status == 0, err  # the control: equal is fine (nothing to train)
    saved_two = tmp_path / "two"
    status, _, err = train(capsys, tmp_path / "o2", "--epochs", "2", "--resume", saved, "--save", saved_two,
                           model="mlp")
    assert status == 0, err
    status, _, err = train(capsys, tmp_path / "o3", "--epochs", "1", "--resume", saved_two, model="mlp")
    assert status == 2
    assert_one_line_error(err, "argument --epochs: 1", "has already done 2 epochs")


def test_resume_and_save_take_folders(saved, tmp_path, capsys):
    status, _, err = train(capsys, tmp_path / "out", "--resume", saved / "mlp-numpy.npz", model="mlp")
    assert status == 2
    assert_one_line_error(err, "argument --resume", "is a file", "the folder that --save wrote")
    (tmp_path / "taken").write_text("x")
    status, _, err = train(capsys, tmp_path / "out", "--save", tmp_path / "taken", model="mlp")
    assert status == 1
    assert_one_line_error(err, "--save must be a folder")


# ----------------------------------------------------------------------------------------------
# Divergence: where it happened, and the last good epoch kept
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_a_diverging_run_names_model_epoch_step_and_first_layer(backend, tmp_path, capsys):
    if backend == "tf":
        pytest.importorskip("tensorflow")
    status, _, err = train(capsys, tmp_path / "out", "--learning-rate", "1e30", "--limit", "320",
                           "--save", tmp_path / "ck", model="mlp", backend=backend, limit=320)
    assert status == 1
    line = assert_one_line_error(err, f"training diverged at epoch 1, step 2: mlp ({backend}): the loss is nan, "
                                      "first non-finite gradient in layer 'dense", "--learning-rate",
                                 "no checkpoint was written")
    assert "RuntimeWarning" not in err
    assert list((tmp_path / "ck").iterdir()) == []
    assert "the weights are those before this step" in line


def test_a_run_diverging_in_epoch_3_leaves_the_checkpoint_of_epoch_2(tmp_path, capsys):
    """SGD at learning rate 10 on 300 images: epochs 1 and 2 are finite, epoch 3 diverges. The file
    on disk is then exactly what an uninterrupted 2-epoch run saves."""
    args = ["--learning-rate", "10", "--batch-size", "100"]
    status, _, err = train(capsys, tmp_path / "out", "--epochs", "5", "--save", tmp_path / "ck", *args, model="mlp")
    assert status == 1
    assert_one_line_error(err, "training diverged at epoch 3, step", "mlp (numpy)", "layer 'dense",
                          "the last good epoch (2) is in", str(tmp_path / "ck" / "mlp-numpy.npz"))
    status, _, err = train(capsys, tmp_path / "out2", "--epochs", "2", "--save", tmp_path / "two", *args, model="mlp")
    assert status == 0, err
    kept, _, state = checkpoint_arrays(tmp_path / "ck" / "mlp-numpy.npz")
    good, _, _ = checkpoint_arrays(tmp_path / "two" / "mlp-numpy.npz")
    assert state["epoch"] == 2 and kept == good
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["mlp-numpy.npz"]


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path, monkeypatch):
    """Defence in depth: should an update ever overflow a weight to inf while the loss and the
    gradients stay finite, the epoch's checkpoint is refused with TrainingDiverged naming the layer,
    and the previous epoch's file is kept."""
    from numpy_nn.app import driver
    from numpy_nn.datasets import load_mnist
    from numpy_nn.errors import TrainingDiverged

    (x, y), (xt, yt) = load_mnist(SAMPLE_PATH, verbose=False)
    original, steps = driver.NumpyTrainer.train_on_batch, []

    def overflowing(self, xb, yb, masks=None):
        result = original(self, xb, yb, masks)
        steps.append(1)
        if len(steps) == 6:  # the last step of epoch 2 (300 images, batches of 100)
            self.model.layers[1].params["kernel"][0, 0] = np.inf
        return result

    monkeypatch.setattr(driver.NumpyTrainer, "train_on_batch", overflowing)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 3: mlp \(numpy\): non-finite weights in layer") as e:
        driver.train_model("mlp", ((x[:300], y[:300]), (xt[:100], yt[:100])), ("numpy",), epochs=3,
                               batch_size=100, verbose=False, save_dir=tmp_path)
    assert e.value.layer is not None and e.value.checkpoint_epoch == 1
    assert read_checkpoint(tmp_path / "mlp-numpy.npz")[0]["training_state"]["epoch"] == 1


def test_a_diverging_keras_step_is_not_applied_and_names_the_first_layer():
    """Like numpy_nn's, the Keras trainer skips a step whose loss or gradients are not finite: the
    weights and the optimizer's step count stay as they were before it. Which check fires depends on
    oneDNN: its fused MatMul + BiasAdd + ReLU maps the NaN input to 0, so the loss is finite and the
    gradient is not (a known difference, see test_known_differences.py (b))."""
    pytest.importorskip("tensorflow")
    from numpy_nn import zoo
    from numpy_nn.errors import TrainingDiverged
    from tf_nn.runtime import onednn_enabled
    from tf_nn.training import KerasTrainer

    model = zoo.get("mlp").build(seed=0)
    trainer = KerasTrainer(model)
    x = np.random.default_rng(0).normal(size=(8, 784)).astype(np.float32)
    y = np.arange(8) % 10
    trainer.train_on_batch(x, y)
    before, steps = trainer.get_weights(), int(trainer.optimizer.iterations.numpy())
    x[3, 5] = np.nan
    expected = "non-finite gradient in layer" if onednn_enabled() else "the loss is nan"
    with pytest.raises(TrainingDiverged, match=expected) as e:
        trainer.train_on_batch(x, y)
    assert e.value.layer == model.layers[0].name
    assert int(trainer.optimizer.iterations.numpy()) == steps == 1
    for w, w0 in zip(trainer.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
