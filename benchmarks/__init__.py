"""numpy_nn against TensorFlow: the benchmark harness (``python -m benchmarks``, ``make bench``).

Cases (sizes in :mod:`benchmarks.config`): each op forward and forward+backward over a size sweep
(dense, conv2d, max-pool, softmax cross-entropy), the SGD and Adam steps alone over parameter
counts, and one training step of each tutorial model at batch 32 and 128. numpy_nn runs as plain
calls, TensorFlow as ``tf.function`` and eagerly (separate rows), side by side in one process with
the same thread count; GPU rows (TensorFlow's GPU, numpy_nn on CuPy) when there is a GPU.

Modules: :mod:`~benchmarks.timing` (warm-up, interleaved rounds, median and IQR),
:mod:`~benchmarks.machine` (machine, versions, threads, matmul and copy ceilings),
:mod:`~benchmarks.numpy_side` and :mod:`~benchmarks.tf_side` (the callables),
:mod:`~benchmarks.cases` (what is run), :mod:`~benchmarks.report` (JSON, markdown, figures;
``python -m benchmarks.report results.json`` redraws them), :mod:`~benchmarks.profile_step` (where
one training step's time goes) and :mod:`~benchmarks.cupy_check` (numpy_nn on CuPy == on NumPy).
The latest report is benchmarks/README.md, with its files in benchmarks/results/.
Importing this package imports neither NumPy nor TensorFlow, so thread counts can still be set.
"""


def main(argv=None) -> int:
    """Same as ``python -m benchmarks ARGS``; returns the exit status."""
    from .__main__ import main as _main
    return _main(argv)


__all__ = ["main"]
