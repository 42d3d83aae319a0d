"""``python -m benchmarks.cupy_check``: numpy_nn on CuPy arrays computes what it computes on NumPy.

Before the GPU rows of a benchmark are worth reading, the same code must give the same numbers on
the GPU. For every op of the catalogue (``parity_tests.registry.OPS``; forward and backward), on
its quick benchmark sizes where it has them and else on float32 samples of its own strategy, and
for five training steps of each tutorial model, this runs numpy_nn on NumPy and on CuPy from the
same inputs and prints the largest difference, scaled by the largest NumPy value. Float32
throughout, so differences of ~1e-6 (different summation orders in cuBLAS) are expected; anything
near 1e-2 is a bug. An op that fails on CuPy is a failed row. Exit status 1 if any row fails or
exceeds ``--tol``. Needs neither TensorFlow nor a GPU build of it; it does need hypothesis (the
catalogue's input strategies draw the samples), which the ``gpu`` extra installs with CuPy.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def rel_err(a, b, cp):
    a, b = cp.asnumpy(a) if not isinstance(a, np.ndarray) else a, cp.asnumpy(b) if not isinstance(b, np.ndarray) else b
    scale = max(float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale


def op_inputs(op, samples=2, seed=0):
    """``[(label, sample, dout)]`` for one catalogue op: its quick benchmark sizes, else ``samples``
    float32 draws of its strategy (with a random upstream gradient)."""
    from parity_tests.strategies import draw_examples, upstream

    from . import numpy_side as npx

    if op.benchmark is not None:
        return [(op.benchmark.label(size), *npx.op_data(op, size)) for size in op.benchmark.quick]
    out = []
    for k, sample in enumerate(draw_examples(op.samples("float32"), samples, seed)):
        y, _ = op.run_numpy(sample)
        shapes = ", ".join(str(tuple(a.shape)) for a in sample.args if isinstance(a, np.ndarray))
        out.append((f"sample {k} {shapes}", sample, upstream(np.random.default_rng(k), np.shape(y), "float32")))
    return out


def check_op(op, cp, samples=2):
    """``[(row name, error or None if it failed, message)]`` for every input of ``op``."""
    rows = []
    for label, sample, dout in op_inputs(op, samples):
        name = f"{op.name} {label}"[:60]
        on_gpu = lambda v: cp.asarray(v) if isinstance(v, np.ndarray) else v  # noqa: E731
        try:
            y0, c0 = op.run_numpy(sample)
            y1, c1 = op.forward(*(on_gpu(a) for a in sample.args), **{k: on_gpu(v) for k, v in sample.kwargs.items()})
            rows.append((f"{name} forward", rel_err(y1, np.asarray(y0), cp), ""))
            g0, g1 = op.numpy_vjp(sample, dout, c0), op.numpy_vjp(sample, cp.asarray(dout), c1)
            for grad_name, a, b in zip(op.grad_names(sample), g0, g1):
                if a is not None:
                    rows.append((f"{name} d{grad_name}", rel_err(b, a, cp), ""))
        except Exception as exc:  # an op that does not run on CuPy is a failure, reported as such
            rows.append((name, None, f"{type(exc).__name__}: {exc}"[:200]))
    return rows


def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.cupy_check")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--samples", type=int, default=2, help="float32 samples per op without benchmark sizes (default 2)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        import cupy as cp
    except ImportError:
        print("CuPy is not installed: nothing to check")
        return 0
    from numpy_nn.zoo import TUTORIAL_MODELS
    from parity_tests.registry import OPS

    from . import numpy_side as npx

    rows = []
    for op in OPS:
        rows += check_op(op, cp, args.samples)
    for name in TUTORIAL_MODELS:
        data = npx.model_data(name, 32)
        m0, m1 = npx.build_model(name), npx.build_model(name, xp=cp)
        for layer0, layer1 in zip(m0.layers, m1.layers):
            if layer0.rng is not None:  # dropout: the same host generator state on both sides
                layer1.rng = np.random.default_rng(0)
                layer0.rng = np.random.default_rng(0)
        x1, y1 = cp.asarray(data["x"]), cp.asarray(data["y"])
        try:
            for _ in range(5):
                m0.train_on_batch(data["x"], data["y"])
                m1.train_on_batch(x1, y1)
            for k, (a, b) in enumerate(zip(m0.get_weights(), [w for layer in m1.layers for _, w in layer.weights])):
                rows.append((f"{name} weights after 5 steps [{k}]", rel_err(b, a, cp), ""))
        except Exception as exc:
            rows.append((f"{name} training", None, f"{type(exc).__name__}: {exc}"[:200]))
    failed = [r for r in rows if r[1] is None or r[1] > args.tol]
    for name, e, message in rows:
        print(f"{name:<66} " + (f"FAILED: {message}" if e is None else
                                f"max |cupy - numpy| / max |numpy| = {e:.2e}"))
    worst = max((e for _, e, _ in rows if e is not None), default=0.0)
    print(f"{len(rows) - len(failed)}/{len(rows)} rows ok; worst {worst:.2e} (tolerance {args.tol:g}): "
          f"{'ok' if not failed else 'FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
