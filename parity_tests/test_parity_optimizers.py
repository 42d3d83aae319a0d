"""numpy_nn's SGD and Adam against ``keras.optimizers.SGD`` / ``Adam``: 20 steps on the same
parameters and the same gradient sequence, parameters compared after every step.

Hyperparameters: Keras casts its Python-float hyperparameters to the variable's dtype with
``ops.cast``, which goes through a float32 tensor, so a float64 Keras optimizer really uses
``float32(0.9)`` = 0.8999999762 as its momentum (and ``float32(0.999)`` in Adam's bias correction).
To compare formulas rather than that rounding, the tests draw hyperparameters that float32
represents exactly, in both dtypes.

float64 runs are compared directly. A float32 run is judged by its float64 oracle
(``assertions.compare_trajectory_with_oracle``): the same settings, initial parameters and gradients
in float64, where numpy_nn and Keras must agree; then each float32 history's error against it, step
by step, must stay within the cap, and neither may be much less accurate than the other -- except
that Keras computes Adam's bias correction in float32, which makes its float32 Adam measurably less
accurate than numpy_nn's (pinned below), so for Adam only "numpy_nn is not less accurate" is checked.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn import optimizers as O
from .lockstep import run_optimizers, run_optimizers_with_oracle

from .assertions import compare_trajectory, compare_trajectory_with_oracle
from .runtime import configure_for_parity
from .strategies import DTYPES, adam_settings, parameters_and_gradients, sgd_settings
from .tolerances import OPTIMIZER_TOLERANCES

configure_for_parity()


def _check_history(kind, dtype, opt, initial, grads, what):
    tol = OPTIMIZER_TOLERANCES[kind]
    if dtype == "float64":
        ours, theirs = run_optimizers(opt, initial, grads)
        cmp, step, k = compare_trajectory(initial, ours, theirs, tol["float64"])
        failure = f"NumPy and TensorFlow differ beyond atol {tol['float64']} x scale"
    else:
        runs = run_optimizers_with_oracle(opt, initial, grads)
        cmp, step, k = compare_trajectory_with_oracle(initial, runs["np32"], runs["tf32"], runs["np64"], runs["tf64"],
                                                      tol["float32"], tol["float64"])
        failure = getattr(cmp, "failure", "")
    if not cmp.passed:
        raise AssertionError(f"{opt!r} {dtype}, parameter {k} after step {step} ({what}): {failure}\n  {cmp.describe()}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True], ids=["classical", "nesterov"])
@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["momentum-0", "momentum-0.9"])
@given(data=st.data())
def test_sgd_matches_keras_sgd_over_20_steps(dtype, momentum, nesterov, data):
    opt = data.draw(sgd_settings(dtype, momentum, nesterov), label="optimizer")
    initial, grads, what = data.draw(parameters_and_gradients(dtype), label="parameters and gradients")
    _check_history("sgd", dtype, opt, initial, grads, what)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_adam_matches_keras_adam_over_20_steps(dtype, data):
    opt = data.draw(adam_settings(dtype), label="optimizer")
    initial, grads, what = data.draw(parameters_and_gradients(dtype), label="parameters and gradients")
    _check_history("adam", dtype, opt, initial, grads, what)


def test_keras_rounds_float64_hyperparameters_through_float32():
    """The reason the float64 tests use float32-exact hyperparameters: pinned, so that a Keras that
    stops doing it shows up here (and the workaround can go)."""
    initial = [np.zeros(3)]
    grads = [[np.ones(3)]] * 3
    ours, theirs = run_optimizers(O.SGD(0.5, momentum=0.9), initial, grads)
    assert not np.array_equal(ours[-1][0], theirs[-1][0])
    rounded, theirs = run_optimizers(O.SGD(0.5, momentum=float(np.float32(0.9))), initial, grads)
    np.testing.assert_array_equal(rounded[-1][0], theirs[-1][0])


def test_keras_float32_adam_is_less_accurate_than_numpy_nn_because_of_its_float32_bias_correction():
    """Why ``OPTIMIZER_TOLERANCES["adam"]`` lets Keras's float32 error exceed ``ORACLE_RATIO`` times
    numpy_nn's: Keras forms ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` in float32, and
    ``1 - beta_2**t`` loses ~log10(1 / (1 - beta_2)) digits to cancellation (4 for beta_2 = 0.9999);
    numpy_nn forms it in double. Pinned: Keras's result is what that float32 formula gives, and it is
    further from the float64 truth than numpy_nn's by more than the ratio."""
    from .tolerances import ORACLE_FLOOR_ULPS, ORACLE_RATIO

    f32 = np.float32
    lr, b1, b2, eps = 0.0625, 0.9, float(f32(0.9999)), 1e-7
    w0, g = np.array([0.12573022], f32), np.array([-1.321e-4], f32)
    opt = O.Adam(lr, float(f32(b1)), b2, float(f32(eps)))
    runs = run_optimizers_with_oracle(opt, [w0], [[g], [g]])
    truth = runs["tf64"][-1][0].astype(np.float64)
    e_np = float(np.abs(runs["np32"][-1][0] - truth)[0])
    e_tf = float(np.abs(runs["tf32"][-1][0] - truth)[0])
    floor = ORACLE_FLOOR_ULPS * float(np.finfo(f32).eps) * float(np.abs(truth)[0])
    assert e_tf > ORACLE_RATIO * max(e_np, floor), (e_np, e_tf)
    # Keras's update, step by step in float32 (keras.optimizers.Adam.update_step)
    w, m, v = w0.copy(), np.zeros(1, f32), np.zeros(1, f32)
    for t in (1, 2):
        alpha = f32(lr) * np.sqrt(f32(1) - f32(b2) ** f32(t)) / (f32(1) - f32(b1) ** f32(t))
        m += (g - m) * (f32(1) - f32(b1))
        v += (g * g - v) * (f32(1) - f32(b2))
        w -= m * alpha / (np.sqrt(v) + f32(eps))
    np.testing.assert_allclose(runs["tf32"][-1][0], w, rtol=4 * np.finfo(f32).eps)
