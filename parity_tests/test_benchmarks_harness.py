"""The benchmark harness runs end to end in ``--quick`` mode and writes its JSON, markdown and
figures; ``benchmarks.profile_step`` and ``benchmarks.memory`` run on tiny sizes, their measurements
are checked on planted allocations, and every documented command line parses. Only the plumbing is
checked: no timing is ever asserted."""
import importlib
import importlib.util
import json
import math
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from benchmarks import memory, profile_step, timing
from benchmarks.__main__ import main, parse_args
from benchmarks.config import FULL, QUICK, TARGETS
from benchmarks.machine import THREAD_ENV
from numpy_nn.zoo import TUTORIAL_MODELS

from .registry import BENCHMARKED

OP_GROUPS = {op.benchmark.group for op in BENCHMARKED}

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]
MIB = 2**20


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


# --- benchmarks.profile_step and benchmarks.memory -------------------------------------------------
# The runs below use tiny sizes and check structure only; the ones that import TensorFlow run in a
# child process, so that a TensorFlow crash fails one test instead of killing pytest.


@pytest.fixture
def restored_thread_env(monkeypatch):
    """The tools set the BLAS thread variables in os.environ: put them back after the test."""
    for name in THREAD_ENV:
        monkeypatch.setenv(name, os.environ.get(name, ""))


def run_tool(module, *args, timeout=240):
    """``python -m <module> args`` in a child process (repository root on PYTHONPATH): the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_what_if_offers_optimizer_threads_rows_only_when_the_optimizer_has_threads():
    plain = types.SimpleNamespace(check_finite=True, optimizer=types.SimpleNamespace())
    threaded = types.SimpleNamespace(check_finite=True, optimizer=types.SimpleNamespace(threads=None))
    assert [label for label, _ in profile_step.what_if_variants(plain.optimizer)] == \
        ["as it is", "model.check_finite = False"]
    variants = dict(profile_step.what_if_variants(threaded.optimizer))
    assert list(variants) == ["as it is", "model.check_finite = False", "optimizer.threads = 1", "optimizer.threads = 2"]
    variants["model.check_finite = False"](threaded)
    variants["optimizer.threads = 2"](threaded)
    assert threaded.check_finite is False and threaded.optimizer.threads == 2


def test_profile_step_what_if_without_tensorflow_prints_and_writes_its_rows(tmp_path, capsys, restored_thread_env):
    path = tmp_path / "profile.json"
    assert profile_step.main(["softmax", "4", "--calls", "3", "--threads", "1", "--what-if", "--no-tf",
                              "--json", str(path)]) == 0
    out = capsys.readouterr().out
    from numpy_nn import zoo
    expected = [label for label, _ in profile_step.what_if_variants(zoo.get("softmax").build(0).optimizer)]
    for label in expected:
        assert f"| {label} |" in out
    assert "first layer" not in out and "TensorFlow: not run (--no-tf)" in out
    run = json.loads(path.read_text())
    assert [r["label"] for r in run["what_if"]] == expected
    assert all(r["median_us"] > 0 for r in run["what_if"] + run["numpy"]["pieces"][:-1])
    assert "tensorflow" not in run and run["machine"]["threads"]["requested"] == 1
    assert run["configuration"].splitlines()[0] in out.splitlines()[0]
    labels = [r["label"] for r in run["numpy"]["pieces"]]
    assert any("(no input gradient)" in label for label in labels)  # the first weighted layer, as in the step


def test_profile_step_what_if_with_tensorflow_runs_in_a_child(tmp_path):
    path = tmp_path / "profile.json"
    done = run_tool("benchmarks.profile_step", "softmax", 4, "--calls", 3, "--threads", 1, "--what-if",
                    "--json", path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| as it is |" in done.stdout and "| model.check_finite = False |" in done.stdout
    run = json.loads(path.read_text())
    if importlib.util.find_spec("tensorflow") is None:
        assert "not installed" in run["tensorflow_note"]
        return
    assert [r["label"] for r in run["tensorflow"]][:1] == ["tf.function step (KerasTrainer.compiled_step)"]
    assert len(run["tensorflow"]) == 4 and all(r["median_us"] > 0 for r in run["tensorflow"])


def test_tracemalloc_measurement_sees_a_planted_8_mb_array_and_nothing_when_nothing_is_allocated():
    nbytes = 8 * 10**6
    big = memory.traced(lambda: np.ones(nbytes // 8))
    assert big["peak_bytes"] >= nbytes and abs(big["residue_bytes"]) < 64 * 1024
    nothing = memory.traced(lambda: None)
    assert abs(nothing["peak_bytes"]) < 64 * 1024 and abs(nothing["residue_bytes"]) < 64 * 1024
    calls = iter([lambda: np.ones(nbytes // 8)] * memory.WARMUP_STEPS + [lambda: None])
    after_big_warmup = memory.traced(lambda: next(calls)())  # the warm-up's peak is not the call's
    assert abs(after_big_warmup["peak_bytes"]) < 64 * 1024


def test_tracemalloc_measurement_reports_what_a_call_leaves_allocated():
    kept = []
    leak = memory.traced(lambda: kept.append(np.ones(MIB // 8)))
    assert leak["residue_bytes"] >= MIB and leak["retained_bytes"] >= MIB and leak["retained_blocks"] >= 1
    assert leak["top_retained"][0]["bytes"] >= MIB  # the kept array's line comes first


def test_rss_measurement_sees_a_planted_64_mib_array_touched_and_freed():
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("no writable /proc/self/clear_refs (not Linux): the rss method is unavailable here")
    touched = memory.rss_peak(lambda: np.ones(64 * MIB // 8))  # above malloc's mmap threshold: fresh pages
    assert touched["peak_bytes"] >= 60 * MIB
    assert memory.rss_peak(lambda: None)["peak_bytes"] < 8 * MIB


def test_memory_tool_on_a_tiny_softmax_writes_json_with_every_field(tmp_path):
    done = run_tool("benchmarks.memory", "--models", "softmax", "--batches", 8, "--epoch-samples", 32,
                    "--threads", 1, "--out", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((tmp_path / "memory.json").read_text())
    assert run["configuration"] and run["machine"]["threads"]["requested"] == 1 and run["epoch_samples"] == 32
    rows = {(r["framework"], r["method"]): r for r in run["rows"]}
    assert {("numpy_nn", "tracemalloc"), ("numpy_nn", "rss")} <= set(rows)
    from numpy_nn import zoo
    model = zoo.get("softmax").build(0)
    params = sum(p.nbytes for layer in model.layers for p in layer.params.values())
    traced = rows["numpy_nn", "tracemalloc"]
    assert traced["model"] == "softmax" and traced["batch"] == 8
    assert traced["params_slots_bytes"] >= params > 0
    for key in ("peak_bytes", "residue_bytes", "retained_blocks", "retained_bytes"):
        assert key in traced["step"] and key in traced["epoch"]
    assert traced["step"]["peak_bytes"] > 0 and traced["epoch"]["peak_bytes"] > 0
    for r in run["rows"]:
        assert "peak_bytes" in r["step"] and "residue_bytes" in r["step"], r
    if importlib.util.find_spec("tensorflow") is not None:
        tf_row = next(r for r in run["rows"] if r["framework"] == "tensorflow")
        assert tf_row["method"] in ("rss", "tf get_memory_info") and tf_row["params_slots_bytes"] >= params
    text = (tmp_path / "memory.md").read_text()
    assert run["configuration"] in text and "| model | batch | framework | method |" in text
    assert "Not directly comparable with tracemalloc rows" in text  # the methods count different things


# --- every documented command line parses ---------------------------------------------------------
def readme_commands():
    """The ``python -m benchmarks...`` lines of benchmarks/README.md's first ```sh block, as argv lists."""
    text = (REPO / "benchmarks" / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("python -m benchmarks")]


def module_parser(module):
    """The module's argument parser as a function of argv: ``build_parser().parse_args`` or
    ``parse_args``; None when the module has neither (it reads its arguments inside ``main``)."""
    if hasattr(module, "build_parser"):
        return module.build_parser().parse_args
    return getattr(module, "parse_args", None)


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda argv: " ".join(argv[2:]))
def test_every_readme_command_line_parses_with_its_module_parser(argv):
    name = argv[2]
    module = importlib.import_module(name if name != "benchmarks" else "benchmarks.__main__")
    parse = module_parser(module)
    if parse is None:
        pytest.skip(f"{name} has no parser function (build_parser or parse_args): only its import is checked")
    try:
        parse(argv[3:])
    except SystemExit as exc:
        pytest.fail(f"benchmarks/README.md: `{' '.join(argv)}` does not parse ({name} exits with {exc.code})")


def test_the_readme_lists_the_commands_whose_parsers_are_checked():
    names = {argv[2] for argv in readme_commands()}
    assert {"benchmarks", "benchmarks.profile_step"} <= names


def test_the_levers_tool_times_every_variant_of_the_levers_asked_for():
    """``python -m benchmarks.levers --quick``: one row per variant, each a positive time."""
    done = run_tool("benchmarks.levers", "--quick", "--only", "adam-threads", "step-check", "im2col")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|")[1:4] for line in done.stdout.splitlines() if line.startswith("| ") and "median ms" not in line]
    got = {(lever.strip(), variant.strip()) for lever, variant, _ in rows}
    assert {("adam-threads", "threads = 1"), ("adam-threads", "threads = 2"), ("step-check", "check_finite = True"),
            ("step-check", "check_finite = False")} <= got, done.stdout
    assert sum(lever.strip() == "im2col" for lever, _, _ in rows) == 8, done.stdout
    assert all(float(ms) > 0 for _, _, ms in rows), done.stdout
    assert "BLAS threads" in done.stdout, done.stdout
