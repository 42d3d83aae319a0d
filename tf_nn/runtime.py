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


def configure_for_parity(seed=0, blas_threads=1):
    """Settings for comparing NumPy with TensorFlow in one process: op determinism on, TensorFloat-32
    off, and (by default) NumPy's BLAS on one thread (see :func:`limit_blas_threads`).

    On NVIDIA GPUs from Ampere on, TensorFlow by default runs float32 matmuls and convolutions in
    TF32 (a 10-bit mantissa, ~1e-3 relative error), which no float32 tolerance could absorb; turning
    it off makes GPU float32 results ordinary float32 again. All settings are process-wide; on a
    CPU-only machine the TF32 switch has no effect."""
    enable_determinism(seed)
    tf.config.experimental.enable_tensor_float_32_execution(False)
    if blas_threads:
        limit_blas_threads(blas_threads)
