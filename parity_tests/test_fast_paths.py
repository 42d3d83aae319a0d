"""The fast paths added for speed (benchmarks/README.md) equal their plain formulations.

* conv2d and dense backward without the input gradient (``need_dx=False``, for a model's first
  layer) == the same gradients of the full backward;
* max-pool's running maximum over window offsets == the max over a tiled reshape's window axes
  (and the loop reference), exactly: a maximum involves no rounding;
* the cache-blocked optimizer updates at the shipped ``BLOCK`` size, across block boundaries, ==
  the whole-array update (``block=None``), bit for bit.

Float64 throughout, to round-off; examples from the active hypothesis profile.
"""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import numpy_nn.functional as F
from numpy_nn.functional import reference as R
from numpy_nn.optimizers import BLOCK, SGD, Adam

from .test_gradcheck import conv_cases, distinct_values, seeds

@given(conv_cases())
def test_conv2d_backward_without_the_input_gradient_gives_the_same_kernel_and_bias_gradients(case):
    x_shape, w_shape, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[3])
    y, cache = F.conv2d_forward(x, w, b, stride, padding)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = F.conv2d_backward(dy, cache)
    none, dw_only, db_only = F.conv2d_backward(dy, cache, need_dx=False)
    what = f"conv2d x{x_shape} kernel{w_shape} stride={stride} {padding}"
    assert none is None and dx.shape == x_shape, what
    np.testing.assert_array_equal(dw_only, dw, err_msg=what)
    np.testing.assert_array_equal(db_only, db, err_msg=what)


@given(st.integers(1, 6), st.integers(1, 7), st.integers(1, 5), st.booleans(), seeds)
def test_dense_backward_without_the_input_gradient_gives_the_same_kernel_and_bias_gradients(n, d_in, d_out, bias, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out))
    y, cache = F.dense_forward(x, w, rng.standard_normal(d_out) if bias else None)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = F.dense_backward(dy, cache)
    none, dw_only, db_only = F.dense_backward(dy, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw_only, dw)
    assert (db is None and db_only is None) or np.array_equal(db_only, db)


@st.composite
def tiling_pool_cases(draw):
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    h, w = draw(st.integers(ph, ph + 7)), draw(st.integers(pw, pw + 7))
    return (draw(st.integers(1, 3)), h, w, draw(st.integers(1, 4))), (ph, pw), padding, draw(seeds), draw(st.booleans())


@given(tiling_pool_cases())
def test_maxpool2d_running_maximum_equals_the_max_over_a_tiled_reshape(case):
    shape, (ph, pw), padding, seed, with_ties = case
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape)) if with_ties else distinct_values(rng, shape)
    y, cache = F.maxpool2d_forward(x, (ph, pw), None, padding)
    xpad = cache[0]
    n, oh, ow, c = y.shape
    tiled = xpad[:, :oh * ph, :ow * pw, :].reshape(n, oh, ph, ow, pw, c).max(axis=(2, 4))
    what = f"maxpool2d x{shape} pool=({ph}, {pw}) {padding} ties={with_ties}"
    np.testing.assert_array_equal(y, tiled, err_msg=what)
    np.testing.assert_array_equal(y, R.maxpool2d_forward_reference(x, (ph, pw), None, padding), err_msg=what)


@given(st.sampled_from(["sgd", "sgd-momentum", "sgd-nesterov", "adam"]),
       st.one_of(st.integers(1, 64), st.integers(BLOCK - 3, BLOCK + 3), st.integers(2 * BLOCK, 3 * BLOCK + 17)),
       st.sampled_from([np.float32, np.float64]), seeds)
def test_optimizers_blocked_at_the_shipped_block_size_equal_the_whole_array_update(kind, size, dtype, seed):
    make = {"sgd": lambda b: SGD(0.1, block=b), "sgd-momentum": lambda b: SGD(0.1, 0.9, block=b),
            "sgd-nesterov": lambda b: SGD(0.1, 0.9, nesterov=True, block=b), "adam": lambda b: Adam(0.01, block=b)}[kind]
    rng = np.random.default_rng(seed)
    blocked, plain = make(BLOCK), make(None)
    # Two parameters, so one scratch buffer serves blocks of different lengths.
    w_blocked = [rng.standard_normal(size).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)]
    w_plain = [w.copy() for w in w_blocked]
    for _ in range(3):
        grads = [rng.standard_normal(w.shape).astype(dtype) for w in w_blocked]
        blocked.apply_gradients(list(zip(grads, w_blocked)))
        plain.apply_gradients(list(zip(grads, w_plain)))
    for k, (a, b) in enumerate(zip(w_blocked, w_plain)):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind} parameter {k} size={a.size} {np.dtype(dtype).name} block={BLOCK}")
