"""The fast paths (im2col + GEMM conv, col2im by kernel offsets, reshape/offset max-pool, blocked
optimizer updates) equal their plain references to float64 round-off."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import numpy_nn.functional as F
from numpy_nn.functional import reference as R
from numpy_nn.optimizers import SGD, Adam

from .test_gradcheck import conv_cases, distinct_values, pool_cases, seeds

ROUNDOFF = 1e-12


def assert_roundoff(fast, ref, what):
    scale = max(1.0, float(np.max(np.abs(ref)))) if np.size(ref) else 1.0
    err = float(np.max(np.abs(fast - ref))) if np.size(ref) else 0.0
    assert fast.shape == ref.shape, f"{what}: shape {fast.shape} vs reference {ref.shape}"
    assert err <= ROUNDOFF * scale, f"{what}: max abs difference {err:.3e} (reference scale {scale:.3g})"


@given(conv_cases())
def test_im2col_conv2d_equals_the_loop_reference_forward_and_backward(case):
    x_shape, w_shape, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[3])
    y, cache = F.conv2d_forward(x, w, b, stride, padding)
    what = f"conv2d x{x_shape} kernel{w_shape} stride={stride} padding={padding!r}"
    assert_roundoff(y, R.conv2d_forward_reference(x, w, b, stride, padding), what + " forward")
    dy = rng.standard_normal(y.shape)
    for name, fast, ref in zip(("dx", "dkernel", "dbias"), F.conv2d_backward(dy, cache),
                               R.conv2d_backward_reference(dy, x, w, stride, padding)):
        assert_roundoff(fast, ref, f"{what} {name}")


@given(pool_cases(), st.booleans())
def test_maxpool2d_equals_the_loop_reference_including_ties(case, with_ties):
    """With ties (values rounded to a coarse grid) the gradient must still go to the first maximum."""
    shape, pool, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape)) if with_ties else distinct_values(rng, shape)
    y, cache = F.maxpool2d_forward(x, pool, stride, padding)
    what = f"maxpool2d x{shape} pool={pool} stride={stride} padding={padding!r} ties={with_ties}"
    assert_roundoff(y, R.maxpool2d_forward_reference(x, pool, stride, padding), what + " forward")
    dy = rng.standard_normal(y.shape)
    assert_roundoff(F.maxpool2d_backward(dy, cache), R.maxpool2d_backward_reference(dy, x, pool, stride, padding), what + " dx")


@given(st.sampled_from(["sgd", "sgd-momentum", "sgd-nesterov", "adam"]), st.integers(1, 70000), st.integers(1, 300), seeds)
def test_cache_blocked_optimizer_updates_equal_the_whole_array_update_bit_for_bit(kind, size, block, seed):
    rng = np.random.default_rng(seed)
    make = {"sgd": lambda b: SGD(0.1, block=b), "sgd-momentum": lambda b: SGD(0.1, 0.9, block=b),
            "sgd-nesterov": lambda b: SGD(0.1, 0.9, nesterov=True, block=b), "adam": lambda b: Adam(0.01, block=b)}[kind]
    blocked, plain = make(block), make(None)
    w_blocked = rng.standard_normal(size).astype(np.float32)
    w_plain = w_blocked.copy()
    for _ in range(3):
        g = rng.standard_normal(size).astype(np.float32)
        blocked.apply_gradients([(g, w_blocked)])
        plain.apply_gradients([(g, w_plain)])
    np.testing.assert_array_equal(w_blocked, w_plain, err_msg=f"{kind} size={size} block={block}")
