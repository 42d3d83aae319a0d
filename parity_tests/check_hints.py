"""Hints for ``python -m parity_tests.check``: when a user's result disagrees with the expected one,
say which classic mistake it looks like.

Each hint is a hypothesis about the bug, tested by recomputing the expected result *with that bug*
(or comparing against a transformed expected result) and seeing whether the user's result matches:

=======================  =========================================================================
``batch-size-factor``    the result is N or 1/N times the expected one, N the batch size (a "mean"
                         reduction's 1/N forgotten, or divided once too often)
``transposed-kernel``    the kernel gradient (or the output) is the expected one with the kernel's
                         axes transposed or its window flipped (true convolution vs correlation)
``same-padding-split``   "same" padding with the odd extra row/column at the top/left (TensorFlow
                         puts it at the bottom/right: ``pad_before = total // 2``)
``maxpool-ties``         a max-pool window's gradient sent to every tied maximum (or shared among
                         them); TensorFlow and ONNX send it to the first maximum in row-major order
``softmax-unshifted``    NaN/inf where the expected result is finite, at logits where ``exp``
                         overflows: the softmax was not shifted by its maximum
=======================  =========================================================================

"Matches" means within the tolerance the verdict itself used (``tol``, a fraction of the largest
|expected| entry), so a hint is never more lenient than the check that failed. A hint is a
diagnosis, not a verdict: the verdict stands whatever the hint says.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import numpy_nn.functional as F
from numpy_nn.functional._windows import pool_geometry, real_cells, same_padding


@dataclass(frozen=True)
class Hint:
    kind: str
    text: str

    def __str__(self):
        return f"hint [{self.kind}]: {self.text}"


@dataclass(frozen=True)
class Mismatch:
    """One disagreeing result: ``what`` is "forward" or the gradient's input name ("x", "kernel", ...),
    ``k`` the gradient's position in the backward's tuple (None for the forward), ``sample`` the
    example (a :class:`~parity_tests.strategies.Sample`), ``dout`` the upstream gradient (None for
    the forward), ``user`` and ``expected`` the two arrays, ``tol`` the verdict's tolerance."""

    op: str
    what: str
    k: object
    sample: object
    dout: object
    user: object
    expected: object
    tol: float


def close(a, b, tol):
    """``a`` equals ``b`` within ``tol`` times max|b| (shapes equal, both finite)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    if a.size == 0:
        return True
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) <= tol * scale if scale > 0 else bool(np.all(a == 0))


def hint_for(m):
    """The first matching :class:`Hint` for a :class:`Mismatch`, or None."""
    # Most specific first: on a tiny example a padding split the wrong way can also read as a flipped
    # kernel (a 2x1 kernel on one pixel), but only a "same" example with an odd total padding shows it,
    # while the shrinker takes a flipped kernel to "valid" padding.
    for guess in (_softmax_unshifted, _batch_size_factor, _same_padding_split, _maxpool_ties, _transposed):
        try:
            found = guess(m)
        except Exception:  # a guess that cannot be evaluated on this example is simply not the answer
            found = None
        if found is not None:
            return found
    return None


# --- the guesses ------------------------------------------------------------------------------
SOFTMAX_FAMILY = ("softmax", "log_softmax", "softmax_cross_entropy")
#: The ops whose first input axis is a batch (the others take any shape, or a softmax axis of any position).
BATCHED = ("softmax_cross_entropy", "cross_entropy", "dense", "conv2d", "maxpool2d", "avgpool2d", "flatten")


def _softmax_unshifted(m):
    if m.op not in SOFTMAX_FAMILY:
        return None
    user, expected = np.asarray(m.user), np.asarray(m.expected)
    if user.shape != expected.shape or np.all(np.isfinite(user)) or not np.all(np.isfinite(expected)):
        return None
    x = m.sample.args[0]
    limit = float(np.log(np.finfo(x.dtype).max))
    top = float(np.max(np.abs(x)))
    if top <= limit:
        return None
    return Hint("softmax-unshifted",
                f"your {_name(m)} has NaN/inf where numpy_nn's is finite, and the logits reach |x| = {top:.1f}, past "
                f"{limit:.1f} where exp overflows {x.dtype}: subtract the maximum along the axis first "
                "(softmax(x) = softmax(x - max x): every exp is then in (0, 1])")


def _batch_size_factor(m):
    if m.op not in BATCHED:
        return None
    x = m.sample.args[0]
    n = x.shape[0]
    user, expected = np.asarray(m.user, dtype=np.float64), np.asarray(m.expected, dtype=np.float64)
    if n < 2 or user.shape != expected.shape or not np.all(np.isfinite(user)) or expected.size == 0:
        return None
    big = np.abs(expected) > 1e-3 * float(np.max(np.abs(expected)))
    if not big.any():
        return None
    ratio = user[big] / expected[big]
    reduction = m.sample.kwargs.get("reduction")
    where = f" (reduction={reduction!r})" if reduction else ""
    if np.all(np.abs(ratio - n) <= 1e-3 * n):
        return Hint("batch-size-factor",
                    f"your {_name(m)} is exactly {n} times numpy_nn's, and {n} is the batch size{where}: a 'mean' over "
                    "the batch divides the loss, and so every gradient, by N -- the 1/N is missing")
    if np.all(np.abs(ratio - 1 / n) <= 1e-3 / n):
        return Hint("batch-size-factor",
                    f"your {_name(m)} is exactly 1/{n} of numpy_nn's, and {n} is the batch size{where}: divided by N "
                    "where nothing averages over the batch (a 'sum' or 'none' reduction, or 1/N applied twice)")
    return None


def _transposed(m):
    user, expected = np.asarray(m.user), np.asarray(m.expected)
    if user.ndim != expected.ndim or user.ndim not in (2, 4):
        return None
    if m.what != "forward":
        if user.ndim == 4 and m.what != "kernel":
            return None
        for axes, how in _PERMUTATIONS[user.ndim]:
            if expected.transpose(axes).shape == user.shape and close(user, expected.transpose(axes), m.tol) \
                    and not close(user, expected, m.tol):
                return Hint("transposed-kernel", f"your d{m.what} is numpy_nn's with its axes transposed as "
                                                 f"{axes} ({how})")
        if user.ndim == 4 and user.shape == expected.shape and close(user, expected[::-1, ::-1], m.tol):
            return Hint("transposed-kernel", f"your d{m.what} is numpy_nn's with the window flipped (rotated 180 "
                                             "degrees): a true convolution; the frameworks correlate")
        return None
    if m.op != "conv2d":
        return None
    x, kernel, bias = m.sample.args
    for label, changed in (("transposed (its height and width swapped)", kernel.transpose(1, 0, 2, 3)),
                           ("flipped (rotated 180 degrees): a true convolution, where TensorFlow and every framework "
                            "compute a cross-correlation, y[i, j] = sum x[i*s + a, j*s + b] * kernel[a, b]",
                            kernel[::-1, ::-1])):
        if changed.shape == kernel.shape and not np.array_equal(changed, kernel):
            alt = F.conv2d_forward_reference(x, np.ascontiguousarray(changed), bias, **m.sample.kwargs)[0]
            if close(user, alt, m.tol):
                return Hint("transposed-kernel", f"your output is numpy_nn's with the kernel {label}")
    return None


_PERMUTATIONS = {
    2: [((1, 0), "rows and columns swapped: check the order of the factors, (A @ B).T = B.T @ A.T")],
    4: [((1, 0, 2, 3), "kernel height and width swapped: index the kernel as kernel[a, b, c, f], a along the height"),
        ((0, 1, 3, 2), "input and output channels swapped: HWIO is (KH, KW, C_in, F)")],
}


def _same_padding_split(m):
    if m.op not in ("conv2d", "maxpool2d") or m.sample.kwargs.get("padding") != "same":
        return None
    alt = _with_padding_swapped(m.op, m.sample, m.dout)
    if alt is None:
        return None
    alt = alt if m.k is None else alt[m.k]
    if not close(m.user, alt, m.tol):
        return None
    return Hint("same-padding-split",
                f"your {_name(m)} is numpy_nn's with the 'same' padding split the other way: the odd extra row/column "
                "goes at the bottom/right (pad_before = total // 2, pad_after = total - total // 2), TensorFlow's rule")


def _maxpool_ties(m):
    if m.op != "maxpool2d" or m.k != 0:
        return None
    x = m.sample.args[0]
    for share, how in ((False, "to every cell that ties for the window's maximum"),
                       (True, "shared equally among the cells that tie for the window's maximum")):
        if close(m.user, _tied_gradient(x, m.dout, share=share, **m.sample.kwargs), m.tol):
            return Hint("maxpool-ties", f"your dx sends each window's gradient {how}; TensorFlow and ONNX send it to "
                                        "the first maximum in row-major order only (np.argmax of the window)")
    return None


# --- the bugs, recomputed -----------------------------------------------------------------------
def _pair(v):
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)


def _with_padding_swapped(op, sample, dout):
    """numpy_nn's result with "same" padding's odd extra row/column at the top/left: the input padded
    by hand that way, then the op with padding "valid". The output (``dout`` None) or the gradients."""
    x = sample.args[0]
    if op == "conv2d":
        window, strides, value = sample.args[1].shape[:2], _pair(sample.kwargs.get("stride", 1)), 0.0
    else:
        window = _pair(sample.kwargs.get("pool_size", 2))
        stride = sample.kwargs.get("stride")
        strides, value = (window if stride is None else _pair(stride)), -np.inf
    pads = []
    for size, k, s in zip(x.shape[1:3], window, strides):
        _, before, after = same_padding(size, k, s)
        pads.append((after, before))
    if all(a == b for a, b in pads):
        return None  # an even total: both splits are the same
    xpad = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)
    kwargs = dict(sample.kwargs, padding="valid")
    if op == "conv2d":
        out, cache = F.conv2d_forward_reference(xpad, sample.args[1], sample.args[2], **kwargs)
        grads = F.conv2d_backward_reference(dout, cache) if dout is not None else None
    else:
        out, cache = F.maxpool2d_forward_reference(xpad, **kwargs)
        grads = (F.maxpool2d_backward_reference(dout, cache),) if dout is not None else None
    if dout is None:
        return out
    (top, _), (left, _) = pads
    dx = grads[0][:, top:top + x.shape[1], left:left + x.shape[2], :]
    return (dx,) + tuple(grads[1:])


def _tied_gradient(x, dout, pool_size=2, stride=None, padding="valid", share=False):
    """Max-pool's dx if every cell equal to its window's maximum got the window's gradient
    (``share``: an equal share of it)."""
    (ph, pw), (sh, sw), (oh, ow), ((top, _), (left, _)) = pool_geometry(x, pool_size, stride, padding, "hint", fit=False)
    h, w = x.shape[1:3]
    dx = np.zeros(x.shape, dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            rows, cols = real_cells(i, h, ph, sh, top), real_cells(j, w, pw, sw, left)
            window = x[:, rows, cols, :]
            hit = (window == window.max(axis=(1, 2), keepdims=True)).astype(np.float64)
            if share:
                hit /= hit.sum(axis=(1, 2), keepdims=True)
            dx[:, rows, cols, :] += hit * dout[:, i, j, :][:, None, None, :]
    return dx


def _name(m):
    return "output" if m.what == "forward" else f"d{m.what}"
