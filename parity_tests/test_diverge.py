"""The divergence localiser (``numpy-nn diverge``, :mod:`numpy_nn.app.divergence`).

* The rule on synthetic series: each kind, its first step and parameter, and that one step's chance
  is not a precision verdict.
* Planted differences, on a tiny 784-16-10 ReLU model, the bundled sample and small batches: a semantic
  difference in one framework only (Keras's Adam epsilon; numpy_nn's dense output scaled by 1.001 from step 6)
  comes back ``semantics`` at the planted op and the first step it matters; a float32-only loss of
  accuracy in numpy_nn (its float32 gradients truncated to 8 mantissa bits) comes back ``precision``
  naming numpy_nn; the unmodified run comes back ``rounding`` or ``none``.
* The CLI: a small run writes both files and prints the verdict; bad input is a one-line error.

The Keras steps run in-process, as in ``test_parity_models.py`` and ``test_cli.py``: a training step
on valid inputs, no kernel known to abort (see ``tf_isolated.py`` for those).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from numpy_nn.app import divergence as dv
from numpy_nn.datasets import SAMPLE_PATH, load_mnist
from numpy_nn.layers import Dense
from numpy_nn.zoo import TutorialModel
from parity_tests.cli_helpers import assert_one_line_error, run_cli

TINY = TutorialModel("tiny", "784-16-10, ReLU, logits", lambda: [Dense(16, activation="relu"), Dense(10)],
                     (784,), True, "adam", 0.001, 8, 1, "scale")
STEPS = 12


# ----------------------------------------------------------------------------------------------
# The rule, on synthetic series
# ----------------------------------------------------------------------------------------------

def series(steps=10, params=2, **overrides):
    """Gaps at pure rounding level (float64 pair ~1e-16, float32 pair and drifts ~1e-7), with
    ``overrides[gap][metric] = (from_step, param, value)`` planted."""
    base = {"np64-tf64": 1e-16, "np32-tf32": 1e-7, "np32-np64": 1e-7, "tf32-tf64": 1e-7}
    gaps = {g: {m: np.full((steps, params), v) for m in dv.METRICS} for g, v in base.items()}
    for gap, (metric, start, param, value) in overrides.items():
        gaps[gap.replace("_", "-")][metric][start - 1:, param] = value
    return {"params": [f"p{j}" for j in range(params)], "layers": [f"layer{j}" for j in range(params)], "gaps": gaps}


TH = dv.Thresholds(sum_length=100)


def test_classify_unmodified_rounding_is_none():
    assert dv.classify(series(), TH)["kind"] == "none"


def test_closest_says_how_near_each_gap_came_to_its_bound():
    near = dv.closest(series(np32_tf32=("max", 4, 1, 2e-5)), TH)
    bound32 = 8 * dv.EPS32 * 100  # K = 100: the float64 gap (1e-16 < K eps64) gives the floor
    assert near["rounding"]["step"] == 4 and near["rounding"]["param"] == "p1"
    assert near["rounding"]["ratio"] == pytest.approx(2e-5 / bound32)
    assert near["semantics"]["ratio"] == pytest.approx(1e-16 / (8 * dv.EPS64 * 100))


def test_classify_float64_runs_apart_is_semantics_at_the_first_such_step():
    v = dv.classify(series(np64_tf64=("max", 7, 1, 1e-9)), TH)
    assert (v["kind"], v["first_step"], v["param"], v["layer"]) == ("semantics", 7, "p1", "layer1")


def test_classify_the_float64_bound_grows_with_the_measured_float32_drift():
    """G(t) from the float32 drift: drifts of 1e-2 allow a float64 gap of 8 eps64 1e-2 / eps32 ~ 1.5e-10."""
    drift = dict(np32_np64=("max", 1, 1, 1e-2))
    assert dv.classify(series(np64_tf64=("max", 3, 1, 1e-10), **drift), TH)["kind"] != "semantics"
    assert dv.classify(series(np64_tf64=("max", 3, 1, 1e-9), **drift), TH)["kind"] == "semantics"


def test_classify_one_framework_drifting_faster_is_precision_naming_it():
    v = dv.classify(series(tf32_tf64=("median", 4, 0, 1e-4)), TH)
    assert (v["kind"], v["first_step"], v["framework"], v["param"]) == ("precision", 4, "tensorflow", "p0")
    v = dv.classify(series(np32_np64=("median", 2, 1, 1e-4)), TH)
    assert (v["kind"], v["first_step"], v["framework"]) == ("precision", 2, "numpy_nn")


def test_classify_one_step_of_faster_drift_is_not_a_rate():
    s = series()
    s["gaps"]["tf32-tf64"]["median"][4, 0] = 1e-4  # one step only, fewer than PERSIST
    assert dv.classify(s, TH)["kind"] == "none"


def test_classify_float32_runs_parting_alone_is_rounding():
    v = dv.classify(series(np32_tf32=("max", 5, 0, 1e-2)), TH)
    assert (v["kind"], v["first_step"], v["param"]) == ("rounding", 5, "p0")


def test_classify_semantics_comes_before_precision_and_rounding():
    v = dv.classify(series(np64_tf64=("max", 8, 0, 1e-6), np32_tf32=("max", 3, 0, 1e-2),
                           tf32_tf64=("median", 2, 1, 1e-4)), TH)
    assert v["kind"] == "semantics" and v["first_step"] == 8
    assert v["findings"]["rounding"]["first_step"] == 3 and v["findings"]["precision"]["first_step"] == 2


def test_the_verdict_and_its_sentence_name_the_kind_step_layer_and_cause():
    from numpy_nn.app.diverge import secondary_line, verdict_line
    from numpy_nn.app.divergence_localise import explain

    cause = {"step": 9, "flips": 1, "first": [{"layer": "dense", "example": 3, "unit": 17, "numpy": 2e-8,
                                               "tensorflow": -1e-8, "within_rounding": True}]}
    result = {"kind": "rounding", "first_step": 9, "layer": "dense", "param": "dense/kernel", "op": None,
              "framework": None, "cause": cause, "settings": {"steps": 20}, "rule": TH.describe(),
              "findings": {"rounding": {"first_step": 9, "layer": "dense", "cause": cause}}}
    line, sentence = verdict_line(result), explain(result)
    assert line.startswith("rounding at step 9, layer 'dense'") and "unit 17" in line
    assert "unit 17" in sentence and "example 3" in sentence and "within rounding of 0" in sentence
    assert secondary_line(result) is None
    precision = {**result, "kind": "precision", "framework": "tensorflow", "cause": None}
    assert verdict_line(precision).endswith("framework tensorflow")
    assert "tensorflow's float32 run" in explain(precision) and "step 9" in secondary_line(precision)


# ----------------------------------------------------------------------------------------------
# Planted differences on a tiny model (TensorFlow in-process)
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    pytest.importorskip("tensorflow")
    (x, y), (xt, yt) = load_mnist(SAMPLE_PATH, verbose=False)
    return (x[:400], y[:400]), (xt[:10], yt[:10])


def test_planted_keras_adam_epsilon_is_semantics_in_the_update_at_step_1(sample):
    def keras_epsilon(tag, obj):
        if tag.startswith("tf"):
            obj.optimizer.epsilon = 1e-4  # numpy_nn keeps 1e-7
    r = dv.run_divergence(TINY, STEPS, sample, plant=dv.Plant(on_build=keras_epsilon))
    assert (r["kind"], r["first_step"], r["op"]) == ("semantics", 1, "update (Adam)"), r["explanation"]
    assert r["localisation"]["first_op_error"] is None  # forward and backward agree op by op
    assert "update" in r["explanation"]


def test_planted_numpy_dense_scale_from_step_6_is_semantics_at_that_op_and_step(sample):
    def scale(step, tag, obj):
        layer = obj.layers[1] if tag.startswith("np") else None
        if layer is not None and step == 6 and "_forward" not in vars(layer):
            plain = layer._forward
            layer._forward = lambda x, training: plain(x, training) * x.dtype.type(1.001)
    r = dv.run_divergence(TINY, STEPS, sample, optimizer="sgd", plant=dv.Plant(before_step=scale))
    names = r["layers"]
    assert (r["kind"], r["first_step"], r["op"]) == ("semantics", 6, "dense"), r["explanation"]
    assert r["layer"] == names[-1] and r["localisation"]["step"] == 6
    assert "'dense'" in r["explanation"]


def truncate_float32_gradients(tag, obj):
    """numpy_nn's float32 run only: every gradient truncated to 8 mantissa bits before the update."""
    if tag != "np32":
        return
    apply = obj.optimizer.apply_gradients

    def coarse(pairs, **kwargs):
        pairs = list(pairs)
        for g, _ in pairs:
            g.view(np.uint32)[...] &= np.uint32(0xFFFF0000)
        return apply(pairs, **kwargs)
    obj.optimizer.apply_gradients = coarse


def test_planted_float32_loss_of_accuracy_in_numpy_is_precision_naming_numpy(sample):
    r = dv.run_divergence(TINY, STEPS, sample, optimizer="sgd", plant=dv.Plant(on_build=truncate_float32_gradients))
    assert (r["kind"], r["framework"]) == ("precision", "numpy_nn"), r["explanation"]
    assert r["first_step"] <= 3 and r["layer"] in r["layers"]


def test_relu_flips_names_the_unit_whose_preactivation_crosses_zero_in_one_framework_only(sample):
    """The rounding cause: both float32 runs from the same weights, except that TensorFlow's bias of
    hidden unit 5 is moved so that example 2's pre-activation is -z/2 instead of z/2 (tiny): that one
    unit of that one example fires in numpy_nn only."""
    from numpy_nn.app.divergence_localise import relu_flips

    runs, m32 = dv.build_runs(TINY, seed=0, kind="sgd")
    x = (sample[0][0][:4].reshape(4, 784) / 255.0).astype(np.float32)
    kernel, bias = m32.layers[0].params["kernel"], m32.layers[0].params["bias"]
    z = x @ kernel + bias
    weights = m32.get_weights()
    weights[1] = weights[1].copy()
    weights[1][5] -= z[2, 5] - np.float32(1e-6)          # numpy: z[2, 5] = 1e-6 > 0
    theirs = [w.copy() for w in weights]
    theirs[1][5] -= np.float32(2e-6)                      # TensorFlow: about -1e-6 < 0
    snapshot = {"step": 7, "x": x, "y": np.zeros(4, np.int64), "masks": [],
                "before": {"np32": weights, "tf32": theirs}}
    found = relu_flips(runs["np32"], runs["tf32"], snapshot)
    assert found is not None and found["step"] == 7
    flip = found["first"][0]
    assert (flip["layer"], flip["example"], flip["unit"]) == (m32.layers[0].name, 2, 5), found
    assert flip["numpy"] > 0 >= flip["tensorflow"] and flip["within_rounding"]
    assert found["flips"] == 1  # no other pre-activation lies within 2e-6 of 0
    snapshot["before"]["tf32"] = weights
    assert relu_flips(runs["np32"], runs["tf32"], snapshot) is None


def test_a_float32_start_one_rounding_apart_is_rounding_with_the_unit_that_fires_in_one_framework(sample):
    """End to end: TensorFlow's float32 run starts with one hidden bias moved by 2 delta, delta = 1e-5 of
    the largest pre-activation (a float32-rounding-sized nudge of its start): the first batch's example 0
    then has unit u at +delta in numpy_nn and -delta in TensorFlow. The float64 runs are untouched and
    agree, both float32 runs stay as close to them as each other: ``rounding`` at step 1, caused by unit u."""
    from numpy_nn.app.driver import prepare_inputs

    x = prepare_inputs(TINY, sample[0][0], sample[1][0])[0][dv.batches_for(len(sample[0][0]), TINY.batch_size, 0, 1)[0]]
    planted = {}

    def nudge(tag, obj):
        if tag == "np32":  # the first run built: choose the unit, centre it on example 0
            kernel, bias = obj.layers[0].params["kernel"], obj.layers[0].params["bias"]
            z = x.astype(np.float64) @ kernel + bias
            u = int(np.argmin(np.abs(z[0])))
            delta = 1e-5 * float(np.abs(z).max())
            bias[u] -= np.float32(z[0, u] - delta)
            planted.update(unit=u, delta=delta, bias=bias.copy())
        elif tag == "np64":
            obj.layers[0].params["bias"][...] = planted["bias"]
        elif tag == "tf64":
            obj.model.layers[0].bias.assign(planted["bias"].astype(np.float64))
        elif tag == "tf32":
            moved = planted["bias"].copy()
            moved[planted["unit"]] -= np.float32(2 * planted["delta"])
            obj.model.layers[0].bias.assign(moved)

    r = dv.run_divergence(TINY, 4, sample, plant=dv.Plant(on_build=nudge))
    assert (r["kind"], r["first_step"]) == ("rounding", 1), r["explanation"]
    first = r["cause"]["first"][0]
    assert (first["unit"], first["example"], r["cause"]["step"]) == (planted["unit"], 0, 1), r["cause"]
    assert first["numpy"] > 0 > first["tensorflow"] and first["within_rounding"]
    assert f"unit {planted['unit']}" in r["explanation"] and r["findings"]["semantics"] is None, r["explanation"]


def test_unmodified_run_is_rounding_or_none(sample):
    for optimizer in ("sgd", "adam"):
        r = dv.run_divergence(TINY, STEPS, sample, optimizer=optimizer)
        assert r["kind"] in ("rounding", "none"), (optimizer, r["kind"], r["explanation"])
        assert r["findings"]["semantics"] is None


# ----------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------

def test_cli_writes_both_files_and_prints_the_verdict(sample, tmp_path, capsys):
    from parity_tests.test_plots import assert_valid_png

    status, out, err = run_cli(["diverge", "--model", "softmax", "--steps", "4", "--batch-size", "16",
                                "--data-dir", SAMPLE_PATH, "--out", tmp_path, "--quiet"], capsys)
    assert status == 0, err
    result = json.loads((tmp_path / "divergence.json").read_text())
    assert result["kind"] in ("none", "rounding", "precision", "semantics")
    assert {"settings", "series", "first_step", "layer", "op", "kind", "framework", "explanation", "rule"} <= set(result)
    assert len(result["series"]["steps"]) == 4 and set(result["series"]["gaps"]) == set(dv.GAPS)
    assert out.splitlines()[0].startswith("numpy-nn diverge --model softmax --steps 4") and result["kind"] in out
    assert_valid_png(tmp_path / "divergence.png")


def test_cli_a_diverging_run_is_a_one_line_error_naming_the_run_and_step(sample, tmp_path, capsys):
    status, _, err = run_cli(["diverge", "--model", "softmax", "--steps", "3", "--optimizer", "sgd",
                              "--learning-rate", "1e38", "--data-dir", SAMPLE_PATH, "--out", tmp_path, "--quiet"], capsys)
    assert status == 1
    assert_one_line_error(err, "training diverged", "softmax (np32, step")
    assert not (tmp_path / "divergence.json").exists()


@pytest.mark.parametrize("argv, fragments", [
    (["--model", "resnet"], ["--model", "invalid choice"]),
    (["--model", "mlp", "--steps", "0"], ["--steps", "expected a positive integer"]),
    (["--model", "mlp", "--steps", "100001"], ["--steps", "expected an integer below 100,001"]),
    (["--model", "mlp", "--optimizer", "rmsprop"], ["--optimizer", "invalid choice"]),
    (["--model", "mlp", "--batch-size", "-3"], ["--batch-size"]),
])
def test_cli_bad_arguments_are_one_line_usage_errors(argv, fragments, capsys):
    status, _, err = run_cli(["diverge"] + argv, capsys)
    assert status == 2
    assert_one_line_error(err, *fragments)


def test_cli_out_that_is_a_file_is_an_output_error_before_any_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, _, err = run_cli(["diverge", "--model", "mlp", "--data-dir", tmp_path / "nowhere", "--out", blocker], capsys)
    assert status == 1
    assert_one_line_error(err, str(blocker), "must be a folder")
