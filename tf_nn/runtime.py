"""Importing TensorFlow quietly, determinism, and a local float dtype for Keras.

``enable_determinism`` calls ``tf.config.experimental.enable_op_determinism()``. What that
guarantees (TensorFlow's documentation): the same program, on the same hardware and software, with
the same inputs and seeds, gives bit-identical results run after run -- ops pick deterministic
kernels (on GPUs: no atomics-based reductions in e.g. bias-add gradients, deterministic cuDNN
algorithms) and raise ``UnimplementedError`` where none exists. What it does *not* promise: equality
with another device, another thread count, another TensorFlow version, or with NumPy. Summation
order still differs from NumPy's BLAS, so float32 results agree only to rounding; that is what the
tolerance table in ``parity_tests/tolerances.py`` is for.
"""
from __future__ import annotations

import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

_determinism_on = False

#: Threads for the parity suite (TensorFlow's intra-op pool and NumPy's BLAS): ``NUMPY_NN_THREADS``,
#: set by ``make parity-matrix``; unset means TensorFlow's default pool and one BLAS thread.
THREADS_ENV = "NUMPY_NN_THREADS"


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN kernels in this process (True / False), or None where this
    TensorFlow cannot say.

    TensorFlow decides once, at import: ``TF_ENABLE_ONEDNN_OPTS=1`` forces oneDNN on and ``=0`` off on
    any x86 CPU; unset, it is on only for CPUs with the instructions oneDNN targets (AVX-512 VNNI /
    BF16, AMX: recent Intel Xeons), off on e.g. AMD EPYC with AVX2. With it on, TensorFlow prints
    "oneDNN custom operations are on" and uses other kernels, fused ops and summation orders."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - a TensorFlow without the private module
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def tensorflow_configuration():
    """What this process's TensorFlow runs with (JSON-ready), for
    :func:`numpy_nn.app.environment.describe`::

        {"versions": {"tensorflow", "keras"},
         "onednn": {"TF_ENABLE_ONEDNN_OPTS": its value now or "unset", "enabled": onednn_enabled()},
         "threads": {"intra_op", "inter_op"},   # 0: TensorFlow's default (one thread per core)
         "cuda_build": whether this TensorFlow was built with CUDA}

    Reads settings only: it starts no runtime, so :func:`set_threads` still works afterwards."""
    env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    try:
        cuda_build = bool(tf.sysconfig.get_build_info().get("is_cuda_build"))
    except Exception:  # pragma: no cover - a TensorFlow without build info
        cuda_build = None
    return {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "onednn": {"TF_ENABLE_ONEDNN_OPTS": "unset" if env is None else env, "enabled": onednn_enabled()},
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "cuda_build": cuda_build,
    }


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


def enable_determinism(seed=None):
    """Turn on TensorFlow's op determinism (idempotent) and, if ``seed`` is given, seed Python,
    NumPy and TensorFlow through ``keras.utils.set_random_seed``."""
    global _determinism_on
    if not _determinism_on:
        tf.config.experimental.enable_op_determinism()
        _determinism_on = True
    if seed is not None:
        keras.utils.set_random_seed(int(seed))


@contextlib.contextmanager
def floatx(dtype):
    """Temporarily set Keras's default float type (``keras.config.floatx()``), e.g. to create an
    optimizer whose learning-rate variable is float64. The previous value is restored on exit."""
    old = keras.config.floatx()
    keras.config.set_floatx(np.dtype(dtype).name)
    try:
        yield
    finally:
        keras.config.set_floatx(old)


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
