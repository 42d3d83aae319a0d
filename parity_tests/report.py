"""The parity report: numpy_nn against TensorFlow, op by op, model by model, as one table.

    python -m parity_tests.report                     # ops, tutorial models, optimizers (~1 minute)
    python -m parity_tests.report --examples 200      # more examples per op and dtype
    python -m parity_tests.report --trajectories      # + 50-step training runs of every model
    python -m parity_tests.report --markdown          # the same table in Markdown (for the README)
    python -m parity_tests.report --tolerances        # only the tolerance table, in Markdown

Every row draws its own examples from the registry's Hypothesis strategies (seeded with
``--seed``, no shrinking, no example database), so the report is reproducible and independent of
pytest. Columns: what was compared, dtype, examples tried, the largest absolute error, the largest
error relative to the reference's scale (what the tolerance bounds), the tolerance, where the worst
error was (forward output or which gradient), and pass/fail. The exit status is 0 when every row
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
    what: str
    dtype: str
    tolerance: object
    examples: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: str = ""
    passed: bool = True
    failures: list = field(default_factory=list)

    def add(self, cmp, where, describe=""):
        self.max_abs = max(self.max_abs, cmp.max_abs_error)
        if cmp.error > self.max_rel or not self.worst:
            self.max_rel, self.worst = max(self.max_rel, cmp.error), where
        if not cmp.passed:
            self.passed = False
            if len(self.failures) < 3:
                self.failures.append(f"{where}: {describe}\n    {cmp.describe()}")


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


def op_rows(names, dtypes, n, seed):
    from hypothesis import strategies as st

    from .assertions import compare
    from .registry import OPS
    from .strategies import seeds, upstream

    rows = []
    for op in OPS:
        if names and op.name not in names:
            continue
        for dtype in dtypes:
            row = Row(op.name, dtype, op.tolerance(dtype))

            def body(example, op=op, row=row, dtype=dtype):
                sample, dout_seed = example
                out, _ = op.run_numpy(sample)
                row.add(compare(out, op.run_tensorflow(sample), row.tolerance), "forward", sample.describe())
                dout = upstream(np.random.default_rng(dout_seed), np.shape(out), dtype)
                scale = op.vjp_scale(sample, dout) if op.vjp_scale else None
                for i, name, g, ref in zip(op.grad_argnums, op.grad_names(sample), op.numpy_vjp(sample, dout),
                                           op.tensorflow_vjp(sample, dout)):
                    if sample.args[i] is not None:
                        row.add(compare(g, ref, row.tolerance, scale), f"d{name}", sample.describe())

            row.examples = _run_examples(st.tuples(op.samples(dtype), seeds), body, n, seed)
            rows.append(row)
    return rows


def model_rows(dtypes, n, seed):
    from hypothesis import strategies as st

    from numpy_nn.zoo import TUTORIAL_MODELS
    from tf_nn.parity import tutorial_step_pair

    from .assertions import compare
    from .strategies import seeds
    from .tolerances import MODEL_TOLERANCES

    rows = []
    example = st.tuples(st.integers(0, 2**16), st.integers(1, 32), st.integers(0, 4000), st.booleans(), seeds)
    for name, tutorial in TUTORIAL_MODELS.items():
        for dtype in dtypes:
            tol = {k: v[dtype] for k, v in MODEL_TOLERANCES.items()}
            row = Row(f"model {name}: outputs, loss, gradients", dtype, tol["gradients"])

            def body(ex, tutorial=tutorial, row=row, dtype=dtype, tol=tol):
                wseed, size, start, one_hot, mseed = ex
                names, ours, theirs = tutorial_step_pair(tutorial, dtype, wseed, start, size, one_hot, mseed)
                describe = f"seed {wseed}, batch {start}:{start + size}, {'one-hot' if one_hot else 'sparse'}"
                row.add(compare(ours[0], theirs[0], tol["outputs"]), "outputs", describe)
                row.add(compare(np.float64(ours[1]), np.float64(theirs[1]), tol["loss"]), "loss", describe)
                for pname, g, ref in zip(names, ours[2], theirs[2]):
                    row.add(compare(g, ref, tol["gradients"]), f"d {pname}", describe)

            row.examples = _run_examples(example, body, n, seed)
            rows.append(row)
    return rows


def optimizer_rows(dtypes, n, seed):
    from hypothesis import strategies as st

    from tf_nn.parity import run_optimizers

    from .assertions import compare_trajectory
    from .strategies import OPTIMIZER_STEPS, adam_settings, parameters_and_gradients, sgd_settings
    from .tolerances import OPTIMIZER_TOLERANCES

    variants = [("sgd", "SGD", lambda d: sgd_settings(d, 0.0, False)),
                ("sgd", "SGD momentum 0.9", lambda d: sgd_settings(d, 0.9, False)),
                ("sgd", "SGD Nesterov 0.9", lambda d: sgd_settings(d, 0.9, True)),
                ("adam", "Adam", adam_settings)]
    rows = []
    for kind, label, settings_for in variants:
        for dtype in dtypes:
            row = Row(f"optimizer {label}, {OPTIMIZER_STEPS} steps", dtype, OPTIMIZER_TOLERANCES[kind][dtype])

            def body(ex, row=row):
                opt, (initial, grads, describe) = ex
                ours, theirs = run_optimizers(opt, initial, grads)
                cmp, step, k = compare_trajectory(initial, ours, theirs, row.tolerance)
                row.add(cmp, f"param {k}, step {step}", f"{opt!r}, {describe}")

            row.examples = _run_examples(st.tuples(settings_for(dtype), parameters_and_gradients(dtype)), body, n, seed)
            rows.append(row)
    return rows


def trajectory_rows(dtypes, steps=50):
    from numpy_nn.zoo import TUTORIAL_MODELS
    from tf_nn.parity import tutorial_trajectory

    from .assertions import compare
    from .tolerances import TRAJECTORY_TOLERANCES

    rows = []
    for name, tutorial in TUTORIAL_MODELS.items():
        for kind in ("sgd", "adam"):
            for dtype in dtypes:
                row = Row(f"model {name}: {steps} steps of {kind}", dtype, TRAJECTORY_TOLERANCES[kind][dtype], examples=1)
                names, ours, theirs, _ = tutorial_trajectory(tutorial, kind, dtype, steps)
                for pname, w, ref in zip(names, ours, theirs):
                    row.add(compare(w, ref, row.tolerance), pname, "weights")
                rows.append(row)
    return rows


# --- output -----------------------------------------------------------------------------------
HEADER = ("comparison", "dtype", "examples", "max abs error", "max rel error", "tolerance", "worst in", "result")


def _fmt(x):
    return "0" if x == 0 else ("inf" if math.isinf(x) else f"{x:.1e}")


def _cells(row):
    return (row.what, row.dtype, str(row.examples), _fmt(row.max_abs), _fmt(row.max_rel), str(row.tolerance),
            row.worst, "pass" if row.passed else "FAIL")


def format_table(rows, markdown=False):
    cells = [HEADER] + [_cells(r) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells[1:]])
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    line = lambda c: "  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip()  # noqa: E731
    return "\n".join([line(HEADER), "  ".join("-" * w for w in widths)] + [line(c) for c in cells[1:]])


def _environment():
    import platform

    import tensorflow as tf
    import keras

    devices = ", ".join(d.device_type for d in tf.config.list_logical_devices()) or "none"
    return (f"numpy {np.__version__}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"Python {platform.python_version()}, devices: {devices}")


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

    from tf_nn.runtime import configure_for_parity

    configure_for_parity()
    start = time.perf_counter()
    rows = op_rows(names, dtypes, args.examples, args.seed)
    if not args.no_models and not names:
        rows += model_rows(dtypes, args.model_examples, args.seed)
    if not args.no_optimizers and not names:
        rows += optimizer_rows(dtypes, args.examples, args.seed)
    if args.trajectories and not names:
        rows += trajectory_rows(dtypes)
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
