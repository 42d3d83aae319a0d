"""Hostile training (issue 11, classes 4-7 for the training side): divergence caught in the step that
causes it, results that cannot be silently wrong, steps that are all-or-nothing, empty and extreme
inputs, hostile optimizer and ``fit`` arguments.

Every test here was seen to fail with its protection removed (listed in /work/notes/h11b.md).
NumPy only, except the in-process CLI runs (which import no TensorFlow with ``--backend numpy``)."""
import copy
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import optimizers, zoo
from numpy_nn.app import cli, driver
from numpy_nn.app.results import write_json
from numpy_nn.datasets.mnist import SAMPLE_PATH
from numpy_nn.errors import TrainingDiverged
from numpy_nn.layers import Dense, Dropout, Flatten
from numpy_nn.loop import run_epoch
from parity_tests.cli_helpers import assert_one_line_error, run_cli

f32 = np.float32
ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------

def _data(n=64, seed=0, shape=(28, 28)):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape, dtype=f32), rng.integers(0, 10, n)


def _dropout_model(optimizer="adam"):
    """Flatten-Dense-Dropout-Dense with Adam: weights, two slots per parameter, a dropout generator."""
    model = nn.Sequential([Flatten(), Dense(16, activation="relu"), Dropout(0.5), Dense(10)], seed=0,
                          input_shape=(28, 28))
    model.compile(optimizer, nn.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    return model


def _state(model):
    """Everything a failed step must leave as it was, as bytes: weights, optimizer slots and step
    count, and the dropout layers' generator states."""
    opt = model.optimizer
    params = [p for layer in model.layers for p in layer.params.values()]
    return {"weights": [w.tobytes() for w in model.get_weights()],
            "slots": [s.tobytes() for p in params for s in opt.slots(p)] if opt is not None else [],
            "iterations": None if opt is None else opt.iterations,
            "dropout": [repr(layer.rng.bit_generator.state) for layer in model.layers if isinstance(layer, Dropout)]}


def _trained_dropout_model():
    model = _dropout_model()
    x, y = _data(32)
    model.train_on_batch(x, y)
    return model, x, y


# ----------------------------------------------------------------------------------------------
# Class 4: divergence is caught in the step that causes it, and reported truthfully
# ----------------------------------------------------------------------------------------------

def test_an_sgd_update_that_overflows_the_weights_raises_in_that_step_naming_the_layer():
    """SGD(1e39) on softmax regression: the first update sends the kernel to inf. The step raises,
    says the weights are not the old ones (in place: no copy to restore), and names the layer."""
    model = zoo.get("softmax").build(seed=0)
    model.compile(nn.optimizers.SGD(1e39), "sparse_categorical_crossentropy", ["accuracy"])
    x, y = _data(100, shape=(784,))
    with pytest.raises(TrainingDiverged) as info:
        model.fit(x, y, epochs=1, batch_size=100, seed=0, verbose=0)
    e = info.value
    assert (e.epoch, e.step, e.weights_finite, e.layer) == (1, 1, False, model.layers[0].name)
    assert f"layer '{model.layers[0].name}' (kernel)" in str(e)
    assert "NOT those before this step" in str(e) and "the weights are those before" not in str(e)
    assert model.optimizer.iterations == 1  # the step was applied (to every parameter) and counted


def test_adam_velocity_overflowing_is_caught_although_the_weights_stay_finite():
    """A gradient of 1e20 makes g**2 = inf in Adam's second moment: sqrt(v) = inf turns the step
    into 0, so the weights stay finite and only a check of the slot finds it."""
    opt = nn.optimizers.Adam()
    w, g = np.ones(6, f32), np.full(6, 1e20, f32)
    with pytest.raises(TrainingDiverged, match="optimizer slot 'velocity'") as info:
        opt.apply_gradients([(g, w)])
    assert info.value.weights_finite is False and info.value.parameter == 0
    assert np.all(np.isfinite(w)) and np.all(np.isinf(opt.slots(w)[1]))


@pytest.mark.parametrize("kind", ["sgd", "momentum", "nesterov", "adam"])
def test_an_overflow_in_the_last_block_only_is_found(kind):
    """The check runs per block, right after the block's update: an overflow confined to the last
    element of a parameter spanning many blocks is found, and the whole step is still completed."""
    make = {"sgd": lambda: optimizers.SGD(1e30, block=4), "momentum": lambda: optimizers.SGD(1e30, 0.5, block=4),
            "nesterov": lambda: optimizers.SGD(1e30, 0.5, True, block=4), "adam": lambda: optimizers.Adam(block=4)}
    opt = make[kind]()
    first, w = np.zeros(3, f32), np.zeros(11, f32)
    g = np.full(11, 1e-3, f32)
    g[-1] = 1e20 if kind == "adam" else 1e10  # adam: v overflows; sgd: lr * g overflows
    with pytest.raises(TrainingDiverged, match=r"parameter 1 \(float32 \(11,\)\)"):
        opt.apply_gradients([(np.ones(3, f32), first), (g, w)])
    assert opt.iterations == 1 and np.all(first != 0)


@pytest.mark.parametrize("epsilon", [0, 0.0, -1e-7, float("nan"), float("inf")])
def test_adam_refuses_an_epsilon_that_is_not_positive_and_finite(epsilon):
    """Adam(epsilon=0) turns every weight whose gradient has always been 0 into 0 / 0 = NaN."""
    with pytest.raises(ValueError, match=r"Adam: epsilon must be a finite number in \(0.0, inf\)"):
        nn.optimizers.Adam(epsilon=epsilon)


def test_a_nan_loss_message_names_the_layer_in_its_text():
    x, y = _data(8)
    x[3, 4, 4] = np.nan
    model = _dropout_model()
    with pytest.raises(TrainingDiverged) as info:
        model.train_on_batch(x, y)
    assert f"layer '{model.layers[1].name}'" in str(info.value) and info.value.weights_finite is True


def test_the_driver_refuses_weights_that_an_epoch_overflowed_even_if_no_step_said_so(monkeypatch):
    """A step that overflows a weight without noticing (the Keras step checks only the loss and
    gradients): the end-of-epoch check stops the run with weights_finite=False, whether or not
    --save is given, and says the weights are not good ones."""
    (x, y), (xt, yt) = nn.datasets.load_mnist(SAMPLE_PATH, verbose=False)
    original, steps = driver.NumpyTrainer.train_on_batch, []

    def overflowing(self, xb, yb, masks=None):
        result = original(self, xb, yb, masks)
        steps.append(1)
        if len(steps) == 2:  # the epoch's last step
            self.model.layers[0].params["kernel"][0, 0] = np.inf
        return result

    monkeypatch.setattr(driver.NumpyTrainer, "train_on_batch", overflowing)
    with pytest.raises(TrainingDiverged) as info:
        driver.train_model("softmax", ((x[:200], y[:200]), (xt[:50], yt[:50])), ("numpy",), epochs=1,
                           batch_size=100, verbose=False)
    e = info.value
    assert (e.epoch, e.step, e.weights_finite) == (1, 2, False)
    assert "softmax (numpy): non-finite weights in layer 'dense" in str(e) and "overflowed them" in str(e)
    assert "the weights are those before" not in str(e)


def test_a_step_refused_for_a_nan_loss_over_overflowed_weights_does_not_claim_they_are_good():
    """The Keras step refuses a NaN loss with weights_finite=True ("not applied"), but the NaN may
    come from weights an earlier unchecked update overflowed: the driver looks and says so."""
    class Trainer:
        backend = "tf"

        def train_on_batch(self, x, y, masks=None):
            raise TrainingDiverged("the loss is nan")

        def get_weights(self):
            return [np.ones(2, f32), np.array([1.0, np.inf], f32)]

    step = driver.train_step(Trainer(), "mlp", layer_names=["dense", "dense_1"])
    with pytest.raises(TrainingDiverged) as info:
        step(np.zeros((1, 2), f32), np.zeros(1, int), 0)
    assert info.value.weights_finite is False and "layer 'dense_1' already holds non-finite weights" in str(info.value)
    assert "the weights are those before" not in str(info.value)


def test_a_checkpoint_is_refused_when_an_optimizer_slot_is_not_finite():
    model, _, _ = _trained_dropout_model()
    kernel = model.layers[1].params["kernel"]
    model.optimizer.slots(kernel)[1][0, 0] = np.inf
    problem = driver._state_problem(model)
    assert problem is not None and "'velocity'" in problem and model.layers[1].name in problem


def _softmax_cli(tmp_path, capsys, *extra, lr="1e39"):
    argv = ["train", "--model", "softmax", "--backend", "numpy", "--epochs", "1", "--batch-size", "100",
            "--limit", "100", "--learning-rate", lr, "--data-dir", SAMPLE_PATH, "--out", tmp_path / "out",
            "--no-figures", "--quiet", *extra]
    return run_cli(argv, capsys)


def test_the_cli_exits_1_on_an_overflowing_update_and_writes_no_metrics_and_no_checkpoint(tmp_path, capsys):
    """The issue's run: --learning-rate 1e39 used to exit 0, print 9.80% and write "test_loss": NaN."""
    status, out, err = _softmax_cli(tmp_path, capsys, "--save", tmp_path / "ck")
    assert status == 1
    line = assert_one_line_error(err, "training diverged at epoch 1, step 1", "softmax (numpy)", "layer 'dense",
                                 "NOT those before this step", "--learning-rate", "no checkpoint was written")
    assert "the weights are those before" not in line and "RuntimeWarning" not in err
    assert list((tmp_path / "out").iterdir()) == [] and list((tmp_path / "ck").iterdir()) == []
    assert "%" not in out


def test_the_cli_exits_1_when_finite_weights_give_a_non_finite_test_loss(tmp_path, capsys):
    """lr 1e36: one finite update, weights ~1e36, test logits overflow. Not a result to report."""
    status, _, err = _softmax_cli(tmp_path, capsys, lr="1e36")
    assert status == 1
    assert_one_line_error(err, "training diverged", "softmax (numpy): the test loss is", "the weights are finite")
    assert "RuntimeWarning" not in err and list((tmp_path / "out").iterdir()) == []


def test_metrics_json_is_strict_json_with_non_finite_values_as_null_and_listed(tmp_path):
    path = tmp_path / "m.json"
    write_json(path, {"a": {"loss": float("nan"), "ok": 1.5}, "b": [np.float32(np.inf), 2]})

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data["a"] == {"loss": None, "ok": 1.5} and data["b"] == [None, 2]
    assert data["non_finite"]["values"] == {"a.loss": "nan", "b[0]": "inf"} and "null" in data["non_finite"]["reason"]


# ----------------------------------------------------------------------------------------------
# Class 5: results that would be silently wrong are refused
# ----------------------------------------------------------------------------------------------

def test_the_same_layer_instance_twice_in_one_model_is_refused():
    layer = Dense(4)
    with pytest.raises(ValueError, match=r"layer 'dense\w*' is already in this model \(at position 0\)"):
        nn.Sequential([layer, layer])
    model = nn.Sequential([layer, Dense(3)])
    with pytest.raises(ValueError, match="already in this model"):
        model.add(layer)
    assert len(model.layers) == 2


@pytest.mark.parametrize("alias", ["same", "view"])
def test_a_parameter_listed_twice_is_refused_before_anything_changes(alias):
    opt = nn.optimizers.Adam(0.1)
    w, other = np.ones((4, 3), f32), np.ones(5, f32)
    opt.apply_gradients([(np.ones_like(w), w), (np.ones_like(other), other)])
    before = (w.tobytes(), other.tobytes(), [s.tobytes() for s in opt.slots(w) + opt.slots(other)])
    again = w if alias == "same" else w.reshape(-1)
    with pytest.raises(ValueError, match="parameter 2 is parameter 0 again"):
        opt.apply_gradients([(np.ones_like(w), w), (np.ones_like(other), other), (np.ones_like(again), again)])
    assert (w.tobytes(), other.tobytes(), [s.tobytes() for s in opt.slots(w) + opt.slots(other)]) == before
    assert opt.iterations == 1


def test_the_distinct_check_is_skipped_only_for_the_very_same_parameters():
    """The pairwise check is skipped when a step hands the same objects as the last one; a list of
    the same length with a duplicate in it is still refused."""
    opt = nn.optimizers.SGD(0.1)
    a, b = np.ones(3, f32), np.ones(4, f32)
    opt.apply_gradients([(np.ones_like(a), a), (np.ones_like(b), b)])
    with pytest.raises(ValueError, match="parameter 1 is parameter 0 again"):
        opt.apply_gradients([(np.ones_like(a), a), (np.ones_like(a), a)])
    assert np.all(a == 0.9) and opt.iterations == 1


@pytest.mark.parametrize("loss, labels, words", [
    ("sparse_categorical_crossentropy", lambda y: np.eye(10, dtype=f32)[y], ["integer class ids of shape (32,)",
                                                                               "the dense loss, CategoricalCrossentropy"]),
    ("categorical_crossentropy", lambda y: y, ["rows of shape (32, 10)", "the sparse loss, SparseCategoricalCrossentropy"]),
    ("sparse_categorical_crossentropy", lambda y: np.where(y == 3, 10, y), ["class ids in [0, 9]", "10"]),
])
def test_the_wrong_kind_of_label_is_refused_before_the_step_changes_anything(loss, labels, words):
    """One-hot rows for the sparse loss (or the reverse) used to be accepted by the loss and crash
    in the accuracy after the update. Now: a ValueError naming the remedy, and weights, slots,
    iterations and the dropout generator exactly as they were."""
    model, x, y = _trained_dropout_model()
    model.compile(model.optimizer, loss, ["accuracy"])
    y = np.arange(32) % 10
    before = _state(model)
    with pytest.raises(ValueError) as info:
        model.train_on_batch(x, labels(y))
    assert all(w in str(info.value) for w in words), str(info.value)
    assert _state(model) == before


def test_the_accuracy_is_computed_before_the_update(monkeypatch):
    """Whatever fails after the loss (here the accuracy, made to fail) fails before the update."""
    model, x, y = _trained_dropout_model()
    before = _state(model)

    def broken(y_pred):
        raise ValueError("accuracy failed")

    monkeypatch.setattr(model.loss, "last_accuracy", broken)
    with pytest.raises(ValueError, match="accuracy failed"):
        model.train_on_batch(x, y)
    assert {k: v for k, v in _state(model).items() if k != "dropout"} == {k: v for k, v in before.items()
                                                                          if k != "dropout"}


LABELS = {
    "ids (N,)": lambda: np.array([0, 2, 1, 2]),
    "ids (N, 1)": lambda: np.array([[0], [2], [1], [2]]),
    "ids out of range": lambda: np.array([0, 3, 1, 2]),
    "negative id": lambda: np.array([0, -1, 1, 2]),
    "float ids": lambda: np.array([0.0, 2.0, 1.0, 2.0]),
    "one-hot": lambda: np.eye(3, dtype=f32)[[0, 2, 1, 2]],
    "rows not summing to 1": lambda: np.full((4, 3), 0.5, f32),
    "rows of the wrong width": lambda: np.eye(4, dtype=f32),
    "wrong length": lambda: np.array([0, 1, 2]),
    "3-d": lambda: np.zeros((4, 3, 1), f32),
    "a list": lambda: [0, 2, 1, 2],
    "None": lambda: None,
}


@pytest.mark.parametrize("loss", [nn.losses.SparseCategoricalCrossentropy(True), nn.losses.CategoricalCrossentropy(True)])
@pytest.mark.parametrize("labels", list(LABELS), ids=list(LABELS))
def test_the_accuracy_accepts_exactly_what_the_loss_accepts(loss, labels):
    scores = np.random.default_rng(0).normal(size=(4, 3)).astype(f32)

    def outcome(fn):
        try:
            fn(LABELS[labels](), scores)
        except (TypeError, ValueError) as e:
            return type(e).__name__
        return "accepted"

    assert outcome(loss.forward) == outcome(loss.accuracy)


def test_fit_checks_every_label_before_the_first_step():
    """A bad label in the last batch used to be found after the earlier batches had trained."""
    model = _dropout_model()
    x, y = _data(64)
    y[-1] = 12
    before = _state(model)
    with pytest.raises(ValueError, match=r"Sequential.fit: .*class ids in \[0, 9\], got 12"):
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, seed=0, verbose=0)
    assert _state(model) == before


# ----------------------------------------------------------------------------------------------
# Class 6: a step is all or nothing
# ----------------------------------------------------------------------------------------------

class _InterruptingSGD(optimizers.SGD):
    """SGD whose first block of the first parameter sends this process a real SIGINT, as Ctrl-C
    would, in the middle of the update."""

    def __init__(self):
        super().__init__(1.0, block=4)
        self.sent = False

    def _update_block(self, xp, w, g, *rest):
        if not self.sent:
            self.sent = True
            signal.raise_signal(signal.SIGINT)
        super()._update_block(xp, w, g, *rest)


def test_a_sigint_during_apply_gradients_interrupts_after_the_whole_step():
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler in this process")
    opt = _InterruptingSGD()
    params = [np.zeros(10, f32), np.zeros(7, f32), np.zeros(3, f32)]
    with pytest.raises(KeyboardInterrupt):
        opt.apply_gradients([(np.ones_like(p), p) for p in params])
    assert all(np.all(p == -1) for p in params) and opt.iterations == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


_CHILD = r"""
import os, signal, threading, time
import numpy as np
from numpy_nn.optimizers import SGD

class Slow(SGD):
    def _update_block(self, xp, w, g, *rest):
        time.sleep(0.002)  # a long update: 2 ms a block, 40 blocks
        super()._update_block(xp, w, g, *rest)

def interrupt(sent):
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)

for trial in range(6):
    opt = Slow(1.0, block=1000)
    params = [np.zeros(20_000, np.float32) for _ in range(2)]
    sent, start, end = [], None, None
    threading.Timer(0.01 + 0.012 * trial, interrupt, (sent,)).start()
    try:
        start = time.perf_counter()
        opt.apply_gradients([(np.ones_like(p), p) for p in params])
        end = time.perf_counter()
        time.sleep(0.3)  # the SIGINT lands here if the update finished first
    except KeyboardInterrupt:
        end = end or time.perf_counter()
    during = bool(sent) and start is not None and start < sent[0] < end
    print([int((p == -1).sum()) for p in params], opt.iterations, during, flush=True)
"""


def test_a_real_sigint_from_another_thread_never_leaves_a_half_applied_step():
    """Ctrl-C delivered asynchronously (a timer thread's kill) while a slow update runs, 6 times at
    different moments, in a child process: each time, either every parameter was updated and
    ``iterations`` advanced, or nothing was."""
    run = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    trials = [_parse_trial(line) for line in run.stdout.splitlines()]
    assert len(trials) == 6
    for updated, iterations, _ in trials:
        assert (updated, iterations) in (([20_000, 20_000], 1), ([0, 0], 0)), trials
    assert sum(during for _, _, during in trials) >= 3, trials  # most signals did land mid-update


def _parse_trial(line):
    head, iterations, during = line.rsplit(" ", 2)
    return json.loads(head), int(iterations), during == "True"


def test_a_failing_allocation_on_the_first_step_changes_no_parameter(monkeypatch):
    """Slots and scratch are allocated before the first parameter changes: a MemoryError creating
    the second parameter's slots leaves the first one untouched."""
    opt = nn.optimizers.Adam(0.1)
    a, b = np.ones(5, f32), np.ones(6, f32)
    original = optimizers.Optimizer.slots

    def slots(self, param):
        if param is b:
            raise MemoryError("no memory for the slots")
        return original(self, param)

    monkeypatch.setattr(optimizers.Optimizer, "slots", slots)
    with pytest.raises(MemoryError):
        opt.apply_gradients([(np.ones_like(a), a), (np.ones_like(b), b)])
    assert np.all(a == 1) and np.all(b == 1) and opt.iterations == 0


def test_a_step_count_at_its_limit_is_refused_before_the_update():
    """``iterations`` advances after the update; at 2**62 - 1 it cannot, so the step is refused first."""
    opt = nn.optimizers.SGD(0.1)
    opt.iterations = 2**62 - 1
    w = np.ones(3, f32)
    with pytest.raises(ValueError, match=r"iterations \(4611686018427387903\) cannot advance"):
        opt.apply_gradients([(np.ones_like(w), w)])
    assert np.all(w == 1) and opt.iterations == 2**62 - 1


# ----------------------------------------------------------------------------------------------
# Class 7: empty and extreme inputs
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["fit", "evaluate", "predict", "train_on_batch"])
def test_an_empty_model_is_refused_with_a_clear_error(op):
    model = nn.Sequential([])
    model.compile()
    x, y = _data(4)
    call = {"fit": lambda: model.fit(x, y, verbose=0), "evaluate": lambda: model.evaluate(x, y),
            "predict": lambda: model.predict(x), "train_on_batch": lambda: model.train_on_batch(x, y)}[op]
    with pytest.raises(ValueError, match=f"Sequential.{op}: the model has no layers"):
        call()


def test_an_epoch_of_zero_batches_is_refused():
    with pytest.raises(ValueError, match="run_epoch: every epoch needs at least one non-empty batch, got 0 batches"):
        run_epoch(lambda xb, yb, k: (0.0, 0.0), np.zeros((0, 3), f32), np.zeros(0, int), [])


@pytest.mark.parametrize("split", ["training", "test"])
def test_the_driver_refuses_an_empty_split(split):
    (x, y), (xt, yt) = nn.datasets.load_mnist(SAMPLE_PATH, verbose=False)
    data = [(x[:100], y[:100]), (xt[:50], yt[:50])]
    k = 0 if split == "training" else 1
    data[k] = (data[k][0][:0], data[k][1][:0])
    with pytest.raises(ValueError, match=f"the {split} split has 0 images"):
        driver.train_model("softmax", tuple(data), ("numpy",), epochs=1, verbose=False)


@pytest.mark.parametrize("split", ["training", "test"])
def test_the_cli_exits_1_with_one_line_on_an_empty_split(split, tmp_path, capsys, monkeypatch):
    """Whatever the loader lets through, the CLI refuses a split of 0 images before training."""
    real = nn.datasets.load_mnist

    def empty_split(*args, **kwargs):
        train, test, source = real(SAMPLE_PATH, return_source=True, verbose=False)
        if split == "training":
            train = (train[0][:0], train[1][:0])
        else:
            test = (test[0][:0], test[1][:0])
        return train, test, source

    monkeypatch.setattr(cli, "load_mnist", empty_split)
    status, _, err = _softmax_cli(tmp_path, capsys, lr="0.5")
    assert status == 1
    assert_one_line_error(err, f"the {split} split has 0 images", str(SAMPLE_PATH))
    assert list((tmp_path / "out").iterdir()) == []


def test_a_trained_model_deepcopies_with_its_optimizer_state_following_the_copy():
    """Adam's moments are keyed by the parameter arrays; a copy must keep them attached to the
    copied arrays (not silently start again from zeros), independent of the original's."""
    model, x, y = _trained_dropout_model()
    model.train_on_batch(x, y)
    twin = copy.deepcopy(model)
    kernel, twin_kernel = model.layers[1].params["kernel"], twin.layers[1].params["kernel"]
    assert twin_kernel is not kernel
    for s, t in zip(model.optimizer.slots(kernel), twin.optimizer.slots(twin_kernel)):
        assert t is not s and t.tobytes() == s.tobytes() and np.any(t != 0)
    model.train_on_batch(x, y)
    twin.train_on_batch(x, y)
    assert _state(twin) == _state(model)


@pytest.mark.parametrize("seed", [np.int64(7), np.uint8(7), 7])
def test_a_numpy_integer_seed_becomes_a_python_int(seed):
    model = nn.Sequential([Dense(3)], seed=seed)
    assert type(model.seed) is int and model.seed == 7


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", 2**63])
def test_a_bad_model_seed_is_refused(seed):
    with pytest.raises(ValueError, match=r"Sequential: seed must be None or an integer in \[0, 2\*\*63\)"):
        nn.Sequential([Dense(3)], seed=seed)


# ----------------------------------------------------------------------------------------------
# Hostile optimizer and fit arguments
# ----------------------------------------------------------------------------------------------

OPTIMIZER_ARGUMENTS = [
    ("SGD", {"learning_rate": float("nan")}, "learning_rate"),
    ("SGD", {"learning_rate": float("inf")}, "learning_rate"),
    ("SGD", {"learning_rate": -1e-3}, "learning_rate"),
    ("SGD", {"learning_rate": "0.1"}, "learning_rate"),
    ("SGD", {"learning_rate": True}, "learning_rate"),
    ("SGD", {"momentum": 1.5}, "momentum"),
    ("SGD", {"momentum": -0.1}, "momentum"),
    ("SGD", {"momentum": float("nan")}, "momentum"),
    ("SGD", {"block": 0}, "block"),
    ("SGD", {"block": 2.5}, "block"),
    ("Adam", {"beta_1": 1.0}, "beta_1"),
    ("Adam", {"beta_1": float("nan")}, "beta_1"),
    ("Adam", {"beta_2": 1.0}, "beta_2"),
    ("Adam", {"beta_2": -0.1}, "beta_2"),
    ("Adam", {"epsilon": 0}, "epsilon"),
    ("Adam", {"epsilon": float("inf")}, "epsilon"),
    ("Adam", {"learning_rate": 1e400}, "learning_rate"),
    ("Adam", {"block": -1}, "block"),
]


@pytest.mark.parametrize("name, kwargs, argument", OPTIMIZER_ARGUMENTS,
                         ids=[f"{n}-{a}-{list(k.values())[0]!r}" for n, k, a in OPTIMIZER_ARGUMENTS])
def test_an_optimizer_refuses_a_bad_argument_naming_it(name, kwargs, argument):
    with pytest.raises(ValueError, match=f"{name}: {argument} must be"):
        optimizers.OPTIMIZERS[name](**kwargs)


FIT_ARGUMENTS = [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -4}, ValueError, "batch_size"),
    ({"batch_size": 2.5}, ValueError, "batch_size"),
    ({"batch_size": True}, ValueError, "batch_size"),
    ({"batch_size": "32"}, ValueError, "batch_size"),
    ({"epochs": -1}, ValueError, "epochs"),
    ({"epochs": 1.5}, ValueError, "epochs"),
    ({"epochs": 2, "initial_epoch": 3}, ValueError, "initial_epoch (3) must not exceed epochs (2)"),
    ({"initial_epoch": -1}, ValueError, "initial_epoch"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 0.5}, ValueError, "seed"),
    ({"on_epoch_end": 3}, TypeError, "on_epoch_end"),
    ({"validation_data": np.zeros((4, 28, 28), f32)}, ValueError, "validation_data must be a pair"),
    ({"validation_data": (np.zeros((4, 28, 27), f32), np.zeros(4, int))}, ValueError, "(in validation_data)"),
    ({"validation_data": (np.zeros((4, 28, 28), f32), np.zeros(3, int))}, ValueError, "(in validation_data)"),
    ({"validation_data": (np.zeros((4, 28, 28), f32), np.eye(10)[:4])}, ValueError, "(in validation_data)"),
    ({"validation_data": (np.zeros((0, 28, 28), f32), np.zeros(0, int))}, ValueError, "(in validation_data)"),
]


@pytest.mark.parametrize("kwargs, error, words", FIT_ARGUMENTS, ids=[repr(k)[:60] for k, _, _ in FIT_ARGUMENTS])
def test_fit_refuses_a_bad_argument_before_anything_changes(kwargs, error, words):
    model, x, y = _trained_dropout_model()
    before = _state(model)
    with pytest.raises(error) as info:
        model.fit(x, y, verbose=0, **kwargs)
    assert "Sequential.fit" in str(info.value) and words in str(info.value), str(info.value)
    assert _state(model) == before


def test_a_batch_size_larger_than_the_data_trains_one_step():
    model, x, y = _trained_dropout_model()
    steps = model.optimizer.iterations
    model.fit(x, y, batch_size=10**18, epochs=1, seed=0, verbose=0)
    assert model.optimizer.iterations == steps + 1


# --- found by the second round of hostile probes -------------------------------------------------
def _state_bytes(model):
    opt = model.optimizer
    slots = [s.tobytes() for layer in model.layers for p in layer.params.values() for s in opt.slots(p)]
    return [w.tobytes() for w in model.get_weights()], slots, opt.iterations


def test_an_epsilon_that_rounds_to_0_in_the_parameters_dtype_is_refused_before_the_step():
    """Adam(epsilon=1e-8) is PyTorch's default; in float16 it is 0, and a weight whose gradient has
    always been 0 would get 0 / 0 = NaN in the first step."""
    model = nn.Sequential([Dense(3)], seed=0)
    model.compile(nn.optimizers.Adam(1e-3, epsilon=1e-8), "sparse_categorical_crossentropy")
    x, y = np.ones((4, 5), np.float16), np.zeros(4, np.int64)
    model.build((5,), np.float16)
    before = _state_bytes(model)
    with pytest.raises(ValueError, match=r"epsilon 1e-08 rounds to 0 in float16"):
        model.fit(x, y, verbose=0)
    assert _state_bytes(model) == before
    model.compile(nn.optimizers.Adam(1e-3, epsilon=1e-7), "sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0)  # 1e-7 is a float16 subnormal: accepted, and the weights stay finite
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_validation_data_of_another_dtype_is_refused_before_the_first_step():
    model = nn.Sequential([Dense(3)], seed=0)
    model.compile(nn.optimizers.Adam(), "sparse_categorical_crossentropy")
    x, y = np.ones((8, 5), f32), np.zeros(8, np.int64)
    model.build((5,))
    before = _state_bytes(model)
    with pytest.raises(TypeError, match=r"built for float32 inputs, got float64 \(in validation_data\)"):
        model.fit(x, y, epochs=2, verbose=0, validation_data=(x.astype(np.float64), y))
    assert _state_bytes(model) == before


def test_one_optimizer_shared_by_two_models_is_refused_before_the_second_changes():
    """Shared, the second model would continue the first's step count and moments (Keras 3 refuses too)."""
    opt = nn.optimizers.Adam()
    a, b = nn.Sequential([Dense(3)], seed=0), nn.Sequential([Dense(3)], seed=1)
    x, y = np.ones((8, 5), f32), np.zeros(8, np.int64)
    a.compile(opt, "sparse_categorical_crossentropy")
    a.fit(x, y, verbose=0)
    b.compile(opt, "sparse_categorical_crossentropy")
    b.build((5,))
    weights = [w.tobytes() for w in b.get_weights()]
    with pytest.raises(ValueError, match="use one optimizer per model"):
        b.fit(x, y, verbose=0)
    assert [w.tobytes() for w in b.get_weights()] == weights and opt.iterations == 1
    a.fit(x, y, verbose=0)  # the model it belongs to trains on
    assert opt.iterations == 2


@pytest.mark.parametrize("y, error, words", [
    (np.int64(1), TypeError, "y must be an array of labels"),
    ([0, 1], TypeError, "y must be an array of labels (class ids or rows), got list"),
    (np.zeros(3, np.int64), ValueError, "y must have one label per example (8), got 3"),
])
def test_labels_that_are_not_an_array_of_one_label_per_example_are_named(y, error, words):
    model = nn.Sequential([Dense(3)], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(error) as info:
        model.fit(np.ones((8, 5), f32), y, verbose=0)
    assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_set_weights_refuses_non_finite_values(value):
    model = nn.Sequential([Dense(3)], seed=0, input_shape=(5,))
    weights = model.get_weights()
    bad = [w.copy() for w in weights]
    bad[0][0, 0] = value
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        model.set_weights(bad)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(model.get_weights(), weights))
