"""How the parity suite sets up TensorFlow and NumPy in one process: thread counts, determinism,
TensorFloat-32 off and NumPy's BLAS on one thread.

These are test fixtures, not library: :mod:`tf_nn.runtime` keeps what tf_nn and the application use
(``enable_determinism``, ``floatx``, ``onednn_enabled``, ``tensorflow_configuration``).
"""
from __future__ import annotations

import os

from tf_nn.runtime import enable_determinism  # first: it quiets TensorFlow's import log

import tensorflow as tf  # noqa: E402

#: Threads for the parity suite (TensorFlow's intra-op pool and NumPy's BLAS): ``NUMPY_NN_THREADS``,
#: set by ``make parity-matrix``; unset means TensorFlow's default pool and one BLAS thread.
THREADS_ENV = "NUMPY_NN_THREADS"


def parity_threads():
    """The thread count requested through ``NUMPY_NN_THREADS`` (an int >= 1), or None when unset."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
    return int(value)


def set_threads(n):
    """Run TensorFlow's ops on ``n`` intra-op threads (and ``n`` inter-op threads) and NumPy's BLAS on
    ``n`` threads. TensorFlow accepts this only before its runtime starts (before the first op);
    returns False, changing nothing in TensorFlow, if it has started already."""
    limit_blas_threads(n)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        return False
    return True


def limit_blas_threads(n=1):
    """Limit NumPy's BLAS (OpenBLAS, MKL) to ``n`` threads, through ``threadpoolctl`` when it is
    installed (returns False when it is not, and changes nothing).

    Why: a multi-threaded OpenBLAS collapses whenever its threads cannot all have a core -- each
    matmul waits on a descheduled thread. In one process with TensorFlow, when the two alternate op
    by op (as the parity tests do), TensorFlow's pools still spin after each op: on a 2-core machine
    we measured a numpy_nn CNN training step (batch 32) at 0.04 s with one BLAS thread and 0.5-2.5 s
    with the default. Another busy process does the same with no TensorFlow at all (a CNN epoch on
    2,000 images: 1.7 s with one thread, 72 s with two); ``numpy-nn train --blas-threads 1`` is the
    CLI's switch. Setting ``OPENBLAS_NUM_THREADS=1`` before NumPy is imported does the same. The
    thread count changes results in the last bits (see the README's "Determinism in detail")."""
    try:
        import threadpoolctl
    except ImportError:
        return False
    threadpoolctl.threadpool_limits(n, user_api="blas")
    return True


def configure_for_parity(seed=0, blas_threads=None):
    """Settings for comparing NumPy with TensorFlow in one process: op determinism on, TensorFloat-32
    off, and (by default) NumPy's BLAS on one thread (see :func:`limit_blas_threads`).

    On NVIDIA GPUs from Ampere on, TensorFlow by default runs float32 matmuls and convolutions in
    TF32 (a 10-bit mantissa, ~1e-3 relative error), which no float32 tolerance could absorb; turning
    it off makes GPU float32 results ordinary float32 again. All settings are process-wide; on a
    CPU-only machine the TF32 switch has no effect.

    ``blas_threads``: None means ``NUMPY_NN_THREADS`` if set (see :func:`set_threads`), else 1."""
    threads = parity_threads()
    if threads is not None:
        set_threads(threads)
    if blas_threads is None:
        blas_threads = threads or 1
    enable_determinism(seed)
    tf.config.experimental.enable_tensor_float_32_execution(False)
    if blas_threads:
        limit_blas_threads(blas_threads)
