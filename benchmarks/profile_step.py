"""``python -m benchmarks.profile_step MODEL BATCH``: where one training step's time goes.

numpy_nn's ``train_on_batch`` timed whole and piece by piece -- each layer's forward and backward,
the loss, the optimizer update, the accuracy -- with the remainder (argument checks, the
finite-gradient check, Python glue) as "other"; then the same step under cProfile, summed by source
file. TensorFlow's step is the one Keras step, ``tf_nn.training.KerasTrainer.compiled_step``, timed
whole; being one opaque graph, it is split into three separately compiled functions on the same
trainer's model, loss and optimizer: forward + loss, forward + loss + gradients, and
``optimizer.apply`` alone.

Thread counts are set as for ``python -m benchmarks`` (``--threads``, default all CPUs).
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import statistics
import sys
import time


def _median_us(fn, calls, warmup=20):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def numpy_breakdown(name, batch, calls):
    import numpy as np

    from . import numpy_side as npx
    model = npx.build_model(name)
    data = npx.model_data(name, batch)
    x, y = data["x"], data["y"]
    step = _median_us(lambda: model.train_on_batch(x, y), calls)
    parts = []
    acts = [x]
    for layer in model.layers:
        acts.append(layer.forward(acts[-1], training=True))
    for i, layer in enumerate(model.layers):
        parts.append((f"forward  {layer.name}", _median_us(lambda: layer.forward(acts[i], training=True), calls)))
    fused = model.softmax_in_loss  # as train_on_batch: the loss on the logits of a final softmax
    out = model.forward(x, training=True, logits=fused)
    from_logits = True if fused else None
    parts.append(("loss forward", _median_us(lambda: model.loss.forward(y, out, from_logits=from_logits), calls)))
    parts.append(("loss backward", _median_us(model.loss.backward, calls)))
    dout = model.loss.backward()
    douts = []
    for layer in reversed(model.layers):
        label = "backward " + layer.name + (" (from logits)" if fused and layer is model.layers[-1] else "")
        douts.append((label, layer, dout))
        dout = layer.backward(dout)
    for label, layer, d in douts:
        parts.append((label, _median_us(lambda: layer.backward(d), calls)))
    pairs = model.trainable_pairs()
    parts.append((f"optimizer {type(model.optimizer).__name__} ({model.count_params():,} params)",
                  _median_us(lambda: model.optimizer.apply_gradients(pairs), calls)))
    parts.append(("accuracy", _median_us(lambda: model.loss.accuracy(y, out), calls)))
    accounted = sum(t for _, t in parts)
    parts.append(("other (checks, finite check, glue)", step - accounted))

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        model.train_on_batch(x, y)
    profiler.disable()
    by_file = collections.Counter()
    for (path, _, fn), (_, _, tottime, _, _) in pstats.Stats(profiler).stats.items():
        if path.startswith("~"):
            key = f"C: {fn}"
        else:
            key = path.split(os.sep + "numpy_nn" + os.sep, 1)[-1] if "numpy_nn" in path else os.path.basename(path)
            key = ("numpy_nn/" + key) if "numpy_nn" in path else key
        by_file[key] += tottime
    return step, parts, by_file, calls, np


def _skip_first_input_gradient(model):
    """Make the first weighted layer skip its input gradient (``backward(dout, need_dx=False)``, the
    layer contract) and the layers before it do nothing: nothing uses dL/dx of the model's input.
    ``Sequential.train_on_batch`` already does this (``need_input_grad=False``), so this row now
    checks that it does (it should match the row above). Diagnostic only."""
    first = next(layer for layer in model.layers if layer.params)
    backward = first.backward
    first.backward = lambda dout, need_dx=True: backward(dout, need_dx=False)
    for layer in model.layers[:model.layers.index(first)]:  # e.g. a leading Flatten: nothing to pass back
        layer.backward = lambda dout, need_dx=True: None


def what_if(name, batch, calls):
    """train_on_batch as it is, without the finite-gradient check, and also without the first
    layer's input gradient (which train_on_batch already skips: the last two rows should agree)."""
    from . import numpy_side as npx
    data = npx.model_data(name, batch)
    rows = []
    for label, finite, first_dx in (("as it is", True, True), ("check_finite = False", False, True),
                                    ("... and no input gradient for the first layer", False, False)):
        model = npx.build_model(name)
        model.check_finite = finite
        if not first_dx:
            _skip_first_input_gradient(model)
        rows.append((label, _median_us(lambda: model.train_on_batch(data["x"], data["y"]), calls)))
    return rows


def tf_breakdown(name, batch, calls, threads):
    from .tf_side import import_tensorflow
    tf, problem = import_tensorflow(threads, threads)
    if tf is None:
        return None
    from tf_nn.training import KerasTrainer

    from . import numpy_side as npx
    np_model = npx.build_model(name)
    data = npx.model_data(name, batch)
    trainer = KerasTrainer(np_model)  # the one Keras step: the twin, its loss, its optimizer
    model, loss_fn, opt = trainer.model, trainer.loss, trainer.optimizer
    x, y = tf.constant(data["x"]), tf.constant(data["y"].astype("int32"))
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
        opt.apply(fixed_grads, variables)

    def step():
        return trainer.compiled_step(x, y, ())
    return [("tf.function step", _median_us(step, calls)),  # KerasTrainer.compiled_step, whole
            ("forward + loss", _median_us(forward_loss, calls)),
            ("forward + loss + gradients", _median_us(forward_backward, calls)),
            (f"optimizer.apply alone ({type(opt).__name__})", _median_us(apply_only, calls))]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=["softmax", "mlp", "dropout", "cnn"])
    p.add_argument("batch", type=int)
    p.add_argument("--calls", type=int, default=None, help="timed calls per piece (default: about 2 s worth)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-tf", action="store_true")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="first wait up to this long for other processes to leave the CPUs")
    p.add_argument("--what-if", action="store_true",
                   help="also time the step without the finite-gradient check and without the first layer's input gradient")
    args = p.parse_args(argv)
    from .machine import THREAD_ENV, available_cpus
    threads = args.threads or available_cpus()
    if "numpy" in sys.modules and os.environ.get("OPENBLAS_NUM_THREADS") != str(threads):
        print("note: NumPy was imported before the thread count could be set", file=sys.stderr)
    for k in THREAD_ENV:
        os.environ[k] = str(threads)
    calls = args.calls or (40 if args.model == "cnn" else 400)
    from .machine import Patience
    Patience(args.wait_quiet, 0.10).wait()
    step, parts, by_file, calls, np = numpy_breakdown(args.model, args.batch, calls)
    print(f"numpy_nn {args.model} batch {args.batch}, {threads} threads, numpy {np.__version__}: "
          f"train_on_batch median {step:.0f} us")
    print("| piece | median us | share of the step |\n|---|---|---|")
    for label, t in parts:
        print(f"| {label} | {t:.0f} | {100 * t / step:.0f}% |")
    total = sum(by_file.values())
    print(f"\ncProfile, own time summed by file ({calls} steps; profiled step {total / calls * 1e6:.0f} us, "
          "inflated by the profiler's per-call cost):\n| file or C function | us per step | share |\n|---|---|---|")
    for key, t in by_file.most_common(12):
        print(f"| {key} | {t / calls * 1e6:.0f} | {100 * t / total:.0f}% |")
    if args.what_if:
        print("\nWhat two changes outside numpy_nn.functional would save (train_on_batch medians):\n| variant | median us |\n|---|---|")
        for label, t in what_if(args.model, args.batch, calls):
            print(f"| {label} | {t:.0f} |")
    if not args.no_tf:
        rows = tf_breakdown(args.model, args.batch, calls, threads)
        if rows:
            print(f"\nTensorFlow {args.model} batch {args.batch} ({threads} intra-op and inter-op threads):")
            print("| tf.function | median us |\n|---|---|")
            for label, t in rows:
                print(f"| {label} | {t:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
