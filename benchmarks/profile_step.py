"""``python -m benchmarks.profile_step MODEL BATCH``: where one training step's time goes.

What is measured (every figure is a median of ``--calls`` timed calls after 20 untimed ones,
``time.perf_counter`` around each call):

* numpy_nn: ``Sequential.train_on_batch`` whole, then its pieces called one by one exactly as the
  step calls them -- each layer's forward (training mode), the loss forward and backward, each
  layer's backward (the first layer with parameters with ``need_dx=False`` and the layers before it
  not at all, as ``Sequential.backward(..., need_input_grad=False)`` does), the loss's finite check
  (:func:`numpy_nn.training_checks.check_finite`), the optimizer update with its gradient finite
  check (``apply_gradients(pairs, check_gradients=model.check_finite)``) and the accuracy -- with the
  remainder (argument checks, Python glue) as "other"; then the same step under cProfile, its own
  time summed by source file.
* ``--what-if``: ``train_on_batch`` of a fresh model per variant: as it is, with
  ``model.check_finite = False`` (skips the gradient finite check, one read of every gradient),
  and, if the optimizer has a ``threads`` setting, with ``threads`` = 1 and 2. Diagnostics of the
  current code: nothing is patched.
* TensorFlow: the one Keras step, ``tf_nn.training.KerasTrainer.compiled_step``, timed whole, and
  split into three separately compiled functions on the same trainer's model, loss and optimizer:
  forward + loss, forward + loss + gradients, and the optimizer's ``apply_gradients`` alone (see
  :func:`tf_breakdown` for why the split is written here).

Thread counts are set as for ``python -m benchmarks`` (``--threads``, default all CPUs). Every
printout starts with the machine line (CPU, ISA, oneDNN, BLAS and its threads, versions);
``--json PATH`` writes the rows with the machine record (:func:`benchmarks.machine.describe`).
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import json
import os
import pstats
import statistics
import sys
import time

MODELS = ("softmax", "mlp", "dropout", "cnn")


# --- shared with benchmarks.memory ------------------------------------------------------------------
def apply_threads(threads):
    """Fix the BLAS/OpenMP thread variables (:data:`benchmarks.machine.THREAD_ENV`) to ``threads``
    (default: every available CPU), as ``python -m benchmarks`` does; they take effect only if NumPy
    is imported afterwards, so a note goes to stderr when it was imported already. Returns the count."""
    from .machine import THREAD_ENV, available_cpus

    threads = threads or available_cpus()
    if "numpy" in sys.modules and os.environ.get("OPENBLAS_NUM_THREADS") != str(threads):
        print("note: NumPy was imported before the thread count could be set", file=sys.stderr)
    for k in THREAD_ENV:
        os.environ[k] = str(threads)
    return threads


def machine_record(threads, tf=None):
    """``(record, one line)``: :func:`benchmarks.machine.describe` of this process (TensorFlow's part
    when ``tf`` is given) and the report's header line (:func:`benchmarks.report.configuration_line`)."""
    import numpy as np

    from .machine import describe
    from .report import configuration_line

    record = describe(np, tf=tf, threads=threads, tf_threads=threads if tf is not None else None)
    return record, configuration_line({"machine": record})


# --- timing ---------------------------------------------------------------------------------------
def median_us(fn, calls, warmup=20):
    """Median wall time of ``fn()`` in microseconds over ``calls`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


# --- numpy_nn -------------------------------------------------------------------------------------
def _first_with_params(model):
    """Index of the first layer with parameters: where ``Sequential.backward`` stops in training."""
    return next((i for i, layer in enumerate(model.layers) if layer.params), 0)


def _step_pieces(model, x, y):
    """``[(label, zero-argument callable), ...]``: the pieces of ``train_on_batch`` in its order, each
    called on the inputs the step gives it (recorded from one step's forward and backward)."""
    from numpy_nn.training_checks import check_finite

    fused = model.softmax_in_loss  # as train_on_batch: the loss on the logits of a final softmax
    from_logits = True if fused else None
    acts = [x]
    for layer in model.layers[:-1]:
        acts.append(layer.forward(acts[-1], training=True))
    out = model.forward(x, training=True, logits=fused)  # leaves this batch's caches in every layer
    pieces = [(f"forward  {layer.name}", lambda i=i, layer=layer: layer.forward(acts[i], training=True))
              for i, layer in enumerate(model.layers[:-1])]
    last = model.layers[-1]
    kw = {"logits": True} if fused else {}
    pieces.append((f"forward  {last.name}" + (" (logits)" if fused else ""),
                   lambda: last.forward(acts[-1], training=True, **kw)))
    loss = float(model.loss.forward(y, out, from_logits=from_logits))
    pieces.append(("loss forward", lambda: model.loss.forward(y, out, from_logits=from_logits)))
    pieces.append(("loss backward", model.loss.backward))
    first = _first_with_params(model)
    dout = model.loss.backward()
    for i in range(len(model.layers) - 1, first - 1, -1):
        layer, need_dx = model.layers[i], i > first
        label = f"backward {layer.name}" + (" (from logits)" if fused and layer is last else "") + \
            ("" if need_dx else " (no input gradient)")
        pieces.append((label, lambda layer=layer, d=dout, need_dx=need_dx: layer.backward(d, need_dx=need_dx)))
        dout = layer.backward(dout, need_dx=need_dx)
    pieces.append(("loss finite check (training_checks.check_finite)", lambda: check_finite(model, loss)))
    pairs, check = model.trainable_pairs(), model.check_finite
    pieces.append((f"optimizer {type(model.optimizer).__name__} ({model.count_params():,} params)"
                   + (", with its gradient finite check" if check else ""),
                   lambda: model.optimizer.apply_gradients(pairs, check_gradients=check)))
    pieces.append(("accuracy (loss.last_accuracy)", lambda: model.loss.last_accuracy(out)))
    return pieces


def _profile_by_file(model, x, y, calls):
    """cProfile's own time of ``calls`` steps summed by file (numpy_nn files by their package path,
    C functions by name), in seconds."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        model.train_on_batch(x, y)
    profiler.disable()
    by_file = collections.Counter()
    for (path, _, fn), (_, _, tottime, _, _) in pstats.Stats(profiler).stats.items():
        if path.startswith("~"):
            key = f"C: {fn}"
        elif "numpy_nn" in path:
            key = "numpy_nn/" + path.split(os.sep + "numpy_nn" + os.sep, 1)[-1]
        else:
            key = os.path.basename(path)
        by_file[key] += tottime
    return by_file


def numpy_breakdown(name, batch, calls):
    """``(step us, [(piece, us), ...], cProfile seconds by file)`` of the tutorial model ``name``."""
    from . import numpy_side as npx

    model = npx.build_model(name)
    data = npx.model_data(name, batch)
    x, y = data["x"], data["y"]
    step = median_us(lambda: model.train_on_batch(x, y), calls)
    parts = [(label, median_us(fn, calls)) for label, fn in _step_pieces(model, x, y)]
    parts.append(("other (argument checks, glue)", step - sum(t for _, t in parts)))
    return step, parts, _profile_by_file(model, x, y, calls)


def what_if_variants(optimizer):
    """``[(label, setup(model)), ...]``: the settings to time ``train_on_batch`` under. The optimizer
    rows exist only if the optimizer has a ``threads`` attribute (checked with ``hasattr``)."""
    variants = [("as it is", lambda model: None),
                ("model.check_finite = False", lambda model: setattr(model, "check_finite", False))]
    if hasattr(optimizer, "threads"):
        for t in (1, 2):
            variants.append((f"optimizer.threads = {t}", lambda model, t=t: setattr(model.optimizer, "threads", t)))
    return variants


def what_if(name, batch, calls):
    """``[(variant, train_on_batch median us), ...]``, one fresh model per :func:`what_if_variants` row."""
    from . import numpy_side as npx

    data = npx.model_data(name, batch)
    rows = []
    for label, setup in what_if_variants(npx.build_model(name).optimizer):
        model = npx.build_model(name)
        setup(model)
        rows.append((label, median_us(lambda: model.train_on_batch(data["x"], data["y"]), calls)))
    return rows


# --- TensorFlow -----------------------------------------------------------------------------------
def tf_breakdown(tf, name, batch, calls):
    """``[(tf.function, median us), ...]``: ``KerasTrainer.compiled_step`` whole, then its three parts.

    The split is written here because ``tf_nn.training.KerasTrainer`` exposes the step only whole
    (``compiled_step``, one graph): its forward/backward half, ``_forward_backward``, is private, and
    ``gradients`` runs it eagerly and converts to NumPy, so neither is a compiled piece to time. The
    three functions below use the trainer's own public ``model``, ``loss`` and ``optimizer``; the
    update gets fixed gradients of the variables' shapes."""
    from tf_nn.training import KerasTrainer

    from . import numpy_side as npx
    data = npx.model_data(name, batch)
    trainer = KerasTrainer(npx.build_model(name))  # the one Keras step: the twin, its loss, its optimizer
    model, loss_fn, opt = trainer.model, trainer.loss, trainer.optimizer
    x, y = tf.constant(data["x"], trainer.dtype.name), tf.constant(data["y"].astype("int32"))
    variables = model.trainable_variables
    fixed_grads = [tf.zeros_like(v) + 1e-3 for v in variables]

    @tf.function
    def forward_loss():
        return loss_fn(y, model(x, training=True))

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, variables)

    @tf.function
    def apply_only():
        opt.apply_gradients(zip(fixed_grads, variables))

    return [("tf.function step (KerasTrainer.compiled_step)", median_us(lambda: trainer.compiled_step(x, y, ()), calls)),
            ("forward + loss", median_us(forward_loss, calls)),
            ("forward + loss + gradients", median_us(forward_backward, calls)),
            (f"optimizer.apply_gradients alone ({type(opt).__name__})", median_us(apply_only, calls))]


# --- command line ---------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=MODELS)
    p.add_argument("batch", type=int)
    p.add_argument("--calls", type=int, default=None, help="timed calls per piece (default: 40 for cnn, 400 otherwise)")
    p.add_argument("--threads", type=int, default=None, help="BLAS and TensorFlow threads (default: all CPUs)")
    p.add_argument("--no-tf", action="store_true", help="skip TensorFlow (it is not imported)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="first wait up to this long for other processes to leave the CPUs")
    p.add_argument("--what-if", action="store_true",
                   help="also time the step with check_finite off and (if the optimizer has one) each threads setting")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the measured rows and the machine record as JSON")
    return p


def _print_table(head, rows, step=None):
    print(f"| {head} | median us |" + (" share of the step |" if step else "") + "\n|---|---|" + ("---|" if step else ""))
    for label, t in rows:
        print(f"| {label} | {t:.0f} |" + (f" {100 * t / step:.0f}% |" if step else ""))


def _print_profile(by_file, calls):
    total = sum(by_file.values())
    print(f"\ncProfile, own time summed by file ({calls} steps; profiled step {total / calls * 1e6:.0f} us, "
          "inflated by the profiler's per-call cost):\n| file or C function | us per step | share |\n|---|---|---|")
    for key, t in by_file.most_common(12):
        print(f"| {key} | {t / calls * 1e6:.0f} | {100 * t / total:.0f}% |")


def _rows_json(rows):
    return [{"label": label, "median_us": round(t, 2)} for label, t in rows]


def main(argv=None):
    args = build_parser().parse_args(argv)
    threads = apply_threads(args.threads)
    calls = args.calls or (40 if args.model == "cnn" else 400)
    from .machine import Patience
    Patience(args.wait_quiet, 0.10).wait()
    tf, tf_note = None, "not run (--no-tf)"
    if not args.no_tf:  # imported first, so that its thread pools are set before anything runs
        from .tf_side import import_tensorflow
        tf, tf_note = import_tensorflow(threads, threads)
    record, line = machine_record(threads, tf)
    print(line)
    step, parts, by_file = numpy_breakdown(args.model, args.batch, calls)
    print(f"\nnumpy_nn {args.model} batch {args.batch}, {threads} threads: train_on_batch median {step:.0f} us")
    _print_table("piece", parts, step)
    _print_profile(by_file, calls)
    result = {"command": "python -m benchmarks.profile_step " + " ".join(sys.argv[1:] if argv is None else argv),
              "model": args.model, "batch": args.batch, "calls": calls, "threads": threads,
              "configuration": line, "machine": record,
              "numpy": {"train_on_batch_us": round(step, 2), "pieces": _rows_json(parts),
                        "cprofile_us_per_step": {k: round(t / calls * 1e6, 2) for k, t in by_file.most_common()}}}
    if args.what_if:
        rows = what_if(args.model, args.batch, calls)
        print("\nWhat-if: train_on_batch of a fresh model under each setting (\"as it is\" repeats the step timed "
              "above: the gap between the two is this run's noise; --wait-quiet waits for a quieter machine):")
        _print_table("variant", rows)
        result["what_if"] = _rows_json(rows)
    if tf is not None:
        rows = tf_breakdown(tf, args.model, args.batch, calls)
        print(f"\nTensorFlow {args.model} batch {args.batch} ({threads} intra-op and inter-op threads):")
        _print_table("tf.function", rows)
        result["tensorflow"] = _rows_json(rows)
    if tf_note:
        print(f"\nTensorFlow: {tf_note}")
    result["tensorflow_note"] = tf_note
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
