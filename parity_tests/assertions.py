"""Comparing a NumPy result with TensorFlow's, and saying exactly where and how far they differ.

    cmp = compare(numpy_out, tf_out, tolerance)
    assert_close(numpy_out, tf_out, tolerance, op="conv2d", what="d kernel", sample=sample)

A failure reads::

    conv2d float32, d kernel: NumPy and TensorFlow differ beyond atol 2e-05 x max|ref|
      arguments: x=float32(2, 7, 7, 3), kernel=float32(3, 3, 3, 4), bias=None, stride=2, padding='same', seed=12
      max abs error 3.1e-04, max rel error 2.2e-04 (relative to max|ref| = 1.4e+00)
      worst element at index (1, 2, 0, 3): numpy 0.41212 vs tensorflow 0.41243
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Comparison:
    """The worst element of one comparison."""

    passed: bool
    max_abs_error: float
    max_rel_error: float      # max |a - b| / scale
    scale: float              # max |b|, or the op's scale if larger
    index: tuple              # where |a - b| exceeds its bound the most (or is largest)
    actual: float             # NumPy's value there
    expected: float           # TensorFlow's value there
    note: str = ""
    norm_rel_error: float = None   # ||a - b|| / ||b||, for norm-wise tolerances

    @property
    def error(self):
        """The number the tolerance bounds: the norm-wise or the max relative error."""
        return self.max_rel_error if self.norm_rel_error is None else self.norm_rel_error

    def describe(self):
        text = (f"max abs error {self.max_abs_error:.3e}, max rel error {self.max_rel_error:.3e} "
                f"(relative to the scale {self.scale:.3e})\n"
                f"  worst element at index {self.index}: numpy {self.actual!r} vs tensorflow {self.expected!r}")
        return text + (f"\n  {self.note}" if self.note else "")


def _to_numpy(x):
    if hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


def compare(actual, expected, tolerance, scale=None):
    """Compare NumPy's ``actual`` with TensorFlow's ``expected`` under a :class:`Tolerance`.

    ``scale`` is S in ``|a - b| <= atol * S + rtol * |b|``; by default ``max |expected|``. An op
    whose result is computed by cancellation passes the scale of the terms instead (see
    ``OpInfo.vjp_scale``).

    Shapes must match exactly. Non-finite values must match exactly (inf with inf of the same sign,
    nan with nan). Errors are computed in float64."""
    a, b = _to_numpy(actual), _to_numpy(expected)
    if a.shape != b.shape:
        return Comparison(False, np.inf, np.inf, np.nan, (), np.nan, np.nan,
                          note=f"shapes differ: numpy {a.shape} vs tensorflow {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if a.size == 0:
        return Comparison(True, 0.0, 0.0, 0.0, (), np.nan, np.nan)
    finite = np.isfinite(b64)
    both_same_nonfinite = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
    nonfinite_bad = ~finite & ~both_same_nonfinite
    ref_scale = float(np.max(np.abs(b64[finite]))) if finite.any() else 0.0
    scale = ref_scale if scale is None else max(float(scale), ref_scale)
    err = np.where(finite, np.abs(a64 - b64), 0.0)
    err = np.where(finite & ~np.isfinite(a64), np.inf, err)
    bound = tolerance.atol * scale + tolerance.rtol * np.abs(np.where(finite, b64, 0.0))
    excess = np.where(nonfinite_bad, np.inf, err - bound)
    worst = np.unravel_index(int(np.argmax(excess)), a.shape) if excess.max() > 0 else \
        np.unravel_index(int(np.argmax(err)), a.shape)
    max_abs = float(np.max(err)) if not nonfinite_bad.any() else np.inf
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    idx = tuple(int(i) for i in worst)
    if tolerance.norm:  # one number for the whole array: ||a - b|| / ||b||
        ref_norm = float(np.linalg.norm(np.where(finite, b64, 0.0)))
        rel = float(np.linalg.norm(err)) / ref_norm if ref_norm > 0 else (0.0 if max_abs == 0 else np.inf)
        passed = not nonfinite_bad.any() and rel <= tolerance.atol
        return Comparison(passed, max_abs, max_rel, scale, idx, a[idx].item(), b[idx].item(),
                          note=f"2-norm relative error {rel:.3e} (bound {tolerance.atol:.0e})", norm_rel_error=rel)
    return Comparison(bool(excess.max() <= 0), max_abs, max_rel, scale, idx, a[idx].item(), b[idx].item())


def assert_close(actual, expected, tolerance, *, op, what="output", dtype=None, sample=None, scale=None):
    """Raise ``AssertionError`` naming the op, its arguments, the errors and the worst index."""
    cmp = compare(actual, expected, tolerance, scale)
    if not cmp.passed:
        head = f"{op}{' ' + str(dtype) if dtype else ''}, {what}: NumPy and TensorFlow differ beyond atol {tolerance} x scale"
        args = f"\n  arguments: {sample.describe()}" if sample is not None else ""
        raise AssertionError(f"{head}{args}\n  {cmp.describe()}")
    return cmp


def assert_same_dtype(actual, expected, *, op, what="output"):
    """NumPy keeps the input's dtype end to end, as TensorFlow does: float64 in, float64 out."""
    a = _to_numpy(actual).dtype
    b = _to_numpy(expected).dtype
    assert a == b, f"{op}, {what}: NumPy returned {a} but TensorFlow returned {b}"


def compare_trajectory(initial, ours, theirs, tolerance):
    """Compare two optimisation histories (lists over steps of lists of parameters) after every step.

    The scale of step t is the size of the numbers that went into it: the largest |parameter| so
    far, or the path length ``sum_s max|w_s - w_(s-1)|`` if that is larger (a parameter that
    crosses 0 is the small difference of large updates). Returns ``(worst comparison, step, k)``:
    the first failing one, or the one with the largest error."""
    worst = (None, 0, 0)
    for k, w0 in enumerate(initial):
        previous = np.asarray(w0, dtype=np.float64)
        largest, path = float(np.max(np.abs(previous))), 0.0
        for step, (mine, ref) in enumerate(zip(ours, theirs), 1):
            current = np.asarray(ref[k], dtype=np.float64)
            largest = max(largest, float(np.max(np.abs(current))))
            path += float(np.max(np.abs(current - previous)))
            previous = current
            cmp = compare(mine[k], ref[k], tolerance, scale=max(largest, path))
            if not cmp.passed:
                return cmp, step, k
            if worst[0] is None or cmp.error > worst[0].error:
                worst = (cmp, step, k)
    return worst
