"""The cases of a run, each with its contenders side by side.

A case is one op at one size in one mode ("forward" or "forward+backward"), one optimizer step at
one parameter count, or one training step of one tutorial model at one batch size. For each case
the harness builds every available contender (numpy_nn on NumPy; TensorFlow as tf.function and
eagerly; numpy_nn on CuPy and TensorFlow on the GPU when there is one), times them side by side
(:func:`benchmarks.timing.measure`) and keeps what is needed to read the numbers: the batch (for
samples/s), the GEMM flops (for the fraction of the machine's matmul rate) and the bytes an
optimizer moves (for the fraction of its copy rate).
"""
from __future__ import annotations

from . import numpy_side as npx
from .config import TARGETS


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


def _op_cases(group, label, params, batch, flops, np_calls, tf_calls, cupy_calls=None):
    """Two cases (forward, forward+backward) of one op at one size."""
    cases = []
    for mode in ("forward", "forward+backward"):
        contenders = {"numpy": np_calls[mode]}
        for row, calls in tf_calls.items():
            contenders[row] = calls[mode]
        if cupy_calls is not None:
            contenders["cupy"] = cupy_calls[mode]
        gemm = None if flops is None else flops * (1 if mode == "forward" else 3)
        cases.append({"group": group, "case": label, "mode": mode, "params": params, "batch": batch,
                      "gemm_flops": gemm, "contenders": contenders})
    return cases


def op_cases(sweep, backends):
    """Yield lists of cases (built lazily, one size at a time, so only one size's arrays live at once)."""
    cp, sync = backends.cupy, backends.cupy_sync
    for (b, d_in, d_out) in sweep.dense:
        data = npx.dense_data(b, d_in, d_out)
        tf_calls = {row: _guarded_modes(lambda: r.dense(data)) for row, r in backends.tf_runners()}
        yield _op_cases("dense", f"{b}x{d_in} -> {d_out}", {"batch": b, "in": d_in, "out": d_out}, b,
                        npx.dense_flops(b, d_in, d_out), npx.dense_calls(data), tf_calls,
                        _guarded_modes(lambda: npx.dense_calls(data, cp, sync)) if cp is not None else None)
    for (b, h, w, c_in, c_out, k, s, pad) in sweep.conv2d:
        data = npx.conv2d_data(b, h, w, c_in, c_out, k, s, pad)
        tf_calls = {row: _guarded_modes(lambda: r.conv2d(data, s, pad)) for row, r in backends.tf_runners()}
        yield _op_cases("conv2d", f"{b}x{h}x{w}x{c_in} k{k} s{s} {pad} -> {c_out}",
                        {"batch": b, "H": h, "W": w, "C_in": c_in, "C_out": c_out, "kernel": k, "stride": s, "padding": pad},
                        b, npx.conv2d_flops(b, h, w, c_in, c_out, k, s, pad), npx.conv2d_calls(data, s, pad), tf_calls,
                        _guarded_modes(lambda: npx.conv2d_calls(data, s, pad, cp, sync)) if cp is not None else None)
    for (b, h, w, c, pool, s, pad) in sweep.maxpool2d:
        data = npx.maxpool2d_data(b, h, w, c, pool, s, pad)
        tf_calls = {row: _guarded_modes(lambda: r.maxpool2d(data, pool, s, pad)) for row, r in backends.tf_runners()}
        yield _op_cases("maxpool2d", f"{b}x{h}x{w}x{c} pool{pool} s{s} {pad}",
                        {"batch": b, "H": h, "W": w, "C": c, "pool": pool, "stride": s, "padding": pad}, b, None,
                        npx.maxpool2d_calls(data, pool, s, pad), tf_calls,
                        _guarded_modes(lambda: npx.maxpool2d_calls(data, pool, s, pad, cp, sync)) if cp is not None else None)
    for (b, classes) in sweep.softmax_ce:
        data = npx.softmax_ce_data(b, classes)
        tf_calls = {row: _guarded_modes(lambda: r.softmax_ce(data)) for row, r in backends.tf_runners()}
        yield _op_cases("softmax_ce", f"{b}x{classes}", {"batch": b, "classes": classes}, b, None,
                        npx.softmax_ce_calls(data), tf_calls,
                        _guarded_modes(lambda: npx.softmax_ce_calls(data, cp, sync)) if cp is not None else None)


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


def model_cases(sweep, backends, names=("softmax", "mlp", "dropout", "cnn")):
    cp, sync = backends.cupy, backends.cupy_sync
    for name in names:
        for b in sweep.model_batches:
            data = npx.model_data(name, b)
            np_model = npx.build_model(name)
            contenders, source = {}, None
            for row, r in backends.tf_runners():  # twins first: they copy the untrained weights
                built = guarded(lambda: r.train_step(np_model, data))
                contenders[row], source = built if isinstance(built, tuple) else (built, source)
            contenders = {"numpy": npx.model_step_call(np_model, data), **contenders}
            if cp is not None:
                contenders["cupy"] = guarded(lambda: npx.model_step_call(npx.build_model(name, xp=cp), data, cp, sync))
            yield [{"group": "model", "case": f"{name} batch {b}", "mode": "train step",
                    "params": {"model": name, "batch": b, "parameters": np_model.count_params(), "keras_twin": source},
                    "batch": b, "gemm_flops": 3 * npx.model_forward_flops(np_model, b),
                    "target": TARGETS.get((name, b)), "contenders": contenders}]


def all_case_groups(sweep, backends, only=None):
    """Every case list of the run, in report order; ``only`` keeps the groups whose name starts with it."""
    sources = (op_cases(sweep, backends), optimizer_cases(sweep, backends), model_cases(sweep, backends))
    for source in sources:
        for cases in source:
            kept = [c for c in cases if only is None or any(c["group"].startswith(o) for o in only)]
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
    return result
