"""The one tolerance table of the parity suite: every test, the report and the README read it here.

How a comparison passes (see :func:`parity_tests.assertions.compare`): for the NumPy result ``a`` and
TensorFlow's ``b`` (the reference), element by element,

    |a - b| <= atol * S + rtol * |b|,        S = max |b|  over the whole compared array,

so ``atol`` is relative to the *magnitude of the reference* rather than an absolute number: a
gradient whose entries are ~1e-4 is held to the same relative standard as one whose entries are
~1e4, and an element that cancels to ~0 is not asked for a relative accuracy it cannot have. The
test never relies on ``rtol`` alone (it is 0 almost everywhere). The reported "max rel error" is
``max |a - b| / S``, which is exactly what ``atol`` bounds.

Which scale S: by default ``max|b|``. Where a result is, by construction, a small difference of
large terms, S is the size of the terms instead (declared per op in the registry as ``vjp_scale``):
``|dout|`` for the gradients of tanh, sigmoid and softmax (``1 - y**2`` and ``y * (1 - y)`` cancel
near saturation; a softmax over an axis of length 1 has a gradient of exactly 0 up to rounding),
``sum |dout|`` along the axis for log-softmax, ``|dloss| (/ N)`` for the cross-entropies (``p - t``
cancels when p is right), ``|dout|`` for max-pool (overlapping windows add dout entries in another
order). Optimizer trajectories use the largest |parameter| so far or the path length, if larger.

Why these numbers (the measured maxima are in the README's parity section, from ``python -m
parity_tests.report --examples 500``):

* **float64: tight.** Both sides evaluate the same formula in IEEE double; they differ only in
  summation order (NumPy's BLAS vs Eigen's blocked kernels, pairwise vs sequential reductions) and in
  the ``exp``/``log``/``tanh`` implementations (each within ~1 ulp). Measured: below 1e-14 relative
  everywhere; allowed: 1e-14 for element-wise ops, 1e-13 for the losses, 1e-12 for the contractions.
  A wrong term in a formula shows up at 1e-3 or worse, so nothing real hides under these.
* **float32: rounding plus summation order.** eps(float32) = 1.2e-7. ReLU, dropout and flatten
  are exact (0: same operations in the same order). Transcendental element-wise ops and softmax are
  a few ulps apart: 2e-6. Max-pool selects (exact) and sums at most 16 overlapping dout entries:
  2e-6. Losses take a log of a sum and a mean over the batch: 1e-5. Contractions (dense, conv2d) sum
  K products in different orders (K up to 5*5*4 = 100 for a conv output, N*OH*OW for its kernel
  gradient); the error grows like sqrt(K) eps typically and K eps at worst: 2e-5.
* **Optimizers, 20 steps.** SGD is the same element-wise update; with momentum Keras and numpy_nn
  even round identically (0 measured). Nesterov is grouped differently (``w - lr g + m v`` vs
  ``w + (m v - lr g)``): at most 2 roundings per step, 20 steps: 40 * eps/2 = 2.4e-6 -> 4e-6.
  Adam: Keras computes the bias correction ``sqrt(1 - beta_2**t) / (1 - beta_1**t)`` in float32 from
  float32(beta_2); for beta_2 = 0.999 that alone puts the first step 6e-6 off (3e-4 for 0.9999),
  numpy_nn computes it in double: 1e-4. In float64 both are exact formulas: 1e-14 / 1e-13 (with
  float32-representable hyperparameters: Keras casts Python floats through float32).
* **Models.** A whole model chains these errors (a 784-term dot product, a 21632-term one in the
  CNN's Dense layer, 21632-term sums for the conv kernel gradient): float32 1e-4 on outputs and
  gradients, 1e-5 on the loss; float64 1e-11.
* **Training, 50 steps.** SGD: per-step gradient differences (~1e-6) accumulate: 1e-4 in float32,
  1e-12 in float64. Adam in float64: 1e-11. Adam in float32 is held to a *norm-wise* bound, 2e-2
  of each weight's 2-norm, because element-wise agreement is lost for a reason that is not a bug: a
  hidden unit whose pre-activation is within rounding (~1e-7) of 0 for some example is active in
  one framework and not in the other; if that unit had (almost) no gradient before, Adam's
  normalisation turns the difference into a full step of ~lr, ~10 lr over the following steps, and
  the difference then spreads. SGD scales the same event by the tiny gradient, so it stays small.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """``|a - b| <= atol * max|b| + rtol * |b|`` element-wise (b: TensorFlow's reference), or, with
    ``norm=True``, ``||a - b||_2 <= atol * ||b||_2`` over the whole array."""

    atol: float
    rtol: float = 0.0
    norm: bool = False
    #: A float32 cap only: where TensorFlow's float32 result is known to be less accurate than
    #: float32 allows (and why), the oracle checks that numpy_nn is not less accurate than TensorFlow
    #: but not the reverse; the reason is pinned by a test.
    tensorflow_less_accurate: str = ""

    def __str__(self):
        if self.norm:
            return f"{self.atol:.0e} (2-norm)"
        if self.atol == 0 and self.rtol == 0:
            return "0 (exact)"
        return f"{self.atol:.0e}" + (f" + {self.rtol:.0e}|ref|" if self.rtol else "")


#: The float64 oracle (``assertions.compare_with_oracle``): neither framework's float32 error against
#: the float64 result may exceed ``ORACLE_RATIO`` times the other's, or that many times a floor of
#: ``ORACLE_FLOOR_ULPS`` float32 ulps of the result's scale (see the module docstring for why).
ORACLE_RATIO = 8.0
ORACLE_FLOOR_ULPS = 4


def _t(f32, f64):
    as_tol = lambda v: v if isinstance(v, Tolerance) else Tolerance(v)  # noqa: E731
    return {"float32": as_tol(f32), "float64": as_tol(f64)}


#: Per op, per dtype: applied to the forward output and to every input gradient (VJP).
OP_TOLERANCES = {
    "relu": _t(0.0, 0.0),
    "dropout": _t(3e-7, 0.0),
    "flatten": _t(0.0, 0.0),
    "sigmoid": _t(2e-6, 1e-14),
    "tanh": _t(2e-6, 1e-14),
    "softmax": _t(2e-6, 1e-14),
    "log_softmax": _t(2e-6, 1e-14),
    "softmax_cross_entropy": _t(1e-5, 1e-13),
    "cross_entropy": _t(1e-5, 1e-13),
    "dense": _t(2e-5, 1e-12),
    "conv2d": _t(2e-5, 1e-12),
    "maxpool2d": _t(2e-6, 4e-15),
}

#: One line per op for the README table: why its tolerance is what it is.
OP_REASONS = {
    "relu": "max(x, 0) and its mask are exact in both",
    "dropout": "x * mask * (1/(1-rate)): the same two roundings in both (exact between them), <= 2 ulp from float64",
    "flatten": "a reshape: exact",
    "sigmoid": "exp and division, a few ulps apart",
    "tanh": "different tanh implementations, a few ulps",
    "softmax": "exp, a sum over the axis, a division",
    "log_softmax": "exp, log of a sum",
    "softmax_cross_entropy": "log-sum-exp then a mean over the batch",
    "cross_entropy": "renormalise, clip, log, mean (Keras semantics)",
    "dense": "matmul: K-term sums in different orders (BLAS vs Eigen)",
    "conv2d": "im2col GEMM vs Eigen's spatial convolution: different summation orders",
    "maxpool2d": "forward selects an input (exact); overlapping windows sum dout in another order",
}

#: Model-level comparisons (the four tutorial models): same weights -> same outputs, loss, gradients.
MODEL_TOLERANCES = {
    "outputs": _t(1e-4, 1e-11),
    "loss": _t(1e-5, 1e-11),
    "gradients": _t(1e-4, 1e-11),
}

#: Weights after a training run with identical starting weights, batches and dropout masks.
TRAJECTORY_TOLERANCES = {
    "sgd": _t(Tolerance(1e-3, norm=True), 1e-12),
    "adam": _t(Tolerance(2e-2, norm=True), 1e-11),
}

#: Parameters after each of 20 optimizer steps on the same gradients.
OPTIMIZER_TOLERANCES = {
    "sgd": _t(4e-6, 1e-14),
    "adam": _t(Tolerance(1e-4, tensorflow_less_accurate="Keras computes Adam's bias correction "
                         "sqrt(1 - beta_2**t) / (1 - beta_1**t) in float32"), 1e-13),
}


def op_tolerance(op, dtype):
    """The tolerance of ``op`` (a registry name) in ``dtype`` ("float32" / "float64")."""
    return OP_TOLERANCES[op][str(dtype)]


_OTHER_REASONS = {
    ("model", "outputs"): "chained ops; 784- and 21632-term dot products",
    ("model", "loss"): "log-sum-exp of the outputs, mean over the batch",
    ("model", "gradients"): "21632-term sums (conv kernel, CNN dense layer)",
    ("optimizer", "sgd"): "same update; Nesterov grouped differently (2 roundings/step)",
    ("optimizer", "adam"): "Keras's float32 bias correction from float32(beta_2)",
    ("trajectory", "sgd"): "per-step gradient rounding, accumulated",
    ("trajectory", "adam"): "float32: units flipping at a rounding-level pre-activation (see text)",
}


def markdown_table():
    """The tolerance table as Markdown (for the README): one row per comparison."""
    rows = ["| comparison | float32 | float64 | why |", "|---|---|---|---|"]
    for name, tol in OP_TOLERANCES.items():
        rows.append(f"| op `{name}` (forward and VJP) | {tol['float32']} | {tol['float64']} | {OP_REASONS[name]} |")
    for name, tol in MODEL_TOLERANCES.items():
        rows.append(f"| tutorial models: {name} | {tol['float32']} | {tol['float64']} | {_OTHER_REASONS['model', name]} |")
    for name, tol in OPTIMIZER_TOLERANCES.items():
        rows.append(f"| optimizer `{name}`, 20 steps | {tol['float32']} | {tol['float64']} | {_OTHER_REASONS['optimizer', name]} |")
    for name, tol in TRAJECTORY_TOLERANCES.items():
        rows.append(f"| training, 50 steps of `{name}` | {tol['float32']} | {tol['float64']} | {_OTHER_REASONS['trajectory', name]} |")
    return "\n".join(rows)
