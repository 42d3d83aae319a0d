"""Where each wins: fit time = fixed cost + size x per-unit cost, and the size where the lines cross.

    python -m benchmarks.crossover RESULTS_JSON [--out DIR]   # writes crossover.md and crossover.png

**The model.** For every family of cases (below) and every contender (numpy_nn on NumPy and
TensorFlow's tf.function; numpy_nn on CuPy and TensorFlow on the GPU when a run has them), the
median time per call is fitted as

    t(x) = a + b * x          a: the fixed cost of one call (Python, dispatch, launches), in us
                              b: the cost of one unit of x (a flop, an element, a sample), in us

by least squares **weighted by 1 / t_i^2**, i.e. minimising the sum of the squared *relative*
residuals ``((t_i - a - b x_i) / t_i)^2``: the times of one sweep span two or three decades, and an
unweighted fit would spend all its freedom on the largest sizes and leave the small ones -- where
the fixed cost lives and where the crossover usually is -- badly fitted. Both coefficients are kept
non-negative (a cost cannot be negative): when the unconstrained optimum has a < 0 or b < 0, the
better one-parameter fit (a = 0 or b = 0) is taken, and the table says "clamped". The fit's quality
is its largest relative residual over the measured sizes, ``max |t_i - t(x_i)| / t_i``. With two
sizes the line passes through both points exactly: the residual is 0 and says nothing about
linearity.

Two contenders p and q cross where their lines meet, ``x* = (a_q - a_p) / (b_p - b_q)``, when that
is positive and finite; below x* the one with the smaller fixed cost wins, above it the one with the
smaller per-unit cost. Otherwise (x* <= 0, or parallel lines) one of them is faster at every size
the model covers, or they tie. x* is "inside" when it lies within the sizes both were measured at,
and an extrapolation (below or above them) otherwise; the table also counts at how many measured
sizes each contender was actually the faster, so the fit can be checked against the data.

**The families.**

* Op groups (dense, conv2d, the pools, softmax cross-entropy), one family per group and mode
  (forward, forward+backward), **x = the case's ``size``** (the catalogue's work count, labelled by
  ``size_label``: GEMM flops for dense and conv2d, input elements for the pools, batch x classes for
  the loss). A group's sweep usually varies several parameters at once (dense: batch, in, out), so
  its cases are not a 1-D family: the fit is made on ``size`` anyway -- it asks "does time follow
  the work?" -- and the row says which parameters vary. Where two or more cases share every
  parameter but the batch, a second family is fitted over those with **x = batch** (a true 1-D
  family, and the unit the question "how big a batch?" asks about).
* Optimizer steps: x = the parameter count.
* Training steps: one family per tutorial model, x = batch (``python -m benchmarks --only model
  --batches 8 16 32 64 128 256`` gives more than the default two batches).

A family where a contender has fewer than two distinct sizes gets "not enough sizes".

**Limits.** A linear cost is a first-order model. Caches bend it (a working set that leaves L2 or L3
makes b grow with x), so does thread ramp-up (BLAS and TensorFlow go multi-threaded only above some
size, which makes b shrink), and im2col's copies, the memory allocator and Python's per-call work do
not scale with the flops at all. The residual column says how far the measured points are from the
line; an x* far outside the measured sizes is a statement about the model, not about the machine.
Medians are taken as they are: the run's noise (IQR, other processes' CPU share) is in report.md.
"""
from __future__ import annotations

import argparse
import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

#: (p, q) pairs compared, in table order: numpy_nn vs tf.function, and on a GPU run CuPy vs
#: TensorFlow's GPU and CuPy vs numpy_nn on the CPU.
PAIRS = (("numpy", "tf_function"), ("cupy", "tf_gpu"), ("cupy", "numpy"))
NOT_ENOUGH = "not enough sizes"


@dataclass(frozen=True)
class Fit:
    """``t = a + b x`` of one contender over one family (times in ms, as in results.json)."""

    a_ms: float
    b_ms: float           # ms per unit of x
    n: int                # distinct sizes fitted
    x_min: float
    x_max: float
    max_residual: float   # max |t_i - t(x_i)| / t_i
    clamped: str = ""     # "a = 0" or "b = 0" when the non-negativity constraint bound

    def at(self, x):
        return self.a_ms + self.b_ms * x


@dataclass
class Family:
    """Cases that share a group and a mode, with one x per case; ``points[contender] = [(x, ms)]``."""

    group: str
    mode: str
    name: str             # "all sizes", "784 -> 128" (the shared params), a model's name
    x_label: str
    points: dict
    note: str = ""


def fit_line(points):
    """Weighted least squares of ``t = a + b x`` to ``[(x, t)]`` with weights 1/t^2, a, b >= 0
    (module docstring). Raises ValueError with :data:`NOT_ENOUGH` for fewer than two distinct x."""
    pts = sorted((float(x), float(t)) for x, t in points if t > 0 and math.isfinite(t))
    xs = sorted({x for x, _ in pts})
    if len(xs) < 2:
        raise ValueError(NOT_ENOUGH)
    scale = xs[-1]  # fit in x / x_max: GEMM flops reach 1e10, and the normal equations must not care
    u = [1 / t for _, t in pts]           # the relative residual is 1 - a u_i - b' v_i
    v = [x / scale / t for x, t in pts]
    suu, svv, suv = sum(p * p for p in u), sum(q * q for q in v), sum(p * q for p, q in zip(u, v))
    su, sv = sum(u), sum(v)
    det = suu * svv - suv * suv
    a, b, clamped = (svv * su - suv * sv) / det, (suu * sv - suv * su) / det, ""
    if a < 0 or b < 0:
        def cost(a, b):
            return sum((1 - a * p - b * q) ** 2 for p, q in zip(u, v))
        only_b, only_a = (0.0, sv / svv), (su / suu, 0.0)
        (a, b), clamped = min(((only_b, "a = 0"), (only_a, "b = 0")), key=lambda c: cost(*c[0]))
    b /= scale
    worst = max(abs(t - a - b * x) / t for x, t in pts)
    return Fit(a, b, len(xs), xs[0], xs[-1], worst, clamped)


def crossover(fit_p, fit_q, p="p", q="q"):
    """Where ``fit_p`` and ``fit_q`` cross: ``(x*, winner below, winner above)``; x* is None when
    the lines do not cross at a positive size (then both winners are the one faster everywhere, or
    "tie")."""
    db = fit_p.b_ms - fit_q.b_ms
    da = fit_q.a_ms - fit_p.a_ms
    if abs(db) <= 1e-12 * max(fit_p.b_ms, fit_q.b_ms, 1e-300):  # parallel: the fixed costs decide
        winner = p if da > 0 else q if da < 0 else "tie"
        return None, winner, winner
    x = da / db
    if x > 0 and math.isfinite(x):
        return (x, p, q) if da > 0 else (x, q, p)
    winner = p if db < 0 else q  # no crossing at x > 0: the smaller slope is never behind
    return None, winner, winner


def _size(res):
    from .report import _size as report_size  # the figure's x: recorded, or rebuilt for old files

    return report_size(res)


def _points(cases, x_of):
    points = {}
    for res in cases:
        for row, stats in res["rows"].items():
            if "median_ms" in stats:
                points.setdefault(row, []).append((x_of(res), stats["median_ms"]))
    return points


def families(run):
    """Every family of the run (module docstring), in report order."""
    out, by_key = [], {}
    for res in run["results"]:
        by_key.setdefault((res["group"], res["mode"]), []).append(res)
    for (group, mode), cases in by_key.items():
        if group == "model":
            for model in dict.fromkeys(c["params"]["model"] for c in cases):
                mine = [c for c in cases if c["params"]["model"] == model]
                out.append(Family(group, mode, model, "batch", _points(mine, lambda c: c["params"]["batch"])))
            continue
        label = _size(cases[0])[1]
        keys = [k for k in cases[0]["params"] if len({str(c["params"].get(k)) for c in cases}) > 1]
        note = "" if len(keys) <= 1 else f"not a 1-D family (varies {', '.join(keys)}): fitted on {label} anyway"
        out.append(Family(group, mode, "all sizes", label, _points(cases, lambda c: _size(c)[0]), note))
        if len(keys) <= 1 or "batch" not in keys:
            continue
        subs = {}
        for c in cases:
            rest = tuple((k, c["params"][k]) for k in c["params"] if k != "batch")
            subs.setdefault(rest, []).append(c)
        for rest, mine in subs.items():
            if len({c["params"]["batch"] for c in mine}) >= 2:
                name = ", ".join(f"{k} {v}" for k, v in rest)
                out.append(Family(group, mode, name, "batch", _points(mine, lambda c: c["params"]["batch"])))
    return out


def compare(family, p, q):
    """One table row: both fits, the crossover and where it lies, or the reason there is none."""
    row = {"group": family.group, "mode": family.mode, "family": family.name, "x_label": family.x_label,
           "pair": (p, q), "fits": {}, "note": family.note, "crossover": None, "below": None, "above": None,
           "where": None, "status": "ok", "points": {name: sorted(family.points[name]) for name in (p, q)}}
    try:
        row["fits"] = {name: fit_line(family.points[name]) for name in (p, q)}
    except ValueError as exc:
        row["status"] = str(exc)
        return row
    fp, fq = row["fits"][p], row["fits"][q]
    row["crossover"], row["below"], row["above"] = crossover(fp, fq, p, q)
    lo, hi = max(fp.x_min, fq.x_min), min(fp.x_max, fq.x_max)
    x = row["crossover"]
    if x is not None:
        row["where"] = "inside" if lo <= x <= hi else "extrapolated below" if x < lo else "extrapolated above"
    measured_p = dict(family.points[p])
    common = [(x, t, measured_p[x]) for x, t in family.points[q] if x in measured_p]
    row["measured"] = (sum(tp < tq for _, tq, tp in common), len(common))  # sizes where p was faster
    return row


def crossover_rows(run):
    """Every (family, pair) both of whose contenders the run has; a row whose fit fails says why
    (``status``) instead of stopping the others."""
    rows = []
    for family in families(run):
        for p, q in PAIRS:
            if p in family.points and q in family.points:
                try:
                    rows.append(compare(family, p, q))
                except Exception as exc:  # one bad family must not cost the table
                    rows.append({"group": family.group, "mode": family.mode, "family": family.name,
                                 "x_label": family.x_label, "pair": (p, q), "fits": {}, "points": {}, "note": family.note,
                                 "status": f"fit failed: {type(exc).__name__}: {exc}"})
    return rows


# --- writing -------------------------------------------------------------------------------------
def _g(v):
    return "-" if v is None else f"{v:.3g}"


def _us(v):
    return f"{1e3 * v:.3g}"


def _pct(v):
    return f"{100 * v:.1f}%" if v < 0.1 else f"{100 * v:.0f}%"


def table(rows):
    """Markdown lines, one table per pair of contenders."""
    from .config import CONTENDERS

    out = []
    for p, q in PAIRS:
        mine = [r for r in rows if r["pair"] == (p, q)]
        if not mine:
            continue
        head = ["group", "mode", "family (x)", "sizes", f"{p} a (us)", f"{p} b (us per unit)", f"{q} a (us)",
                f"{q} b (us per unit)", "crossover x*", "faster below", "faster above", "x* in range?",
                f"measured: {p} faster", f"max residual {p} / {q}", "note"]
        out += [f"**{CONTENDERS[p]} vs {CONTENDERS[q]}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in mine:
            cells = [r["group"], r["mode"], f"{r['family']} ({r['x_label']})"]
            fits = r["fits"]
            if r["status"] != "ok":
                cells += ["-"] * 11 + [r["status"] + (f"; {r['note']}" if r["note"] else "")]
            else:
                fp, fq = fits[p], fits[q]
                clamped = "; ".join(f"{name}: {f.clamped}" for name, f in fits.items() if f.clamped)
                where = "-" if r["where"] is None else r["where"]
                wins, n = r["measured"]
                note = "; ".join(s for s in (r["note"], f"clamped {clamped}" if clamped else "",
                                             "2 sizes: exact fit" if min(fp.n, fq.n) == 2 and not clamped else "")
                                 if s)
                cells += [f"{min(fp.n, fq.n)} ({_g(max(fp.x_min, fq.x_min))}-{_g(min(fp.x_max, fq.x_max))})",
                          _us(fp.a_ms), _us(fp.b_ms), _us(fq.a_ms), _us(fq.b_ms),
                          "none" if r["crossover"] is None else _g(r["crossover"]), r["below"], r["above"], where,
                          f"{wins} of {n}", f"{_pct(fp.max_residual)} / {_pct(fq.max_residual)}", note or "-"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out or ["No family has two contenders to compare (a run without TensorFlow and without CuPy).", ""]


def plot(path, rows, title):
    """One log-log panel per family: measured medians (points) and fitted lines (curves), x* marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    panels = {}
    for r in rows:
        if r["status"] == "ok":
            panels.setdefault((r["group"], r["mode"], r["family"], r["x_label"]), []).append(r)
    if not panels:
        return False
    cols = 4
    n_rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.6 * cols, 3.6 * n_rows + 0.6), squeeze=False)
    for ax, ((group, mode, name, x_label), mine) in zip(axes.flat, panels.items()):
        fits, points, crossings = {}, {}, []
        for r in mine:
            fits.update(r["fits"])
            points.update(r["points"])
            if r["crossover"] is not None:
                crossings.append((r["crossover"], r["pair"]))
        lo = min(f.x_min for f in fits.values())
        hi = max(f.x_max for f in fits.values())
        shown = [x for x, _ in crossings if lo / 100 <= x <= hi * 100]
        x0, x1 = min([lo, *shown]) / 1.5, max([hi, *shown]) * 1.5
        grid = [x0 * (x1 / x0) ** (i / 60) for i in range(61)]
        for k, (row, f) in enumerate(fits.items()):
            color = f"C{k}"
            xs, ts = zip(*points[row])
            ax.plot(xs, ts, "o", color=color, markersize=4, label=f"{row} measured")
            ax.plot(grid, [f.at(x) for x in grid], "-", color=color, linewidth=1,
                    label=f"{row}: {_us(f.a_ms)} us + {_us(f.b_ms)} us x")
        for x, (p, q) in crossings:
            if x in shown:
                ax.axvline(x, color="grey", linestyle="--", linewidth=0.8)
                ax.text(x, 0.98, f" x* = {x:.3g} ({p} / {q})", transform=ax.get_xaxis_transform(), fontsize=6,
                        rotation=90, va="top", ha="right")
            else:
                ax.text(0.02, 0.02, f"{p}/{q} x* = {x:.3g} (off the plot)", transform=ax.transAxes, fontsize=6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if x_label == "batch":  # label the batches that were measured
            batches = sorted({x for pts in points.values() for x, _ in pts})
            ax.set_xticks(batches, [f"{x:g}" for x in batches])
        ax.tick_params(labelsize=7)
        ax.set_title(f"{group} {mode}\n{name}", fontsize=8)
        ax.set_xlabel(x_label, fontsize=7)
        ax.set_ylabel("median ms per call", fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=5)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("\n".join(textwrap.wrap(title, 160)), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(out_dir, run):
    """Write ``crossover.md`` and (with matplotlib) ``crossover.png`` into ``out_dir``; returns
    ``(paths written, the markdown table lines)`` for the report to embed."""
    from .report import configuration_line

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = crossover_rows(run)
    lines = table(rows)
    paths, figure = [], []
    try:
        if plot(out / "crossover.png", rows, f"t = a + b x, weighted by 1/t^2. {configuration_line(run)}"):
            paths.append(out / "crossover.png")
            figure = ["", "![crossover](crossover.png)"]
    except ImportError:
        figure = ["", "matplotlib is not installed: no crossover.png"]
    except Exception as exc:  # the table is worth having without its figure
        figure = ["", f"crossover.png could not be drawn ({type(exc).__name__}: {exc})"]
    doc = __doc__.split("**The model.**")[1].split("**The families.**")[0].strip()
    md = [f"# Where each wins: fixed cost + size x per-unit cost", "",
          f"From `{run['command']}`, started {run['started']}.  ", f"Configuration: {configuration_line(run)}.", "",
          "**The model.** " + doc, "", *lines, *figure, ""]
    (out / "crossover.md").write_text("\n".join(md))
    return [out / "crossover.md", *paths], lines


def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.crossover", description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="a results.json written by python -m benchmarks")
    p.add_argument("--out", default=None, help="folder for crossover.md and crossover.png (default: the JSON's folder)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    source = Path(args.results)
    run = json.loads(source.read_text())
    paths, _ = write(args.out or source.parent, run)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
