"""numpy_nn's SGD and Adam against ``keras.optimizers.SGD`` / ``Adam``: 20 steps on the same
parameters and the same gradient sequence, parameters compared after every step.

Hyperparameters in float64: Keras casts its Python-float hyperparameters to the variable's dtype
with ``ops.cast``, which goes through a float32 tensor, so a float64 Keras optimizer really uses
``float32(0.9)`` = 0.8999999762 as its momentum (and ``float32(0.999)`` in Adam's bias correction).
To compare formulas rather than that rounding, the float64 tests draw hyperparameters that float32
represents exactly; float32 tests use the usual values (0.9, 0.999, ...) as they are.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn import optimizers as O
from tf_nn.parity import run_optimizers
from tf_nn.runtime import configure_for_parity

from .assertions import compare_trajectory
from .strategies import DTYPES, adam_settings, parameters_and_gradients, sgd_settings
from .tolerances import OPTIMIZER_TOLERANCES

configure_for_parity()


def _check_history(kind, dtype, opt, initial, ours, theirs, what):
    tol = OPTIMIZER_TOLERANCES[kind][dtype]
    cmp, step, k = compare_trajectory(initial, ours, theirs, tol)
    if not cmp.passed:
        raise AssertionError(f"{opt!r} {dtype}, parameter {k} after step {step} ({what}): NumPy and TensorFlow "
                             f"differ beyond atol {tol} x scale\n  {cmp.describe()}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True], ids=["classical", "nesterov"])
@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["momentum-0", "momentum-0.9"])
@given(data=st.data())
def test_sgd_matches_keras_sgd_over_20_steps(dtype, momentum, nesterov, data):
    opt = data.draw(sgd_settings(dtype, momentum, nesterov), label="optimizer")
    initial, grads, what = data.draw(parameters_and_gradients(dtype), label="parameters and gradients")
    ours, theirs = run_optimizers(opt, initial, grads)
    _check_history("sgd", dtype, opt, initial, ours, theirs, what)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_adam_matches_keras_adam_over_20_steps(dtype, data):
    opt = data.draw(adam_settings(dtype), label="optimizer")
    initial, grads, what = data.draw(parameters_and_gradients(dtype), label="parameters and gradients")
    ours, theirs = run_optimizers(opt, initial, grads)
    _check_history("adam", dtype, opt, initial, ours, theirs, what)


def test_keras_rounds_float64_hyperparameters_through_float32():
    """The reason the float64 tests use float32-exact hyperparameters: pinned, so that a Keras that
    stops doing it shows up here (and the workaround can go)."""
    initial = [np.zeros(3)]
    grads = [[np.ones(3)]] * 3
    ours, theirs = run_optimizers(O.SGD(0.5, momentum=0.9), initial, grads)
    assert not np.array_equal(ours[-1][0], theirs[-1][0])
    rounded, theirs = run_optimizers(O.SGD(0.5, momentum=float(np.float32(0.9))), initial, grads)
    np.testing.assert_array_equal(rounded[-1][0], theirs[-1][0])
