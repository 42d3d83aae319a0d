"""benchmarks.crossover on planted results: medians that are exactly a + b x for known a, b, so the
fit, the crossover and the winners have analytic answers. No timing is ever run or asserted, apart
from building (not timing) the training-step cases of one tiny model for ``--batches``."""
import json
import math
from pathlib import Path

import pytest

from benchmarks import crossover as X
from benchmarks import report
from benchmarks.__main__ import choose_sweep, parse_args
from benchmarks.config import TARGETS

STEPS_JSON = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "cpu-amd-epyc-2core-onednn-off" / "results.json"


def line(a_us, b_us):
    """A contender whose median at x is exactly a + b x (microseconds in, ms out, as results.json)."""
    return lambda x: (a_us + b_us * x) / 1e3


def stats(median_ms):
    """A row as :func:`benchmarks.timing.summarise` writes it, with no spread."""
    return {"median_ms": median_ms, "q1_ms": median_ms, "q3_ms": median_ms, "iqr_ms": 0.0, "min_ms": median_ms,
            "calls": 1, "round_medians_ms": [median_ms]}


def op_case(group, mode, params, x, contenders):
    return {"group": group, "case": f"{group} {params}", "mode": mode, "params": params, "batch": params.get("batch"),
            "size": x, "size_label": "planted units",
            "rows": {name: stats(t(x)) for name, t in contenders.items()}}


def model_cases(model, batches, contenders):
    return [{"group": "model", "case": f"{model} batch {b}", "mode": "train step", "params": {"model": model, "batch": b},
             "batch": b, "rows": {name: stats(t(b)) for name, t in contenders.items()}} for b in batches]


def planted_run(results):
    """A results.json-shaped run: a real run's machine block (for the report's header) and ``results``."""
    run = json.loads(STEPS_JSON.read_text())
    run["results"] = results
    run["notes"] = []
    return run


def rows_by(run, family, pair=("numpy", "tf_function")):
    return [r for r in X.crossover_rows(run) if r["family"] == family and r["pair"] == pair]


@pytest.mark.parametrize("a_us,b_us", [(20.0, 2.0), (250.0, 0.125), (3.0, 40.0), (1e4, 3e-6)])
def test_fit_recovers_planted_fixed_and_per_unit_costs(a_us, b_us):
    t = line(a_us, b_us)
    xs = [8, 16, 32, 64, 128, 256] if b_us > 1e-3 else [1e6, 1e7, 1e8, 1e9]  # GEMM-flop-sized x too
    fit = X.fit_line([(x, t(x)) for x in xs])
    assert math.isclose(fit.a_ms * 1e3, a_us, rel_tol=1e-9), fit
    assert math.isclose(fit.b_ms * 1e3, b_us, rel_tol=1e-9), fit
    assert fit.max_residual < 1e-9 and fit.n == len(xs) and not fit.clamped
    assert (fit.x_min, fit.x_max) == (min(xs), max(xs))


def test_fit_is_weighted_by_relative_error_so_a_noisy_large_size_leaves_the_fixed_cost_alone():
    # true a = 100, b = 1; the largest size 10% slow. An unweighted fit moves a by ~27%; 1/t^2 by < 3%.
    xs = [1, 10, 100, 1000, 10000]
    pts = [(x, 100 + x) for x in xs]
    pts[-1] = (10000, 1.10 * 10100)
    fit = X.fit_line(pts)
    assert abs(fit.a_ms - 100) / 100 < 0.03, fit
    assert math.isclose(fit.max_residual, max(abs(t - fit.at(x)) / t for x, t in pts))


def test_fit_keeps_costs_non_negative_and_says_when_the_constraint_binds():
    # Superlinear points: the unconstrained line has a negative intercept.
    pts = [(x, 0.001 * x * x) for x in (10, 20, 40, 80)]
    fit = X.fit_line(pts)
    assert fit.a_ms == 0 and fit.b_ms > 0 and fit.clamped == "a = 0", fit
    # Times that fall with x: the unconstrained slope is negative.
    fit = X.fit_line([(1, 3.0), (2, 2.0), (4, 1.5)])
    assert fit.b_ms == 0 and fit.a_ms > 0 and fit.clamped == "b = 0", fit


def test_crossover_equals_the_analytic_one_with_the_winner_on_each_side():
    np_line, tf_line = line(20, 2.0), line(200, 0.5)  # x* = (200 - 20) / (2 - 0.5) = 120
    run = planted_run(model_cases("mlp", [8, 16, 32, 64, 128, 256], {"numpy": np_line, "tf_function": tf_line})
                      + model_cases("cnn", [8, 16, 32, 64], {"numpy": tf_line, "tf_function": np_line}))
    (mlp,) = rows_by(run, "mlp")
    assert mlp["status"] == "ok" and math.isclose(mlp["crossover"], 120, rel_tol=1e-9)
    assert (mlp["below"], mlp["above"], mlp["where"]) == ("numpy", "tf_function", "inside")
    assert mlp["measured"] == (4, 6)  # numpy faster at 8, 16, 32, 64
    (cnn,) = rows_by(run, "cnn")  # the roles swapped, and measured only below x*
    assert math.isclose(cnn["crossover"], 120, rel_tol=1e-9)
    assert (cnn["below"], cnn["above"], cnn["where"]) == ("tf_function", "numpy", "extrapolated above")


def test_no_crossover_when_one_is_always_faster_or_the_lines_are_parallel():
    run = planted_run(model_cases("softmax", [8, 32, 128], {"numpy": line(10, 1), "tf_function": line(100, 2)})
                      + model_cases("mlp", [8, 32, 128], {"numpy": line(300, 1), "tf_function": line(100, 1)})
                      + model_cases("dropout", [8, 32, 128], {"numpy": line(50, 3), "tf_function": line(100, 1)})
                      + model_cases("cnn", [8, 32, 128], {"numpy": line(500, 0.5), "tf_function": line(100, 2)}))
    expected = {"softmax": "numpy", "mlp": "tf_function"}  # always faster; parallel (equal b)
    for model, winner in expected.items():
        (r,) = rows_by(run, model)
        assert r["crossover"] is None and r["where"] is None, r
        assert r["below"] == r["above"] == winner, r
    (dropout,) = rows_by(run, "dropout")  # x* = 25 inside 8..128
    assert math.isclose(dropout["crossover"], 25) and dropout["where"] == "inside"
    (cnn,) = rows_by(run, "cnn")  # x* = 400/1.5 above the sizes
    assert math.isclose(cnn["crossover"], 400 / 1.5) and cnn["where"] == "extrapolated above"
    assert (cnn["below"], cnn["above"]) == ("tf_function", "numpy")
    text = "\n".join(X.table(X.crossover_rows(run)))
    assert text.count("| none |") == 2


def test_one_size_only_is_not_enough_sizes():
    run = planted_run(model_cases("softmax", [32], {"numpy": line(10, 1), "tf_function": line(100, 2)}))
    (r,) = rows_by(run, "softmax")
    assert r["status"] == X.NOT_ENOUGH and r["crossover"] is None
    assert X.NOT_ENOUGH in "\n".join(X.table([r]))


def test_op_groups_fit_on_size_and_per_batch_subfamily_when_several_params_vary():
    np_line, tf_line = line(20, 2.0), line(200, 0.5)
    cases = [op_case("dense", mode, {"batch": b, "in": k, "out": 3}, b * k, {"numpy": np_line, "tf_function": tf_line})
             for mode in ("forward", "forward+backward") for k in (1, 7) for b in (16, 64, 256)]
    cases.append(op_case("dense", "forward", {"batch": 4, "in": 9, "out": 3}, 36, {"numpy": np_line, "tf_function": tf_line}))
    run = planted_run(cases)
    fams = [(f.mode, f.name, f.x_label) for f in X.families(run)]
    assert ("forward", "all sizes", "planted units") in fams and ("forward+backward", "all sizes", "planted units") in fams
    assert ("forward", "in 1, out 3", "batch") in fams and ("forward", "in 7, out 3", "batch") in fams
    assert ("forward", "in 9, out 3", "batch") not in fams  # one batch only: no sub-family
    (whole,) = [r for r in rows_by(run, "all sizes") if r["mode"] == "forward"]
    assert "not a 1-D family (varies batch, in)" in whole["note"]
    assert math.isclose(whole["crossover"], 120, rel_tol=1e-9)  # exact in x = size, whatever the params
    (sub,) = [r for r in rows_by(run, "in 7, out 3") if r["mode"] == "forward"]
    assert math.isclose(sub["crossover"], 120 / 7, rel_tol=1e-9)  # in batches: size = 7 x batch


def test_the_gpu_pairs_are_compared_when_the_run_has_them():
    run = planted_run(model_cases("cnn", [8, 32, 128], {"numpy": line(100, 10), "cupy": line(2000, 0.1)}))
    pairs = {r["pair"] for r in X.crossover_rows(run)}
    assert pairs == {("cupy", "numpy")}
    (r,) = rows_by(run, "cnn", ("cupy", "numpy"))
    assert math.isclose(r["crossover"], 1900 / 9.9) and (r["below"], r["above"]) == ("numpy", "cupy")


def test_a_family_whose_fit_fails_says_why_and_the_others_still_get_their_rows(monkeypatch):
    run = planted_run(model_cases("softmax", [8, 32], {"numpy": line(10, 1), "tf_function": line(100, 2)})
                      + model_cases("mlp", [8, 32], {"numpy": line(10, 1), "tf_function": line(100, 2)}))
    real = X.fit_line

    def broken(points):
        if points[0][0] == 8 and len(points) == 2 and points[0][1] == line(10, 1)(8) and broken.calls == 0:
            broken.calls += 1
            raise ZeroDivisionError("planted")
        return real(points)
    broken.calls = 0
    monkeypatch.setattr(X, "fit_line", broken)
    rows = X.crossover_rows(run)
    assert [r["status"] for r in rows] == ["fit failed: ZeroDivisionError: planted", "ok"]
    assert "fit failed: ZeroDivisionError: planted" in "\n".join(X.table(rows))


def test_write_all_writes_crossover_files_and_report_embeds_the_table(tmp_path):
    run = planted_run(model_cases("mlp", [8, 16, 32, 64, 128, 256], {"numpy": line(20, 2.0), "tf_function": line(200, 0.5)}))
    paths = report.write_all(tmp_path, run)
    assert tmp_path / "crossover.md" in paths
    md = (tmp_path / "crossover.md").read_text()
    assert "| model | train step | mlp (batch) |" in md and "| 120 |" in md and report.configuration_line(run) in md
    text = (tmp_path / "report.md").read_text()
    assert "## Where each wins" in text and "| model | train step | mlp (batch) |" in text
    assert "[crossover.md](crossover.md)" in text
    if (tmp_path / "crossover.png").exists():
        assert (tmp_path / "crossover.png").read_bytes()[:4] == b"\x89PNG"
        assert "![crossover](crossover.png)" in text


def test_report_is_written_with_the_reason_when_the_crossover_fails(tmp_path, monkeypatch):
    def broken(out, run):
        raise RuntimeError("planted failure")
    monkeypatch.setattr(X, "write", broken)
    run = planted_run(model_cases("mlp", [8, 16], {"numpy": line(20, 2.0), "tf_function": line(200, 0.5)}))
    report.write_all(tmp_path, run)
    text = (tmp_path / "report.md").read_text()
    assert "crossover fits could not be computed (RuntimeError: planted failure)" in text
    assert "## Training step" in text  # the rest of the report is there


def test_command_line_writes_crossover_md_from_a_results_json(tmp_path):
    run = planted_run(model_cases("mlp", [8, 16, 32], {"numpy": line(20, 2.0), "tf_function": line(200, 0.5)}))
    source = tmp_path / "results.json"
    source.write_text(json.dumps(run))
    assert X.main([str(source), "--out", str(tmp_path / "x")]) == 0
    assert "| model | train step | mlp (batch) |" in (tmp_path / "x" / "crossover.md").read_text()


def test_batches_option_replaces_the_training_step_batches_and_keeps_the_default():
    assert parse_args([]).batches is None
    assert choose_sweep(parse_args([])).model_batches == (32, 128)
    assert choose_sweep(parse_args(["--quick"])).model_batches == (32,)
    args = parse_args(["--only", "model", "--batches", "64", "8", "16", "8"])
    assert args.batches == [64, 8, 16, 8] and choose_sweep(args).model_batches == (8, 16, 64)
    assert choose_sweep(parse_args(["--quick", "--batches", "8", "16"])).model_batches == (8, 16)
    with pytest.raises(SystemExit):
        parse_args(["--batches", "0"])


def test_targets_stay_on_the_batches_that_have_one():
    from benchmarks.cases import Backends, model_cases as build
    sweep = choose_sweep(parse_args(["--quick", "--batches", "8", "32"]))
    cases = [c for group in build(sweep, Backends(), names=["softmax"]) for c in group]
    assert [c["batch"] for c in cases] == [8, 32]
    assert [c["target"] for c in cases] == [None, TARGETS[("softmax", 32)]]


def test_the_step_floor_is_the_gemm_time_at_the_matmul_rate_plus_the_optimizer_traffic_at_the_copy_rate():
    from benchmarks.cases import attach_rates, step_floor_ms
    ceilings = {"matmul_gflops_used": 100.0, "copy_gbps_used": 10.0}
    assert step_floor_ms(2e9, 5e8, ceilings) == pytest.approx(20.0 + 50.0)
    result = {"gemm_flops": 2e9, "optimizer_bytes": 5e8, "batch": 32, "rows": {"numpy": {"median_ms": 140.0}}}
    attach_rates(result, ceilings)
    assert result["floor_ms"] == pytest.approx(70.0) and result["rows"]["numpy"]["times_floor"] == pytest.approx(2.0)
