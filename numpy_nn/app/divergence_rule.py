"""The rule of the divergence localiser: the gaps it records, the thresholds, the verdict (pure NumPy).

The four runs of :func:`numpy_nn.app.divergence.run_divergence` (numpy_nn and Keras, float32 and float64,
one start, one batch order, one set of dropout masks) are compared after every step.

After every step ``t``, for every parameter ``p`` and each pair of runs ``a - b`` in :data:`GAPS`, with
``w`` the float64 numpy run's parameter (the reference scale)::

    max    = max|a - b| / max|w|        norm = ||a - b||_2 / ||w||_2        median = median|a - b| / max|w|

The rule (:class:`Thresholds`, :func:`classify`). ``K`` is the longest sum one training step computes
(a dense layer's fan-in, a kernel gradient's batch x positions; :func:`longest_sum`): one step's
rounding in precision ``eps`` is at most ~``K eps`` of the scale (Higham's gamma_K). Training then
amplifies rounding by a factor ``G(t)`` that no formula gives, so it is *measured*: each framework's
float32 run against its own float64 run is pure float32 rounding, amplified (including discrete events
such as a ReLU switching), so ``G(t) = max(K, d_np(t) / eps32, d_tf(t) / eps32)`` with ``d`` the ``max``
drift ``np32-np64`` / ``tf32-tf64``. The same dynamics amplify float64 rounding by the same factor, so

* ``semantics`` at ``t``: ``max(np64-tf64) > MARGIN * eps64 * G(t)`` for some parameter (MARGIN = 8, the
  parity suite's oracle ratio). A changed formula moves the float64 runs apart by ~1e-8 or more, at
  least 1e5 times this bound for the tutorial models.
* ``precision``: the float64 runs agree and, for some parameter, one framework's float32 drift from its
  float64 run is more than RATIO = 8 times the other's, above a floor of 4 float32 ulps of the scale,
  on the *median* element (a discrete event moves a few elements, not the median), at ``PERSIST`` = 5
  consecutive steps (one step's chance is not a rate): ``med_X > 8 * max(med_Y, 4 eps32)``.
* ``rounding``: neither of those, and the float32 runs part beyond op-level tolerance: the first step at
  which ``max(np32-tf32)`` exceeds ``MARGIN * eps32 * max(K, max(np64-tf64) / eps64)`` -- what the two
  frameworks' summation-order differences, measured in float64 where no unit switches, give at float32
  rounding. A unit that fires in one float32 run only (a pre-activation within rounding of 0) jumps past
  it; :func:`numpy_nn.app.divergence_localise.localise_rounding` names it.
* ``none``: none of these at any step.

Nothing here runs a model: :func:`classify` is a pure function of the recorded series.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layers import Conv2D, Dense

EPS32, EPS64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)
RUNS = ("np32", "tf32", "np64", "tf64")
#: The recorded gaps: ``name -> (run a, run b)``.
GAPS = {"np64-tf64": ("np64", "tf64"), "np32-tf32": ("np32", "tf32"),
        "np32-np64": ("np32", "np64"), "tf32-tf64": ("tf32", "tf64")}
METRICS = ("max", "norm", "median")
FRAMEWORKS = {"np": "numpy_nn", "tf": "tensorflow"}


@dataclass(frozen=True)
class Thresholds:
    """The constants of the rule in the module docstring; ``sum_length`` is ``K``."""

    sum_length: int
    margin: float = 8.0
    ratio: float = 8.0
    floor_ulps: int = 4
    persist: int = 5

    def semantic_bound(self, d_np, d_tf):
        """``MARGIN * eps64 * G(t)`` with ``G = max(K, d_np / eps32, d_tf / eps32)`` (arrays per parameter)."""
        growth = np.maximum(self.sum_length, np.maximum(d_np, d_tf) / EPS32)
        return self.margin * EPS64 * growth

    def rounding_bound(self, gap64):
        """``MARGIN * eps32 * max(K, gap64 / eps64)``: the float64 runs' gap at float32 rounding."""
        return self.margin * EPS32 * np.maximum(self.sum_length, np.asarray(gap64) / EPS64)

    def precision_worse(self, med_x, med_y):
        """True where ``med_x > RATIO * max(med_y, FLOOR_ULPS * eps32)``."""
        return np.asarray(med_x) > self.ratio * np.maximum(med_y, self.floor_ulps * EPS32)

    def describe(self):
        """The rule, JSON-ready (for divergence.json)."""
        return {"K (longest sum of one step)": self.sum_length, "margin": self.margin, "ratio": self.ratio,
                "floor_ulps": self.floor_ulps, "persist": self.persist, "eps32": EPS32, "eps64": EPS64,
                "growth": "G(t) = max(K, max(np32-np64, tf32-tf64) / eps32), per parameter, max metric",
                "semantics": "max(np64-tf64) > margin * eps64 * G(t)",
                "precision": "median drift X32-X64 > ratio * max(median drift Y32-Y64, floor_ulps * eps32) "
                             "at `persist` consecutive steps, float64 runs agreeing",
                "rounding": "max(np32-tf32) > margin * eps32 * max(K, max(np64-tf64) / eps64)"}


def longest_sum(model, batch_size):
    """``K``: the most terms any single sum of one training step of ``model`` adds -- Dense: fan-in
    (forward), units (input gradient), batch (kernel gradient); Conv2D: KH*KW*C_in, KH*KW*filters,
    batch*OH*OW -- and the batch (the loss's mean)."""
    k = batch_size
    for layer in model.layers:
        if isinstance(layer, Dense):
            k = max(k, layer.input_shape[0], layer.units)
        elif isinstance(layer, Conv2D):
            kh, kw = layer.kernel_size
            oh, ow, _ = layer.output_shape
            k = max(k, kh * kw * layer.input_shape[2], kh * kw * layer.filters, batch_size * oh * ow)
    return int(k)


# ----------------------------------------------------------------------------------------------
# The rule, on series (pure)
# ----------------------------------------------------------------------------------------------

def _arr(series, gap, metric):
    return np.asarray(series["gaps"][gap][metric], dtype=np.float64)  # (steps, parameters)


def step_flags(series, thresholds):
    """Per step and parameter (boolean ``(steps, parameters)`` arrays): ``semantics``, ``np_worse``,
    ``tf_worse`` (one step's precision test) and ``rounding``, as the module docstring defines them."""
    d_np, d_tf = _arr(series, "np32-np64", "max"), _arr(series, "tf32-tf64", "max")
    gap64 = _arr(series, "np64-tf64", "max")
    m_np, m_tf = _arr(series, "np32-np64", "median"), _arr(series, "tf32-tf64", "median")
    return {"semantics": gap64 > thresholds.semantic_bound(d_np, d_tf),
            "np_worse": thresholds.precision_worse(m_np, m_tf),
            "tf_worse": thresholds.precision_worse(m_tf, m_np),
            "rounding": _arr(series, "np32-tf32", "max") > thresholds.rounding_bound(gap64)}


def closest(series, thresholds):
    """How near each gap came to its bound: ``{"semantics": ..., "rounding": ...}``, each ``{"ratio":
    the largest gap / bound over steps and parameters, "step" (1-based), "layer", "param", "gap"}``
    (a ratio above 1 is a flagged step) -- what a ``none`` verdict reports."""
    d_np, d_tf = _arr(series, "np32-np64", "max"), _arr(series, "tf32-tf64", "max")
    gap64, gap32 = _arr(series, "np64-tf64", "max"), _arr(series, "np32-tf32", "max")
    out = {}
    for kind, gap, bound in (("semantics", gap64, thresholds.semantic_bound(d_np, d_tf)),
                             ("rounding", gap32, thresholds.rounding_bound(gap64))):
        ratio = gap / bound
        if not ratio.size:
            out[kind] = None
            continue
        t, p = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        out[kind] = {"ratio": float(ratio[t, p]), "step": int(t) + 1, "layer": series["layers"][p],
                     "param": series["params"][p], "gap": float(gap[t, p])}
    return out


def _first(flags):
    """(0-based step, parameter) of the first True of a (steps, parameters) array, the parameter
    being the first flagged at that step; None if none."""
    rows = np.flatnonzero(flags.any(axis=1))
    if not len(rows):
        return None
    return int(rows[0]), int(np.flatnonzero(flags[rows[0]])[0])


def _persistent(flags, n):
    """Flags that start a run of ``n`` consecutive True steps for the same parameter."""
    steps = len(flags)
    if steps < n:
        return np.zeros_like(flags)
    out = np.ones((steps - n + 1,) + flags.shape[1:], dtype=bool)
    for k in range(n):
        out &= flags[k:steps - n + 1 + k]
    return np.concatenate([out, np.zeros((n - 1,) + flags.shape[1:], dtype=bool)])


def classify(series, thresholds):
    """The verdict on ``series`` (``{"params": [...], "layers": [...], "gaps": {gap: {metric:
    (steps, parameters)}}}``): ``{"kind", "first_step" (1-based or None), "layer", "param",
    "framework", "findings"}``; ``findings`` has each kind's first step and parameter, so that a
    precision verdict still says where the float32 runs parted. Priority: semantics, precision,
    rounding, none."""
    flags = step_flags(series, thresholds)
    params, layers = series["params"], series["layers"]

    def finding(flag, **extra):
        hit = _first(flag)
        if hit is None:
            return None
        return {"first_step": hit[0] + 1, "param": params[hit[1]], "layer": layers[hit[1]], **extra}

    np_p = _persistent(flags["np_worse"], thresholds.persist)
    tf_p = _persistent(flags["tf_worse"], thresholds.persist)
    precision = [f for f in (finding(np_p, framework=FRAMEWORKS["np"]), finding(tf_p, framework=FRAMEWORKS["tf"])) if f]
    findings = {"semantics": finding(flags["semantics"]),
                "precision": min(precision, key=lambda f: f["first_step"]) if precision else None,
                "rounding": finding(flags["rounding"])}
    for kind in ("semantics", "precision", "rounding"):
        if findings[kind] is not None:
            f = findings[kind]
            return {"kind": kind, "first_step": f["first_step"], "layer": f["layer"], "param": f["param"],
                    "framework": f.get("framework"), "findings": findings}
    return {"kind": "none", "first_step": None, "layer": None, "param": None, "framework": None, "findings": findings}

