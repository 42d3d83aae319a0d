"""The parity report: numpy_nn against TensorFlow, op by op, model by model, as one table.

    python -m parity_tests.report                     # ops, tutorial models, optimizers (~1 minute)
    python -m parity_tests.report --examples 200      # more examples per op and dtype
    python -m parity_tests.report --trajectories      # + 50-step training runs of every model
    python -m parity_tests.report --markdown          # the same table in Markdown (for the README)
    python -m parity_tests.report --tolerances        # only the tolerance table, in Markdown

The op rows are generated from the op catalogue (``parity_tests.registry.OPS``, one pair of rows per
entry). Every row draws its own examples from the catalogue's Hypothesis strategies (seeded with
``--seed``, no shrinking, no example database), so the report is reproducible and independent of
pytest. Columns: what was compared, dtype, examples tried, how far NumPy's and TensorFlow's results
differ (largest absolute and scale-relative difference), for float32 each framework's largest error
against the float64 oracle (same inputs in float64; relative to the scale) and which of the two is
closer to it, the largest accuracy ratio of one comparison (above the floor: what ``ORACLE_RATIO``
bounds), the cap (float32) or tolerance (float64), where the worst difference was (forward
output or which gradient), and pass/fail. A float32 row passes when the float64 results agree, both
errors are under the cap and neither is much larger than the other (``compare_with_oracle``). The exit status is 0 when every row
passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Row:
    """One line of the report: the worst over its examples of how far NumPy and TensorFlow differ
    and, for float32, how far each is from the float64 oracle."""

    what: str
    dtype: str
    tolerance: object
    examples: int = 0
    max_abs: float = 0.0      # max |numpy - tensorflow|
    max_rel: float = 0.0      # the same, relative to the scale
    e_np: float = None        # float32: numpy's max error against the float64 oracle (units of the scale)
    e_tf: float = None        # float32: tensorflow's
    ratio: float = None       # float32: the largest accuracy ratio of one comparison (what ORACLE_RATIO bounds)
    worst: str = ""
    passed: bool = True
    failures: list = field(default_factory=list)

    def add(self, cmp, where, describe=""):
        """Take a :class:`~parity_tests.assertions.Comparison` (float64: numpy against tensorflow) or
        an :class:`~parity_tests.assertions.OracleComparison` (float32)."""
        if hasattr(cmp, "e_np"):
            diff = cmp.diff
            self.max_abs = max(self.max_abs, cmp.diff * cmp.scale)
            self.e_np, self.e_tf = max(self.e_np or 0.0, cmp.e_np), max(self.e_tf or 0.0, cmp.e_tf)
            self.ratio = max(self.ratio or 0.0, cmp.accuracy_ratio)
        else:
            diff = cmp.error
            self.max_abs = max(self.max_abs, cmp.max_abs_error)
        if diff > self.max_rel or not self.worst:
            self.max_rel, self.worst = max(self.max_rel, diff), where
        if not cmp.passed:
            self.passed = False
            if len(self.failures) < 3:
                why = f"\n    {cmp.failure}" if getattr(cmp, "failure", "") else ""
                self.failures.append(f"{where}: {describe}{why}\n    {cmp.describe()}")


def _run_examples(strategy, body, n, seed):
    """Call ``body(example)`` on ``n`` examples drawn from ``strategy`` (seeded, generate phase only)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    count = [0]

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate], derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(example):
        count[0] += 1
        body(example)

    run()
    return count[0]


def _verdict(dtype, ours, theirs, oracle, tolerances, scale=None, typical=False):
    """float64: numpy against tensorflow; float32: against the float64 oracle (``oracle()`` gives
    ``(numpy float64, tensorflow float64)``)."""
    from .assertions import compare, compare_with_oracle

    if dtype == "float64":
        return compare(ours, theirs, tolerances["float64"], scale)
    np64, tf64 = oracle()
    return compare_with_oracle(ours, theirs, np64, tf64, tolerances["float32"], tolerances["float64"], scale,
                               typical=typical)


def op_rows(names, dtypes, n, seed):
    from hypothesis import strategies as st

    from .registry import OPS
    from .strategies import seeds, upstream

    rows = []
    for op in OPS:
        if names and op.name not in names:
            continue
        for dtype in dtypes:
            row, tol = Row(op.name, dtype, op.tolerance(dtype)), op.tolerances

            def body(example, op=op, row=row, dtype=dtype, tol=tol):
                sample, dout_seed = example
                s64 = sample.astype("float64")
                out, _ = op.run_numpy(sample)
                scale = op.forward_scale(sample) if op.forward_scale else None
                oracle = lambda: (op.run_numpy(s64)[0], op.run_tensorflow(s64))  # noqa: E731
                row.add(_verdict(dtype, out, op.run_tensorflow(sample), oracle, tol, scale), "forward", sample.describe())
                dout = upstream(np.random.default_rng(dout_seed), np.shape(out), dtype)
                d64 = dout.astype(np.float64)
                scale = op.vjp_scale(sample, dout) if op.vjp_scale else None
                grads64 = (list(zip(op.numpy_vjp(s64, d64), op.tensorflow_vjp(s64, d64))) if dtype == "float32"
                           else None)
                for k, (i, name, g, ref) in enumerate(zip(op.grad_argnums, op.grad_names(sample),
                                                          op.numpy_vjp(sample, dout), op.tensorflow_vjp(sample, dout))):
                    if sample.args[i] is not None:
                        row.add(_verdict(dtype, g, ref, lambda k=k: grads64[k], tol, scale), f"d{name}",
                                sample.describe())

            row.examples = _run_examples(st.tuples(op.samples(dtype), seeds), body, n, seed)
            rows.append(row)
    return rows


def model_rows(dtypes, n, seed):
    from hypothesis import strategies as st

    from numpy_nn.zoo import TUTORIAL_MODELS
    from parity_tests.lockstep import tutorial_step_oracle, tutorial_step_pair

    from .strategies import seeds
    from .tolerances import MODEL_TOLERANCES

    rows = []
    example = st.tuples(st.integers(0, 2**16), st.integers(1, 32), st.integers(0, 4000), st.booleans(), seeds)
    for name, tutorial in TUTORIAL_MODELS.items():
        for dtype in dtypes:
            row = Row(f"model {name}: outputs, loss, gradients", dtype, MODEL_TOLERANCES["gradients"][dtype])

            def body(ex, tutorial=tutorial, row=row, dtype=dtype):
                wseed, size, start, one_hot, mseed = ex
                if dtype == "float64":
                    names, ours, theirs = tutorial_step_pair(tutorial, dtype, wseed, start, size, one_hot, mseed)
                    runs = {"np64": ours, "tf64": theirs}
                else:
                    names, runs = tutorial_step_oracle(tutorial, wseed, start, size, one_hot, mseed)
                tag = dtype[-2:]
                describe = f"seed {wseed}, batch {start}:{start + size}, {'one-hot' if one_hot else 'sparse'}"
                picks = [("outputs", "outputs", lambda r: r[0]), ("loss", "loss", lambda r: np.float64(r[1]))]
                picks += [(f"d {p}", "gradients", lambda r, i=i: r[2][i]) for i, p in enumerate(names)]
                for where, kind, pick in picks:
                    oracle = lambda pick=pick: (pick(runs["np64"]), pick(runs["tf64"]))  # noqa: E731
                    row.add(_verdict(dtype, pick(runs["np" + tag]), pick(runs["tf" + tag]), oracle,
                                     MODEL_TOLERANCES[kind]), where, describe)

            row.examples = _run_examples(example, body, n, seed)
            rows.append(row)
    return rows


def optimizer_rows(dtypes, n, seed):
    from hypothesis import strategies as st

    from parity_tests.lockstep import run_optimizers, run_optimizers_with_oracle

    from .assertions import compare_trajectory, compare_trajectory_with_oracle
    from .strategies import OPTIMIZER_STEPS, adam_settings, parameters_and_gradients, sgd_settings
    from .tolerances import OPTIMIZER_TOLERANCES

    variants = [("sgd", "SGD", lambda d: sgd_settings(d, 0.0, False)),
                ("sgd", "SGD momentum 0.9", lambda d: sgd_settings(d, 0.9, False)),
                ("sgd", "SGD Nesterov 0.9", lambda d: sgd_settings(d, 0.9, True)),
                ("adam", "Adam", adam_settings)]
    rows = []
    for kind, label, settings_for in variants:
        for dtype in dtypes:
            tol = OPTIMIZER_TOLERANCES[kind]
            row = Row(f"optimizer {label}, {OPTIMIZER_STEPS} steps", dtype, tol[dtype])

            def body(ex, row=row, dtype=dtype, tol=tol):
                opt, (initial, grads, describe) = ex
                if dtype == "float64":
                    ours, theirs = run_optimizers(opt, initial, grads)
                    cmp, step, k = compare_trajectory(initial, ours, theirs, tol["float64"])
                else:
                    r = run_optimizers_with_oracle(opt, initial, grads)
                    cmp, step, k = compare_trajectory_with_oracle(initial, r["np32"], r["tf32"], r["np64"], r["tf64"],
                                                                  tol["float32"], tol["float64"])
                row.add(cmp, f"param {k}, step {step}", f"{opt!r}, {describe}")

            row.examples = _run_examples(st.tuples(settings_for(dtype), parameters_and_gradients(dtype)), body, n, seed)
            rows.append(row)
    return rows


def trajectory_rows(steps=50):
    """One row per model and optimizer and dtype, from one set of four lockstep runs (numpy_nn and
    Keras, float32 and float64): the float64 row compares the float64 runs, the float32 row judges
    the float32 runs by them, after every step."""
    from numpy_nn.zoo import TUTORIAL_MODELS
    from parity_tests.lockstep import tutorial_trajectory_oracle

    from .assertions import OracleTrajectory, compare
    from .tolerances import TRAJECTORY_TOLERANCES

    rows = []
    for name, tutorial in TUTORIAL_MODELS.items():
        for kind in ("sgd", "adam"):
            tol = TRAJECTORY_TOLERANCES[kind]
            row32 = Row(f"model {name}: {steps} steps of {kind}", "float32", tol["float32"], examples=1)
            row64 = Row(f"model {name}: {steps} steps of {kind}", "float64", tol["float64"], examples=1)
            judge = OracleTrajectory(tutorial.build(seed=0).get_weights(), tol["float32"], tol["float64"], typical=True)

            def on_step(step, runs, judge=judge, row64=row64):
                judge.step(step, runs)
                if step == steps:
                    for k, (w, ref) in enumerate(zip(runs["np64"], runs["tf64"])):
                        row64.add(compare(w, ref, tol["float64"]), f"param {k}, step {step}", "weights")

            names, _ = tutorial_trajectory_oracle(tutorial, kind, steps, on_step=on_step)
            cmp, step, k = judge.verdict
            row32.add(cmp, f"{names[k]}, step {step}", "weights")
            row32.ratio = judge.max_ratio  # over all 50 steps, not only at the worst error
            rows += [row32, row64]
    return rows


# --- output -----------------------------------------------------------------------------------
HEADER = ("comparison", "dtype", "examples", "max abs diff", "max rel diff", "numpy err vs f64", "tf err vs f64",
          "closer to f64", "worst ratio", "cap / tolerance", "worst in", "result")


def _fmt(x):
    return "-" if x is None else "0" if x == 0 else ("inf" if math.isinf(x) else f"{x:.1e}")


def _closer(row):
    """Which float32 result is closer to the float64 oracle, and by what factor."""
    if row.e_np is None:
        return "-"
    if row.e_np == row.e_tf:
        return "same"
    better, worse, who = sorted([row.e_np, row.e_tf])[0], max(row.e_np, row.e_tf), \
        ("numpy" if row.e_np < row.e_tf else "tensorflow")
    return f"{who} ({worse / better:.1f}x)" if better > 0 else f"{who} (exact)"


def _cells(row):
    return (row.what, row.dtype, str(row.examples), _fmt(row.max_abs), _fmt(row.max_rel), _fmt(row.e_np),
            _fmt(row.e_tf), _closer(row), "-" if row.ratio is None else f"{row.ratio:.2f}", str(row.tolerance), row.worst,
            "pass" if row.passed else "FAIL")


def format_table(rows, markdown=False):
    cells = [HEADER] + [_cells(r) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells[1:]])
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    line = lambda c: "  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip()  # noqa: E731
    return "\n".join([line(HEADER), "  ".join("-" * w for w in widths)] + [line(c) for c in cells[1:]])


def _environment():
    """The configuration of this run in one line: CPU and ISA, oneDNN, BLAS and threads, versions."""
    from numpy_nn.app.environment import describe, one_line

    return one_line(describe(tensorflow=True))


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m parity_tests.report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=20, help="examples per op and dtype (default 20)")
    p.add_argument("--model-examples", type=int, default=3, help="examples per tutorial model and dtype (default 3)")
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    p.add_argument("--ops", default="", help="comma-separated op names (default: all registered ops)")
    p.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes (default float32,float64)")
    p.add_argument("--no-models", action="store_true", help="skip the tutorial-model rows")
    p.add_argument("--no-optimizers", action="store_true", help="skip the optimizer rows")
    p.add_argument("--trajectories", action="store_true", help="add 50-step training runs of every model (~1 minute)")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument("--tolerances", action="store_true", help="print only the tolerance table (Markdown) and exit")
    args = p.parse_args(argv)
    if args.examples < 1 or args.model_examples < 1:
        p.error("--examples and --model-examples must be at least 1")
    return args


def main(argv=None):
    """Print the parity table; return 0 if every comparison passed, 1 otherwise."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from .tolerances import markdown_table

    if args.tolerances:
        print(markdown_table())
        return 0
    from .registry import OPS_BY_NAME

    names = [n for n in args.ops.split(",") if n]
    unknown = [n for n in names if n not in OPS_BY_NAME]
    if unknown:
        print(f"unknown op(s) {', '.join(unknown)}; registered: {', '.join(OPS_BY_NAME)}", file=sys.stderr)
        return 2
    dtypes = [d for d in args.dtypes.split(",") if d]
    if any(d not in ("float32", "float64") for d in dtypes):
        print(f"--dtypes must be float32 and/or float64, got {args.dtypes!r}", file=sys.stderr)
        return 2

    from .runtime import configure_for_parity

    configure_for_parity()
    start = time.perf_counter()
    rows = op_rows(names, dtypes, args.examples, args.seed)
    if not args.no_models and not names:
        rows += model_rows(dtypes, args.model_examples, args.seed)
    if not args.no_optimizers and not names:
        rows += optimizer_rows(dtypes, args.examples, args.seed)
    if args.trajectories and not names:
        rows += [r for r in trajectory_rows() if r.dtype in dtypes]
    elapsed = time.perf_counter() - start

    print(format_table(rows, args.markdown))
    failed = [r for r in rows if not r.passed]
    summary = (f"{len(rows) - len(failed)}/{len(rows)} comparisons pass; seed {args.seed}, {elapsed:.0f} s; "
               f"{_environment()}")
    print(("\n" if args.markdown else "") + summary)
    for r in failed:
        print(f"\nFAIL {r.what} {r.dtype}:\n  " + "\n  ".join(r.failures), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
