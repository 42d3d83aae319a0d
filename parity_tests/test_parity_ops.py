"""Every functional op of numpy_nn against TensorFlow, generated from the op catalogue.

For each op in ``registry.OPS`` and each dtype (float32, float64):

* forward parity: the entry's ``forward`` equals its twin ``tf_nn.functional.<tf_twin>`` (same
  dtype) on Hypothesis-drawn inputs and arguments (the entry's ``samples``);
* VJP parity: for a random upstream gradient, numpy_nn's ``<op>_backward`` equals TensorFlow's
  GradientTape gradient for every differentiable input.

float64 results are compared directly, within the op's tight float64 tolerance. float32 results are
judged by the float64 oracle (``assertions.compare_with_oracle``): both frameworks also run the example
in float64, which must agree; then each float32 result's error against it must be within the op's cap,
and neither framework may be much less accurate than the other.
(The catalogue's bad inputs are tested in ``test_error_inputs.py``: TensorFlow's side of them runs in
a child process, since some of them abort TensorFlow instead of raising. Finite differences,
fast-vs-reference and dtype checks of the same entries: ``test_gradcheck.py``,
``test_reference_paths.py``, ``test_catalogue.py``.)

Then a few known answers that the property tests deliberately avoid: exact max-pool ties, TF's
"same" padding split, overflow-free softmax, Keras's clipping.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

import numpy_nn.functional as F
import tf_nn.functional as TF

from .assertions import assert_parity, assert_same_dtype
from .registry import OPS, get
from .runtime import configure_for_parity
from .strategies import DTYPES, seeds, upstream

configure_for_parity()

ON_GPU = bool(tf.config.list_logical_devices("GPU"))
op_params = pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
dtype_params = pytest.mark.parametrize("dtype", DTYPES)


@dtype_params
@op_params
@given(data=st.data())
def test_forward_matches_tensorflow(op, dtype, data):
    """The op's forward equals its TensorFlow twin's on any drawn sample."""
    sample = data.draw(op.samples(dtype), label="sample")
    out, _ = op.run_numpy(sample)
    expected = op.run_tensorflow(sample)
    assert_same_dtype(out, expected, op=op.name)

    def oracle():
        s64 = sample.astype("float64")
        return op.run_numpy(s64)[0], op.run_tensorflow(s64)

    scale = op.forward_scale(sample) if op.forward_scale else None
    assert_parity(dtype, out, expected, oracle, op.tolerances, op=op.name, what="forward", sample=sample,
                  scale=scale)


@dtype_params
@op_params
@given(data=st.data())
def test_vjp_matches_tensorflow_for_a_random_upstream_gradient(op, dtype, data):
    """The op's backward equals TensorFlow's GradientTape VJP for every differentiable input."""
    sample = data.draw(op.samples(dtype), label="sample")
    out, _ = op.run_numpy(sample)
    dout = upstream(np.random.default_rng(data.draw(seeds, label="dout seed")), np.shape(out), dtype)
    ours = op.numpy_vjp(sample, dout)
    theirs = op.tensorflow_vjp(sample, dout)
    assert len(ours) == len(theirs), f"{op.name}: numpy returned {len(ours)} gradients, expected {len(theirs)}"
    oracle = {}
    if dtype == "float32":  # the same VJP in float64, on the same numbers
        s64, d64 = sample.astype("float64"), dout.astype(np.float64)
        oracle = dict(enumerate(zip(op.numpy_vjp(s64, d64), op.tensorflow_vjp(s64, d64))))
    scale = op.vjp_scale(sample, dout) if op.vjp_scale else None
    for k, (i, name, g, ref) in enumerate(zip(op.grad_argnums, op.grad_names(sample), ours, theirs)):
        if sample.args[i] is None:  # no bias: nothing to differentiate
            assert g is None, f"{op.name}: the gradient of an absent {name} should be None, got {type(g).__name__}"
            continue
        assert_same_dtype(g, ref, op=op.name, what=f"d{name}")
        assert_parity(dtype, g, ref, lambda k=k: oracle[k], op.tolerances, op=op.name,
                      what=f"d{name} (VJP)", sample=sample, scale=scale)


# --- known answers the properties avoid on purpose ---------------------------------------------
@pytest.mark.skipif(ON_GPU, reason="GPU max-pool gradients may route ties differently (documented)")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [1, 2])
def test_maxpool2d_routes_exact_ties_to_the_first_maximum_like_tensorflow(dtype, stride):
    x = np.array([[1, 3, 3, 0], [3, 2, 3, 3], [0, 0, 1, 1], [1, 1, 0, 1]], dtype=dtype).reshape(1, 4, 4, 1)
    y, cache = F.maxpool2d_forward(x, 2, stride)
    dout = upstream(np.random.default_rng(0), y.shape, dtype)
    (ref,) = TF.vjp(TF.maxpool2d, (x,), dout, pool_size=2, stride=stride)
    np.testing.assert_array_equal(F.maxpool2d_backward(dout, cache), ref)


@pytest.mark.parametrize("size, kernel, stride, padding", [
    (size, kernel, stride, padding)
    for size, kernel, stride in [(5, 2, 1), (6, 3, 2), (7, 4, 3), (2, 5, 1), (4, 1, 3)]
    for padding in ("same", "valid") if padding == "same" or kernel <= size])
def test_conv2d_same_padding_puts_the_odd_row_at_the_bottom_like_tensorflow(size, kernel, stride, padding):
    x = np.arange(size * size, dtype=np.float64).reshape(1, size, size, 1)
    w = np.zeros((kernel, kernel, 1, 1))
    w[0, 0, 0, 0] = 1.0   # picks each window's top-left pixel: shows exactly where the padding went
    y, _ = F.conv2d_forward(x, w, None, stride, padding)
    np.testing.assert_array_equal(y, TF.conv2d(x, w, None, stride, padding).numpy())


def _in_both_dtypes(dtype, fn, *args):
    """``fn(*args)`` as given, and the float64 oracle: the same call on the arguments cast to float64."""
    ours = fn(*args)
    return ours, (lambda: fn(*(a.astype(np.float64) if getattr(a, "dtype", None) == np.float32 else a for a in args)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family_stays_finite_for_huge_logits_like_tensorflow(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-3e4, -3e4, -3e4]], dtype=dtype)
    labels = np.array([1, 2])
    cases = [("softmax", lambda x: F.softmax_forward(x)[0], lambda x: TF.softmax(x).numpy()),
             ("log_softmax", lambda x: F.log_softmax_forward(x)[0], lambda x: TF.log_softmax(x).numpy()),
             ("softmax_cross_entropy", lambda x: F.softmax_cross_entropy_forward(x, labels, "none")[0],
              lambda x: TF.softmax_cross_entropy(x, labels, "none").numpy())]
    for name, numpy_fn, tf_fn in cases:
        ours, ours64 = _in_both_dtypes(dtype, numpy_fn, x)
        theirs, theirs64 = _in_both_dtypes(dtype, tf_fn, x)
        assert np.all(np.isfinite(ours))
        assert_parity(dtype, ours, theirs, lambda: (ours64(), theirs64()), get(name).tolerances, op=name,
                      what="forward on logits of +-1e4")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", [np.array([0, 1]), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])], ids=["sparse", "one-hot"])
def test_cross_entropy_clips_zero_probabilities_at_keras_epsilon(dtype, labels):
    probs = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype=dtype)   # the true class has probability 0
    labels = labels.astype(dtype) if labels.ndim == 2 else labels
    dout = np.array([0.7, -1.3], dtype=dtype)
    forward = lambda p, t: F.cross_entropy_forward(p, t, "none")[0]  # noqa: E731
    vjp = lambda p, t, d: F.cross_entropy_backward(d, F.cross_entropy_forward(p, t, "none")[1])  # noqa: E731
    tf_forward = lambda p, t: TF.cross_entropy(p, t, "none").numpy()  # noqa: E731
    tf_vjp = lambda p, t, d: np.asarray(TF.vjp(TF.cross_entropy, (p, t), d, reduction="none")[0])  # noqa: E731
    ours, ours64 = _in_both_dtypes(dtype, forward, probs, labels)
    theirs, theirs64 = _in_both_dtypes(dtype, tf_forward, probs, labels)
    assert np.all(ours > 15)  # -log(1e-7) = 16.1: finite, large, and the same in both
    tol = get("cross_entropy").tolerances
    assert_parity(dtype, ours, theirs, lambda: (ours64(), theirs64()), tol, op="cross_entropy", what="clipped loss",
                  scale=1.0)
    g, g64 = _in_both_dtypes(dtype, vjp, probs, labels, dout)
    ref, ref64 = _in_both_dtypes(dtype, tf_vjp, probs, labels, dout)
    assert_parity(dtype, g, ref, lambda: (g64(), ref64()), tol, op="cross_entropy", what="gradient through the clip",
                  scale=float(np.max(np.abs(dout))))


def test_softmax_cross_entropy_gradient_is_exact_for_label_rows_not_summing_to_1():
    """d/dz of -sum_c t_c log softmax(z)_c is p * sum(t) - t, which TensorFlow's autodiff gives with op
    determinism on (configure_for_parity; TensorFlow then composes the loss from log-softmax) and
    numpy_nn gives always; the shortcut p - t is off by p * (sum(t) - 1). Float32 label rows, held in
    float64, sum to 1 only within ~1e-7: enough to tell the two apart."""
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((8, 4)) * 3).astype(np.float32).astype(np.float64)
    t = rng.dirichlet(np.ones(4), size=8).astype(np.float32).astype(np.float64)
    assert np.max(np.abs(t.sum(axis=1) - 1)) > 1e-9
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    exact = (p * t.sum(axis=1, keepdims=True) - t) * 0.7
    _, cache = F.softmax_cross_entropy_forward(z, t, "sum")
    ours = F.softmax_cross_entropy_backward(np.float64(0.7), cache)
    (theirs,) = TF.vjp(TF.softmax_cross_entropy, (z, t), np.float64(0.7), reduction="sum")[:1]
    tol = get("softmax_cross_entropy").tolerance("float64").atol
    assert np.max(np.abs(ours - exact)) <= tol * np.max(np.abs(exact))
    assert np.max(np.abs(np.asarray(theirs) - exact)) <= tol * np.max(np.abs(exact)), \
        "TensorFlow's gradient is no longer p * sum(t) - t with op determinism on: update numpy_nn and the README"
    assert np.max(np.abs((p - t) * 0.7 - exact)) > 1e3 * tol * np.max(np.abs(exact))  # the shortcut is told apart
