"""The op registry: one :class:`OpInfo` per op, and every op test is generated from it.

An entry names the NumPy forward and backward, the TensorFlow function, a Hypothesis strategy for
the op's inputs and arguments, which inputs are differentiable, and the inputs the NumPy op must
refuse (with the documented exception). Its tolerances live in :mod:`parity_tests.tolerances`
under the same name. Adding an entry to :data:`OPS` adds its forward-parity, VJP-parity and
bad-input tests (``test_parity_ops.py``) and its row in the parity report.

This is PyTorch's OpInfo idea (reference implementation, sample inputs, error inputs, per-dtype
tolerances) with TensorFlow as the reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import numpy_nn.functional as F
import tf_nn.functional as TF

from . import strategies as S
from .tolerances import op_tolerance


@dataclass(frozen=True)
class ErrorInput:
    """A bad input and what the NumPy op must raise for it.

    ``tf_raises``: TensorFlow refuses it too (with its own error type) -- "cpu" where it refuses only
    on the CPU (on a GPU TensorFlow returns NaN instead of checking, e.g. out-of-range class ids)."""

    description: str
    args: tuple
    kwargs: dict
    error: type
    match: str
    tf_raises: object = False


@dataclass(frozen=True)
class OpInfo:
    """One op: how to run it in NumPy (forward returning ``(out, cache)``, backward returning the
    gradients of ``grad_argnums``) and in TensorFlow (``tf_fn``, same arguments), how to draw its
    inputs (``strategy(dtype)`` gives :class:`~parity_tests.strategies.Sample` s), and what it must
    refuse (``error_inputs()``)."""

    name: str
    numpy_forward: Callable
    numpy_backward: Callable
    tf_fn: Callable
    strategy: Callable            # dtype -> SearchStrategy[Sample]
    grad_argnums: tuple           # positional inputs that get gradients, in numpy_backward's order
    error_inputs: Callable = field(default=lambda: [])
    doc: str = ""
    #: ``(sample, dout) -> S``: the scale of the VJP comparison when the gradient is computed by
    #: cancellation (None: max |reference gradient|). See ``tolerances``.
    vjp_scale: Callable = None
    #: ``sample -> S`` for the forward comparison, when the output can be much smaller than the
    #: terms it is computed from (None: max |reference output|).
    forward_scale: Callable = None

    def samples(self, dtype):
        return self.strategy(dtype)

    def tolerance(self, dtype):
        return op_tolerance(self.name, dtype)

    # --- running both sides ----------------------------------------------------------------
    def run_numpy(self, sample):
        """``(out, cache)`` from the NumPy forward."""
        return self.numpy_forward(*sample.args, **sample.kwargs)

    def run_tensorflow(self, sample):
        """TensorFlow's forward output as a NumPy array."""
        return self.tf_fn(*sample.args, **sample.kwargs).numpy()

    def numpy_vjp(self, sample, dout):
        """NumPy's gradients of ``sum(out * dout)`` for the inputs in ``grad_argnums`` (None for an absent bias)."""
        _, cache = self.numpy_forward(*sample.args, **sample.kwargs)
        grads = self.numpy_backward(dout, cache)
        return grads if isinstance(grads, tuple) else (grads,)

    def tensorflow_vjp(self, sample, dout):
        grads = TF.vjp(self.tf_fn, sample.args, dout, **sample.kwargs)
        return tuple(grads[i] for i in self.grad_argnums)

    def grad_names(self, sample):
        names = sample.names or tuple(f"arg{i}" for i in range(len(sample.args)))
        return tuple(names[i] for i in self.grad_argnums)


def _arr(*shape, dtype="float32", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --- error inputs (each must raise the documented error in numpy_nn) ----------------------------
def _unary_errors():
    return [
        ErrorInput("integer input", (np.arange(6).reshape(2, 3),), {}, TypeError, "floating-point", tf_raises=False),
        ErrorInput("a list, not an array", ([[1.0, 2.0]],), {}, TypeError, "must be an array"),
    ]


def _softmax_errors():
    return _unary_errors() + [
        ErrorInput("axis out of range", (_arr(2, 3),), {"axis": 2}, ValueError, "axis must be an int", tf_raises=True),
        ErrorInput("axis not an int", (_arr(2, 3),), {"axis": 1.0}, ValueError, "axis must be an int"),
    ]


def _loss_errors(scores="logits"):
    x = _arr(3, 4)
    if scores == "probs":
        x = np.full((3, 4), 0.25, dtype="float32")
    return [
        ErrorInput("class id out of range", (x, np.array([0, 4, 1])), {}, ValueError, r"class ids in \[0, 3\]", tf_raises="cpu"),
        ErrorInput("negative class id", (x, np.array([0, -1, 1])), {}, ValueError, r"class ids in \[0, 3\]", tf_raises="cpu"),
        ErrorInput("float class ids", (x, np.array([0.0, 1.0, 2.0])), {}, TypeError, "integer class ids"),
        ErrorInput("wrong number of labels", (x, np.array([0, 1])), {}, ValueError, "length 3", tf_raises=True),
        ErrorInput("label rows not summing to 1", (x, np.full((3, 4), 0.5, dtype="float32")), {}, ValueError, "sum to 1"),
        ErrorInput("label rows of the wrong width", (x, np.eye(3, dtype="float32")), {}, ValueError, r"shape \(3, 4\)", tf_raises=True),
        ErrorInput("1-D scores", (x[0], np.array([1])), {}, ValueError, "2-D"),
        ErrorInput("empty batch", (x[:0], np.array([], dtype=np.int64)), {}, ValueError, "at least one example"),
        ErrorInput("unknown reduction", (x, np.array([0, 1, 2])), {"reduction": "avg"}, ValueError, "reduction must be"),
        ErrorInput("integer scores", (np.ones((3, 4), dtype=np.int64), np.array([0, 1, 2])), {}, TypeError, "floating-point"),
    ]


def _dense_errors():
    x, w, b = _arr(2, 3), _arr(3, 4), _arr(4)
    return [
        ErrorInput("features do not match the kernel", (x, _arr(5, 4), b), {}, ValueError, "3 features but kernel expects 5", tf_raises=True),
        ErrorInput("mixed float32 / float64", (x, w.astype("float64"), None), {}, TypeError, "cast one of them", tf_raises=True),
        ErrorInput("bias of the wrong length", (x, w, _arr(3)), {}, ValueError, r"bias must have shape \(4,\)", tf_raises=True),
        ErrorInput("3-D input", (_arr(2, 3, 1), w, b), {}, ValueError, "must be 2-D"),
        ErrorInput("integer input", (np.ones((2, 3), dtype=np.int32), w, b), {}, TypeError, "floating-point"),
    ]


def _conv_errors():
    x, w = _arr(1, 5, 5, 2), _arr(3, 3, 2, 4)
    return [
        ErrorInput("3-D input (no batch axis)", (x[0], w), {}, ValueError, "4-D NHWC", tf_raises=True),
        ErrorInput("channels do not match the kernel", (_arr(1, 5, 5, 3), w), {}, ValueError, "3 channels but kernel expects 2", tf_raises=True),
        ErrorInput("kernel larger than the input with 'valid'", (_arr(1, 2, 5, 2), w), {}, ValueError, "larger than"),
        ErrorInput("unknown padding", (x, w), {"padding": "full"}, ValueError, "padding must be", tf_raises=True),
        ErrorInput("stride 0", (x, w), {"stride": 0}, ValueError, "stride must be a positive", tf_raises=True),
        ErrorInput("mixed float32 / float64", (x, w.astype("float64")), {}, TypeError, "cast one of them", tf_raises=True),
        ErrorInput("bias of the wrong length", (x, w, _arr(3)), {}, ValueError, r"bias must have shape \(4,\)", tf_raises=True),
    ]


def _pool_errors():
    x = _arr(1, 4, 4, 2)
    return [
        ErrorInput("3-D input", (x[0],), {}, ValueError, "4-D NHWC", tf_raises=True),
        ErrorInput("pool larger than the input with 'valid'", (x,), {"pool_size": 5}, ValueError, "larger than"),
        ErrorInput("pool size 0", (x,), {"pool_size": 0}, ValueError, "pool_size must be a positive", tf_raises=True),
        ErrorInput("unknown padding", (x,), {"padding": "full"}, ValueError, "padding must be", tf_raises=True),
        ErrorInput("integer input", (np.ones((1, 4, 4, 2), dtype=np.int32),), {}, TypeError, "floating-point"),
    ]


def _dropout_errors():
    x = _arr(2, 3)
    return [
        ErrorInput("rate 1 (nothing kept)", (x,), {"rate": 1.0}, ValueError, r"rate must be a number in \[0, 1\)"),
        ErrorInput("negative rate", (x,), {"rate": -0.1}, ValueError, r"rate must be a number in \[0, 1\)"),
        ErrorInput("mask of the wrong shape", (x,), {"rate": 0.5, "mask": np.ones((3, 2), bool)}, ValueError, "mask must be a boolean array"),
        ErrorInput("mask not boolean", (x,), {"rate": 0.5, "mask": np.ones((2, 3))}, ValueError, "mask must be a boolean array"),
        ErrorInput("integer input", (np.ones((2, 3), dtype=np.int32),), {"rate": 0.5}, TypeError, "floating-point"),
    ]


def _flatten_errors():
    return _unary_errors()[:1] + [
        ErrorInput("a 0-d array (no batch axis)", (np.array(1.0, dtype="float32"),), {}, ValueError, "batch axis", tf_raises=True),
    ]


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
    """For max-pool, a pixel that wins several overlapping windows sums their dout entries (in
    another order than TensorFlow): the scale is |dout|."""
    return float(np.max(np.abs(dout), initial=0.0))


OPS = [
    OpInfo("relu", F.relu_forward, F.relu_backward, TF.relu, lambda d: S.elementwise(d, "off_kink"), (0,), _unary_errors,
           "max(x, 0); inputs off the kink at 0"),
    OpInfo("sigmoid", F.sigmoid_forward, F.sigmoid_backward, TF.sigmoid, S.elementwise, (0,), _unary_errors,
           "1 / (1 + exp(-x)), saturating inputs included", vjp_scale=_dout_scale(0.25)),
    OpInfo("tanh", F.tanh_forward, F.tanh_backward, TF.tanh, S.elementwise, (0,), _unary_errors,
           "saturating inputs included", vjp_scale=_dout_scale(1.0)),
    OpInfo("softmax", F.softmax_forward, F.softmax_backward, TF.softmax, S.softmax_inputs, (0,), _softmax_errors,
           "any axis; logits shifted by 100 and scaled up to 30", vjp_scale=_dout_scale(1.0)),
    OpInfo("log_softmax", F.log_softmax_forward, F.log_softmax_backward, TF.log_softmax, S.softmax_inputs, (0,),
           _softmax_errors, vjp_scale=_axis_sum_scale),
    OpInfo("softmax_cross_entropy", F.softmax_cross_entropy_forward, F.softmax_cross_entropy_backward,
           TF.softmax_cross_entropy, S.logits_and_labels, (0,), _loss_errors,
           "from_logits=True; sparse, one-hot and soft labels; mean/sum/none", vjp_scale=_loss_scale,
           forward_scale=_loss_forward_scale),
    OpInfo("cross_entropy", F.cross_entropy_forward, F.cross_entropy_backward, TF.cross_entropy, S.probs_and_labels,
           (0,), lambda: _loss_errors("probs"), "from_logits=False (Keras clipping); clipped entries included", vjp_scale=_loss_scale,
           forward_scale=_loss_forward_scale),
    OpInfo("dense", F.dense_forward, F.dense_backward, TF.dense, S.dense_inputs, (0, 1, 2), _dense_errors),
    OpInfo("conv2d", F.conv2d_forward, F.conv2d_backward, TF.conv2d, S.conv2d_inputs, (0, 1, 2), _conv_errors,
           "kernels 1-5, strides 1-3, valid/same"),
    OpInfo("maxpool2d", F.maxpool2d_forward, F.maxpool2d_backward, TF.maxpool2d, S.maxpool2d_inputs, (0,),
           _pool_errors, "pools 1-4, strides 1-3 or default, valid/same; no near-ties", vjp_scale=_overlap_scale),
    OpInfo("dropout", F.dropout_forward, F.dropout_backward, TF.dropout, S.dropout_inputs, (0,), _dropout_errors,
           "injected mask; training on/off"),
    OpInfo("flatten", F.flatten_forward, F.flatten_backward, TF.flatten, S.flatten_inputs, (0,), _flatten_errors),
]

OPS_BY_NAME = {op.name: op for op in OPS}


def get(name):
    return OPS_BY_NAME[name]
