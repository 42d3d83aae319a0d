"""Comparing a NumPy result with TensorFlow's, and saying exactly where and how far they differ.

Two verdicts, one per dtype (:func:`assert_parity` picks):

* float64, :func:`compare` / :func:`assert_close`: NumPy's result against TensorFlow's,
  ``|a - b| <= tol * S`` element-wise, ``S`` the reference's magnitude (or the op's scale);
* float32, :func:`compare_with_oracle` / :func:`assert_oracle`: each framework's float32 result
  against the float64 result of the same inputs (the *oracle*), which both frameworks must agree on:
  both errors under the op's cap, and neither much larger than the other. Training runs are judged
  step by step with :class:`OracleTrajectory`.

A float32 failure reads::

    dense float32, forward: numpy's float32 result is more than 8x less accurate than tensorflow's
      arguments: x=float32(8, 2048), kernel=float32(2048, 16), bias=None, seed=0
      float32 error against the float64 oracle: numpy 1.263e-05 (105.9 ulp), tensorflow 1.776e-07 (1.5 ulp); cap 2e-05; accuracy ratio 26.48 (bound 8, floor 4.8e-07); units: the scale 2.932e+00
      numpy and tensorflow float32 differ by 1.281e-05; float64 results differ by 1.891e-14
      worst numpy element at index (1, 5): float32 1.7561167478561401 vs float64 1.756079717607837
      worst tensorflow element at index (1, 5): float32 1.7560791969299316 vs float64 1.756079717607837

(``test_oracle.py``'s sum ordered for maximal cancellation: every error is under the cap, the ratio
catches it.)
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
    """Compare two optimisation histories (lists over steps of lists of parameters) after every step,
    at the :class:`TrajectoryScale` of the reference history. Returns ``(worst comparison, step, k)``:
    the first failing one, or the one with the largest error."""
    scale, worst = TrajectoryScale(initial), (None, 0, 0)
    for step, (mine, ref) in enumerate(zip(ours, theirs), 1):
        for k, s in enumerate(scale.update(ref)):
            cmp = compare(mine[k], ref[k], tolerance, scale=s)
            if not cmp.passed:
                return cmp, step, k
            if worst[0] is None or cmp.error > worst[0].error:
                worst = (cmp, step, k)
    return worst


# --- float32 verdicts from a float64 oracle -------------------------------------------------------
@dataclass
class OracleComparison:
    """One float32 comparison judged against the float64 oracle (see :func:`compare_with_oracle`).

    ``e_np`` / ``e_tf``: each framework's float32 error against the float64 result, in units of the
    scale (the largest element error / S, or for norm-wise caps ||x32 - t64|| / ||t64||); ``diff``:
    NumPy's float32 result against TensorFlow's in the same units (what the two disagree by)."""

    passed: bool
    e_np: float
    e_tf: float
    diff: float
    cap: float
    floor: float
    ratio: float
    scale: float
    agree64: Comparison       # NumPy's float64 result against TensorFlow's
    failure: str = ""         # which condition failed, in words
    worst: dict = None        # {"numpy" | "tensorflow": (index, float32 value, float64 value)}
    median: tuple = None      # (numpy, tensorflow) median element errors / S, when the ratio uses them
    one_sided: bool = False   # the cap's ``tensorflow_less_accurate``: the ratio was checked one way

    @property
    def error(self):
        """The larger of the two float32 errors (what the cap bounds)."""
        return max(self.e_np, self.e_tf)

    @property
    def accuracy_ratio(self):
        """How many times less accurate the worse float32 side is, above the floor (what ``ratio`` bounds)."""
        r_np, r_tf = self.median if self.median is not None else (self.e_np, self.e_tf)
        return max(r_np / max(r_tf, self.floor), r_tf / max(r_np, self.floor))

    def describe(self):
        eps = float(np.finfo(np.float32).eps)
        lines = [f"float32 error against the float64 oracle: numpy {self.e_np:.3e} ({self.e_np / eps:.1f} ulp), "
                 f"tensorflow {self.e_tf:.3e} ({self.e_tf / eps:.1f} ulp); cap {self.cap:.0e}; accuracy ratio "
                 f"{self.accuracy_ratio:.2f} (bound {self.ratio:g}{', numpy side only' if self.one_sided else ''}, "
                 f"floor {self.floor:.1e}); units: the scale {self.scale:.3e}",
                 f"numpy and tensorflow float32 differ by {self.diff:.3e}; float64 results differ by "
                 f"{self.agree64.error:.3e}"]
        if self.median is not None:
            lines.append(f"median element error (what the ratio compares): numpy {self.median[0]:.3e}, "
                         f"tensorflow {self.median[1]:.3e}")
        for side, (index, value, truth) in (self.worst or {}).items():
            lines.append(f"worst {side} element at index {index}: float32 {value!r} vs float64 {truth!r}")
        return "\n  ".join(lines)


def _element_errors(x32, truth):
    """|x32 - truth| element by element, in float64 (the truth is finite: checked by the caller)."""
    return np.abs(_to_numpy(x32).astype(np.float64) - truth)


def _float32_error(errors, truth, scale, norm):
    """The error the cap bounds: ``max(errors) / scale``, or with ``norm`` ``||errors|| / ||truth||``.
    NaN (a non-finite float32 result where the truth is finite) counts as infinite."""
    if errors.size == 0:
        return 0.0
    errors = np.where(np.isnan(errors), np.inf, errors)
    top, bottom = (float(np.linalg.norm(errors)), float(np.linalg.norm(truth))) if norm else \
        (float(np.max(errors)), scale)
    return top / bottom if bottom > 0 else (0.0 if top == 0 else np.inf)


def _dtype_problem(np32, tf32, np64, tf64):
    """Which input has the wrong dtype (arrays only: a loss may arrive as a Python float), or ""."""
    for name, value, want in (("numpy float32", np32, np.float32), ("tensorflow float32", tf32, np.float32),
                              ("numpy float64", np64, np.float64), ("tensorflow float64", tf64, np.float64)):
        a = _to_numpy(value)
        if a.ndim and a.dtype != want:
            return f"the {name} result has dtype {a.dtype}: the oracle needs float32 results and float64 ones"
    return ""


def compare_with_oracle(np32, tf32, np64, tf64, cap, tol64, scale=None, *, typical=False):
    """Judge a float32 comparison by what float32 arithmetic allows, not by one machine's numbers.

    ``np32``/``tf32``: each framework's float32 result; ``np64``/``tf64``: the same computation in
    float64 on the same inputs (the float32 numbers, held exactly). Passes when

    1. ``np64`` and ``tf64`` agree within ``tol64`` (:func:`compare`): both frameworks compute the
       same thing; the truth ``t64 = tf64`` is finite;
    2. each float32 error against it, ``e_np = max|np32 - t64| / S`` and ``e_tf = max|tf32 - t64| / S``
       (or, for a norm-wise ``cap``, ``||np32 - t64|| / ||t64||``), is within the cap ``cap.atol``;
    3. neither is much less accurate than the other: ``e_np <= c * max(e_tf, floor)`` and
       ``e_tf <= c * max(e_np, floor)``, ``c`` = ``ORACLE_RATIO``, ``floor`` = ``ORACLE_FLOOR_ULPS``
       float32 ulps of S (:mod:`parity_tests.tolerances`). Where the cap says TensorFlow is known to
       be less accurate (``tensorflow_less_accurate``), only the first inequality is checked.

    ``|np32 - tf32| <= e_np + e_tf`` always holds, so a bound on the difference alone would check
    nothing that 2. does not; 3. is the check that a float32 implementation has lost accuracy that the
    other keeps. ``scale``: as in :func:`compare` (default max |t64|).

    ``typical=True`` (training trajectories): 3. compares the *median* element error / S instead,
    which a rare discrete event in one run (a ReLU unit whose pre-activation is within rounding of 0
    switching in one float32 run only, moving a few weights by a whole step) does not dominate, while
    an implementation that is less accurate everywhere still moves it."""
    from .tolerances import ORACLE_FLOOR_ULPS, ORACLE_RATIO

    ratio, floor = ORACLE_RATIO, ORACLE_FLOOR_ULPS * float(np.finfo(np.float32).eps)
    shapes = [_to_numpy(v).shape for v in (np32, tf32, np64, tf64)]
    agree64 = compare(np64, tf64, tol64, scale)
    if len(set(shapes)) > 1:
        return OracleComparison(False, np.inf, np.inf, np.inf, cap.atol, floor, ratio, np.nan, agree64,
                                f"shapes differ: numpy {shapes[0]}, tensorflow {shapes[1]}, float64 {shapes[2]}, {shapes[3]}")
    truth = _to_numpy(tf64).astype(np.float64)
    s = float(np.max(np.abs(truth), initial=0.0)) if np.all(np.isfinite(truth)) else np.nan
    s = s if scale is None else max(float(scale), s)
    err_np, err_tf = _element_errors(np32, truth), _element_errors(tf32, truth)
    e_np, e_tf = (_float32_error(e, truth, s, cap.norm) for e in (err_np, err_tf))
    diff = _float32_error(_element_errors(np32, _to_numpy(tf32).astype(np.float64)), truth, s, cap.norm)
    median = None
    r_np, r_tf = e_np, e_tf
    if typical and truth.size and s > 0:
        median = tuple(float(np.median(np.where(np.isnan(e), np.inf, e))) / s for e in (err_np, err_tf))
        r_np, r_tf = median
    worst = {}
    if truth.size:
        for side, errors, values in (("numpy", err_np, np32), ("tensorflow", err_tf, tf32)):
            i = np.unravel_index(int(np.argmax(np.where(np.isnan(errors), np.inf, errors))), truth.shape)
            worst[side] = (tuple(int(k) for k in i), _to_numpy(values)[i].item(), truth[i].item())
    failure = _dtype_problem(np32, tf32, np64, tf64)
    if failure:
        pass
    elif not agree64.passed:
        failure = ("the float64 results differ beyond float64 rounding (the frameworks compute different "
                   f"things): {agree64.error:.3e} > {tol64}")
    elif not np.isfinite(s):
        failure = "the float64 result is not finite: nothing to measure the float32 results against"
    elif e_np > cap.atol or e_tf > cap.atol:
        failure = f"a float32 error exceeds the cap {cap}"
    elif r_np > ratio * max(r_tf, floor):
        failure = f"numpy's float32 result is more than {ratio:g}x less accurate than tensorflow's"
    elif r_tf > ratio * max(r_np, floor) and not cap.tensorflow_less_accurate:
        failure = f"tensorflow's float32 result is more than {ratio:g}x less accurate than numpy's"
    return OracleComparison(not failure, e_np, e_tf, diff, cap.atol, floor, ratio, s, agree64, failure, worst, median,
                            bool(cap.tensorflow_less_accurate))


def assert_oracle(np32, tf32, np64, tf64, cap, tol64, *, op, what="output", sample=None, scale=None):
    """:func:`compare_with_oracle`, raising ``AssertionError`` naming the op, its arguments, both
    errors, the cap and the worst elements."""
    cmp = compare_with_oracle(np32, tf32, np64, tf64, cap, tol64, scale)
    if not cmp.passed:
        args = f"\n  arguments: {sample.describe()}" if sample is not None else ""
        raise AssertionError(f"{op} float32, {what}: {cmp.failure}{args}\n  {cmp.describe()}")
    return cmp


def assert_parity(dtype, ours, theirs, oracle, tolerances, *, op, what="output", sample=None, scale=None):
    """The verdict of one comparison in either dtype. ``tolerances``: ``{"float32": cap, "float64":
    tol}`` (a row of :mod:`parity_tests.tolerances`).

    float64: NumPy's result against TensorFlow's within the tight float64 tolerance (:func:`assert_close`).
    float32: :func:`assert_oracle`, with ``oracle()`` returning ``(numpy float64, tensorflow float64)``
    on the same inputs; it is called only for float32."""
    if str(dtype) == "float64":
        return assert_close(ours, theirs, tolerances["float64"], op=op, what=what, dtype=dtype, sample=sample, scale=scale)
    np64, tf64 = oracle()
    return assert_oracle(ours, theirs, np64, tf64, tolerances["float32"], tolerances["float64"], op=op, what=what,
                         sample=sample, scale=scale)


class TrajectoryScale:
    """The scale of each step of an optimisation run, per parameter: the largest |parameter| so far,
    or the path length ``sum_s max|w_s - w_(s-1)|`` if that is larger (a parameter that crosses 0 is
    the small difference of large updates). Feed it the reference parameters after every step."""

    def __init__(self, initial):
        self.previous = [np.asarray(w, dtype=np.float64) for w in initial]
        self.largest = [float(np.max(np.abs(w))) if w.size else 0.0 for w in self.previous]
        self.path = [0.0] * len(self.previous)

    def update(self, params):
        """Take the parameters after one more step; return each parameter's scale for that step."""
        for k, w in enumerate(params):
            current = np.asarray(w, dtype=np.float64)
            self.largest[k] = max(self.largest[k], float(np.max(np.abs(current))))
            self.path[k] += float(np.max(np.abs(current - self.previous[k])))
            self.previous[k] = current
        return [max(a, b) for a, b in zip(self.largest, self.path)]


class OracleTrajectory:
    """Judges four runs step by step (see :func:`compare_trajectory_with_oracle`) without keeping
    their histories: call :meth:`step` after every step, then read ``failure`` (the first failing
    ``(comparison, step, k)``, or None) and ``worst`` (the largest float32 error)."""

    def __init__(self, initial, cap, tol64, typical=False):
        self.scale = TrajectoryScale(initial)
        self.cap, self.tol64, self.typical = cap, tol64, typical
        self.failure, self.worst = None, (None, 0, 0)
        self.max_ratio = 0.0   # the largest accuracy ratio over every step and parameter

    def step(self, step, runs):
        """``runs``: ``{"np32", "tf32", "np64", "tf64"}`` parameter lists after step ``step``."""
        for k, scale in enumerate(self.scale.update(runs["tf64"])):
            cmp = compare_with_oracle(runs["np32"][k], runs["tf32"][k], runs["np64"][k], runs["tf64"][k],
                                      self.cap, self.tol64, scale, typical=self.typical)
            self.max_ratio = max(self.max_ratio, cmp.accuracy_ratio)
            if not cmp.passed and self.failure is None:
                self.failure = (cmp, step, k)
            if self.worst[0] is None or cmp.error > self.worst[0].error:
                self.worst = (cmp, step, k)

    @property
    def verdict(self):
        return self.failure or self.worst


def compare_trajectory_with_oracle(initial, np32, tf32, np64, tf64, cap, tol64, typical=False):
    """:func:`compare_with_oracle` after every step of four optimisation histories (NumPy and
    TensorFlow, float32 and float64, from the same start and on the same gradients), at the
    :class:`TrajectoryScale` of the float64 history. Returns ``(comparison, step, k)``: the first
    failing one, or the one with the largest float32 error."""
    judge = OracleTrajectory(initial, cap, tol64, typical)
    for step, runs in enumerate(zip(np32, tf32, np64, tf64), 1):
        judge.step(step, dict(zip(("np32", "tf32", "np64", "tf64"), runs)))
        if judge.failure:
            break
    return judge.verdict
