"""Argument checks shared by the functional ops.

Bad input must fail early with a message naming the argument, what was expected and what arrived,
never deep inside a reshape with an IndexError or, worse, silently.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module


def _is_array(x):
    return isinstance(x, np.ndarray) or type(x).__module__.split(".")[0] == "cupy"


def check_float(x, name, op):
    """Require a floating-point array (float32 or float64 in practice)."""
    if not _is_array(x):
        raise TypeError(f"{op}: {name} must be an array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point array (float32 or float64), got dtype {x.dtype}")
    return x


def check_ndim(x, ndim, name, op, layout):
    """Require ``x.ndim == ndim``; ``layout`` names the axes, e.g. ``"(batch, height, width, channels)"``."""
    if x.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D {layout}, got shape {tuple(x.shape)}")
    return x


def check_same_dtype(a, b, name_a, name_b, op):
    """Refuse mixed precision: float64 must stay float64 and float32 must not be upcast silently."""
    if b is not None and a.dtype != b.dtype:
        raise TypeError(f"{op}: {name_b} has dtype {b.dtype} but {name_a} has dtype {a.dtype}; cast one of them")


#: The largest stride or pool size accepted: TensorFlow's limit (its ``strides`` and ``ksize`` are
#: int32 attributes; beyond it TensorFlow raises, or aborts under oneDNN). Far beyond any image that
#: fits in memory, and small enough that no index product of the window geometry overflows int64.
MAX_WINDOW_ARG = 2**31 - 1


def pair(value, name, op):
    """Accept an int or a pair of ints in [1, MAX_WINDOW_ARG] (as Keras does for kernel_size,
    strides, pool_size)."""
    given = value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        a, b = value
        a, b = int(a), int(b)
        ok = a == value[0] and b == value[1]
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        ok = False
    if not ok or a < 1 or b < 1:
        raise ValueError(f"{op}: {name} must be a positive int or a pair of positive ints, got {short_repr(given)}")
    if a > MAX_WINDOW_ARG or b > MAX_WINDOW_ARG:
        raise ValueError(f"{op}: {name} must be at most {MAX_WINDOW_ARG} (2**31 - 1, TensorFlow's int32 limit), "
                         f"got {short_repr(given)}")
    return a, b


def short_repr(value, limit=80):
    """``repr(value)`` for a message, at most ``limit`` characters (a 5,000-digit int cannot even be
    printed: Python refuses to convert ints of more than 4,300 digits to text)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value).bit_length() > 128:
        return f"an int of {int(value).bit_length()} bits"
    if isinstance(value, (tuple, list)) and len(value) <= 4:
        inner = ", ".join(short_repr(v, limit) for v in value)
        text = f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
        return text if len(text) <= limit else text[:limit - 3] + "..."
    try:
        text = repr(value)
    except ValueError:
        text = f"a {type(value).__name__} that cannot be printed"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_padding(padding, op):
    """Accept 'valid' or 'same' in any case; returns it in lower case."""
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def check_axis(x, axis, op):
    """Accept an int axis of ``x`` (negative counts from the end); returns it as an int."""
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op}: axis must be an int in [{-x.ndim}, {x.ndim - 1}] for input of shape {tuple(x.shape)}, got {axis!r}")
    return int(axis)


def check_dout(dout, out_shape, out_dtype, op):
    """The upstream gradient must have the forward output's shape and dtype."""
    check_float(dout, "dout", op)
    if tuple(dout.shape) != tuple(out_shape):
        raise ValueError(f"{op}: dout must have the forward output's shape {tuple(out_shape)}, got {tuple(dout.shape)}")
    if dout.dtype != out_dtype:
        raise TypeError(f"{op}: dout has dtype {dout.dtype} but the forward output has dtype {out_dtype}")
    return dout


LABEL_KINDS = (None, "sparse", "dense")


def check_labels(labels, logits, op, labels_kind=None):
    """Validate labels against (N, C) scores and say which kind they are.

    Returns ``"sparse"`` for integer class ids of shape (N,) in [0, C), or ``"dense"`` for rows of
    shape (N, C) (one-hot or probabilities: finite, non-negative, each summing to 1 within 1e-3).
    ``labels_kind`` "sparse" or "dense" says which kind the caller's loss is for
    (``SparseCategoricalCrossentropy`` / ``CategoricalCrossentropy``) and refuses the other with a
    ValueError naming both; None accepts either, told apart by the shape.
    """
    xp = get_array_module(logits)
    if labels_kind not in LABEL_KINDS:
        raise ValueError(f"{op}: labels_kind must be 'sparse', 'dense' or None, got {short_repr(labels_kind)}")
    if not _is_array(labels):
        raise TypeError(f"{op}: labels must be an array, got {type(labels).__name__}")
    n, c = logits.shape
    if labels_kind == "sparse" and labels.ndim != 1:
        raise ValueError(f"{op}: sparse labels must be integer class ids of shape ({n},), got {labels.dtype} labels "
                         f"of shape {tuple(labels.shape)} (one-hot or probability rows need the dense loss, "
                         "CategoricalCrossentropy)")
    if labels_kind == "dense" and labels.ndim != 2:
        raise ValueError(f"{op}: dense labels must be one-hot or probability rows of shape ({n}, {c}), got "
                         f"{labels.dtype} labels of shape {tuple(labels.shape)} (integer class ids need the sparse "
                         "loss, SparseCategoricalCrossentropy)")
    if labels.ndim == 1:
        if labels.dtype.kind not in "iu":
            raise TypeError(f"{op}: sparse labels (shape (N,)) must be integer class ids, got dtype {labels.dtype}")
        if labels.shape[0] != n:
            raise ValueError(f"{op}: labels must have length {n} (the batch size of the scores), got shape {tuple(labels.shape)}")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= c):
            bad = labels[(labels < 0) | (labels >= c)][0]
            raise ValueError(f"{op}: labels must be class ids in [0, {c - 1}], got {int(bad)}")
        return "sparse"
    if labels.ndim == 2:
        if tuple(labels.shape) != (n, c):
            raise ValueError(f"{op}: one-hot/probability labels must have shape {(n, c)}, got {tuple(labels.shape)}")
        if labels.dtype.kind not in "fiub":
            raise TypeError(f"{op}: labels must be numeric, got dtype {labels.dtype}")
        if n and (bool((labels < 0).any()) or not bool(xp.allclose(labels.sum(axis=1), 1.0, atol=1e-3))):
            sums = labels.sum(axis=1, dtype=np.float64)
            row = int(xp.argmax((labels < 0).any(axis=1) | ~xp.isclose(sums, 1.0, atol=1e-3)))
            raise ValueError(f"{op}: labels of shape (N, C) must be non-negative rows that sum to 1 within 1e-3 "
                             f"(one-hot or probabilities); row {row} has sum {float(sums[row])!r} and minimum "
                             f"{float(labels[row].min())!r}")
        return "dense"
    raise ValueError(f"{op}: labels must be class ids of shape ({n},) or rows of shape ({n}, {c}), got shape {tuple(labels.shape)}")


def check_reduction(reduction, op):
    """Accept 'mean', 'sum' or 'none', the Keras reductions."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def check_pool_args(x, pool_size, stride, padding, op):
    """The arguments of a pooling op: an NHWC float array, ``pool_size`` and ``stride`` as Keras takes
    them (``stride=None`` means ``pool_size``), padding 'valid' or 'same'.

    Returns ``(pool, strides, padding)`` as ``((PH, PW), (sh, sw), "valid" | "same")``.
    """
    check_float(x, "x", op)
    check_ndim(x, 4, "x", op, "NHWC (batch, height, width, channels)")
    pool = pair(pool_size, "pool_size", op)
    strides = pool if stride is None else pair(stride, "stride", op)
    return pool, strides, check_padding(padding, op)


def check_cache(cache, cache_type, op):
    """Require the cache (of type ``cache_type``, or one of a tuple of types) that the matching forward returned (a fast cache handed to a reference
    backward, or another op's cache, would otherwise fail deep inside with an unpacking error)."""
    if not isinstance(cache, cache_type):
        names = " or ".join(t.__name__ for t in (cache_type if isinstance(cache_type, tuple) else (cache_type,)))
        raise TypeError(f"{op}: cache must be the {names} its forward returned, got {type(cache).__name__}")
    return cache


def handed_out(y):
    """The caller's handle on an array that the op's cache also keeps for its backward (sigmoid's,
    tanh's, softmax's outputs, max-pooling's): a read-only view on NumPy, so that editing the
    output in place raises instead of silently changing the gradient; on CuPy, which has no
    read-only arrays, a copy.

    A view costs nothing; caching a copy instead would cost one more pass over the output (at
    (128, 784) float32, measured: 5% of tanh's forward, 9% of sigmoid's, 52% of softmax's).
    ``y.copy()`` gives a writeable array when one is wanted.
    """
    if not isinstance(y, np.ndarray):
        return y.copy()
    view = y.view()
    view.flags.writeable = False
    return view
