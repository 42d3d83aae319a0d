"""What the benchmark measures besides the ops: the optimizer and model sweeps (full and
``--quick``), the timing budget, and the performance targets of issue 5. One source of truth: the
harness, the report and the README all read these tables.

The op cases and their sizes are not here: each benchmarked op's entry in the op catalogue
(``parity_tests.registry``, its ``benchmark`` field) gives its full and quick sizes, its inputs and
its work counts.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sweep:
    """Sizes and repeats for one kind of run.

    quick       True for ``--quick``: the ops run their catalogue entry's quick sizes
    optimizer   parameter counts (one flat float32 parameter of that many elements)
    models      batch sizes for one training step of each tutorial model
    """

    quick: bool
    optimizer: tuple
    model_batches: tuple
    warmup: int            # untimed calls per contender before timing (the first one traces tf.functions)
    rounds: int            # contenders alternate, round by round, so both see the same machine state
    budget_s: float        # aimed-at timed seconds per contender and case, split over the rounds
    model_rounds: int      # the same two for the training steps, the headline rows: a cnn step is
    model_budget_s: float  # ~20-50 ms, so 0.6 s would be ~20 calls, too few on a noisy 2-core VM
    min_calls: int         # per contender and case, whatever the budget
    max_calls: int
    matmul_n: int          # ceiling: an n x n x n float32 matrix product
    copy_mib: int          # ceiling: a copy of this many MiB


FULL = Sweep(
    quick=False,
    optimizer=(10_000, 100_000, 1_000_000, 2_770_634, 10_000_000),
    model_batches=(32, 128),
    warmup=3, rounds=5, budget_s=0.6, model_rounds=10, model_budget_s=3.0, min_calls=10, max_calls=400,
    matmul_n=2048, copy_mib=128,
)

QUICK = Sweep(
    quick=True,
    optimizer=(10_000,),
    model_batches=(32,),
    warmup=1, rounds=2, budget_s=0.02, model_rounds=2, model_budget_s=0.02, min_calls=2, max_calls=10,
    matmul_n=256, copy_mib=8,
)

#: The targets (issue 5, the cnn's tightened by issue 12): numpy_nn time / TensorFlow tf.function
#: time for one training step, same machine, same threads, measured in one run, on every CPU and
#: oneDNN setting. ``ratio <= target`` meets it.
TARGETS = {
    ("softmax", 32): 0.5, ("softmax", 128): 0.7,
    ("mlp", 32): 0.7, ("mlp", 128): 0.9,
    ("dropout", 32): 0.7, ("dropout", 128): 0.9,
    ("cnn", 32): 0.9, ("cnn", 128): 1.1,
}

#: Issue 12: numpy_nn's step within this multiple of the step's floor (its GEMM flops at the run's
#: matmul rate + its optimizer's bytes at the run's copy rate: ``cases.step_floor_ms``).
FLOOR_TARGETS = {"cnn": 2.0}

#: The rows a case can have, in report order, with the label the tables print.
CONTENDERS = {
    "numpy": "numpy_nn (NumPy, CPU)",
    "tf_function": "TensorFlow tf.function (CPU)",
    "tf_eager": "TensorFlow eager (CPU)",
    "cupy": "numpy_nn (CuPy, GPU)",
    "tf_gpu": "TensorFlow tf.function (GPU, TF32 off)",
    "tf_gpu_tf32": "TensorFlow tf.function (GPU, TF32 on)",
}

#: Ratios reported for every case: (numerator row, denominator row).
RATIOS = (("numpy", "tf_function"), ("numpy", "tf_eager"), ("cupy", "tf_gpu"), ("cupy", "numpy"))
