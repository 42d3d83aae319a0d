"""The float64 oracle can fail: planted float32-only degradations are caught, the real code passes.

``assertions.compare_with_oracle`` judges a float32 result by each framework's error against the
float64 result on the same inputs. These tests plant, on the NumPy side (and once on TensorFlow's),
implementations that compute the right thing but lose float32 accuracy the other framework keeps,
and one that computes a slightly different thing, and check that each is caught by the condition
meant to catch it -- while the real numpy_nn op passes on exactly the same examples.
"""
from __future__ import annotations

import numpy as np
import pytest

import numpy_nn.functional as F

from .assertions import compare_with_oracle
from .registry import get
from .runtime import configure_for_parity
from .strategies import Sample
from .tolerances import TRAJECTORY_TOLERANCES

configure_for_parity()


def _verdict(op_name, numpy_forward, sample, tensorflow_side=None):
    """The oracle's verdict on ``numpy_forward`` (a planted or the real forward, run in float32 and in
    float64) for one float32 sample; with ``tensorflow_side`` given, that function plays TensorFlow's
    float32 result instead."""
    op = get(op_name)
    s64 = sample.astype("float64")
    np32 = numpy_forward(*sample.args, **sample.kwargs)[0]
    tf32 = op.run_tensorflow(sample) if tensorflow_side is None else tensorflow_side(*sample.args, **sample.kwargs)[0]
    scale = op.forward_scale(sample) if op.forward_scale else None
    tol = op.tolerances
    np64 = numpy_forward(*s64.args, **s64.kwargs)[0]
    return compare_with_oracle(np32, tf32, np64, op.run_tensorflow(s64), tol["float32"], tol["float64"], scale)


def _samples(make, seeds=range(6)):
    return [make(np.random.default_rng(seed), seed) for seed in seeds]


# --- planted implementations ------------------------------------------------------------------
def sigmoid_through_float16(x):
    """The right formula, rounded through float16 inside (11 significant bits instead of 24) -- in
    float32 only: a float32-only degradation."""
    if x.dtype != np.float32:
        return F.sigmoid_forward(x)
    out, cache = F.sigmoid_forward(x.astype(np.float16).astype(x.dtype))
    return out.astype(np.float16).astype(x.dtype), cache


def softmax_without_the_max_shift(x, axis=-1):
    """``exp(x) / sum exp(x)``: the same value in exact arithmetic; in float32 exp overflows above
    ~88.7 and loses its significant bits below ~-87 (subnormals)."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True), None


def dense_summed_for_maximal_cancellation(x, kernel, bias=None):
    """Each output a sequential float32 sum of its K products, largest first: the positive terms pile
    up before the negative ones cancel them, so every partial sum is as large as it can be and each
    addition rounds at that size. BLAS and Eigen sum in blocks whose partial sums stay small."""
    products = x[:, :, None] * kernel[None, :, :]                        # (N, K, F)
    ordered = np.take_along_axis(products, np.argsort(-products, axis=1), axis=1)
    out = np.cumsum(ordered, axis=1, dtype=x.dtype)[:, -1, :]            # (N, F), summed left to right
    return (out if bias is None else out + bias), None


def cross_entropy_clipped_at_1e8(probs, labels, reduction="mean"):
    """A different formula: clipping at 1e-8 instead of Keras's 1e-7 (a semantic difference)."""
    c = np.clip(probs, 1e-8, 1 - 1e-8)
    per_example = -np.log(c[np.arange(len(labels)), labels] / c.sum(axis=1))
    return {"mean": per_example.mean(), "sum": per_example.sum()}.get(reduction, per_example), None


def _sigmoid_sample(rng, seed):
    return Sample(((rng.standard_normal((4, 50)) * 3).astype("float32"),), {}, seed, ("x",))


def _softmax_sample(shift):
    return lambda rng, seed: Sample(((rng.standard_normal((3, 10)) * 3 + shift).astype("float32"),), {"axis": -1},
                                    seed, ("x",))


def _dense_sample(rng, seed, k=2048):
    x = rng.standard_normal((8, k)).astype("float32")
    kernel = (rng.standard_normal((k, 16)) / np.sqrt(k)).astype("float32")
    return Sample((x, kernel, None), {}, seed, ("x", "kernel", "bias"))


def _clipped_probs_sample(rng, seed):
    probs = rng.uniform(0.05, 1.0, size=(4, 5))
    probs[:, 0] = 5e-8   # between the planted clip (1e-8) and Keras's (1e-7)
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype("float32")
    return Sample((probs, np.array([0, 0, 1, 2])), {"reduction": "none"}, seed, ("probs", "labels"))


# --- the real ops pass, the planted ones are caught ---------------------------------------------
PLANTED = [
    pytest.param("sigmoid", sigmoid_through_float16, _sigmoid_sample, "exceeds the cap", id="float16-inside"),
    pytest.param("softmax", softmax_without_the_max_shift, _softmax_sample(95.0), "exceeds the cap",
                 id="no-max-shift-overflow"),
    pytest.param("softmax", softmax_without_the_max_shift, _softmax_sample(-100.0), "exceeds the cap",
                 id="no-max-shift-underflow"),
    pytest.param("dense", dense_summed_for_maximal_cancellation, _dense_sample, "more than 8x less accurate",
                 id="cancellation-ordered-sum"),
    pytest.param("cross_entropy", cross_entropy_clipped_at_1e8, _clipped_probs_sample, "float64 results differ",
                 id="other-clip-epsilon"),
]


@pytest.mark.parametrize("op_name, planted, make, reason", PLANTED)
def test_the_oracle_catches_a_planted_float32_degradation_and_passes_the_real_op(op_name, planted, make, reason):
    real = get(op_name).forward
    for sample in _samples(make):
        ok = _verdict(op_name, real, sample)
        assert ok.passed, f"the real {op_name} fails on {sample.describe()}:\n  {ok.describe()}"
        caught = _verdict(op_name, planted, sample)
        assert not caught.passed, f"{planted.__name__} passed on {sample.describe()}:\n  {caught.describe()}"
        assert reason in caught.failure, caught.failure


def test_a_cancellation_ordered_sum_is_caught_by_the_accuracy_ratio_although_it_is_under_the_cap():
    """The case that shows why the ratio is needed: every error is within the fixed table's cap (2e-5
    of the scale), yet NumPy's float32 result is more than ORACLE_RATIO times less accurate."""
    for sample in _samples(_dense_sample):
        caught = _verdict("dense", dense_summed_for_maximal_cancellation, sample)
        assert caught.e_np <= caught.cap and caught.e_tf <= caught.cap, caught.describe()
        assert "numpy's float32 result is more than" in caught.failure


def test_the_ratio_holds_both_ways_a_degraded_tensorflow_side_is_caught_too():
    sample = _samples(_dense_sample, [0])[0]
    caught = _verdict("dense", F.dense_forward, sample, tensorflow_side=dense_summed_for_maximal_cancellation)
    assert "tensorflow's float32 result is more than" in caught.failure, caught.describe()


@pytest.mark.slow
def test_a_training_run_that_loses_float32_accuracy_is_caught_step_by_step(monkeypatch):
    """The trajectory check (median drift from the float64 run) on the softmax model, with numpy_nn's
    float32 Dense rounded through float16: caught at the first step, while the real run passes."""
    from numpy_nn.zoo import TUTORIAL_MODELS
    from .lockstep import tutorial_trajectory_oracle

    from .assertions import OracleTrajectory

    tutorial, tol = TUTORIAL_MODELS["softmax"], TRAJECTORY_TOLERANCES["sgd"]
    real_dense = F.dense_forward

    def judge(steps):
        verdict = OracleTrajectory(tutorial.build(seed=0).get_weights(), tol["float32"], tol["float64"], typical=True)
        tutorial_trajectory_oracle(tutorial, "sgd", steps, 32, on_step=verdict.step)
        return verdict

    assert judge(5).failure is None
    monkeypatch.setattr(F, "dense_forward", lambda x, w, b=None: (
        real_dense(x, w, b) if x.dtype != np.float32 else
        (lambda out, cache: (out.astype(np.float16).astype(np.float32), cache))(*real_dense(x, w, b))))
    failure = judge(5).failure
    assert failure is not None and failure[1] == 1, failure
    assert "numpy" in failure[0].failure, failure[0].failure
