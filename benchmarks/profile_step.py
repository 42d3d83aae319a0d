"""``python -m benchmarks.profile_step MODEL BATCH``: where one training step's time goes.

numpy_nn's ``train_on_batch`` timed whole and piece by piece -- each layer's forward and backward,
the loss, the optimizer update, the accuracy -- with the remainder (argument checks, the
finite-gradient check, Python glue) as "other"; then the same step under cProfile, summed by source
file. TensorFlow's step is one opaque graph, so it is split into three separately compiled
functions instead: forward + loss, forward + loss + gradients, and ``optimizer.apply`` alone.

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
    out = model.forward(x, training=True)
    parts.append(("loss forward", _median_us(lambda: model._loss_forward(y, out), calls)))
    parts.append(("loss backward", _median_us(model.loss.backward, calls)))
    dout = model.loss.backward()
    fused = model._fused_softmax()
    douts = []
    layers = model.layers
    if fused:
        douts.append(("backward " + layers[-1].name + " (from logits)", layers[-1], dout, True))
        dout = layers[-1].backward_from_preactivation(dout)
        layers = layers[:-1]
    for layer in reversed(layers):
        douts.append(("backward " + layer.name, layer, dout, False))
        dout = layer.backward(dout)
    for label, layer, d, from_logits in douts:
        fn = (lambda: layer.backward_from_preactivation(d)) if from_logits else (lambda: layer.backward(d))
        parts.append((label, _median_us(fn, calls)))
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
    """Make the first weighted layer skip its input gradient (``need_dx=False``), as a Sequential
    could: nothing downstream uses dL/dx of the model's input. Diagnostic only."""
    import numpy_nn.functional as F
    from numpy_nn.layers import Conv2D, Dense
    first = next(layer for layer in model.layers if isinstance(layer, (Dense, Conv2D)))
    backward_op = F.dense_backward if isinstance(first, Dense) else F.conv2d_backward

    def _backward(dout, skip_activation=False):
        _, first.grads["kernel"], db = backward_op(first._deactivate(dout, skip_activation), first._cache, need_dx=False)
        if first.use_bias:
            first.grads["bias"] = db
        return None
    first._backward = _backward
    for layer in model.layers[:model.layers.index(first)]:  # e.g. a leading Flatten: nothing to pass back
        layer.backward = lambda dout: None


def what_if(name, batch, calls):
    """train_on_batch as it is, without the finite-gradient check, and also without the first
    layer's input gradient: what the two changes to models.py/layers.py would save."""
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
    from .tf_side import import_tensorflow, keras_optimizer, keras_twin
    tf, problem = import_tensorflow(threads, threads)
    if tf is None:
        return None
    import keras

    from . import numpy_side as npx
    np_model = npx.build_model(name)
    data = npx.model_data(name, batch)
    model, _ = keras_twin(np_model)
    opt = keras_optimizer(np_model.optimizer)
    opt.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=np_model.loss.from_logits)
    x, y = tf.constant(data["x"]), tf.constant(data["y"])
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

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply(tape.gradient(loss, variables), variables)
        return loss
    return [("tf.function step", _median_us(step, calls)), ("forward + loss", _median_us(forward_loss, calls)),
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
