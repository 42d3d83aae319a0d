"""The fast paths added for speed (benchmarks/README.md) equal their plain formulations.

* every op whose backward takes ``need_dx`` (a model's first layer skips its input gradient; dense
  and conv2d, read from the catalogue) gives, with ``need_dx=False``, no input gradient and exactly
  the same other gradients as the full backward;
* the cache-blocked optimizer updates at the shipped ``BLOCK`` size, across block boundaries, ==
  the whole-array update (``block=None``), bit for bit.

(The fast forward and backward against the plain references: ``test_reference_paths.py``.)
Float64 throughout; examples from the active hypothesis profile.
"""
import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn.optimizers import BLOCK, SGD, Adam

from .registry import OPS
from .strategies import seeds, upstream

SKIPS_DX = [op for op in OPS if "need_dx" in inspect.signature(op.backward).parameters]


def test_the_ops_that_can_skip_the_input_gradient_are_found():
    assert {"dense", "conv2d"} <= {op.name for op in SKIPS_DX}


@pytest.mark.parametrize("op", SKIPS_DX, ids=lambda op: op.name)
@given(data=st.data())
def test_backward_without_the_input_gradient_gives_the_same_other_gradients(op, data):
    sample = data.draw(op.samples("float64"), label="sample")
    out, cache = op.run_numpy(sample)
    dout = upstream(np.random.default_rng(data.draw(seeds, label="dout seed")), out.shape, np.float64)
    full = op.backward(dout, cache)
    skipped = op.backward(dout, cache, need_dx=False)
    what = f"{op.name} on {sample.describe()}"
    assert skipped[0] is None and full[0].shape == sample.args[0].shape, what
    for name, a, b in zip(op.grad_names(sample)[1:], skipped[1:], full[1:]):
        if b is None:
            assert a is None, f"{what}: d{name}"
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: d{name}")


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
