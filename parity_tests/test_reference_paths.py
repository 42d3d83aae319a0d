"""The fast paths equal their plain references to float64 round-off, generated from the catalogue.

For each op with a ``reference_forward`` in ``registry.OPS`` (im2col + GEMM conv2d against its
window-by-window reference, the offset-wise max-pool against the window scan with exact ties,
average pooling): on a float64 sample, the fast forward's output and the fast backward's gradients
for a random upstream gradient equal the reference's within 1e-12 of the reference's magnitude.
Then the cache-blocked optimizer updates against the whole-array update, bit for bit.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn.optimizers import SGD, Adam

from .registry import WITH_REFERENCE
from .strategies import seeds, upstream

ROUNDOFF = 1e-12


def assert_roundoff(fast, ref, what):
    if ref is None:
        assert fast is None, f"{what}: the reference gives None, the fast path {type(fast).__name__}"
        return
    assert fast.shape == ref.shape, f"{what}: shape {fast.shape} vs reference {ref.shape}"
    assert fast.dtype == ref.dtype, f"{what}: dtype {fast.dtype} vs reference {ref.dtype}"
    scale = max(1.0, float(np.max(np.abs(ref)))) if np.size(ref) else 1.0
    err = float(np.max(np.abs(fast - ref))) if np.size(ref) else 0.0
    assert err <= ROUNDOFF * scale, f"{what}: max abs difference {err:.3e} (reference scale {scale:.3g})"


@pytest.mark.parametrize("op", WITH_REFERENCE, ids=lambda op: op.name)
@given(data=st.data())
def test_fast_path_equals_the_plain_reference_forward_and_backward(op, data):
    sample = data.draw((op.reference_samples or op.samples)("float64"), label="sample")
    out, cache = op.run_numpy(sample)
    dout = upstream(np.random.default_rng(data.draw(seeds, label="dout seed")), out.shape, np.float64)
    ref_out, ref_grads = op.reference_vjp(sample, dout)
    what = f"{op.name} on {sample.describe()}"
    assert_roundoff(out, ref_out, what + ": forward")
    grads = op.numpy_vjp(sample, dout, cache)
    assert len(grads) == len(ref_grads), f"{what}: {len(grads)} gradients, the reference gives {len(ref_grads)}"
    for name, fast, ref in zip(op.grad_names(sample), grads, ref_grads):
        assert_roundoff(fast, ref, f"{what}: d{name}")


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
