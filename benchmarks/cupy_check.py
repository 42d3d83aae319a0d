"""``python -m benchmarks.cupy_check``: numpy_nn on CuPy arrays computes what it computes on NumPy.

Before the GPU rows of a benchmark are worth reading, the same code must give the same numbers on
the GPU. For each op (forward and backward) and for five training steps of each tutorial model, this
runs numpy_nn on NumPy and on CuPy from the same inputs and prints the largest difference, scaled by
the largest NumPy value. Float32 throughout, so differences of ~1e-6 (different summation orders in
cuBLAS) are expected; anything near 1e-2 is a bug. Exit status 1 if any exceeds ``--tol``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def rel_err(a, b, cp):
    a, b = cp.asnumpy(a) if not isinstance(a, np.ndarray) else a, cp.asnumpy(b) if not isinstance(b, np.ndarray) else b
    scale = max(float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.cupy_check")
    p.add_argument("--tol", type=float, default=1e-4)
    args = p.parse_args(argv)
    try:
        import cupy as cp
    except ImportError:
        print("CuPy is not installed: nothing to check")
        return 0
    import numpy_nn.functional as F
    from . import numpy_side as npx

    rows = []

    def check(name, np_out, cp_out):
        for k, (a, b) in enumerate(zip(np_out, cp_out)):
            if a is not None:
                rows.append((f"{name}[{k}]", rel_err(b, a, cp)))

    def both(fn, data):
        return fn(data, np), fn({k: cp.asarray(v) for k, v in data.items()}, cp)

    d = npx.dense_data(32, 784, 128)
    (y0, c0), (y1, c1) = both(lambda d, xp: F.dense_forward(d["x"], d["kernel"], d["bias"]), d)
    check("dense forward", [y0], [y1])
    check("dense backward", F.dense_backward(d["dy"], c0), F.dense_backward(cp.asarray(d["dy"]), c1))
    for conv in ((32, 28, 28, 1, 32, 3, 1, "valid"), (8, 14, 14, 8, 16, 3, 2, "same")):
        d = npx.conv2d_data(*conv)
        s, pad = conv[6], conv[7]
        (y0, c0), (y1, c1) = both(lambda d, xp: F.conv2d_forward(d["x"], d["kernel"], d["bias"], s, pad), d)
        check(f"conv2d {conv} forward", [y0], [y1])
        check(f"conv2d {conv} backward", F.conv2d_backward(d["dy"], c0), F.conv2d_backward(cp.asarray(d["dy"]), c1))
    for pool in ((8, 26, 26, 8, 2, 2, "valid"), (4, 11, 11, 4, 3, 2, "same")):
        d = npx.maxpool2d_data(*pool)
        (y0, c0), (y1, c1) = both(lambda d, xp: F.maxpool2d_forward(d["x"], pool[4], pool[5], pool[6]), d)
        check(f"maxpool2d {pool} forward", [y0], [y1])
        check(f"maxpool2d {pool} backward", [F.maxpool2d_backward(d["dy"], c0)], [F.maxpool2d_backward(cp.asarray(d["dy"]), c1)])
    d = npx.softmax_ce_data(128, 10)
    (l0, c0), (l1, c1) = both(lambda d, xp: F.softmax_cross_entropy_forward(d["logits"], d["labels"]), d)
    check("softmax_ce forward", [np.asarray(l0)], [l1])
    check("softmax_ce backward", [F.softmax_cross_entropy_backward(1.0, c0)], [F.softmax_cross_entropy_backward(1.0, c1)])
    for name in ("softmax", "mlp", "dropout", "cnn"):
        data = npx.model_data(name, 32)
        m0, m1 = npx.build_model(name), npx.build_model(name, xp=cp)
        for layer0, layer1 in zip(m0.layers, m1.layers):
            if hasattr(layer0, "rng"):  # dropout: the same host generator state on both sides
                layer1.rng = np.random.default_rng(0)
                layer0.rng = np.random.default_rng(0)
        x1, y1 = cp.asarray(data["x"]), cp.asarray(data["y"])
        for _ in range(5):
            m0.train_on_batch(data["x"], data["y"])
            m1.train_on_batch(x1, y1)
        check(f"{name} weights after 5 steps", m0.get_weights(), [w for layer in m1.layers for w in layer.params.values()])
    worst = max(e for _, e in rows)
    for name, e in rows:
        print(f"{name:<48} max |cupy - numpy| / max |numpy| = {e:.2e}")
    print(f"worst {worst:.2e} (tolerance {args.tol:g}): {'ok' if worst <= args.tol else 'FAILED'}")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
