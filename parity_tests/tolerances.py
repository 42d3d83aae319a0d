"""The tolerances of the parity suite and why they are what they are. Each op's tolerance and its
reason are fields of its catalogue entry (``tolerances=by_dtype(...)``, ``tolerance_reason`` in
:data:`parity_tests.registry.OPS`); the models', optimizers' and training runs' are the tables here.
:func:`markdown_table` puts both in one table: the README's.

Two kinds of verdict (see :mod:`parity_tests.assertions`):

* **float64: NumPy against TensorFlow.** For NumPy's result ``a`` and TensorFlow's ``b``, element by
  element, ``|a - b| <= tol * S`` with ``S = max |b|`` over the compared array (or the op's scale, see
  below), so the bound is relative to the *magnitude of the reference* and an element that cancels to
  ~0 is not asked for a relative accuracy it cannot have. Both sides evaluate the same formula in
  IEEE double and differ only in summation order and in ``exp``/``log``/``tanh`` (each within ~1 ulp):
  1e-14 for element-wise ops, 1e-13 for the losses, 1e-12 for the contractions, 1e-11 for models. A
  wrong term in a formula shows up at 1e-3 or worse, so these check *what* is computed.

* **float32: each framework against the float64 oracle** (:func:`~parity_tests.assertions.compare_with_oracle`).
  Both frameworks also run the float32 example in float64 (the float32 numbers, held exactly); those
  two results must agree within the float64 tolerance. Then each float32 result's error against it,
  ``e_np = |a32 - t64| / S`` and ``e_tf = |b32 - t64| / S`` (max over the array), must be

  1. within the **cap** below (a bound on what float32 arithmetic of that op can lose, derived below;
     the training caps are measured maxima with a margin of 7x or more), and
  2. no more than ``ORACLE_RATIO`` = 8 times the other's, above a floor of ``ORACLE_FLOOR_ULPS`` = 4
     float32 ulps of S: ``e_np <= 8 * max(e_tf, 4 eps)`` and ``e_tf <= 8 * max(e_np, 4 eps)``.

  ``|a32 - b32| <= e_np + e_tf`` always holds, so a bound on the difference alone checks nothing the
  caps do not; 2. is what carries information: neither framework's float32 result is much less
  accurate than the other's. It holds on AVX2 or AVX-512, Eigen or oneDNN, 1 or 2 threads, because
  it compares each implementation with the truth rather than with the other's summation order.
  2. can only fire above 8 x 4 = 32 ulps of S (3.8e-6); where the cap is lower (the element-wise
  ops, softmax, max-pool, dropout: 2e-6 and less, a few ulps derived from the formula) the cap is
  the tighter check and 2. adds nothing. It is what bounds the contractions, losses, models,
  optimizers and training runs, whose caps allow much more.

Why 8 and 4 ulps. Two honest implementations of the same float32 formula differ only in the order of
their roundings; for a K-term sum both errors are bounded by ~K eps sum|terms| and are typically
~sqrt(K) eps, and which one is smaller on a given example is chance. Measured on an AMD EPYC with
oneDNN off and forced on (the "worst ratio" column of ``python -m parity_tests.report --examples 100
--trajectories``), the worst ratio above a 4-ulp floor was 2.6 for ops (conv2d, TensorFlow's side),
4.5 for the CNN's outputs and gradients (oneDNN on), 1.1 for SGD runs and 2.8 for training
trajectories (median drift): 8 leaves a factor of almost 2 over that. (With a 1-ulp floor conv2d
reached 6.0 over 100 examples: too close to 8 to hold on every machine.) A real loss of accuracy is
far larger: rounding through float16 is 2**13 = 8192 times coarser; an unshifted softmax overflows
or underflows; a sum ordered for maximal cancellation over 2048 terms is 25-50 times less accurate
than BLAS's and is caught by 2. while still under the cap (``test_oracle.py`` plants each). The floor (4 ulps of S) keeps an exact result on one
side (error 0) from demanding exactness of the other.

Which scale S: by default ``max|t64|``. Where a result is, by construction, a small difference of
large terms, S is the size of the terms instead (declared per op in the registry as ``vjp_scale`` /
``forward_scale``): ``|dout|`` for the gradients of tanh, sigmoid and softmax (``1 - y**2`` and
``y * (1 - y)`` cancel near saturation), ``sum |dout|`` along the axis for log-softmax, ``|dloss|
(/ N)`` for the cross-entropies' gradients (``p - t`` cancels when p is right), 1 per example (N for
a sum) for their forward (a confident right answer has a loss of ~1e-5 computed from terms >= 1),
``|dout|`` for the pools' gradients (overlapping windows add dout entries in another order), ``max|x|``
for average pooling's forward (a window's mean of values of either sign can be ~0); for batch normalization
(whose output and gradients are differences of per-channel sums) the largest term of TensorFlow's
forms: ``|x| |inv| + |mu| |inv| + |beta|`` (``inv = gamma / sigma``) for the forward, the largest of
``sum|dout|``, ``(sum|dout x| + |mu| sum|dout|) / sigma`` and dx's terms for the gradients (with two entries
per channel dx is ~epsilon / var of its terms). Optimizer runs and
training trajectories use the largest |parameter| so far or the path length, if larger.

The caps (float32), and why:

* ReLU and flatten are exact (0). Dropout rounds ``x * mask * (1/(1-rate))`` twice: 3e-7.
  Transcendental element-wise ops and softmax: a few ulps, 2e-6. Max-pool selects (exact) and sums
  at most 16 overlapping dout entries: 2e-6. Average pooling sums at most 16 cells and divides
  (at most 16 + 1 roundings of u = 6e-8 relative to max|x|, ~1e-6), and its gradient sums at most 16
  overlapping ``dout / count`` entries: 2e-6; in float64 the same 17 roundings of 1.1e-16 on each
  side: 1e-14. Losses take a log of a sum and a mean over the batch:
  1e-5. Contractions (dense, conv2d) sum K products (K up to 5*5*4 = 100 for a conv output, N*OH*OW
  for its kernel gradient); the error grows like sqrt(K) eps typically and K eps at worst: 2e-5.
  Batch normalization sums M entries per channel (M <= 108 in the samples) for the mean, the
  variance, dgamma and dbeta; against the scales above a naive M-term sum is off by at most ~M u,
  and the mean's error and the variance's (relative, halved by the square root) reach the output
  and dx together: ~2 M u = 1.3e-5 at worst, typically sqrt(M) u: 2e-5. float64: the same sums
  in double, 2 M x 1.1e-16 = 2.4e-14 at worst: 1e-12 as for the contractions. The moving
  statistics after k training steps: each step multiplies the previous error by momentum and adds
  (1 - momentum) times the batch statistic's and two roundings, so they stay within the same cap
  (judged against the largest |statistic| or |x| seen).
* Optimizers, 20 steps: SGD at most 2 roundings a step: 4e-6. Adam: 1e-4, because Keras computes
  the bias correction ``sqrt(1 - beta_2**t) / (1 - beta_1**t)`` in float32, where ``1 - beta_2**t``
  loses ~4 digits to cancellation for beta_2 = 0.9999; numpy_nn computes it in double. That makes
  Keras's float32 Adam measurably less accurate than numpy_nn's (up to ~10x above the floor), so for
  Adam only the direction "numpy_nn is not less accurate than Keras" of the ratio is checked
  (``tensorflow_less_accurate``), and the cause is pinned by
  ``test_keras_float32_adam_is_less_accurate_than_numpy_nn_because_of_its_float32_bias_correction``.
* Models: a whole model chains these errors (784- and 21632-term sums): 1e-4 on outputs and
  gradients, 1e-5 on the loss.
* Training, 50 steps, judged after every step and held norm-wise (each weight's 2-norm): a hidden
  unit whose pre-activation is within rounding (~1e-7) of 0 for some example is active in one run and
  not in another; that discrete event moves a few weights by a whole step (SGD: ~lr * |x| |dy| / N;
  Adam normalises it into a step of ~lr) and the difference then spreads. Measured: up to 1.5e-4
  for SGD (the CNN's conv kernel in TensorFlow's float32 run with oneDNN, two such events in 50 steps)
  and 3.5e-5 for Adam; caps 1e-3 and 2e-2. Such an event happens in either framework by chance, so
  the ratio 2. compares the *median* element's drift from the float64 run, which one event does not
  move, while an implementation that is less accurate everywhere does.
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


def by_dtype(float32, float64):
    """``{"float32": float32 cap, "float64": float64 tolerance}``; a number is ``Tolerance(number)``."""
    as_tol = lambda v: v if isinstance(v, Tolerance) else Tolerance(v)  # noqa: E731
    return {"float32": as_tol(float32), "float64": as_tol(float64)}


#: Model-level comparisons (the four tutorial models): same weights -> same outputs, loss, gradients.
MODEL_TOLERANCES = {
    "outputs": by_dtype(1e-4, 1e-11),
    "loss": by_dtype(1e-5, 1e-11),
    "gradients": by_dtype(1e-4, 1e-11),
}

#: Weights after a training run with identical starting weights, batches and dropout masks.
TRAJECTORY_TOLERANCES = {
    "sgd": by_dtype(Tolerance(1e-3, norm=True), 1e-12),
    "adam": by_dtype(Tolerance(2e-2, norm=True), 1e-11),
}

#: Parameters after each of 20 optimizer steps on the same gradients.
OPTIMIZER_TOLERANCES = {
    "sgd": by_dtype(4e-6, 1e-14),
    "adam": by_dtype(Tolerance(1e-4, tensorflow_less_accurate="Keras computes Adam's bias correction "
                                "sqrt(1 - beta_2**t) / (1 - beta_1**t) in float32"), 1e-13),
}


_OTHER_REASONS = {
    ("model", "outputs"): "chained ops; 784- and 21632-term dot products",
    ("model", "loss"): "log-sum-exp of the outputs, mean over the batch",
    ("model", "gradients"): "21632-term sums (conv kernel, CNN dense layer)",
    ("optimizer", "sgd"): "at most 2 roundings a step",
    ("optimizer", "adam"): "Keras's float32 bias correction (ratio checked one way, see text)",
    ("trajectory", "sgd"): "per step; units switching at a rounding-level pre-activation (see text)",
    ("trajectory", "adam"): "per step; the same events, normalised by Adam into steps of ~lr",
}


def markdown_table():
    """The tolerance table as Markdown (for the README): one row per comparison."""
    from .registry import OPS  # the registry imports this module

    rows = ["| comparison | float32 cap (each vs float64) | float64 (numpy vs tensorflow) | why |", "|---|---|---|---|"]
    for op in OPS:
        rows.append(f"| op `{op.name}` (forward and VJP) | {op.tolerance('float32')} | {op.tolerance('float64')} "
                    f"| {op.tolerance_reason} |")
    for name, tol in MODEL_TOLERANCES.items():
        rows.append(f"| tutorial models: {name} | {tol['float32']} | {tol['float64']} | {_OTHER_REASONS['model', name]} |")
    for name, tol in OPTIMIZER_TOLERANCES.items():
        rows.append(f"| optimizer `{name}`, 20 steps | {tol['float32']} | {tol['float64']} | {_OTHER_REASONS['optimizer', name]} |")
    for name, tol in TRAJECTORY_TOLERANCES.items():
        rows.append(f"| training, 50 steps of `{name}` | {tol['float32']} | {tol['float64']} | {_OTHER_REASONS['trajectory', name]} |")
    return "\n".join(rows)
