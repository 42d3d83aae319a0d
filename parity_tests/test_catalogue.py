"""Properties every op of the catalogue must have, generated from ``registry.OPS``.

* dtype preservation: float32 in -> float32 out and float32 gradients, float64 likewise;
* the backward refuses an upstream gradient of the wrong shape (ValueError naming ``dout``), except
  where the forward kept no cache (dropout at inference: its backward is the identity);
* the catalogue is complete: every op has a tolerance in both dtypes with its reason, error inputs,
  a TensorFlow twin of that name in ``tf_nn.functional`` (checked without importing TensorFlow),
  and a reference exactly when it has both reference halves.
"""
import ast
import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .registry import OPS, WITH_REFERENCE
from .strategies import DTYPES, seeds, upstream
from .tolerances import Tolerance

op_params = pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)


@pytest.mark.parametrize("dtype", DTYPES)
@op_params
@given(data=st.data())
def test_output_and_gradients_keep_the_input_dtype(op, dtype, data):
    sample = data.draw(op.samples(dtype), label="sample")
    out, cache = op.run_numpy(sample)
    assert np.asarray(out).dtype == dtype, f"{op.name}: {dtype} in, {np.asarray(out).dtype} out on {sample.describe()}"
    dout = upstream(np.random.default_rng(data.draw(seeds, label="dout seed")), np.shape(out), dtype)
    for name, g in zip(op.grad_names(sample), op.numpy_vjp(sample, dout, cache)):
        if g is not None:
            assert g.dtype == dtype, f"{op.name}: {dtype} in, d{name} is {g.dtype} on {sample.describe()}"


@op_params
@given(data=st.data())
def test_backward_refuses_an_upstream_gradient_of_the_wrong_shape(op, data):
    sample = data.draw(op.samples("float32"), label="sample")
    out, cache = op.run_numpy(sample)
    if cache is None:  # dropout at inference (or rate 0): the identity keeps no cache to check against
        return
    wrong = np.zeros(np.shape(out) + (2,), dtype=np.float32)
    with pytest.raises(ValueError, match="dout|dloss"):
        op.backward(wrong, cache)


@pytest.mark.parametrize("op", WITH_REFERENCE, ids=lambda op: op.name)
def test_a_backward_refuses_a_cache_from_the_other_forward(op):
    """The fast and the reference halves keep their own caches; handing one to the other backward
    (or any other tuple) is a TypeError naming the cache it needs, not an unpacking error."""
    sample = next(iter(_fixed_samples(op)))
    out, fast_cache = op.run_numpy(sample)
    ref_out, ref_cache = op.reference_forward(*sample.args, **sample.kwargs)
    dout = np.ones_like(out)
    for backward, cache in ((op.backward, ("not", "a", "cache")), (op.reference_backward, ("not", "a", "cache"))):
        with pytest.raises(TypeError, match="cache must be the"):
            backward(dout, cache)
    if type(fast_cache) is not type(ref_cache):
        with pytest.raises(TypeError, match=type(ref_cache).__name__):
            op.reference_backward(dout, fast_cache)
        with pytest.raises(TypeError, match=type(fast_cache).__name__):
            op.backward(dout, ref_cache)


#: Backwards that still unpack or read their cache without ``_checks.check_cache`` (another op's
#: cache gives a ValueError from unpacking, an AttributeError, or no error at all: softmax's backward
#: accepts log-softmax's cache). Strict: an op leaves this set as soon as its backward checks.
UNCHECKED_CACHES = set()  # every backward now calls check_cache


@functools.lru_cache(maxsize=None)
def _caches():
    """One forward per op of the catalogue that keeps a cache: ``name -> (out, cache)``."""
    from hypothesis import find

    def with_cache(op):  # the simplest sample whose forward keeps a cache (dropout: in training mode)
        return op.run_numpy(find(op.samples("float64"), lambda s: op.run_numpy(s)[1] is not None))
    return {op.name: with_cache(op) for op in OPS}


@pytest.mark.parametrize("op", [pytest.param(op, marks=pytest.mark.xfail(
    op.name in UNCHECKED_CACHES, reason="its backward does not call check_cache yet", strict=True)) for op in OPS],
    ids=lambda op: op.name)
def test_a_backward_refuses_every_other_ops_cache_naming_its_own(op):
    """Any op's backward given the cache of any other op of the catalogue: a TypeError naming the
    cache it needs (``_checks.check_cache``), never an AttributeError, an unpacking error or a result.
    (The test above swaps only the fast and reference caches of the same op: it never reached
    relu/sigmoid/tanh, whose backwards read ``cache.x`` / ``cache.y`` from whatever came.)"""
    out, own = _caches()[op.name]
    for other, (_, cache) in _caches().items():
        if other == op.name or cache is None or type(cache) is type(own):
            continue
        with pytest.raises(TypeError, match=rf"cache must be the (\w+ or )*{type(own).__name__}"):
            op.backward(np.ones_like(out), cache)


def _fixed_samples(op):
    from hypothesis import find
    return [find(op.samples("float64"), lambda s: True)]


def _tf_functional_names():
    tree = ast.parse((Path(__file__).resolve().parents[1] / "tf_nn" / "functional.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@op_params
def test_the_entry_is_complete(op):
    assert set(op.tolerances) == set(DTYPES), f"{op.name}: tolerances for {sorted(op.tolerances)}, not {DTYPES}"
    assert all(isinstance(op.tolerance(dtype), Tolerance) for dtype in DTYPES), f"{op.name}: use tolerances.by_dtype"
    assert isinstance(op.tolerance_reason, str) and op.tolerance_reason.strip(), f"{op.name}: no tolerance_reason"
    assert op.error_inputs(), f"{op.name} has no error inputs"
    assert op.tf_twin in _tf_functional_names(), f"{op.name}: tf_nn.functional has no {op.tf_twin}()"
    assert (op.reference_forward is None) == (op.reference_backward is None), f"{op.name}: half a reference"
    assert op.forward.__name__ == f"{op.name}_forward" and op.backward.__name__ == f"{op.name}_backward"


def test_the_catalogue_imports_without_tensorflow():
    import subprocess
    import sys

    code = "import sys, parity_tests.registry as r; r.OPS; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1]).returncode == 0
