"""The cases of a run, each with its contenders side by side.

A case is one op at one size in one mode ("forward" or "forward+backward"), one optimizer step at
one parameter count, or one training step of one tutorial model at one batch size. The ops, their
sizes and work counts come from the op catalogue (``parity_tests.registry``: every entry with a
``benchmark``); numpy_nn runs the entry's forward and backward and TensorFlow its twin in
``tf_nn.functional``, the function the parity suite proves equal. For each case
the harness builds every available contender (numpy_nn on NumPy; TensorFlow as tf.function and
eagerly; numpy_nn on CuPy and TensorFlow on the GPU when there is one), times them side by side
(:func:`benchmarks.timing.measure`) and keeps what is needed to read the numbers: the batch (for
samples/s), the GEMM flops (for the fraction of the machine's matmul rate) and the bytes an
optimizer moves (for the fraction of its copy rate).
"""
from __future__ import annotations

from . import numpy_side as npx
from .config import FLOOR_TARGETS, TARGETS


def guarded(build):
    """``build()``, or -- if building the contender fails (a missing GPU kernel, say) -- a callable
    that raises the same error, so the timing records it for this row and the run goes on."""
    try:
        return build()
    except Exception as exc:
        message = f"could not build: {type(exc).__name__}: {exc}"

        def failing(*_):
            raise RuntimeError(message)
        return failing


def _guarded_modes(build):
    """Like :func:`guarded` for a builder that returns {"forward": ..., "forward+backward": ...}."""
    built = guarded(build)
    return built if isinstance(built, dict) else {"forward": built, "forward+backward": built}


class Backends:
    """What this run can time: TensorFlow runners for CPU/GPU (or None) and CuPy (or None)."""

    def __init__(self, tf=None, tf_gpu=False, cupy=None):
        self.tf, self.tf_gpu, self.cupy = tf, tf_gpu, cupy
        if tf is not None:
            from .tf_side import Runner
            self.tf_function = Runner(tf, "/CPU:0")
            self.tf_eager = Runner(tf, "/CPU:0", eager=True)
            if tf_gpu:
                self.tf_gpu_off = Runner(tf, "/GPU:0", tf32=False)
                self.tf_gpu_on = Runner(tf, "/GPU:0", tf32=True)
        self.cupy_sync = npx.cupy_sync(cupy) if cupy is not None else None

    def tf_runners(self):
        """(row name, runner) for every TensorFlow row this run has."""
        if self.tf is None:
            return []
        rows = [("tf_function", self.tf_function), ("tf_eager", self.tf_eager)]
        if self.tf_gpu:
            rows += [("tf_gpu", self.tf_gpu_off), ("tf_gpu_tf32", self.tf_gpu_on)]
        return rows


def _op_cases(op, size, np_calls, tf_calls, cupy_calls=None):
    """Two cases (forward, forward+backward) of one catalogue op at one size."""
    bench = op.benchmark
    params = bench.params(size)
    cases = []
    for mode in ("forward", "forward+backward"):
        contenders = {"numpy": np_calls[mode]}
        for row, calls in tf_calls.items():
            contenders[row] = calls[mode]
        if cupy_calls is not None:
            contenders["cupy"] = cupy_calls[mode]
        flops = None if bench.flops is None else bench.flops(size) * (1 if mode == "forward" else 3)
        case = {"group": bench.group, "case": bench.label(size), "mode": mode, "params": params,
                "batch": bench.batch(size), "gemm_flops": flops, "size": bench.size(params),
                "size_label": bench.size_label, "contenders": contenders}
        if bench.bytes is not None:
            case["bytes"] = bench.bytes(size, mode)
        cases.append(case)
    return cases


def op_cases(sweep, backends, ops=None):
    """Yield lists of cases, one size of one benchmarked catalogue op at a time (built lazily, so only
    one size's arrays live at once). numpy_nn runs the entry's forward/backward, TensorFlow its
    ``tf_nn.functional`` twin."""
    from parity_tests.registry import BENCHMARKED

    cp, sync = backends.cupy, backends.cupy_sync
    for op in BENCHMARKED if ops is None else ops:
        for size in op.benchmark.sizes(sweep.quick):
            sample, dout = npx.op_data(op, size)
            tf_calls = {row: _guarded_modes(lambda: r.op(op, sample, dout)) for row, r in backends.tf_runners()}
            cupy_calls = _guarded_modes(lambda: npx.op_calls(op, sample, dout, cp, sync)) if cp is not None else None
            yield _op_cases(op, size, npx.op_calls(op, sample, dout), tf_calls, cupy_calls)


def optimizer_cases(sweep, backends):
    cp, sync = backends.cupy, backends.cupy_sync
    for kind in ("sgd", "adam"):
        for n in sweep.optimizer:
            data = npx.optimizer_data(n)
            contenders = {"numpy": npx.optimizer_call(data, kind)}
            for row, r in backends.tf_runners():
                contenders[row] = guarded(lambda: r.optimizer(data, npx.make_optimizer(kind)))
            if cp is not None:
                contenders["cupy"] = guarded(lambda: npx.optimizer_call(data, kind, cp, sync))
            yield [{"group": f"optimizer_{kind}", "case": f"{kind} {n:,} params", "mode": "step",
                    "params": {"optimizer": kind, "parameters": n}, "batch": None, "elements": n,
                    "bytes": npx.OPTIMIZER_BYTES_PER_ELEMENT[kind] * n, "contenders": contenders}]


def model_cases(sweep, backends, names=None):
    """Yield one training-step case per tutorial model (or ``names``) and batch of
    ``sweep.model_batches`` (32 and 128 by default; ``--batches`` sets others). A case carries the
    issue's target only when ``config.TARGETS`` has one for its (model, batch); the other batches are
    there for :mod:`benchmarks.crossover`'s fit over the batch."""
    from numpy_nn.zoo import TUTORIAL_MODELS

    cp, sync = backends.cupy, backends.cupy_sync
    for name in names or TUTORIAL_MODELS:
        for b in sweep.model_batches:
            data = npx.model_data(name, b)
            np_model = npx.build_model(name)
            contenders, source = {}, None
            for row, r in backends.tf_runners():  # twins first: they copy the untrained weights
                built = guarded(lambda: r.train_step(np_model, data))
                if built is None:  # the eager runner: the one Keras step is compiled
                    continue
                contenders[row], source = built if isinstance(built, tuple) else (built, source)
            contenders = {"numpy": npx.model_step_call(np_model, data), **contenders}
            if cp is not None:
                contenders["cupy"] = guarded(lambda: npx.model_step_call(npx.build_model(name, xp=cp), data, cp, sync))
            yield [{"group": "model", "case": f"{name} batch {b}", "mode": "train step",
                    "params": {"model": name, "batch": b, "parameters": np_model.count_params(), "keras_twin": source},
                    "batch": b, "gemm_flops": 3 * npx.model_forward_flops(np_model, b),
                    "optimizer_bytes": npx.model_optimizer_bytes(np_model),
                    "target": TARGETS.get((name, b)), "floor_target": FLOOR_TARGETS.get(name), "contenders": contenders}]


def wanted(kind, group, only):
    """Whether ``--only`` keeps a case of ``group`` ("op": every op case; else a group-name prefix)."""
    if only is None or (kind == "op" and "op" in only):
        return True
    return any(group.startswith(o) for o in only if o != "op")


def all_case_groups(sweep, backends, only=None):
    """Every case list of the run, in report order; ``only`` keeps the groups it asks for
    (:func:`wanted`); a source none of whose groups is asked for is not even built."""
    from parity_tests.registry import BENCHMARKED

    sources = (("op", [op.benchmark.group for op in BENCHMARKED], lambda: op_cases(sweep, backends)),
               ("optimizer", ["optimizer_sgd", "optimizer_adam"], lambda: optimizer_cases(sweep, backends)),
               ("model", ["model"], lambda: model_cases(sweep, backends)))
    for kind, groups, source in sources:
        if not any(wanted(kind, g, only) for g in groups):
            continue
        for cases in source():
            kept = [c for c in cases if wanted(kind, c["group"], only)]
            if kept:
                yield kept


def attach_rates(result, ceilings, gpu_ceilings=None):
    """Samples/s, and fractions of the machine's matmul and copy rates, for every row of a result."""
    for row, s in result["rows"].items():
        if "median_ms" not in s:
            continue
        seconds = s["median_ms"] / 1e3
        if result.get("batch"):
            s["samples_per_s"] = result["batch"] / seconds
        on_gpu = row in ("cupy", "tf_gpu", "tf_gpu_tf32")
        ceil = gpu_ceilings if on_gpu else ceilings
        if ceil is None:
            continue
        if result.get("gemm_flops"):
            s["gflops"] = result["gemm_flops"] / seconds / 1e9
            s["matmul_fraction"] = s["gflops"] / ceil["matmul_gflops_used"]
        if result.get("bytes"):
            s["gbps"] = result["bytes"] / seconds / 1e9
            s["copy_fraction"] = s["gbps"] / ceil["copy_gbps_used"]
    if ceilings is not None and result.get("gemm_flops") and result.get("optimizer_bytes"):
        result["floor_ms"] = step_floor_ms(result["gemm_flops"], result["optimizer_bytes"], ceilings)
        for s in result["rows"].values():
            if "median_ms" in s:
                s["times_floor"] = s["median_ms"] / result["floor_ms"]
    return result


def step_floor_ms(gemm_flops, optimizer_bytes, ceilings):
    """The least time a training step can take on this machine, in ms: its matrix products at the
    run's matmul rate plus its optimizer's memory traffic at the run's copy rate (everything else --
    activations, the bias and ReLU passes, im2col, Python -- counted as free). The products are 3x
    the forward's, so they include the first layer's input gradient, which neither framework
    computes: their part of the floor is overestimated by 2% for the cnn, 28% for the mlp."""
    return 1e3 * (gemm_flops / (ceilings["matmul_gflops_used"] * 1e9) + optimizer_bytes / (ceilings["copy_gbps_used"] * 1e9))
