"""Worked examples from the tutorials, and optimizer steps computed by hand from Keras's formulas."""
import math

import numpy as np
import pytest

import numpy_nn as nn
import numpy_nn.functional as F
from numpy_nn.layers import Conv2D, Dense, Flatten


def test_maxpool_2x2_of_the_tutorial_grid():
    x = np.array([[5, 10, 15, 10], [15, 20, 10, 12], [13, 16, 9, 8], [15, 19, 25, 20]], dtype=np.float32)
    y, _ = F.maxpool2d_forward(x.reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[20, 15], [19, 25]])


def test_maxpool_gradient_goes_to_the_first_maximum_in_row_major_order():
    x = np.array([[1, 3], [3, 2]], dtype=np.float64).reshape(1, 2, 2, 1)
    y, cache = F.maxpool2d_forward(x)
    dx = F.maxpool2d_backward(np.array([[[[7.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 7], [0, 0]])


def test_softmax_of_zeros_is_uniform():
    y, _ = F.softmax_forward(np.zeros((3, 10), dtype=np.float32))
    np.testing.assert_allclose(y, 0.1, rtol=1e-6)
    assert y.dtype == np.float32


PREDICTION = np.array([[0.03, 0.03, 0.01, 0.9, 0.01, 0.01, 0.0025, 0.0025, 0.0025, 0.0025]])


@pytest.mark.parametrize("label, expected", [(3, 0.1054), (2, 4.6052)])
def test_cross_entropy_of_the_tutorial_prediction(label, expected):
    sparse, _ = F.cross_entropy_forward(PREDICTION, np.array([label]))
    dense, _ = F.cross_entropy_forward(PREDICTION, np.eye(10)[[label]])
    assert round(float(sparse), 4) == expected
    assert round(float(dense), 4) == expected


def test_softmax_cross_entropy_stays_finite_for_float32_logits_of_1e4():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32)
    loss, cache = F.softmax_cross_entropy_forward(logits, np.array([1, 0]))
    grad = F.softmax_cross_entropy_backward(np.float32(1.0), cache)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert float(loss) == pytest.approx((2e4 + (2e4 + math.log(2))) / 2, rel=1e-6)
    assert loss.dtype == np.float32 and grad.dtype == np.float32


def test_mlp_summary_counts_the_tutorial_parameters():
    model = nn.Sequential([Dense(128, activation="relu"), Dense(128, activation="relu"), Dense(10)], input_shape=(784,))
    text = model.summary(print_fn=None)
    for count in ("100,480", "16,512", "1,290", "Total params: 118,282"):
        assert count in text
    assert model.count_params() == 118_282


def test_cnn_summary_has_keras_shapes_and_counts():
    model = nn.Sequential([Conv2D(32, 3, activation="relu"), Flatten(), Dense(128, activation="relu"), Dense(10)],
                          input_shape=(28, 28, 1))
    text = model.summary(print_fn=None)
    assert "(None, 26, 26, 32)" in text and "(None, 21632)" in text
    assert "320" in text and "2,769,024" in text and "Total params: 2,770,634" in text


def test_same_padding_follows_tensorflows_rule_with_the_extra_row_at_the_bottom():
    assert F.same_padding(5, 2, 2) == (3, 0, 1)
    assert F.same_padding(6, 3, 2) == (3, 0, 1)
    assert F.same_padding(7, 3, 1) == (7, 1, 1)
    assert F.same_padding(4, 1, 3) == (2, 0, 0)


def _grads(rng, steps, shape):
    return [rng.standard_normal(shape) for _ in range(steps)]


def test_sgd_three_steps_match_the_formula():
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 2))
    grads = _grads(rng, 3, w0.shape)
    w = w0.copy()
    opt = nn.optimizers.SGD(learning_rate=0.1)
    for g in grads:
        opt.apply_gradients([(g, w)])
    np.testing.assert_allclose(w, w0 - 0.1 * (grads[0] + grads[1] + grads[2]), rtol=0, atol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_three_steps_match_kerass_rule(nesterov):
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal(5)
    grads = _grads(rng, 3, w0.shape)
    lr, m = 0.05, 0.9
    w, v, expected = w0.copy(), np.zeros(5), w0.copy()
    opt = nn.optimizers.SGD(learning_rate=lr, momentum=m, nesterov=nesterov)
    for g in grads:
        opt.apply_gradients([(g, w)])
        v = m * v - lr * g
        expected = expected + (m * v - lr * g if nesterov else v)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-14)


def test_adam_three_steps_match_the_epsilon_hat_formula():
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((4, 3))
    grads = _grads(rng, 3, w0.shape)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, expected = w0.copy(), np.zeros_like(w0), np.zeros_like(w0), w0.copy()
    opt = nn.optimizers.Adam(learning_rate=lr)
    for t, g in enumerate(grads, 1):
        opt.apply_gradients([(g, w)])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        expected = expected - alpha * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-14)
    # And the very first step of Adam moves every weight by about lr, whatever the gradient's size
    # (exactly lr * |g| / (|g| + eps / sqrt(1 - b2)), so within 1% for these gradients).
    np.testing.assert_allclose(np.abs(w0 - _first_adam_step(w0, grads[0], lr)), lr, rtol=1e-2)


def _first_adam_step(w0, g, lr):
    w = w0.copy()
    nn.optimizers.Adam(learning_rate=lr).apply_gradients([(g, w)])
    return w


def test_optimizers_update_in_place_and_keep_their_state_arrays():
    w = np.ones(10, dtype=np.float32)
    opt = nn.optimizers.Adam()
    opt.apply_gradients([(np.ones(10, dtype=np.float32), w)])
    slots = opt.slots(w)
    ids = [id(s) for s in slots]
    before = w.__array_interface__["data"][0]
    opt.apply_gradients([(np.ones(10, dtype=np.float32), w)])
    assert [id(s) for s in opt.slots(w)] == ids
    assert w.__array_interface__["data"][0] == before and opt.iterations == 2


def test_avgpool_2x2_of_the_tutorial_grid():
    x = np.array([[5, 10, 15, 10], [15, 20, 10, 12], [13, 16, 9, 8], [15, 19, 25, 20]], dtype=np.float32)
    y, _ = F.avgpool2d_forward(x.reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[12.5, 11.75], [15.75, 15.5]])


def test_avgpool_same_padding_divides_each_window_by_its_real_cells_like_keras():
    """3x3 input, pool 2, stride 2, "same": TensorFlow pads one row and column at the bottom and
    right; the border windows hold 2 real cells and the corner 1, and each mean is over those."""
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)
    y, cache = F.avgpool2d_forward(x, 2, 2, "same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2], [(7 + 8) / 2, 9.0]])
    dx = F.avgpool2d_backward(np.ones((1, 2, 2, 1)), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])
