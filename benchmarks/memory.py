"""``python -m benchmarks.memory``: the memory one training step and one epoch need, numpy_nn and TensorFlow.

For each tutorial model (:mod:`numpy_nn.zoo`, built and fed by :mod:`benchmarks.numpy_side`) and
batch size, after warm-up steps (steady state: weights, optimizer slots and layer caches exist):

* **step**: one ``Sequential.train_on_batch`` (numpy_nn) or one
  ``tf_nn.training.KerasTrainer.compiled_step`` (TensorFlow, the project's one Keras step);
* **epoch**: ``Sequential.fit(epochs=1, verbose=0)`` over ``--epoch-samples`` synthetic samples at
  that batch size (numpy_nn), and for TensorFlow the same batches through the project's one epoch
  loop, :func:`numpy_nn.loop.run_epoch` with ``KerasTrainer.train_on_batch`` (what ``numpy-nn
  train`` runs; tf_nn has no epoch loop of its own). The epoch's data exists before it starts.

Each is measured by one of these methods (the ``method`` column says which):

* ``tracemalloc`` (numpy_nn only): NumPy reports its array buffers to :mod:`tracemalloc`, so this
  counts every Python object and NumPy array allocated while the call runs -- not BLAS's own
  internal buffers, nor anything TensorFlow allocates in C++. *peak* is the traced high-water mark
  above the traced size at the start of the call (``tracemalloc.reset_peak``); *residue* is what is
  still allocated after it (about 0 when a step allocates nothing that outlives it); *retained
  blocks* is the snapshot difference after minus before (blocks and bytes still alive). tracemalloc
  cannot count blocks that were allocated and freed inside the call: the peak is their footprint.
* ``rss``: the whole process's resident high-water mark (``VmHWM`` of ``/proc/self/status``, Linux),
  reset to the current resident size by ``echo 5 > /proc/self/clear_refs`` just before the call,
  after glibc's ``malloc_trim(0)`` has handed malloc's free memory back (so that blocks the call
  reuses are fresh pages and count); *peak* is ``VmHWM`` after the call minus ``VmRSS`` before it,
  *residue* the change of ``VmRSS`` (what the allocator keeps resident afterwards: not a leak
  measure, tracemalloc's residue is). It covers everything -- BLAS, TensorFlow's C++ allocations,
  Python -- at page granularity; memory an allocator caches outside malloc (TensorFlow's own pools)
  is reused unseen, so it is a lower bound of what the call needs.
* ``tf.config.experimental.get_memory_info('CPU:0')`` would be TensorFlow's own allocator peak; it
  is tried first, and on CPU it raises (no allocator statistics), so TensorFlow is measured by
  ``rss``; the output says which method produced each row.

tracemalloc and RSS count different things, so rows of different methods are not comparable; the
``rss`` rows of the two frameworks are, with the caveat above. The reference line *params+slots* is
the bytes of the trainable weights plus the optimizer's slots (numpy_nn: ``optimizer.slots``; Keras:
``optimizer.variables``). Thread counts are set as :mod:`benchmarks.profile_step` sets them, and
TensorFlow runs in this process (:func:`benchmarks.tf_side.import_tensorflow`), as in the other
benchmarks. Output: ``memory.json`` and ``memory.md`` in ``--out``, the table printed, the machine
line (CPU, ISA, oneDNN, BLAS and its threads) on top.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
import tracemalloc
from pathlib import Path

from .profile_step import MODELS, apply_threads, machine_record

MIB = 2**20
WARMUP_STEPS = 3


# --- the measurements -----------------------------------------------------------------------------
def traced(fn, warmup=WARMUP_STEPS):
    """tracemalloc figures of one call of ``fn`` after ``warmup`` calls, all traced (so that what the
    measured call frees was counted when it was allocated): ``{"peak_bytes", "residue_bytes",
    "retained_blocks", "retained_bytes", "top_retained"}`` (see the module docstring)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        for _ in range(warmup):
            fn()
        gc.collect()
        before = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        current, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
    finally:
        if started:
            tracemalloc.stop()
    return {"peak_bytes": peak - base, "residue_bytes": current - base, **_retained(before, after)}


def _retained(before, after):
    """Blocks and bytes alive after the call that were not before (snapshot difference), with the
    three largest source lines (the innermost frame: for an array, NumPy's line that made it);
    tracemalloc's own and this module's bookkeeping left out."""
    own = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    diff = after.filter_traces(own).compare_to(before.filter_traces(own), "lineno")
    grown = [d for d in diff if d.size_diff > 0 or d.count_diff > 0]
    return {"retained_blocks": sum(d.count_diff for d in diff), "retained_bytes": sum(d.size_diff for d in diff),
            "top_retained": [{"where": f"{d.traceback[0].filename}:{d.traceback[0].lineno}", "bytes": d.size_diff}
                             for d in sorted(grown, key=lambda d: -d.size_diff)[:3]]}


def _proc_status_kib(*keys):
    """The given ``/proc/self/status`` fields (``VmRSS``, ``VmHWM``) in KiB."""
    with open("/proc/self/status") as f:
        fields = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(keys)}
    return [fields[k] for k in keys]


def _malloc_trim():
    """Hand malloc's free memory back to the system (glibc's ``malloc_trim(0)``), so that a call
    reusing freed blocks touches fresh pages and shows in the resident high-water mark; True if done."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        return False
    return True


def rss_peak(fn, warmup=WARMUP_STEPS):
    """Resident-memory figures of one call of ``fn`` after ``warmup`` calls: ``{"peak_bytes",
    "residue_bytes"}`` (VmHWM after minus VmRSS before, after resetting VmHWM through
    ``/proc/self/clear_refs``), or ``{"error": why}`` where that is not possible (not Linux)."""
    for _ in range(warmup):
        fn()
    gc.collect()
    trimmed = _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        (rss0,) = _proc_status_kib("VmRSS")
    except OSError as exc:
        return {"error": f"cannot reset the resident high-water mark ({exc})"}
    fn()
    hwm, rss1 = _proc_status_kib("VmHWM", "VmRSS")
    return {"peak_bytes": (hwm - rss0) * 1024, "residue_bytes": (rss1 - rss0) * 1024, "malloc_trim": trimmed}


def tf_allocator_peak(tf, fn, warmup=WARMUP_STEPS):
    """TensorFlow's own allocator peak of one call (``get_memory_info('CPU:0')``, reset before the
    call), or None where TensorFlow keeps no statistics for that device (on CPU it raises)."""
    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
        base = tf.config.experimental.get_memory_info("CPU:0")["current"]
    except (ValueError, RuntimeError, AttributeError):
        return None
    for _ in range(warmup):
        fn()
    tf.config.experimental.reset_memory_stats("CPU:0")
    fn()
    info = tf.config.experimental.get_memory_info("CPU:0")
    return {"peak_bytes": info["peak"] - base, "residue_bytes": info["current"] - base}


# --- the two frameworks ---------------------------------------------------------------------------
def numpy_params_and_slots(model):
    """Bytes of the trainable weights plus their optimizer slots (``optimizer.slots``, public)."""
    params = [p for layer in model.layers for p in layer.params.values()]
    return sum(p.nbytes for p in params) + sum(s.nbytes for p in params for s in model.optimizer.slots(p))


def numpy_rows(name, batch, epoch_samples):
    """One row per method (tracemalloc, rss) of ``name`` at ``batch``: step and epoch figures."""
    from . import numpy_side as npx

    model = npx.build_model(name)
    step_data, epoch_data = npx.model_data(name, batch), npx.model_data(name, epoch_samples, seed=1)

    def step():
        model.train_on_batch(step_data["x"], step_data["y"])

    def epoch():
        model.fit(epoch_data["x"], epoch_data["y"], epochs=1, batch_size=batch, seed=0, verbose=0)

    rows = []
    for method, measure in (("tracemalloc", traced), ("rss", rss_peak)):
        rows.append({"framework": "numpy_nn", "method": method, "step": measure(step),
                     "epoch": measure(epoch, warmup=1)})
    for row in rows:
        row["params_slots_bytes"] = numpy_params_and_slots(model)
    return rows


def keras_params_and_slots(trainer):
    """Bytes of the Keras twin's trainable variables plus every optimizer variable (its slots, and
    the scalar step count and learning rate)."""
    import numpy as np

    variables = list(trainer.model.trainable_variables) + list(trainer.optimizer.variables)
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


def tf_rows(tf, name, batch, epoch_samples):
    """TensorFlow's row of ``name`` at ``batch``: ``get_memory_info`` if it works, else ``rss``."""
    import numpy as np
    from tf_nn.training import KerasTrainer

    from numpy_nn.batching import epoch_batch_indices
    from numpy_nn.loop import run_epoch

    from . import numpy_side as npx
    trainer = KerasTrainer(npx.build_model(name))
    d, e = npx.model_data(name, batch), npx.model_data(name, epoch_samples, seed=1)
    x, y = tf.constant(d["x"], trainer.dtype.name), tf.constant(d["y"].astype(np.int32))
    batches = epoch_batch_indices(epoch_samples, batch, 0, 0, True)

    def step():
        trainer.compiled_step(x, y, ())

    def epoch():
        run_epoch(lambda xb, yb, _: trainer.train_on_batch(xb, yb), e["x"], e["y"], batches)

    method, measure = "tf get_memory_info", lambda fn, warmup=WARMUP_STEPS: tf_allocator_peak(tf, fn, warmup)
    if measure(step, warmup=0) is None:
        method, measure = "rss", rss_peak
    return [{"framework": "tensorflow", "method": method, "step": measure(step), "epoch": measure(epoch, warmup=1),
             "params_slots_bytes": keras_params_and_slots(trainer)}]


# --- output ---------------------------------------------------------------------------------------
NOTES = [
    "tracemalloc: Python objects and NumPy arrays allocated in this process (not BLAS's internal "
    "buffers, nothing TensorFlow allocates in C++); peak above the traced size at the call's start.",
    "rss: the whole process's resident high-water mark (VmHWM, reset by /proc/self/clear_refs after "
    "malloc_trim) above the resident size at the call's start: everything (BLAS, TensorFlow's C++ side, "
    "Python), but memory an allocator caches outside malloc is reused unseen, a lower bound. "
    "Not directly comparable with tracemalloc rows; the rss rows of the two frameworks are.",
    "residue: memory still held after the call (tracemalloc: traced bytes, ~0 when a step keeps nothing; "
    "rss: resident bytes the allocator keeps, not a leak measure); "
    "retained blocks: the tracemalloc snapshot difference after - before, blocks / bytes.",
]


def _mib(figures, key="peak_bytes"):
    if not figures or "error" in figures:
        return "-" if not figures else f"n/a ({figures['error']})"
    return f"{figures[key] / MIB:.2f}"


def table_lines(rows):
    """The markdown table of :func:`measure_all`'s rows."""
    head = ["model", "batch", "framework", "method", "step peak MiB", "step residue MiB", "epoch peak MiB",
            "params+slots MiB", "per-step retained blocks / bytes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["step"]
        retained = f"{s['retained_blocks']} / {s['retained_bytes']}" if "retained_blocks" in s else "-"
        cells = [r["model"], str(r["batch"]), r["framework"], r["method"], _mib(s), _mib(s, "residue_bytes"),
                 _mib(r["epoch"]), f"{r['params_slots_bytes'] / MIB:.2f}", retained]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(run):
    """memory.md: the machine line, the table, the notes on what each method counts."""
    lines = ["# Memory of one training step and one epoch", "", f"Machine: {run['configuration']}", "",
             f"Epoch: {run['epoch_samples']} synthetic samples; warm-up: {WARMUP_STEPS} steps (1 epoch) "
             "before each measured call.", ""]
    lines += table_lines(run["rows"]) + ["", "Notes:", ""] + [f"- {n}" for n in NOTES]
    if run.get("tensorflow_note"):
        lines.append(f"- TensorFlow: {run['tensorflow_note']}")
    return "\n".join(lines) + "\n"


def measure_all(models, batches, epoch_samples, tf):
    """Every row: each model and batch, numpy_nn (tracemalloc and rss), then TensorFlow if ``tf``."""
    rows = []
    for name in models:
        for batch in batches:
            found = numpy_rows(name, batch, epoch_samples) + (tf_rows(tf, name, batch, epoch_samples) if tf else [])
            rows += [{"model": name, "batch": batch, **r} for r in found]
    return rows


# --- command line ---------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--batches", nargs="+", type=int, default=[32, 128])
    p.add_argument("--epoch-samples", type=int, default=2048, help="samples in the measured epoch (default 2048)")
    p.add_argument("--threads", type=int, default=None, help="BLAS and TensorFlow threads (default: all CPUs)")
    p.add_argument("--no-tf", action="store_true", help="numpy_nn only (TensorFlow is not imported)")
    p.add_argument("--out", default="bench-out/memory", help="folder for memory.json and memory.md")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    threads = apply_threads(args.threads)
    tf, tf_note = None, "not run (--no-tf)"
    if not args.no_tf:
        from .tf_side import import_tensorflow
        tf, tf_note = import_tensorflow(threads, threads)
    record, line = machine_record(threads, tf)
    print(line)
    rows = measure_all(args.models, args.batches, args.epoch_samples, tf)
    run = {"command": "python -m benchmarks.memory " + " ".join(sys.argv[1:] if argv is None else argv),
           "configuration": line, "machine": record, "threads": threads, "epoch_samples": args.epoch_samples,
           "warmup_steps": WARMUP_STEPS, "notes": NOTES, "tensorflow_note": tf_note, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.json").write_text(json.dumps(run, indent=1))
    text = markdown(run)
    (out / "memory.md").write_text(text)
    print("\n".join(table_lines(rows)) + "\n\n" + "\n".join(f"- {n}" for n in NOTES))
    print(f"\nwrote {out / 'memory.json'} and {out / 'memory.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
