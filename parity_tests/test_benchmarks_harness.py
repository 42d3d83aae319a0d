"""The benchmark harness runs end to end in ``--quick`` mode and writes its JSON, markdown and
figures. Only the plumbing is checked: no timing is ever asserted."""
import json
import math

import pytest

from benchmarks import timing
from benchmarks.__main__ import main, parse_args
from benchmarks.config import FULL, QUICK, TARGETS
from numpy_nn.zoo import TUTORIAL_MODELS

from .registry import BENCHMARKED

OP_GROUPS = {op.benchmark.group for op in BENCHMARKED}

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One ``--quick`` run for the whole module. NumPy is already imported under pytest, so this also
    exercises the re-run in a fresh interpreter that fixes the BLAS thread count."""
    out = tmp_path_factory.mktemp("bench") / "quick"
    status = main(["--quick", "--threads", "1", "--out", str(out)])
    return status, out


def test_quick_run_exits_cleanly_and_writes_json_markdown_and_figures(quick_run):
    status, out = quick_run
    assert status == 0
    for name in ("results.json", "report.md", "time_vs_size.png", "ratio_models.png"):
        assert (out / name).is_file(), f"{name} missing from {sorted(p.name for p in out.iterdir())}"
    for name in ("time_vs_size.png", "ratio_models.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, f"{name} is not a PNG"


def test_json_records_machine_threads_ceilings_and_every_case_group(quick_run):
    _, out = quick_run
    run = json.loads((out / "results.json").read_text())
    assert run["quick"] is True and run["command"].startswith("python -m benchmarks")
    machine = run["machine"]
    assert machine["cpu"] and machine["cpus_available"] >= 1
    assert machine["threads"]["requested"] == 1
    assert machine["threads"]["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert {"numpy", "numpy_nn"} <= set(machine["versions"])
    assert run["ceilings"]["matmul_gflops_used"] > 0 and run["ceilings"]["copy_gbps_used"] > 0
    groups = {r["group"] for r in run["results"]}
    assert groups == OP_GROUPS | {"optimizer_sgd", "optimizer_adam", "model"}
    models = {r["params"]["model"] for r in run["results"] if r["group"] == "model"}
    assert models == set(TUTORIAL_MODELS)
    for op in BENCHMARKED:  # every quick size of every benchmarked op, forward and forward+backward
        cases = {(r["case"], r["mode"]) for r in run["results"] if r["group"] == op.benchmark.group}
        assert cases == {(op.benchmark.label(s), m) for s in op.benchmark.quick for m in ("forward", "forward+backward")}
    for r in run["results"]:
        s = r["rows"]["numpy"]
        assert "error" not in s, f"{r['case']} {r['mode']}: {s}"
        assert s["calls"] >= QUICK.min_calls and s["q1_ms"] <= s["median_ms"] <= s["q3_ms"]


def test_tensorflow_rows_and_ratios_are_there_when_tensorflow_is(quick_run):
    _, out = quick_run
    run = json.loads((out / "results.json").read_text())
    if "tensorflow" not in run["machine"]["versions"]:
        pytest.skip("TensorFlow is not installed: the run has no TensorFlow rows (its notes say so)")
    assert run["machine"]["threads"]["tensorflow"]["intra_op"] == 1
    for r in run["results"]:
        # The one Keras training step is compiled (KerasTrainer.compiled_step): model rows have no eager twin.
        rows = ("tf_function",) if r["group"] == "model" else ("tf_function", "tf_eager")
        for row in rows:
            assert "median_ms" in r["rows"][row], f"{r['case']} {r['mode']} {row}: {r['rows'][row]}"
        assert math.isfinite(r["ratios"]["numpy/tf_function"]["ratio"])
    assert all("tf_eager" not in r["rows"] for r in run["results"] if r["group"] == "model")
    assert {r["params"]["keras_twin"] for r in run["results"] if r["group"] == "model"} == \
        {"tf_nn.training.KerasTrainer.compiled_step"}
    steps = [r for r in run["results"] if r["group"] == "model"]
    assert all(r["target"] == TARGETS[(r["params"]["model"], r["params"]["batch"])] for r in steps)


def test_markdown_has_the_machine_the_targets_and_says_whether_a_gpu_was_timed(quick_run):
    _, out = quick_run
    text = (out / "report.md").read_text()
    for heading in ["## Machine", "## Training step", "## Adam step"] + [f"## {op.benchmark.title}" for op in BENCHMARKED]:
        assert heading in text
    run = json.loads((out / "results.json").read_text())
    gpu_rows = any(row in r["rows"] for r in run["results"] for row in ("cupy", "tf_gpu"))
    assert gpu_rows or "No GPU timings" in text


def test_measure_survives_a_failing_contender_and_reports_quartiles():
    def boom():
        raise RuntimeError("no such device")
    result = timing.measure({"ok": lambda: None, "bad": boom}, warmup=1, rounds=3, budget_s=0.001, min_calls=6, max_calls=30)
    assert "no such device" in result["bad"]["error"]
    ok = result["ok"]
    assert ok["calls"] >= 6 and len(ok["round_medians_ms"]) == 3
    assert ok["q1_ms"] <= ok["median_ms"] <= ok["q3_ms"] and ok["iqr_ms"] >= 0


def test_quartiles_interpolate_like_numpy():
    assert timing.quartiles([4.0, 1.0, 3.0, 2.0]) == (1.75, 2.5, 3.25)
    assert timing.quartiles([7.0]) == (7.0, 7.0, 7.0)


def test_only_op_keeps_every_op_case_and_nothing_else():
    from benchmarks.cases import wanted

    assert all(wanted("op", g, ["op"]) for g in OP_GROUPS)
    assert not wanted("optimizer", "optimizer_sgd", ["op"]) and not wanted("model", "model", ["op"])
    assert wanted("op", "conv2d", ["conv"]) and not wanted("op", "dense", ["conv"])
    assert wanted("optimizer", "optimizer_adam", ["optimizer"]) and wanted("model", "model", None)


def test_command_line_defaults_and_the_full_sweep_cover_the_issue():
    args = parse_args([])
    assert args.out == "bench-out" and args.gpu == "auto" and not args.quick
    assert parse_args(["--gpu"]).gpu == "require" and parse_args(["--no-gpu"]).gpu == "off"
    assert FULL.model_batches == (32, 128)
    assert {2_770_634} <= set(FULL.optimizer)  # the cnn's parameter count
