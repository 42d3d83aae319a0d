"""Every hand-written backward against float64 central differences (max relative error <= 1e-6).

Shapes, strides, paddings and kernel sizes are drawn by hypothesis; the values come from a NumPy
generator seeded by hypothesis (so they are dense, random and reproducible). ReLU inputs are kept at
least 0.05 away from the kink and max-pool windows have a clear gap between their values, so the
finite differences never straddle a non-differentiable point. Upstream gradients are random, never
all ones.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numpy_nn.functional as F
from numpy_nn.gradcheck import check_vjp, compare_gradients, numerical_gradient

TOL = 1e-6
seeds = st.integers(0, 2**32 - 1)
paddings = st.sampled_from(["valid", "same"])


def assert_close_grad(result, what):
    assert result.max_rel_error <= TOL, f"{what}: {result}"


def off_kink(x, gap=0.05):
    """Move every value at least ``gap`` away from 0 (the ReLU kink), keeping its sign."""
    return np.where(x >= 0, 1, -1) * (np.abs(x) + gap)


def distinct_values(rng, shape, spread=4.0):
    """Values that are all different, by at least spread / size, in random positions."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) * (spread / size) - spread / 2 + rng.uniform(0, 0.1 * spread / size, shape))


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(paddings)
    lo_h, lo_w = (kh, kw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(lo_h, lo_h + 5)), draw(st.integers(lo_w, lo_w + 5))
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, h, w, c), (kh, kw, c, f), stride, padding, draw(seeds)


@given(conv_cases())
def test_conv2d_backward_matches_central_differences_for_any_stride_and_padding(case):
    x_shape, w_shape, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[3])
    y, cache = F.conv2d_forward(x, w, b, stride, padding)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = F.conv2d_backward(dy, cache)
    what = f"conv2d x{x_shape} kernel{w_shape} stride={stride} padding={padding!r}"
    assert_close_grad(check_vjp(lambda v: F.conv2d_forward(v, w, b, stride, padding)[0], dx, x, dy), what + " dx")
    assert_close_grad(check_vjp(lambda v: F.conv2d_forward(x, v, b, stride, padding)[0], dw, w, dy), what + " dkernel")
    assert_close_grad(check_vjp(lambda v: F.conv2d_forward(x, w, v, stride, padding)[0], db, b, dy), what + " dbias")


@st.composite
def pool_cases(draw):
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(paddings)
    lo_h, lo_w = (ph, pw) if padding == "valid" else (1, 1)
    shape = (draw(st.integers(1, 2)), draw(st.integers(lo_h, lo_h + 5)), draw(st.integers(lo_w, lo_w + 5)), draw(st.integers(1, 3)))
    return shape, (ph, pw), stride, padding, draw(seeds)


@given(pool_cases())
def test_maxpool2d_backward_matches_central_differences(case):
    shape, pool, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, shape)
    y, cache = F.maxpool2d_forward(x, pool, stride, padding)
    dy = rng.standard_normal(y.shape)
    dx = F.maxpool2d_backward(dy, cache)
    result = check_vjp(lambda v: F.maxpool2d_forward(v, pool, stride, padding)[0], dx, x, dy)
    assert_close_grad(result, f"maxpool2d x{shape} pool={pool} stride={stride} padding={padding!r}")


@given(st.integers(1, 6), st.integers(1, 7), st.integers(1, 5), st.booleans(), seeds)
def test_dense_backward_matches_central_differences(n, d_in, d_out, use_bias, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out))
    b = rng.standard_normal(d_out) if use_bias else None
    y, cache = F.dense_forward(x, w, b)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = F.dense_backward(dy, cache)
    assert_close_grad(check_vjp(lambda v: F.dense_forward(v, w, b)[0], dx, x, dy), "dense dx")
    assert_close_grad(check_vjp(lambda v: F.dense_forward(x, v, b)[0], dw, w, dy), "dense dkernel")
    if use_bias:
        assert_close_grad(check_vjp(lambda v: F.dense_forward(x, w, v)[0], db, b, dy), "dense dbias")
    else:
        assert db is None


ELEMENTWISE = {
    "relu": (F.relu_forward, F.relu_backward, off_kink),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward, lambda x: 3 * x),
    "tanh": (F.tanh_forward, F.tanh_backward, lambda x: 2 * x),
}
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=shapes, seed=seeds)
def test_elementwise_activation_backward_matches_central_differences(name, shape, seed):
    forward, backward, prepare = ELEMENTWISE[name]
    rng = np.random.default_rng(seed)
    x = prepare(rng.standard_normal(shape))
    y, cache = forward(x)
    dy = rng.standard_normal(shape)
    assert_close_grad(check_vjp(lambda v: forward(v)[0], backward(dy, cache), x, dy), f"{name} x{shape}")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(shape=shapes, data=st.data(), seed=seeds)
def test_softmax_family_backward_matches_central_differences_along_any_axis(name, shape, data, seed):
    forward, backward = getattr(F, f"{name}_forward"), getattr(F, f"{name}_backward")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    rng = np.random.default_rng(seed)
    x = 3 * rng.standard_normal(shape)
    y, cache = forward(x, axis)
    dy = rng.standard_normal(shape)
    assert_close_grad(check_vjp(lambda v: forward(v, axis)[0], backward(dy, cache), x, dy), f"{name} x{shape} axis={axis}")


def _labels(rng, kind, n, c):
    if kind == "sparse":
        return rng.integers(0, c, n)
    if kind == "one-hot":
        return np.eye(c)[rng.integers(0, c, n)]
    p = rng.uniform(0.1, 1, (n, c))
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["sparse", "one-hot", "probabilities"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(n=st.integers(1, 5), c=st.integers(2, 6), seed=seeds)
def test_softmax_cross_entropy_backward_matches_central_differences(kind, reduction, n, c, seed):
    rng = np.random.default_rng(seed)
    logits, labels = 3 * rng.standard_normal((n, c)), _labels(rng, kind, n, c)
    loss, cache = F.softmax_cross_entropy_forward(logits, labels, reduction)
    dloss = rng.standard_normal(np.shape(loss))
    grad = F.softmax_cross_entropy_backward(dloss, cache)
    result = check_vjp(lambda v: F.softmax_cross_entropy_forward(v, labels, reduction)[0], grad, logits, dloss)
    assert_close_grad(result, f"softmax_cross_entropy ({kind}, {reduction}) logits{(n, c)}")


@pytest.mark.parametrize("kind", ["sparse", "one-hot", "probabilities"])
@given(n=st.integers(1, 5), c=st.integers(2, 6), seed=seeds)
def test_cross_entropy_backward_matches_central_differences_inside_the_clip_range(kind, n, c, seed):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.2, 1, (n, c))  # un-normalised on purpose (the op renormalises); moderate curvature for the finite differences
    if kind == "sparse":
        probs /= probs.sum(axis=1, keepdims=True) * 1.01  # keep clip(p) < 1 - 1e-7 away from the edge
    labels = _labels(rng, kind, n, c)
    loss, cache = F.cross_entropy_forward(probs, labels)
    dloss = rng.standard_normal()
    grad = F.cross_entropy_backward(dloss, cache)
    result = check_vjp(lambda v: F.cross_entropy_forward(v, labels)[0], grad, probs, dloss)
    assert_close_grad(result, f"cross_entropy ({kind}) probs{(n, c)}")


@given(shape=shapes, rate=st.floats(0.0, 0.9), seed=seeds)
def test_dropout_backward_matches_central_differences_with_a_fixed_mask(shape, rate, seed):
    rng = np.random.default_rng(seed)
    x, mask = rng.standard_normal(shape), rng.random(shape) >= rate
    y, cache = F.dropout_forward(x, rate, mask=mask)
    dy = rng.standard_normal(shape)
    result = check_vjp(lambda v: F.dropout_forward(v, rate, mask=mask)[0], F.dropout_backward(dy, cache), x, dy)
    assert_close_grad(result, f"dropout x{shape} rate={rate}")


@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), seed=seeds)
def test_flatten_backward_is_the_inverse_reshape(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    y, cache = F.flatten_forward(x)
    dy = rng.standard_normal(y.shape)
    assert_close_grad(check_vjp(lambda v: F.flatten_forward(v)[0], F.flatten_backward(dy, cache), x, dy), f"flatten x{shape}")


def test_the_checker_itself_catches_a_wrong_gradient():
    """A gradient off by 1e-4 relative must be reported, with its index."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    numeric = numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    wrong = np.cos(x)
    wrong[2, 1] *= 1 + 1e-4
    result = compare_gradients(wrong, numeric)
    assert result.max_rel_error > TOL and result.index == (2, 1)
    assert compare_gradients(np.cos(x), numeric).max_rel_error <= TOL


def test_numerical_gradient_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, np.ones(3, dtype=np.float32))
