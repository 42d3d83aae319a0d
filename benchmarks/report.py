"""Writing a run down: ``results.json`` (everything), ``report.md`` (the tables) and two figures,
``time_vs_size.png`` (one panel per op: median time against size, IQR as error bars) and
``ratio_models.png`` (numpy_nn / TensorFlow per tutorial model, beside the targets), plus
``crossover.md`` and ``crossover.png`` (:mod:`benchmarks.crossover`: fixed cost + size x per-unit
cost per contender, and the size where numpy_nn and TensorFlow cross), whose table report.md embeds."""
from __future__ import annotations

import json
import math
from pathlib import Path

from .config import CONTENDERS

CPU_ROWS = ("numpy", "tf_function", "tf_eager")
GPU_ROWS = ("cupy", "tf_gpu", "tf_gpu_tf32")
OTHER_TITLES = {"optimizer_sgd": "SGD step (lr 0.01, no momentum)", "optimizer_adam": "Adam step (Keras defaults)",
                "model": "Training step of each tutorial model"}


def group_titles():
    """Section title per results.json group, in report order: the benchmarked ops of the catalogue
    (their entries' ``benchmark.title``), then the optimizers and the models."""
    from parity_tests.registry import BENCHMARKED

    return {**{op.benchmark.group: op.benchmark.title for op in BENCHMARKED}, **OTHER_TITLES}


def ms(v):
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _cell(stats):
    if not stats:
        return "-"
    if "error" in stats:
        return "error"
    return f"{ms(stats['median_ms'])} ({ms(stats['iqr_ms'])})"


def _pct(v):
    return "-" if v is None else f"{100 * v:.0f}%"


def _ratio(result, a, b):
    r = result.get("ratios", {}).get(f"{a}/{b}")
    return "-" if not r else f"{r['ratio']:.2f}"


def write_json(path, run):
    Path(path).write_text(json.dumps(run, indent=1, default=str))


def _sharing_line(run):
    m = run["machine"]
    shares = [r["others_share"] for r in run["results"] if r.get("others_share") is not None]
    parts = []
    if shares:
        parts.append(f"while cases were timed: median {100 * sorted(shares)[len(shares) // 2]:.0f}%, "
                     f"max {100 * max(shares):.0f}% of the CPUs")
    if m.get("other_work"):
        o = m["other_work"]
        parts.append(f"over the whole run: {100 * o['others_share']:.0f}% ({o['others_cpu_s']} CPU-s in {o['wall_s']} s)")
    if m.get("waited_for_quiet_s"):
        parts.append(f"the run waited {m['waited_for_quiet_s']} s for quiet moments (--wait-quiet)")
    return "; ".join(parts) or "-"


def _environment(m):
    """The run's :func:`numpy_nn.app.environment.describe` record; for a results.json written before
    there was one, the same shape rebuilt from the old keys, with None where they said nothing."""
    if "environment" in m:
        return m["environment"]
    th = m["threads"]
    tf_threads = th.get("tensorflow")
    onednn = (tf_threads or {}).get("TF_ENABLE_ONEDNN_OPTS", "unset")
    pools = th.get("threadpools") if isinstance(th.get("threadpools"), list) else None
    return {"cpu": {"model": m["cpu"], "isa": None, "flags": None},
            "blas": {"build": {"name": th.get("blas"), "version": None}, "pools": pools},
            "threads": {"blas": None, "env": {}, "tensorflow": tf_threads},
            "onednn": {"TF_ENABLE_ONEDNN_OPTS": "unset" if onednn.startswith("unset") else onednn,
                       "enabled": None, "default_here": None},
            "versions": {"python": m.get("python"), **m["versions"]}, "platform": m.get("platform")}


def _onednn_text(env, tf_used):
    o = env["onednn"]
    state = {True: "on", False: "off"}.get(o["enabled"], "not recorded" if tf_used else "TensorFlow not used")
    value = o["TF_ENABLE_ONEDNN_OPTS"]
    value = "TF_ENABLE_ONEDNN_OPTS unset" if value == "unset" else f"TF_ENABLE_ONEDNN_OPTS={value}"
    default = {True: "on", False: "off"}.get(o.get("default_here"), "not recorded")
    return (f"{state} ({value}; TensorFlow's default, on only for CPUs with AVX512_VNNI, AVX512_BF16, "
            f"AVX_VNNI or AMX, is {default} on this one)")


def _machine_lines(run):
    m = run["machine"]
    env = _environment(m)
    th, c = m["threads"], run["ceilings"]
    gpu = "; ".join(m["gpu"]) if m.get("gpu") else "none found by nvidia-smi"
    tf_threads = th.get("tensorflow")
    tf_line = (f"TensorFlow intra-op {tf_threads['intra_op']}, inter-op {tf_threads['inter_op']} "
               "(0: TensorFlow's default)" if tf_threads else "TensorFlow not used")
    blas_env = ", ".join(f"{k}={val}" for k, val in th["env"].items() if val is not None)
    pools = env["blas"]["pools"]
    pools = ("threadpoolctl not installed" if pools is None else
             ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in pools) or "none found")
    build = env["blas"]["build"]
    cpu = env["cpu"]
    flags = "" if not cpu.get("flags") else f"; flags: {' '.join(cpu['flags'])}"
    mm = c["matmul_gflops"]
    mm_text = ", ".join(f"{k} {val['median']:.1f}" for k, val in mm.items())
    rows = [
        ("CPU", f"{cpu['model']} ({cpu['isa'] or 'ISA not recorded'}{flags}); "
                f"{m['cpus_available']} of {m['cpus_total']} CPUs available to this run"),
        ("oneDNN", _onednn_text(env, tf_threads is not None)),
        ("memory", f"{m['memory_gib']} GiB"), ("GPU", gpu), ("platform", env["platform"]),
        ("versions", ", ".join(f"{k} {val}" for k, val in {**env["versions"], **m["versions"]}.items())),
        ("BLAS", f"{' '.join(str(v) for v in (build['name'], build['version']) if v) or 'unknown'}; "
                 f"threads per live pool: {pools} ({blas_env or 'no thread variables set'})"),
        ("threads", f"{th['requested']} for both: NumPy's BLAS via the environment above; {tf_line}"),
        ("load average (1, 5, 15 min)", f"before {m.get('load_before')}, after {m.get('load_after')}"),
        ("other processes", _sharing_line(run)),
        ("matmul ceiling", f"float32 {c['matmul_n']}^3 product, median GFLOP/s: {mm_text}; the rate used is {c['matmul_gflops_used']:.1f}"),
        ("copy ceiling", f"np.copyto of {c['copy_mib']} MiB, {c['copy_gbps_used']:.1f} GB/s (bytes read + written, one thread)"),
    ]
    g = run.get("gpu_ceilings")
    if g:
        rows.append(("GPU ceilings", f"CuPy float32 {g['matmul_n']}^3 matmul {g['matmul_gflops_used']:.0f} GFLOP/s; "
                                     f"device copy {g['copy_gbps_used']:.0f} GB/s"))
    return ["| | |", "|---|---|"] + [f"| {k} | {val} |" for k, val in rows]


def configuration_line(run):
    """The report's header line: :func:`numpy_nn.app.environment.one_line` of the run's record."""
    from numpy_nn.app.environment import one_line

    return one_line(_environment(run["machine"]))


def _table(results, rows, ratios, rate_key, rate_label):
    present = [r for r in rows if any(r in res["rows"] for res in results)]
    if not present:
        return []
    head = ["case", "mode"] + [f"{CONTENDERS[r]} ms (IQR)" for r in present]
    ratio_cols = [(a, b) for a, b in ratios if a in present and b in present]
    head += [f"{a} / {b}" for a, b in ratio_cols]
    batched = any(res.get("batch") for res in results)
    if batched:
        head += [f"{r} samples/s" for r in present[:2]]
    if rate_key:
        head += [f"{r} {rate_label}" for r in present[:2]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        cells = [res["case"], res["mode"]] + [_cell(res["rows"].get(r)) for r in present]
        cells += [_ratio(res, a, b) for a, b in ratio_cols]
        if batched:
            cells += [f"{res['rows'][r]['samples_per_s']:,.0f}" if "samples_per_s" in res["rows"].get(r, {}) else "-" for r in present[:2]]
        if rate_key:
            cells += [_pct(res["rows"].get(r, {}).get(rate_key)) for r in present[:2]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _model_table(results):
    # Runs since the one Keras step (tf_nn.training.KerasTrainer.compiled_step) have no eager model
    # rows; older results.json files do, and keep their column.
    eager = any("tf_eager" in res["rows"] for res in results)
    head = ["model", "batch", "numpy_nn ms (IQR)", "tf.function ms (IQR)"] + (["TF eager ms (IQR)"] if eager else []) + ["ratio numpy / tf.function",
            "round-to-round range", "target", "met", "floor ms", "numpy_nn / floor", "tf.function / floor",
            "numpy_nn samples/s", "tf.function samples/s",
            "numpy_nn % of matmul rate", "tf.function % of matmul rate", "other processes' CPU share"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        p, rows = res["params"], res["rows"]
        r = res.get("ratios", {}).get("numpy/tf_function")
        target = res.get("target")
        met = "-" if (r is None or target is None) else ("yes" if r["ratio"] <= target else f"**no** (+{r['ratio'] - target:.2f})")
        spread = "-" if not r or "round_min" not in r else f"{r['round_min']:.2f}-{r['round_max']:.2f}"
        sps = [f"{rows[k]['samples_per_s']:,.0f}" if "samples_per_s" in rows.get(k, {}) else "-" for k in ("numpy", "tf_function")]
        frac = [_pct(rows.get(k, {}).get("matmul_fraction")) for k in ("numpy", "tf_function")]
        cells = [p["model"], str(p["batch"]), _cell(rows.get("numpy")), _cell(rows.get("tf_function"))]
        cells += [_cell(rows.get("tf_eager"))] if eager else []
        cells += ["-" if r is None else f"{r['ratio']:.2f}", spread, "-" if target is None else f"<= {target}", met]
        cells += _floor_cells(res) + sps + frac + [_pct(res.get("others_share"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _floor_cells(res):
    """floor ms, numpy_nn / floor (against the floor target where there is one), tf.function / floor."""
    if "floor_ms" not in res:  # results.json from before issue 12
        return ["-", "-", "-"]
    times = [res["rows"].get(k, {}).get("times_floor") for k in ("numpy", "tf_function")]
    cells = ["-" if t is None else f"{t:.1f}x" for t in times]
    goal = res.get("floor_target")
    if goal is not None and times[0] is not None:
        cells[0] += f" (<= {goal}x: {'yes' if times[0] <= goal else '**no**'})"
    return [f"{res['floor_ms']:.2f}"] + cells


def _gpu_model_table(results):
    present = [r for r in GPU_ROWS if any(r in res["rows"] for res in results)]
    if not present:
        return []
    head = ["model", "batch"] + [f"{CONTENDERS[r]} ms (IQR)" for r in present] + ["numpy_nn CPU ms"]
    if "cupy" in present and "tf_gpu" in present:
        head.append("cupy / tf_gpu")
    head.append("CuPy speed-up over NumPy CPU")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        p, rows = res["params"], res["rows"]
        cells = [p["model"], str(p["batch"])] + [_cell(rows.get(r)) for r in present] + [_cell(rows.get("numpy"))]
        if "cupy" in present and "tf_gpu" in present:
            cells.append(_ratio(res, "cupy", "tf_gpu"))
        r = res.get("ratios", {}).get("cupy/numpy")
        cells.append("-" if not r else f"{1 / r['ratio']:.1f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def sharing_note(run):
    """A note when other processes shared the CPUs while cases were being timed (None if they did not)."""
    shares = [r["others_share"] for r in run["results"] if r.get("others_share") is not None]
    if not shares or max(shares) <= 0.10:
        return None
    busy = [f"{r['case']} {r['mode']}" for r in run["results"] if (r.get("others_share") or 0) > 0.10]
    return (f"Other processes took more than 10% of the CPUs while {len(busy)} of {len(shares)} cases were timed "
            f"(up to {100 * max(shares):.0f}%; the last column of the training-step table and `others_share` in "
            "results.json give each case's share): those rows' absolute times are pessimistic, numpy_nn's more than "
            "TensorFlow's, because multi-threaded OpenBLAS degrades badly when it has to share its cores.")


def write_markdown(path, run, figures, crossover=None):
    """report.md; ``crossover``: the lines of the "where each wins" section (None: no section)."""
    results = run["results"]
    notes = list(run["notes"])
    shared = sharing_note(run)
    if shared:
        notes.append(shared)
    by_group = {}
    for res in results:
        by_group.setdefault(res["group"], []).append(res)
    out = [f"# numpy_nn vs TensorFlow: benchmark ({'quick' if run['quick'] else 'full'} run)", "",
           f"Command: `{run['command']}`  ", f"Started {run['started']}, took {run['duration_s']:.0f} s.  ",
           f"Configuration: {configuration_line(run)}.", "",
           "Times are per call: median over all timed calls and, in brackets, the interquartile range, in ms. "
           "Contenders alternate round by round in one process; `a / b` is the ratio of their medians "
           "(below 1: numpy_nn is faster). GEMM fractions count the flops of the matrix products "
           "(3x the forward's for a forward+backward or a training step) against this run's matmul rate; "
           "optimizer fractions count bytes read + written against its copy rate.", "",
           "## Machine", ""] + _machine_lines(run) + [""]
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if "model" in by_group:
        out += ["## Training step: numpy_nn / TensorFlow tf.function, against the targets", ""] + _model_table(by_group["model"]) + [""]
        gpu = _gpu_model_table(by_group["model"])
        if gpu:
            out += ["### Training step on the GPU", ""] + gpu + [""]
    titles = group_titles()
    ratios = (("numpy", "tf_function"), ("numpy", "tf_eager"))
    gpu_ratios = (("cupy", "tf_gpu"), ("cupy", "tf_gpu_tf32"))
    for group, results_g in by_group.items():
        if group == "model":
            continue
        rate_key, label = (("matmul_fraction", "% of matmul rate") if results_g[0].get("gemm_flops") else
                           ("copy_fraction", "% of copy rate") if results_g[0].get("bytes") else (None, None))
        out += [f"## {titles.get(group, group)}", ""] + _table(results_g, CPU_ROWS, ratios, rate_key, label) + [""]
        gpu = _table(results_g, GPU_ROWS, gpu_ratios, rate_key, label)
        if gpu:
            out += [f"GPU rows ({titles.get(group, group)}):", ""] + gpu + [""]
    if crossover:
        out += ["## Where each wins: crossover sizes", ""] + crossover + [""]
    if figures:
        out += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    Path(path).write_text("\n".join(out))


# --- figures -------------------------------------------------------------------------------------
def _size(res):
    """The figure's x value and axis label: recorded with each op case (from its catalogue entry);
    for an older results.json, computed by the entry from the case's params."""
    if "size" in res:
        return res["size"], res["size_label"]
    from parity_tests.registry import benchmark_group

    op = benchmark_group(res["group"])
    if op is not None:
        return op.benchmark.size(res["params"]), op.benchmark.size_label
    return res["params"]["parameters"], "parameters"


def plot_time_vs_size(path, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = group_titles()
    groups = [g for g in titles if g != "model" and any(r["group"] == g for r in results)]
    if not groups:
        return False
    cols = 3
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    styles = {"forward": "--", "forward+backward": "-", "step": "-"}
    for ax, group in zip(axes.flat, groups):
        res_g = [r for r in results if r["group"] == group]
        for mode in sorted({r["mode"] for r in res_g}):
            for row in CPU_ROWS + GPU_ROWS:
                pts = sorted((_size(r)[0], r["rows"][row]) for r in res_g
                             if r["mode"] == mode and "median_ms" in r["rows"].get(row, {}))
                if not pts:
                    continue
                xs = [p[0] for p in pts]
                med = [p[1]["median_ms"] for p in pts]
                err = [[p[1]["median_ms"] - p[1]["q1_ms"] for p in pts], [p[1]["q3_ms"] - p[1]["median_ms"] for p in pts]]
                ax.errorbar(xs, med, yerr=err, linestyle=styles.get(mode, "-"), marker="o", markersize=3, capsize=2,
                            label=f"{row} {mode}" if mode != "step" else row)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(titles[group], fontsize=9)
        ax.set_xlabel(_size(res_g[0])[1], fontsize=8)
        ax.set_ylabel("median ms per call (bars: IQR)", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_models(path, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [r for r in results if r["group"] == "model"]
    if not models:
        return False
    labels = [f"{r['params']['model']}\nbatch {r['params']['batch']}" for r in models]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    x = list(range(len(models)))
    pairs = [(a, b) for a, b in (("numpy", "tf_function"), ("numpy", "tf_eager"), ("cupy", "tf_gpu"))
             if any(f"{a}/{b}" in r.get("ratios", {}) for r in models)]
    width = 0.8 / max(len(pairs), 1)
    for k, (a, b) in enumerate(pairs):
        vals = [r.get("ratios", {}).get(f"{a}/{b}", {}).get("ratio", float("nan")) for r in models]
        ax1.bar([i + (k - (len(pairs) - 1) / 2) * width for i in x], vals, width, label=f"{a} / {b}")
    targets = [r.get("target") for r in models]
    if any(t is not None for t in targets):
        ax1.scatter(x, [float("nan") if t is None else t for t in targets], marker="_", s=600, color="red", zorder=3, label="target (numpy / tf.function)")
    ax1.axhline(1.0, color="grey", linewidth=0.8)
    ax1.set_xticks(x, labels, fontsize=8)
    ax1.set_ylabel("time ratio (below 1: numpy_nn faster)")
    ax1.set_title("numpy_nn / TensorFlow, one training step")
    if pairs:
        ax1.legend(fontsize=8)
    else:
        ax1.text(0.5, 0.5, "no TensorFlow rows in this run", ha="center", va="center", transform=ax1.transAxes)
    rows = [r for r in CPU_ROWS + GPU_ROWS if any("median_ms" in m["rows"].get(r, {}) for m in models)]
    width = 0.8 / max(len(rows), 1)
    for k, row in enumerate(rows):
        vals = [m["rows"].get(row, {}).get("median_ms", float("nan")) for m in models]
        ax2.bar([i + (k - (len(rows) - 1) / 2) * width for i in x], vals, width, label=CONTENDERS[row])
    ax2.set_yscale("log")
    ax2.set_xticks(x, labels, fontsize=8)
    ax2.set_ylabel("median ms per training step")
    ax2.set_title("Training step time")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_all(out_dir, run):
    """Write the JSON, the figures (if matplotlib is there) and the markdown; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, figures = [], []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        run["notes"].append("matplotlib is not installed: no figures were drawn")
    else:
        for name, fn in (("time_vs_size.png", plot_time_vs_size), ("ratio_models.png", plot_models)):
            if fn(out / name, run["results"]):
                figures.append(name)
                written.append(out / name)
    crossover_lines = write_crossover(out, run, written)
    write_json(out / "results.json", run)
    write_markdown(out / "report.md", run, figures, crossover_lines)
    return [out / "results.json", out / "report.md"] + written


def write_crossover(out, run, written):
    """crossover.md and crossover.png (appended to ``written``); returns report.md's section lines.
    If the fits fail, the section says why and the rest of the report is written all the same."""
    try:
        from . import crossover
        paths, table = crossover.write(out, run)
    except Exception as exc:
        return [f"The crossover fits could not be computed ({type(exc).__name__}: {exc}); "
                f"`python -m benchmarks.crossover results.json` retries them."]
    written.extend(paths)
    figure = ["", "![crossover](crossover.png)"] if any(p.name == "crossover.png" for p in paths) else []
    return ["Median time per call fitted as t = a + b x (a: fixed cost per call, b: cost per unit of x; "
            "least squares weighted by 1/t^2) for each contender, and the size x* where the two lines cross: "
            "[crossover.md](crossover.md) states the model, its limits and the families.", ""] + table + figure


def build_parser():
    import argparse
    p = argparse.ArgumentParser(prog="python -m benchmarks.report",
                                description="Redraw report.md, the figures and crossover.md from a results.json.")
    p.add_argument("results", help="a results.json written by python -m benchmarks")
    p.add_argument("out", nargs="?", default=None, help="output folder (default: the JSON's folder)")
    return p


def main(argv=None):
    """``python -m benchmarks.report RESULTS_JSON [OUT_DIR]``: redraw report.md and the figures from a
    results.json (OUT_DIR defaults to the JSON's folder)."""
    args = build_parser().parse_args(argv)
    source = Path(args.results)
    run = json.loads(source.read_text())
    out = Path(args.out) if args.out else source.parent
    for p in write_all(out, run):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
