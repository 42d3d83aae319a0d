"""``python -m benchmarks.levers``: the performance levers of issue 12, each measured on its own.

numpy_nn only (no TensorFlow). Each row times two or more variants of one thing; variants of a
training step alternate in one process, a few steps each, round after round, so that a slow
moment of a shared machine hits all of them alike (the medians of all their steps are compared):

* ``adam-threads``: ``Adam.apply_gradients`` alone on the cnn's 2,770,634 parameters, 1 and 2
  threads (``optimizer.threads``; bit-identical results);
* ``step-threads``: the same inside the cnn's training step (batch 32);
* ``step-check``: the cnn step with and without the gradient finite check (``model.check_finite``);
* ``step-block``: the cnn step with Adam blocks of 16 K - 256 K elements (``optimizer.block``);
* ``mlp-step``: the mlp's training step (batch 32), as it is: compared across runs with and without
  ``OPENBLAS_THREAD_TIMEOUT`` (what the spinning threads save the small models);
* ``im2col``: the im2col matrix by one copy of the strided window view against one copy per kernel
  offset (``_windows.im2col_by_offsets``), for 1, 3 and 16 input channels;
* ``dense-layout``: the dense kernel gradient as ``x.T @ dy`` and as ``(dy.T @ x).T``.

``OPENBLAS_THREAD_TIMEOUT=4 python -m benchmarks.levers --only step-threads`` shows the
threaded update once OpenBLAS's worker threads stop spinning between matrix products. Thread
counts are set as for ``python -m benchmarks`` (``--threads``, default all CPUs); the machine line
(CPU, ISA, BLAS, threads) is printed first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from .profile_step import median_us

LEVERS = ("adam-threads", "step-threads", "step-check", "step-block", "mlp-step", "im2col", "dense-layout")


def _median_ms(fn, calls):
    return median_us(fn, calls, warmup=1) / 1e3


def alternate(model, data, variants, rounds, steps=5):
    """Median ms of ``model.train_on_batch`` under each ``(label, apply)`` of ``variants`` (``apply(model)``
    sets the variant), taken in turns of ``steps`` steps for ``rounds`` rounds, order reversed every other."""
    times = {label: [] for label, _ in variants}
    for r in range(rounds):
        for label, apply in (variants if r % 2 == 0 else variants[::-1]):
            apply(model)
            model.train_on_batch(data["x"], data["y"])  # the first step after a switch is not timed
            for _ in range(steps):
                t0 = time.perf_counter()
                model.train_on_batch(data["x"], data["y"])
                times[label].append(time.perf_counter() - t0)
    return [(label, statistics.median(v) * 1e3) for label, v in times.items()]


def _setter(**settings):
    def apply(model):
        for path, value in settings.items():
            owner, name = (model.optimizer, path[4:]) if path.startswith("opt_") else (model, path)
            setattr(owner, name, value)
    return apply


def measure(lever, quick):
    """``[(variant, median ms), ...]`` for one lever."""
    import numpy as np

    from numpy_nn.functional._windows import im2col_by_offsets, windows

    from . import numpy_side as npx
    rounds, calls = (2, 3) if quick else (12, 40)
    if lever.startswith("step") or lever == "adam-threads":
        model, data = npx.build_model("cnn"), npx.model_data("cnn", 8 if quick else 32)
        model.train_on_batch(data["x"], data["y"])
    if lever == "adam-threads":
        pairs = model.trainable_pairs()
        rows = []
        for threads in (1, 2):
            model.optimizer.threads = threads
            rows.append((f"threads = {threads}", _median_ms(lambda: model.optimizer.apply_gradients(pairs), calls)))
        return rows
    if lever == "step-threads":
        return alternate(model, data, [(f"threads = {t}", _setter(opt_threads=t)) for t in (1, 2)], rounds)
    if lever == "step-check":
        return alternate(model, data, [(f"check_finite = {c}", _setter(check_finite=c)) for c in (True, False)], rounds)
    if lever == "mlp-step":
        mlp, mlp_data = npx.build_model("mlp"), npx.model_data("mlp", 32)
        return alternate(mlp, mlp_data, [("as it is", lambda model: None)], rounds * 4)
    if lever == "step-block":
        return alternate(model, data, [(f"block = {b >> 10} K", _setter(opt_block=b)) for b in (1 << 14, 1 << 15, 1 << 16, 1 << 17, 1 << 18)], rounds)
    rng = np.random.default_rng(0)
    if lever == "im2col":
        rows = []
        for n, hw, c in ((32, 28, 1), (128, 28, 1), (32, 26, 3), (32, 32, 16)):
            n = 2 if quick else n
            x = rng.standard_normal((n, hw, hw, c), dtype=np.float32)
            out = (hw - 2, hw - 2)
            rows.append((f"{n}x{hw}x{hw}x{c} 3x3, view copy", _median_ms(lambda: windows(x, (3, 3), (1, 1), out).reshape(-1, 9 * c), calls)))
            rows.append((f"{n}x{hw}x{hw}x{c} 3x3, by offsets", _median_ms(lambda: im2col_by_offsets(x, (3, 3), (1, 1), out), calls)))
        return rows
    rows = []
    for n in (32, 128):
        d_in = 216 if quick else 21632
        x = rng.standard_normal((n, d_in), dtype=np.float32)
        dy = rng.standard_normal((n, 128), dtype=np.float32)
        rows.append((f"{n}x{d_in} -> 128: x.T @ dy", _median_ms(lambda: x.T @ dy, calls)))
        rows.append((f"{n}x{d_in} -> 128: (dy.T @ x).T", _median_ms(lambda: (dy.T @ x).T, calls)))
    return rows


def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.levers", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", choices=LEVERS, default=list(LEVERS), help="the levers to measure (default: all)")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all available CPUs)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: checks that it runs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from .machine import available_cpus
    from .profile_step import apply_threads, machine_record
    threads = args.threads or available_cpus()
    apply_threads(threads)
    print(machine_record(threads)[1])
    print(f"numpy_nn levers, {threads} BLAS threads, OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}")
    print("| lever | variant | median ms |\n|---|---|---|")
    for lever in args.only:
        for label, ms in measure(lever, args.quick):
            print(f"| {lever} | {label} | {ms:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
