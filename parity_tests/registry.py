"""The op catalogue: one :class:`OpInfo` per op, and every op test, report row and benchmark case is
generated from it. No other file lists ops.

An entry (keyword fields only) names

* ``forward`` / ``backward``: the NumPy op, ``out, cache = forward(*args, **kwargs)`` and
  ``grads = backward(dout, cache)`` (the gradients of ``grad_argnums``, in that order);
* ``reference_forward`` / ``reference_backward``: the plain reference in the same contract, for ops
  with a separate fast path (None otherwise);
* ``tf_twin``: the NAME of the TensorFlow twin in :mod:`tf_nn.functional` (same arguments), resolved
  only when used, so this module imports without TensorFlow (the CuPy check runs without it);
* ``samples``: ``dtype -> strategy`` of :class:`~parity_tests.strategies.Sample`;
* ``error_inputs``: ``() -> [ErrorInput]``, what the op must refuse and with which error;
* ``tolerances``: ``{"float32": cap, "float64": tolerance}`` (:func:`~parity_tests.tolerances.by_dtype`),
  applied to the forward output and to every input gradient, and ``tolerance_reason``: why, in one
  line (the op's row of the README's tolerance table; :mod:`parity_tests.tolerances` explains the
  numbers);
* ``vjp_scale`` / ``forward_scale``: the scale of a comparison where the result is a small difference
  of large terms (see :mod:`parity_tests.tolerances`);
* ``gradcheck``: the float64 finite-difference settings (:class:`GradCheck`), or
  :class:`NoGradCheck` with a reason;
* ``benchmark``: sizes and work counts for ``python -m benchmarks`` (:class:`Benchmark`), or None;
* ``doc``: what the samples cover, for the report.

Generated from :data:`OPS`:

=====================================================  ===========================================
TensorFlow parity, forward and VJP, float32 and 64     ``test_parity_ops.py``
float64 finite differences                             ``test_gradcheck.py``
fast path == reference (ops with a reference)          ``test_reference_paths.py``
``need_dx=False`` == the full backward                 ``test_fast_paths.py``
dtype preservation; the backward refuses a bad dout    ``test_catalogue.py``
bad inputs (NumPy; TensorFlow in a child process)      ``test_error_inputs.py``, ``test_known_differences.py``
parity report rows                                     ``python -m parity_tests.report``
benchmark op cases (NumPy vs the same TF twin)         ``python -m benchmarks`` (``benchmarks/cases.py``)
the CuPy check                                         ``python -m benchmarks.cupy_check``
=====================================================  ===========================================

This is PyTorch's OpInfo idea (reference implementation, sample inputs, error inputs, per-dtype
tolerances, one entry driving every test kind) with TensorFlow as the reference.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import numpy_nn.functional as F

from . import strategies as S
from .tolerances import by_dtype


@dataclass(frozen=True)
class ErrorInput:
    """A bad input and what the NumPy op must raise for it: ``error`` with a message matching the
    regular expression ``match`` and containing each of ``words`` (the argument's name, what was
    expected, what arrived).

    ``tf_raises``: TensorFlow refuses it too (with its own error type) -- "cpu" where it refuses only
    on the CPU (on a GPU TensorFlow returns NaN instead of checking, e.g. out-of-range class ids)."""

    description: str
    args: tuple
    kwargs: dict
    error: type
    match: str
    tf_raises: object = False
    words: tuple = ()


@dataclass(frozen=True, kw_only=True)
class GradCheck:
    """Float64 central differences of ``sum(forward(...) * dout)`` against ``backward``.

    ``samples``: ``dtype -> strategy`` (None: the op's own; give one where the parity samples are too
    large to difference cheaply or sit on a kink); ``argnums``: which inputs (None: ``grad_argnums``);
    ``tol``: the largest relative error (``numpy_nn.gradcheck.compare_gradients``)."""

    samples: Callable = None
    argnums: tuple = None
    tol: float = 1e-6
    h: float = 1e-5


@dataclass(frozen=True)
class NoGradCheck:
    """No finite-difference check for this op, and why."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    """The op's rows in ``python -m benchmarks``: ``full`` and ``quick`` size tuples; per size the
    inputs (``inputs(size) -> Sample`` of float32 arrays, the same numbers for both frameworks), the
    case label, the ``params`` recorded in results.json, the batch, the GEMM flops of one forward
    (``flops``, None if the op is not a matrix product: forward+backward counts 3x), the bytes one
    call reads and writes (``bytes(size, mode)``, None if not counted) and the figure's x-axis
    (``size(params)``, labelled ``size_label``)."""

    group: str
    title: str
    full: tuple
    quick: tuple
    inputs: Callable
    label: Callable
    params: Callable
    size: Callable
    size_label: str
    batch: Callable = lambda size: size[0]
    flops: Callable = None
    bytes: Callable = None

    def sizes(self, quick=False):
        return self.quick if quick else self.full


@dataclass(frozen=True, kw_only=True)
class OpInfo:
    """One op of the catalogue (see the module docstring for the fields)."""

    name: str
    forward: Callable
    backward: Callable
    tf_twin: str
    samples: Callable             # dtype -> SearchStrategy[Sample]
    grad_argnums: tuple           # positional inputs that get gradients, in backward's order
    tolerances: dict              # dtype -> Tolerance (by_dtype(float32 cap, float64))
    tolerance_reason: str         # why, in one line (the README table's)
    error_inputs: Callable = list
    reference_forward: Callable = None
    reference_backward: Callable = None
    #: ``dtype -> strategy`` for the fast-vs-reference test (None: ``samples``), e.g. with exact ties.
    reference_samples: Callable = None
    #: ``(sample, dout) -> S``: the scale of the VJP comparison when the gradient is computed by
    #: cancellation (None: max |reference gradient|). See :mod:`parity_tests.tolerances`.
    vjp_scale: Callable = None
    #: ``sample -> S`` for the forward comparison, when the output can be much smaller than the
    #: terms it is computed from (None: max |reference output|).
    forward_scale: Callable = None
    gradcheck: object = field(default_factory=GradCheck)
    benchmark: Benchmark = None
    doc: str = ""

    def tolerance(self, dtype):
        """The tolerance in ``dtype`` ("float32" / "float64")."""
        return self.tolerances[str(dtype)]

    # --- TensorFlow, resolved on first use ----------------------------------------------------------
    @property
    def tf_fn(self):
        """The TensorFlow twin, ``tf_nn.functional.<tf_twin>`` (imports TensorFlow)."""
        return getattr(importlib.import_module("tf_nn.functional"), self.tf_twin)

    # --- running both sides ---------------------------------------------------------------------
    def run_numpy(self, sample):
        """``(out, cache)`` from the NumPy forward."""
        return self.forward(*sample.args, **sample.kwargs)

    def run_tensorflow(self, sample):
        """TensorFlow's forward output as a NumPy array."""
        return self.tf_fn(*sample.args, **sample.kwargs).numpy()

    def numpy_vjp(self, sample, dout, cache=None):
        """NumPy's gradients of ``sum(out * dout)`` for the inputs in ``grad_argnums`` (None for an
        absent bias), as a tuple."""
        if cache is None:
            _, cache = self.run_numpy(sample)
        return as_tuple(self.backward(dout, cache))

    def reference_vjp(self, sample, dout):
        """``(out, gradients)`` of the plain reference."""
        out, cache = self.reference_forward(*sample.args, **sample.kwargs)
        return out, as_tuple(self.reference_backward(dout, cache))

    def tensorflow_vjp(self, sample, dout):
        from tf_nn.functional import vjp

        grads = vjp(self.tf_fn, sample.args, dout, **sample.kwargs)
        return tuple(grads[i] for i in self.grad_argnums)

    def grad_names(self, sample):
        names = sample.names or tuple(f"arg{i}" for i in range(len(sample.args)))
        return tuple(names[i] for i in self.grad_argnums)


def as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def _arr(*shape, dtype="float32", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --- error inputs (each must raise the documented error in numpy_nn) ----------------------------
def _unary_errors():
    return [
        ErrorInput("integer input", (np.arange(6).reshape(2, 3),), {}, TypeError, "floating-point", words=("x", "int")),
        ErrorInput("a list, not an array", ([[1.0, 2.0]],), {}, TypeError, "must be an array", words=("x", "list")),
    ]


def _softmax_errors():
    return _unary_errors() + [
        ErrorInput("axis out of range", (_arr(2, 3),), {"axis": 2}, ValueError, "axis must be an int", tf_raises=True,
                   words=("axis", "2", "(2, 3)")),
        ErrorInput("axis not an int", (_arr(2, 3),), {"axis": 1.0}, ValueError, "axis must be an int"),
    ]


def _loss_errors(scores="logits"):
    x = _arr(3, 4)
    if scores == "probs":
        x = np.full((3, 4), 0.25, dtype="float32")
    return [
        ErrorInput("class id out of range", (x, np.array([0, 4, 1])), {}, ValueError, r"class ids in \[0, 3\]", tf_raises="cpu",
                   words=("labels", "[0, 3]", "4")),
        ErrorInput("negative class id", (x, np.array([0, -1, 1])), {}, ValueError, r"class ids in \[0, 3\]", tf_raises="cpu",
                   words=("labels", "-1")),
        ErrorInput("float class ids", (x, np.array([0.0, 1.0, 2.0])), {}, TypeError, "integer class ids",
                   words=("labels", "integer", "float64")),
        ErrorInput("wrong number of labels", (x, np.array([0, 1])), {}, ValueError, "length 3", tf_raises=True,
                   words=("labels", "length 3", "(2,)")),
        ErrorInput("label rows not summing to 1", (x, np.full((3, 4), 0.5, dtype="float32")), {}, ValueError, "sum to 1",
                   words=("labels", "sum to 1")),
        ErrorInput("label rows of the wrong width", (x, np.eye(3, dtype="float32")), {}, ValueError, r"shape \(3, 4\)",
                   tf_raises=True, words=("labels", "(3, 4)", "(3, 3)")),
        ErrorInput("1-D scores", (x[0], np.array([1])), {}, ValueError, "2-D", words=(scores, "(4,)")),
        ErrorInput("empty batch", (x[:0], np.array([], dtype=np.int64)), {}, ValueError, "at least one example",
                   words=(scores, "(0, 4)")),
        ErrorInput("unknown reduction", (x, np.array([0, 1, 2])), {"reduction": "avg"}, ValueError, "reduction must be",
                   words=("reduction", "'avg'")),
        ErrorInput("integer scores", (np.ones((3, 4), dtype=np.int64), np.array([0, 1, 2])), {}, TypeError, "floating-point",
                   words=(scores, "int64")),
        ErrorInput("one-hot rows for a sparse loss", (x, np.eye(4, dtype="float32")[:3]), {"labels_kind": "sparse"},
                   ValueError, "sparse labels must be integer class ids", words=("(3,)", "float32", "(3, 4)")),
        ErrorInput("probability rows for a sparse loss", (x, np.full((3, 4), 0.25, dtype="float32")), {"labels_kind": "sparse"},
                   ValueError, "sparse labels must be integer class ids", words=("(3,)", "(3, 4)")),
        ErrorInput("class ids for a dense loss", (x, np.array([0, 1, 2])), {"labels_kind": "dense"}, ValueError,
                   "dense labels must be one-hot or probability rows", words=("(3, 4)", "int64", "(3,)")),
        ErrorInput("unknown labels_kind", (x, np.array([0, 1, 2])), {"labels_kind": "onehot"}, ValueError,
                   "labels_kind must be", words=("'onehot'",)),
        ErrorInput("NaN in a label row", (x, np.array([[1, 0, 0, 0], [0, np.nan, 1, 0], [0, 0, 1, 0]], dtype="float32")), {},
                   ValueError, "sum to 1", words=("labels", "row 1", "nan")),
    ]


def _dense_errors():
    x, w, b = _arr(2, 3), _arr(3, 4), _arr(4)
    return [
        ErrorInput("features do not match the kernel", (x, _arr(5, 4), b), {}, ValueError, "3 features but kernel expects 5",
                   tf_raises=True, words=("(5, 4)",)),
        ErrorInput("mixed float32 / float64", (x, w.astype("float64"), None), {}, TypeError, "cast one of them", tf_raises=True,
                   words=("kernel", "float64", "float32")),
        ErrorInput("bias of the wrong length", (x, w, _arr(3)), {}, ValueError, r"bias must have shape \(4,\)", tf_raises=True,
                   words=("(3,)",)),
        ErrorInput("3-D input", (_arr(2, 3, 1), w, b), {}, ValueError, "must be 2-D", words=("x", "(2, 3, 1)")),
        ErrorInput("integer input", (np.ones((2, 3), dtype=np.int32), w, b), {}, TypeError, "floating-point",
                   words=("x", "int32")),
        ErrorInput("a list, not an array", ([[1.0, 2.0, 3.0]], w, b), {}, TypeError, "must be an array", words=("x", "list")),
    ]


def _conv_errors():
    x, w = _arr(1, 5, 5, 2), _arr(3, 3, 2, 4)
    return [
        ErrorInput("3-D input (no batch axis)", (x[0], w), {}, ValueError, "4-D NHWC", tf_raises=True,
                   words=("x", "(5, 5, 2)")),
        ErrorInput("3-D kernel", (x, w[0]), {}, ValueError, "4-D", words=("kernel", "(3, 2, 4)")),
        ErrorInput("channels do not match the kernel", (_arr(1, 5, 5, 3), w), {}, ValueError, "3 channels but kernel expects 2",
                   tf_raises=True),
        ErrorInput("kernel larger than the input with 'valid'", (_arr(1, 2, 5, 2), w), {}, ValueError, "larger than",
                   words=("kernel height 3", "2")),
        ErrorInput("unknown padding", (x, w), {"padding": "full"}, ValueError, "padding must be", tf_raises=True,
                   words=("'full'",)),
        ErrorInput("stride 0", (x, w), {"stride": 0}, ValueError, "stride must be a positive", tf_raises=True, words=("0",)),
        ErrorInput("mixed float32 / float64", (x, w.astype("float64")), {}, TypeError, "cast one of them", tf_raises=True,
                   words=("kernel", "float64", "float32")),
        ErrorInput("bias of the wrong length", (x, w, _arr(3)), {}, ValueError, r"bias must have shape \(4,\)", tf_raises=True,
                   words=("(3,)",)),
        ErrorInput("integer input", (x.astype(np.int32), w), {}, TypeError, "floating-point", words=("x", "int32")),
        ErrorInput("stride beyond int32", (x, w), {"stride": 2**31}, ValueError, "stride must be at most", tf_raises=True,
                   words=("2147483647", "2147483648")),
        ErrorInput("stride of 2**62", (x, w), {"stride": 2**62, "padding": "same"}, ValueError, "stride must be at most",
                   tf_raises=True, words=("4611686018427387904",)),
        ErrorInput("kernel with a zero-length axis", (x, w[:0]), {}, ValueError, "no zero-length axis", tf_raises=True,
                   words=("kernel", "(0, 3, 2, 4)")),
        ErrorInput("input and kernel with 0 channels", (x[..., :0], w[:, :, :0]), {}, ValueError, "no zero-length axis",
                   tf_raises=True, words=("kernel", "(3, 3, 0, 4)")),
        ErrorInput("kernel with 0 filters", (x, w[..., :0]), {}, ValueError, "no zero-length axis",
                   words=("kernel", "(3, 3, 2, 0)")),
    ]


def _pool_errors():
    x = _arr(1, 4, 4, 2)
    return [
        ErrorInput("3-D input", (x[0],), {}, ValueError, "4-D NHWC", tf_raises=True, words=("x", "(4, 4, 2)")),
        ErrorInput("pool larger than the input with 'valid'", (x,), {"pool_size": 5}, ValueError, "larger than",
                   words=("pool_size",)),
        ErrorInput("pool size 0", (x,), {"pool_size": 0}, ValueError, "pool_size must be a positive", tf_raises=True),
        ErrorInput("unknown padding", (x,), {"padding": "full"}, ValueError, "padding must be", tf_raises=True,
                   words=("'full'",)),
        ErrorInput("integer input", (np.ones((1, 4, 4, 2), dtype=np.uint8),), {}, TypeError, "floating-point",
                   words=("x", "uint8")),
        ErrorInput("stride beyond int32", (x,), {"stride": 2**31, "padding": "same"}, ValueError, "stride must be at most",
                   tf_raises=True, words=("2147483647", "2147483648")),
        ErrorInput("pool_size beyond int32", (x,), {"pool_size": 2**31, "stride": 1, "padding": "same"}, ValueError,
                   "pool_size must be at most", tf_raises=True, words=("2147483647", "2147483648")),
        ErrorInput("a 5,000-digit stride", (x,), {"stride": 10**5000}, ValueError, "stride must be at most",
                   words=("an int of 16610 bits",)),
        ErrorInput("an infinite pool_size", (x,), {"pool_size": (float("inf"), 2)}, ValueError, "pool_size must be a positive",
                   words=("(inf, 2)",)),
    ]


def _dropout_errors():
    x = _arr(2, 3)
    return [
        ErrorInput("rate 1 (nothing kept)", (x,), {"rate": 1.0}, ValueError, r"rate must be a number in \[0, 1\)",
                   words=("1.0",)),
        ErrorInput("negative rate", (x,), {"rate": -0.1}, ValueError, r"rate must be a number in \[0, 1\)", words=("-0.1",)),
        ErrorInput("mask of the wrong shape", (x,), {"rate": 0.5, "mask": np.ones((3, 2), bool)}, ValueError,
                   "mask must be a boolean array", words=("(2, 3)", "(3, 2)")),
        ErrorInput("mask not boolean", (x,), {"rate": 0.5, "mask": np.ones((2, 3))}, ValueError, "mask must be a boolean array"),
        ErrorInput("integer input", (np.ones((2, 3), dtype=np.int32),), {"rate": 0.5}, TypeError, "floating-point",
                   words=("x", "int32")),
    ]


def _flatten_errors():
    return _unary_errors()[:1] + [
        ErrorInput("a 0-d array (no batch axis)", (np.array(1.0, dtype="float32"),), {}, ValueError, "batch axis", tf_raises=True),
    ]


def _batchnorm_errors():
    x, c = _arr(4, 3), np.ones(3, dtype="float32")

    def args(**replaced):  # (x, gamma, beta, moving_mean, moving_var), some replaced
        return tuple(replaced.get(k, v) for k, v in (("x", x), ("gamma", c), ("beta", c), ("mm", c), ("mv", c)))

    return [
        ErrorInput("integer input", args(x=np.ones((4, 3), dtype=np.int32)), {"training": True}, TypeError,
                   "floating-point", words=("x", "int32")),
        ErrorInput("1-D input (no batch axis)", args(x=x[0]), {"training": True}, ValueError, "at least 2-D",
                   words=("x", "(3,)")),
        ErrorInput("gamma of the wrong length", args(gamma=np.ones(4, "float32")), {"training": True}, ValueError,
                   r"gamma must have shape \(3,\)", tf_raises=True, words=("(4,)",)),
        ErrorInput("moving_var of the wrong length", args(mv=np.ones(2, "float32")), {"training": False}, ValueError,
                   r"moving_var must have shape \(3,\)", tf_raises=True, words=("(2,)",)),
        ErrorInput("moving_mean missing", args(mm=None), {"training": False}, TypeError, "moving_mean must be an array",
                   words=("NoneType",)),
        ErrorInput("mixed float32 / float64", args(beta=c.astype("float64")), {"training": True}, TypeError,
                   "cast one of them", tf_raises=True, words=("beta", "float64", "float32")),
        ErrorInput("training not a bool", args(), {"training": "yes"}, TypeError, "training must be True or False",
                   words=("'yes'",)),
        ErrorInput("momentum above 1", args(), {"training": True, "momentum": 1.5}, ValueError,
                   r"momentum must be a number in \[0, 1\]", words=("1.5",)),
        ErrorInput("epsilon 0", args(), {"training": True, "epsilon": 0.0}, ValueError,
                   "epsilon must be a positive finite number", words=("0.0",)),
        ErrorInput("axis out of range", args(), {"training": True, "axis": 2}, ValueError, "axis must be an int",
                   words=("axis", "2", "(4, 3)")),
        ErrorInput("the batch axis", args(), {"training": True, "axis": 0}, ValueError, "must not be the batch axis",
                   words=("axis", "0")),
        ErrorInput("an empty batch in training", args(x=x[:0]), {"training": True}, ValueError,
                   "at least one value per channel", words=("(0, 3)",)),
    ]


# --- comparison scales ----------------------------------------------------------------------------
def _dout_scale(factor):
    """For ``dx = dout * f'(x)`` with ``f'`` computed by cancellation (``1 - y**2``, ``y * (1 - y)``):
    the absolute error is ~eps * |dout| * max|f'| however small ``f'(x)`` itself is."""
    return lambda sample, dout: factor * float(np.max(np.abs(dout), initial=0.0))


def _axis_sum_scale(sample, dout):
    """For log-softmax, ``dx = dout - softmax(x) * sum(dout)``: the terms are as large as the sum of
    |dout| along the axis."""
    axis = sample.kwargs.get("axis", -1)
    return float(np.max(np.abs(dout).sum(axis=axis), initial=0.0))


def _loss_scale(sample, dout):
    """For the cross-entropies, ``dlogits = (p - t) * dloss`` (divided by N for the mean): entries
    near 0 come from cancelling p against t, so the scale is |dloss| (/ N)."""
    n = sample.args[0].shape[0]
    return float(np.max(np.abs(dout), initial=0.0)) / (n if sample.kwargs.get("reduction", "mean") == "mean" else 1)


def _loss_forward_scale(sample):
    """For the cross-entropies, each per-example loss ``log(sum_c exp z_c) - z_y`` (or ``-log c_y``) is
    computed from terms of size >= 1 (the sum is >= 1) and has an absolute error of ~eps even when the
    loss itself is ~1e-5 (a confident right answer): the scale is 1 per example, N for ``"sum"``."""
    n = sample.args[0].shape[0]
    return float(n) if sample.kwargs.get("reduction", "mean") == "sum" else 1.0


def _overlap_scale(sample, dout):
    """For the pools, a pixel in several overlapping windows sums their dout entries (in another
    order than TensorFlow): the scale is |dout|."""
    return float(np.max(np.abs(dout), initial=0.0))


def _input_scale(sample):
    """For average pooling, a window's mean of values of either sign can be far smaller than the
    values it is computed from: the scale is max |x|."""
    return float(np.max(np.abs(sample.args[0]), initial=0.0))


def _batchnorm_terms(sample):
    """Per channel, in float64 on the sample's numbers: ``x``, the reduction axes, the mean and
    sigma the op normalises with (batch or moving), ``|gamma| / sigma`` and ``|beta|``, all
    broadcastable to ``x``."""
    x, gamma, beta, moving_mean, moving_var = (None if a is None else np.asarray(a, np.float64) for a in sample.args)
    axis = sample.kwargs["axis"] % x.ndim
    axes = tuple(a for a in range(x.ndim) if a != axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    if sample.kwargs["training"]:
        mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mu, var = moving_mean.reshape(shape), moving_var.reshape(shape)
    sigma = np.sqrt(var + sample.kwargs["epsilon"])
    g = np.ones(shape) if gamma is None else np.abs(gamma).reshape(shape)
    b = np.zeros(shape) if beta is None else np.abs(beta).reshape(shape)
    return x, axes, mu, sigma, g / sigma, b


def _batchnorm_forward_scale(sample):
    """For batch normalization's forward, TensorFlow's ``y = x * inv + (beta - mu * inv)`` (``inv =
    gamma / sigma``) is a difference of terms of size ``|x| |inv|``, ``|mu| |inv|`` and ``|beta|``:
    an entry near its channel's mean, or with ``beta ~ -gamma * xhat``, is far smaller than they
    are. The scale is the largest sum of the three."""
    x, _, mu, _, a, b = _batchnorm_terms(sample)
    return float(np.max(np.abs(x) * a + np.abs(mu) * a + b, initial=0.0))


def _batchnorm_vjp_scale(sample, dout):
    """For batch normalization's gradients, the largest term any of the three is computed from, per
    channel (sums over its M entries): ``dbeta = sum(dout)``: ``sum|dout|``; ``dgamma``, which
    TensorFlow forms as ``(sum(dout * x) - mu * sum(dout)) / sigma``: ``(sum|dout x| + |mu| sum|dout|)
    / sigma``; ``dx = (gamma / sigma) * (dout - mean(dout) - xhat * mean(dout * xhat))`` in training
    (for M = 2 only ~epsilon / var of its terms), whose variance path TensorFlow forms from the
    same difference: ``|gamma| / sigma * (max|dout| + mean|dout| + max|xhat| (mean|dout x| + |mu|
    mean|dout|) / sigma)``; at inference ``|gamma| / sigma * max|dout|``."""
    x, axes, mu, sigma, a, _ = _batchnorm_terms(sample)
    d = np.abs(np.asarray(dout, np.float64))
    count = max(1, x.size // max(1, mu.size))
    total, moment = d.sum(axis=axes, keepdims=True), (d * np.abs(x)).sum(axis=axes, keepdims=True)
    dgamma = (moment + np.abs(mu) * total) / sigma
    dmax = d.max(axis=axes, keepdims=True, initial=0.0)
    if sample.kwargs["training"]:
        xhat = np.abs(x - mu).max(axis=axes, keepdims=True, initial=0.0) / sigma
        dx = a * (dmax + total / count + xhat * dgamma / count)
    else:
        dx = a * dmax
    return float(max(np.max(total, initial=0.0), np.max(dgamma, initial=0.0), np.max(dx, initial=0.0)))


# --- benchmark inputs and work counts ------------------------------------------------------------
def _uniform(rng, shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def _out_hw(h, w, window, stride, padding, what="kernel"):
    (oh, ow), _ = F.output_geometry((h, w), (window, window), (stride, stride), padding, "benchmark", what=what)
    return oh, ow


def _dense_bench_inputs(size, seed=0):
    b, d_in, d_out = size
    rng = np.random.default_rng(seed)
    return S.Sample((_uniform(rng, (b, d_in)), _uniform(rng, (d_in, d_out), -0.05, 0.05), _uniform(rng, (d_out,))),
                    {}, seed, ("x", "kernel", "bias"))


def _conv_bench_inputs(size, seed=0):
    b, h, w, c_in, c_out, k, s, pad = size
    rng = np.random.default_rng(seed)
    return S.Sample((_uniform(rng, (b, h, w, c_in)), _uniform(rng, (k, k, c_in, c_out), -0.1, 0.1), _uniform(rng, (c_out,))),
                    {"stride": s, "padding": pad}, seed, ("x", "kernel", "bias"))


def _conv_flops(size):
    b, h, w, c_in, c_out, k, s, pad = size
    oh, ow = _out_hw(h, w, k, s, pad)
    return 2.0 * b * oh * ow * k * k * c_in * c_out


def _pool_bench_inputs(size, seed=0):
    b, h, w, c, pool, s, pad = size
    return S.Sample((_uniform(np.random.default_rng(seed), (b, h, w, c)),), {"pool_size": pool, "stride": s, "padding": pad},
                    seed, ("x",))


def _pool_bytes(size, mode):
    """float32 bytes read and written: x in, y out; the backward reads dout and writes dx."""
    b, h, w, c, pool, s, pad = size
    oh, ow = _out_hw(h, w, pool, s, pad, "pool_size")
    fwd = 4 * b * c * (h * w + oh * ow)
    return fwd if mode == "forward" else 2 * fwd


def _pool_benchmark(group, title):
    return Benchmark(
        group=group, title=title,
        full=((32, 26, 26, 32, 2, 2, "valid"), (128, 26, 26, 32, 2, 2, "valid"), (64, 32, 32, 64, 3, 2, "same"),
              (16, 56, 56, 64, 2, 2, "valid")),
        quick=((8, 26, 26, 8, 2, 2, "valid"), (4, 11, 11, 4, 3, 2, "same")),
        inputs=_pool_bench_inputs,
        label=lambda s: f"{s[0]}x{s[1]}x{s[2]}x{s[3]} pool{s[4]} s{s[5]} {s[6]}",
        params=lambda s: dict(zip(("batch", "H", "W", "C", "pool", "stride", "padding"), s)),
        size=lambda p: p["batch"] * p["H"] * p["W"] * p["C"], size_label="input elements",
        bytes=_pool_bytes)


def _softmax_ce_bench_inputs(size, seed=0):
    b, classes = size
    rng = np.random.default_rng(seed)
    return S.Sample((_uniform(rng, (b, classes), -3, 3), rng.integers(0, classes, b).astype(np.int64)), {}, seed,
                    ("logits", "labels"))


# --- the catalogue ------------------------------------------------------------------------------------
OPS = [
    OpInfo(name="relu", forward=F.relu_forward, backward=F.relu_backward, tf_twin="relu",
           samples=lambda d: S.elementwise(d, "off_kink"), grad_argnums=(0,), error_inputs=_unary_errors,
           tolerances=by_dtype(0.0, 0.0), tolerance_reason="max(x, 0) and its mask are exact",
           doc="max(x, 0); inputs off the kink at 0"),
    OpInfo(name="dropout", forward=F.dropout_forward, backward=F.dropout_backward, tf_twin="dropout",
           samples=S.dropout_inputs, grad_argnums=(0,), error_inputs=_dropout_errors,
           tolerances=by_dtype(3e-7, 0.0), tolerance_reason="x * mask * (1/(1-rate)): two roundings",
           # linear in x, so central differences are exact for any h; h=1e-5 let the roundoff of
           # sum(out * dout) over ~650 entries reach 1.8e-6 of an entry (a drawn example)
           gradcheck=GradCheck(h=1e-2),
           doc="injected mask; training on/off"),
    OpInfo(name="flatten", forward=F.flatten_forward, backward=F.flatten_backward, tf_twin="flatten",
           samples=S.flatten_inputs, grad_argnums=(0,), error_inputs=_flatten_errors,
           tolerances=by_dtype(0.0, 0.0), tolerance_reason="a reshape: exact"),
    OpInfo(name="sigmoid", forward=F.sigmoid_forward, backward=F.sigmoid_backward, tf_twin="sigmoid",
           samples=S.elementwise, grad_argnums=(0,), error_inputs=_unary_errors, vjp_scale=_dout_scale(0.25),
           tolerances=by_dtype(2e-6, 1e-14), tolerance_reason="exp and a division: a few ulps",
           gradcheck=GradCheck(samples=lambda d: S.elementwise(d, scales=(1.0, 3.0))),
           doc="1 / (1 + exp(-x)), saturating inputs included"),
    OpInfo(name="tanh", forward=F.tanh_forward, backward=F.tanh_backward, tf_twin="tanh",
           samples=S.elementwise, grad_argnums=(0,), error_inputs=_unary_errors, vjp_scale=_dout_scale(1.0),
           tolerances=by_dtype(2e-6, 1e-14), tolerance_reason="tanh implementations: a few ulps",
           gradcheck=GradCheck(samples=lambda d: S.elementwise(d, scales=(1.0, 2.0))),
           doc="saturating inputs included"),
    OpInfo(name="softmax", forward=F.softmax_forward, backward=F.softmax_backward, tf_twin="softmax",
           samples=S.softmax_inputs, grad_argnums=(0,), error_inputs=_softmax_errors, vjp_scale=_dout_scale(1.0),
           tolerances=by_dtype(2e-6, 1e-14), tolerance_reason="exp, a sum over the axis, a division",
           gradcheck=GradCheck(samples=lambda d: S.softmax_inputs(d, scales=(1.0, 3.0), shifts=(0.0,))),
           doc="any axis; logits shifted by 100 and scaled up to 30"),
    OpInfo(name="log_softmax", forward=F.log_softmax_forward, backward=F.log_softmax_backward, tf_twin="log_softmax",
           samples=S.softmax_inputs, grad_argnums=(0,), error_inputs=_softmax_errors, vjp_scale=_axis_sum_scale,
           tolerances=by_dtype(2e-6, 1e-14), tolerance_reason="exp, log of a sum",
           gradcheck=GradCheck(samples=lambda d: S.softmax_inputs(d, scales=(1.0, 3.0), shifts=(0.0,))),
           doc="any axis; logits shifted by 100 and scaled up to 30"),
    OpInfo(name="softmax_cross_entropy", forward=F.softmax_cross_entropy_forward, backward=F.softmax_cross_entropy_backward,
           tf_twin="softmax_cross_entropy", samples=S.logits_and_labels, grad_argnums=(0,), error_inputs=_loss_errors,
           tolerances=by_dtype(1e-5, 1e-13), tolerance_reason="log-sum-exp then a mean over the batch",
           vjp_scale=_loss_scale, forward_scale=_loss_forward_scale,
           gradcheck=GradCheck(samples=lambda d: S.logits_and_labels(d, scales=(0.5, 3.0))),
           benchmark=Benchmark(
               group="softmax_ce", title="Softmax cross-entropy (sparse labels, mean)",
               full=((32, 10), (128, 10), (512, 1000), (128, 10000)), quick=((32, 10),),
               inputs=_softmax_ce_bench_inputs, label=lambda s: f"{s[0]}x{s[1]}",
               params=lambda s: {"batch": s[0], "classes": s[1]},
               size=lambda p: p["batch"] * p["classes"], size_label="batch x classes"),
           doc="from_logits=True; sparse, one-hot and soft labels; mean/sum/none"),
    OpInfo(name="cross_entropy", forward=F.cross_entropy_forward, backward=F.cross_entropy_backward,
           tf_twin="cross_entropy", samples=S.probs_and_labels, grad_argnums=(0,),
           tolerances=by_dtype(1e-5, 1e-13), tolerance_reason="renormalise, clip, log, mean (Keras semantics)",
           error_inputs=lambda: _loss_errors("probs"), vjp_scale=_loss_scale, forward_scale=_loss_forward_scale,
           # moderate curvature; h=2e-6: with 1e-5 the truncation error reached 2.4e-6 of the largest entry
           gradcheck=GradCheck(samples=lambda d: S.probs_and_labels(d, clipped=False, low=0.3), h=2e-6),
           doc="from_logits=False (Keras clipping); clipped entries included (not in the finite differences)"),
    OpInfo(name="dense", forward=F.dense_forward, backward=F.dense_backward, tf_twin="dense",
           samples=S.dense_inputs, grad_argnums=(0, 1, 2), error_inputs=_dense_errors,
           tolerances=by_dtype(2e-5, 1e-12), tolerance_reason="matmul: K-term sums (BLAS, Eigen or oneDNN order)",
           benchmark=Benchmark(
               group="dense", title="Dense (x @ kernel + bias)",
               full=((32, 784, 128), (128, 784, 128), (32, 21632, 128), (128, 21632, 128), (256, 1024, 1024)),
               quick=((32, 784, 128),), inputs=_dense_bench_inputs, label=lambda s: f"{s[0]}x{s[1]} -> {s[2]}",
               params=lambda s: {"batch": s[0], "in": s[1], "out": s[2]},
               size=lambda p: 2.0 * p["batch"] * p["in"] * p["out"], size_label="GEMM flops of the forward",
               flops=lambda s: 2.0 * s[0] * s[1] * s[2]),
           doc="with and without bias"),
    OpInfo(name="conv2d", forward=F.conv2d_forward, backward=F.conv2d_backward, tf_twin="conv2d",
           reference_forward=F.conv2d_forward_reference, reference_backward=F.conv2d_backward_reference,
           samples=S.conv2d_inputs, grad_argnums=(0, 1, 2), error_inputs=_conv_errors,
           tolerances=by_dtype(2e-5, 1e-12),
           tolerance_reason="im2col GEMM vs Eigen's or oneDNN's convolution: K-term sums",
           gradcheck=GradCheck(samples=lambda d: S.conv2d_inputs(d, extra=5, max_batch=2, max_channels=3)),
           benchmark=Benchmark(
               group="conv2d", title="Conv2D (im2col + GEMM)",
               full=((32, 28, 28, 1, 32, 3, 1, "valid"), (128, 28, 28, 1, 32, 3, 1, "valid"),
                     (32, 28, 28, 32, 64, 3, 1, "same"), (64, 32, 32, 16, 32, 3, 2, "same"),
                     (16, 56, 56, 64, 64, 3, 1, "same")),
               quick=((8, 28, 28, 1, 8, 3, 1, "valid"), (4, 12, 12, 4, 8, 3, 2, "same")),
               inputs=_conv_bench_inputs, label=lambda s: f"{s[0]}x{s[1]}x{s[2]}x{s[3]} k{s[5]} s{s[6]} {s[7]} -> {s[4]}",
               params=lambda s: dict(zip(("batch", "H", "W", "C_in", "C_out", "kernel", "stride", "padding"), s)),
               size=lambda p: _conv_flops(tuple(p[k] for k in ("batch", "H", "W", "C_in", "C_out", "kernel", "stride",
                                                               "padding"))),
               size_label="GEMM flops of the forward", flops=_conv_flops),
           doc="kernels 1-5, strides 1-3, valid/same"),
    OpInfo(name="maxpool2d", forward=F.maxpool2d_forward, backward=F.maxpool2d_backward, tf_twin="maxpool2d",
           reference_forward=F.maxpool2d_forward_reference, reference_backward=F.maxpool2d_backward_reference,
           reference_samples=lambda d: S.maxpool2d_inputs(d, ties=True),
           samples=S.maxpool2d_inputs, grad_argnums=(0,), error_inputs=_pool_errors, vjp_scale=_overlap_scale,
           tolerances=by_dtype(2e-6, 4e-15),
           tolerance_reason="forward selects an input (exact); overlapping windows sum up to 16 dout entries",
           gradcheck=GradCheck(samples=lambda d: S.maxpool2d_inputs(d, extra=5, max_batch=2)),
           benchmark=_pool_benchmark("maxpool2d", "MaxPool2D"),
           doc="pools 1-4, strides 1-3 or default, valid/same; no near-ties (exact ties against the reference)"),
    OpInfo(name="avgpool2d", forward=F.avgpool2d_forward, backward=F.avgpool2d_backward, tf_twin="avgpool2d",
           reference_forward=F.avgpool2d_forward_reference, reference_backward=F.avgpool2d_backward_reference,
           samples=S.avgpool2d_inputs, grad_argnums=(0,), error_inputs=_pool_errors, vjp_scale=_overlap_scale,
           tolerances=by_dtype(2e-6, 1e-14),
           tolerance_reason="a mean of up to 16 cells (scaled by the largest input); overlapping windows sum up to "
                            "16 dout/count entries",
           forward_scale=_input_scale,
           gradcheck=GradCheck(samples=lambda d: S.avgpool2d_inputs(d, extra=5, max_batch=2)),
           benchmark=_pool_benchmark("avgpool2d", "AveragePooling2D"),
           doc="pools 1-4, strides 1-3 or default, valid/same (borders average their real cells)"),
    OpInfo(name="batchnorm", forward=F.batchnorm_forward, backward=F.batchnorm_backward, tf_twin="batchnorm",
           reference_forward=F.batchnorm_forward_reference, reference_backward=F.batchnorm_backward_reference,
           samples=S.batchnorm_inputs, grad_argnums=(0, 1, 2), error_inputs=_batchnorm_errors,
           tolerances=by_dtype(2e-5, 1e-12),
           tolerance_reason="M-term sums per channel (mean, variance, dgamma, dbeta; M <= 108), scaled by their "
                            "terms: at most ~2 M roundings",
           forward_scale=_batchnorm_forward_scale, vjp_scale=_batchnorm_vjp_scale,
           # M >= 3 entries per channel: with M = 2 the output is +-1 up to epsilon, dx is ~epsilon / var of
           # its terms (1e-7 for a spread of 10) and its central differences round-off (~1e-10) against the
           # checker's 1e-5 absolute floor
           gradcheck=GradCheck(samples=lambda d: S.batchnorm_inputs(d, min_batch=3, max_side=4)),
           doc="2-D and NHWC, any non-batch axis; training (batch statistics) and inference (moving ones); "
               "gamma/beta or none"),
]

OPS_BY_NAME = {op.name: op for op in OPS}

#: The ops with a plain reference beside their fast path, and those with benchmark rows.
WITH_REFERENCE = [op for op in OPS if op.reference_forward is not None]
BENCHMARKED = [op for op in OPS if op.benchmark is not None]


def get(name):
    return OPS_BY_NAME[name]


def benchmark_group(group):
    """The op whose benchmark rows have this results.json ``group`` (None: not an op group)."""
    return next((op for op in BENCHMARKED if op.benchmark.group == group), None)
