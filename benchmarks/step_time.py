"""Best-of-7 time of one ``Sequential.train_on_batch`` per tutorial model, numpy_nn only: the
number to compare between two checkouts, one at a time, when a change adds work to every step.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.step_time            # this checkout
    cd ../other-checkout && OPENBLAS_NUM_THREADS=1 python -m benchmarks.step_time

(The side-by-side harness, ``python -m benchmarks --only model``, times numpy_nn against TensorFlow
in one run; this one only times numpy_nn, so run the two checkouts back to back on a quiet machine.)
"""
from __future__ import annotations

import time

import numpy as np

from numpy_nn import zoo

CASES = (("softmax", 32, 300), ("mlp", 32, 200), ("dropout", 32, 200), ("cnn", 32, 10))


def step_ms(name, batch, reps, rounds=7):
    """The best of ``rounds`` means of ``reps`` consecutive steps, in ms (after 5 warm-up steps)."""
    spec = zoo.get(name)
    model = spec.build(seed=0)
    model.compile(spec.make_optimizer(), spec.make_loss())
    rng = np.random.default_rng(0)
    x = rng.random((batch,) + tuple(model.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    for _ in range(5):
        model.train_on_batch(x, y)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            model.train_on_batch(x, y)
        best = min(best, (time.perf_counter() - start) / reps)
    return best * 1e3


def main():
    for name, batch, reps in CASES:
        print(f"{name:8s} batch {batch}: {step_ms(name, batch, reps):.3f} ms")


if __name__ == "__main__":
    main()
