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

    Reads settings only: it starts no runtime, so thread counts can still be set afterwards
    (``parity_tests.runtime.set_threads``)."""
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
