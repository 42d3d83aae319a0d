"""``python -m benchmarks``: time numpy_nn against TensorFlow and write the report.

    python -m benchmarks --out bench-out            # the full run (make bench), a few minutes on 2 cores
    python -m benchmarks --quick --out bench-out/quick   # small sizes, few repeats: proves the harness works
    python -m benchmarks --only model --threads 1   # just the training steps, single-threaded
    python -m benchmarks --only model --batches 8 16 32 64 128 256   # training steps over a batch sweep

Both frameworks get the same number of threads (``--threads``, default: every CPU this process may
use): NumPy's BLAS through OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS, which must be
set before NumPy is first imported (so when NumPy is already loaded, e.g. when called from Python,
the harness re-runs itself in a fresh interpreter), and TensorFlow through its intra-op and
inter-op thread pools. The report records both.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

_MARKER = "NUMPY_NN_BENCH_THREADS"
QUIET_SHARE = 0.10  # other processes' share of the CPUs above which --wait-quiet waits or measures again


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="bench-out", help="output folder for results.json, report.md and the figures (default: bench-out)")
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats: checks that the harness works, in well under a minute")
    p.add_argument("--threads", type=int, default=None, help="threads for NumPy's BLAS and TensorFlow's intra-op pool (default: all available CPUs)")
    p.add_argument("--tf-inter-op", type=int, default=None, help="TensorFlow inter-op threads (default: --threads)")
    gpu = p.add_mutually_exclusive_group()
    gpu.add_argument("--gpu", dest="gpu", action="store_const", const="require",
                     help="time the GPU rows (TensorFlow on its GPU, numpy_nn on CuPy) and fail if neither is there")
    gpu.add_argument("--no-gpu", dest="gpu", action="store_const", const="off", help="CPU rows only")
    p.set_defaults(gpu="auto")
    p.add_argument("--no-tf", action="store_true", help="numpy_nn rows only (no TensorFlow import)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="on a shared machine: before each case wait for other processes to use under 10%% of the CPUs, and "
                        "measure a case again if they took more while it ran; SECONDS is the total time the run may spend waiting")
    p.add_argument("--retries", type=int, default=3, help="with --wait-quiet: how often a disturbed case is measured again (default 3)")
    p.add_argument("--only", nargs="+", default=None, metavar="GROUP",
                   help="keep the case groups whose names start with these: 'op' (every op of the catalogue), a "
                        "benchmarked op's group (its catalogue entry's benchmark.group, e.g. conv2d), optimizer, model")
    p.add_argument("--batches", nargs="+", type=_positive_int, default=None, metavar="N",
                   help="batch sizes for the training-step (model) cases, e.g. 8 16 32 64 128 256 (default: "
                        "32 128, --quick: 32); targets stay attached only to the batches that have one, and "
                        "benchmarks.crossover fits time = a + b x batch over them")
    return p.parse_args(argv)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"a batch size must be a positive integer, not {text}")
    return value


def choose_sweep(args):
    """The run's :class:`benchmarks.config.Sweep`: ``--quick``'s or the full one, with ``--batches``
    (sorted, duplicates dropped) replacing its training-step batch sizes when given."""
    from dataclasses import replace

    from .config import FULL, QUICK
    sweep = QUICK if args.quick else FULL
    if args.batches:
        sweep = replace(sweep, model_batches=tuple(sorted(set(args.batches))))
    return sweep


def _thread_env(threads):
    from .machine import THREAD_ENV
    return {name: str(threads) for name in THREAD_ENV}


def main(argv=None) -> int:
    """Run the benchmark; returns the process exit status (0 when the report was written)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    from .machine import available_cpus
    threads = args.threads or available_cpus()
    if os.environ.get(_MARKER) != str(threads):
        env = {**_thread_env(threads), _MARKER: str(threads)}
        if "numpy" in sys.modules:  # too late to size NumPy's BLAS in this process: re-run in a fresh one
            root = str(Path(__file__).resolve().parents[1])
            child_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            return subprocess.call([sys.executable, "-m", "benchmarks", *argv], env=child_env)
        os.environ.update(env)
    return run(args, threads, "python -m benchmarks " + " ".join(argv))


def _detect_backends(args, threads, notes):
    """TensorFlow (with its GPU or not) and CuPy, as far as they are installed and wanted."""
    from .cases import Backends
    tf = None
    tf_gpu = False
    if args.no_tf:
        notes.append("TensorFlow rows were not requested (--no-tf)")
    else:
        from .tf_side import import_tensorflow
        tf, problem = import_tensorflow(threads, args.tf_inter_op or threads)
        if problem:
            notes.append(problem)
        if tf is not None:
            gpus = tf.config.list_physical_devices("GPU")
            if gpus and args.gpu == "off":
                tf.config.set_visible_devices([], "GPU")
            elif gpus:
                for g in gpus:
                    try:
                        tf.config.experimental.set_memory_growth(g, True)  # leave room for CuPy
                    except RuntimeError:
                        pass
                tf_gpu = True
    cupy = None
    if args.gpu != "off":
        try:
            import cupy as cp
            if cp.cuda.runtime.getDeviceCount() > 0:
                cupy = cp
            else:
                notes.append("CuPy is installed but sees no GPU: the CuPy rows are not measured")
        except ImportError:
            pass
        except Exception as exc:
            notes.append(f"CuPy is installed but unusable ({type(exc).__name__}: {exc}): the CuPy rows are not measured")
    if args.gpu != "off":
        tf_msg = ("TensorFlow sees a GPU: its rows run there with TF32 off and, as a separate row, on" if tf_gpu else
                  "TensorFlow sees no GPU" if tf is not None else "TensorFlow is not available")
        cupy_msg = "numpy_nn runs on CuPy arrays through the xp array module" if cupy is not None else "CuPy is not installed (or sees no GPU)"
        if not tf_gpu and cupy is None:
            notes.append(f"No GPU timings: {tf_msg} and {cupy_msg}. GPU rows are not measured.")
        else:
            notes.append(f"GPU: {tf_msg}; {cupy_msg}.")
            if not tf_gpu:
                why = "was not requested" if args.no_tf else "is not installed here" if tf is None else "sees no GPU"
                notes.append(f"TensorFlow {why}, so there is no TensorFlow GPU row to compare the CuPy rows with; "
                             "they are compared with numpy_nn on this machine's CPU instead.")
    return Backends(tf, tf_gpu, cupy), tf, cupy


def _print_case(i, res):
    rows = res["rows"]
    parts = [f"{name} {s['median_ms']:.3f} ms" if "median_ms" in s else f"{name} ERROR" for name, s in rows.items()]
    r = res.get("ratios", {}).get("numpy/tf_function")
    tail = f" | numpy/tf.function {r['ratio']:.2f}" if r else ""
    print(f"[{i:3d}] {res['group']:<15} {res['case']:<36} {res['mode']:<17} " + " | ".join(parts) + tail, flush=True)


def run(args, threads, command):
    import numpy as np

    from . import cases as C
    from . import machine, report
    from .config import RATIOS
    from .timing import measure, ratio

    patience = machine.Patience(args.wait_quiet, QUIET_SHARE)
    patience.wait()
    started = time.time()
    load_before = machine.load_average()
    counters_before = machine.cpu_counters()
    sweep = choose_sweep(args)
    notes = []
    backends, tf, cupy = _detect_backends(args, threads, notes)
    if args.gpu == "require" and cupy is None and not backends.tf_gpu:
        print("benchmarks: --gpu was given but neither TensorFlow nor CuPy sees a GPU:\n  " + "\n  ".join(notes), file=sys.stderr)
        return 2
    info = machine.describe(np, tf, cupy, threads, {"intra_op": threads, "inter_op": args.tf_inter_op or threads})
    info["load_before"] = load_before
    print(f"benchmarks: {info['cpu']}, {threads} threads, numpy {np.__version__}"
          + (f", tensorflow {tf.__version__}" if tf is not None else "") + (f", cupy {cupy.__version__}" if cupy is not None else ""), flush=True)
    ceilings = machine.ceilings(np, sweep.matmul_n, sweep.copy_mib, tf=tf)
    print(f"ceilings: matmul {ceilings['matmul_gflops_used']:.1f} GFLOP/s, copy {ceilings['copy_gbps_used']:.1f} GB/s", flush=True)
    gpu_ceilings = None
    if cupy is not None:
        try:
            gpu_ceilings = machine.gpu_ceilings(cupy, n=1024 if args.quick else 8192, copy_mib=16 if args.quick else 1024)
            print(f"GPU ceilings: matmul {gpu_ceilings['matmul_gflops_used']:.0f} GFLOP/s, copy {gpu_ceilings['copy_gbps_used']:.0f} GB/s", flush=True)
        except Exception as exc:
            notes.append(f"The GPU ceilings could not be measured ({type(exc).__name__}: {exc})")
    results, status = [], 0
    try:
        for group in C.all_case_groups(sweep, backends, args.only):
            for case in group:
                contenders = case.pop("contenders")
                for attempt in range(1 + (args.retries if patience.active else 0)):
                    patience.wait()
                    before = machine.cpu_counters()
                    rounds, budget = (sweep.model_rounds, sweep.model_budget_s) if case["group"] == "model" else (sweep.rounds, sweep.budget_s)
                    timed = measure(contenders, sweep.warmup, rounds, budget, sweep.min_calls, sweep.max_calls)
                    shared = machine.other_work(before, machine.cpu_counters(), info["cpus_available"])
                    if not (patience.active and shared and shared["others_share"] > QUIET_SHARE):
                        break
                    print(f"      (other processes took {100 * shared['others_share']:.0f}% of the CPUs: measuring again)", flush=True)
                case["others_share"] = None if shared is None else shared["others_share"]
                case["attempts"] = attempt + 1
                case["rows"] = timed
                case["ratios"] = {f"{a}/{b}": r for a, b in RATIOS if (r := ratio(timed.get(a), timed.get(b)))}
                C.attach_rates(case, ceilings, gpu_ceilings)
                results.append(case)
                _print_case(len(results), case)
    except (Exception, KeyboardInterrupt) as exc:  # keep what was measured: write the report anyway
        notes.append(f"The run stopped early after {len(results)} cases: {type(exc).__name__}: {exc}")
        print(f"benchmarks: stopped early ({type(exc).__name__}: {exc}); writing what was measured", file=sys.stderr)
        status = 1
    info["load_after"] = machine.load_average()
    info["other_work"] = machine.other_work(counters_before, machine.cpu_counters(), info["cpus_available"])
    info["waited_for_quiet_s"] = round(patience.waited, 1)
    # "model_batches" is new with --batches; readers of older results.json files must not need it.
    run_record = {"schema": 1, "command": command, "quick": args.quick, "model_batches": list(sweep.model_batches),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
                  "duration_s": time.time() - started, "machine": info, "ceilings": ceilings,
                  "gpu_ceilings": gpu_ceilings, "notes": notes, "results": results}
    paths = report.write_all(args.out, run_record)
    print("wrote " + ", ".join(str(p) for p in paths), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
