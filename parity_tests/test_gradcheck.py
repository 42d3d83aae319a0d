"""Every op's hand-written backward against float64 central differences, generated from the catalogue.

For each op in ``registry.OPS`` (its ``gradcheck`` settings: which inputs, which samples, the
tolerance), a Hypothesis-drawn float64 sample and a random upstream gradient ``dout`` (never all
ones), the analytic gradient of ``L = sum(forward(...) * dout)`` from ``backward`` must match
central differences of ``L`` within a relative error of 1e-6 (``numpy_nn.gradcheck``). The samples
keep the finite differences off non-differentiable points: ReLU inputs off the kink, max-pool
windows with a clear gap between their values, cross-entropy probabilities inside the clip range.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn.gradcheck import check_vjp, compare_gradients, numerical_gradient

from .registry import OPS, NoGradCheck
from .strategies import seeds, upstream

TOL = 1e-6


def _replace(args, i, value):
    return args[:i] + (value,) + args[i + 1:]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@given(data=st.data())
def test_backward_matches_float64_central_differences(op, data):
    settings = op.gradcheck
    if isinstance(settings, NoGradCheck):
        pytest.skip(f"{op.name}: no finite differences ({settings.reason})")
    samples = settings.samples or op.samples
    sample = data.draw(samples("float64"), label="sample")
    out, cache = op.run_numpy(sample)
    dout = upstream(np.random.default_rng(data.draw(seeds, label="dout seed")), np.shape(out), np.float64)
    grads = dict(zip(op.grad_argnums, op.numpy_vjp(sample, dout, cache)))
    names = sample.names or tuple(f"arg{i}" for i in range(len(sample.args)))
    for i in settings.argnums or op.grad_argnums:
        x = sample.args[i]
        if x is None:  # an absent bias has no gradient
            assert grads[i] is None, f"{op.name}: the gradient of an absent {names[i]} should be None"
            continue
        x = x.copy()

        def forward(v, i=i):
            return op.forward(*_replace(sample.args, i, v), **sample.kwargs)[0]

        result = check_vjp(forward, grads[i], x, dout, h=settings.h)
        assert result.max_rel_error <= settings.tol, f"{op.name} d{names[i]} on {sample.describe()}: {result}"


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
