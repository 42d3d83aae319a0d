"""Layers, Sequential and the training loop: dtypes, seeds, initializers, whole-model gradients."""
import math

import numpy as np
import pytest

import numpy_nn as nn
import numpy_nn.functional as F
from numpy_nn.gradcheck import compare_gradients, numerical_gradient
from numpy_nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D, ReLU, Softmax

OPS = {
    "relu": lambda x: F.relu_forward(x)[0],
    "sigmoid": lambda x: F.sigmoid_forward(x)[0],
    "tanh": lambda x: F.tanh_forward(x)[0],
    "softmax": lambda x: F.softmax_forward(x)[0],
    "log_softmax": lambda x: F.log_softmax_forward(x)[0],
    "maxpool2d": lambda x: F.maxpool2d_forward(x)[0],
    "conv2d": lambda x: F.conv2d_forward(x, np.ones((2, 2, 3, 2), x.dtype), np.ones(2, x.dtype), 1, "same")[0],
    "flatten": lambda x: F.flatten_forward(x)[0],
    "dropout": lambda x: F.dropout_forward(x, 0.5, rng=0)[0],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_keeps_its_input_dtype(name, dtype):
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(dtype)
    assert OPS[name](x).dtype == dtype


def _small_cnn(seed=0, dtype=np.float64):
    model = nn.Sequential([Conv2D(3, 3, padding="same", activation="relu"), MaxPooling2D(2), Flatten(),
                           Dense(5, activation="tanh"), Dropout(0.3), Dense(4)], seed=seed)
    model.build((6, 6, 2), dtype)
    return model


def test_float64_stays_float64_end_to_end_through_a_trained_step():
    model = _small_cnn()
    model.compile("adam", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).standard_normal((4, 6, 6, 2))
    model.train_on_batch(x, np.array([0, 1, 2, 3]))
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert all(g.dtype == np.float64 for g, _ in model.trainable_pairs())
    assert model.predict(x).dtype == np.float64


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not():
    a, b, c = _small_cnn(1), _small_cnn(1), _small_cnn(2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_glorot_uniform_uses_kerass_fans_with_the_kernel_area_for_convolutions():
    kernel = Conv2D(32, 3, seed=0)
    kernel.build((28, 28, 1))
    limit = math.sqrt(6 / (3 * 3 * 1 + 3 * 3 * 32))
    w = kernel.params["kernel"]
    assert w.shape == (3, 3, 1, 32) and w.dtype == np.float32
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.1 * limit
    np.testing.assert_array_equal(kernel.params["bias"], np.zeros(32, np.float32))


def test_whole_model_parameter_gradients_match_central_differences():
    """Backprop through conv, relu, max-pool, flatten, dense, tanh, dropout (fixed mask) and the loss."""
    model = _small_cnn()
    model.compile("sgd", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 6, 6, 2)), np.array([0, 3, 1])
    mask = rng.random((3, 5)) >= 0.3
    dropout = model.layers[4]

    def loss_value():
        dropout.mask = mask
        out = model.forward(x, training=True)
        return float(model.loss.forward(y, out))

    loss_value()
    model.backward(model.loss.backward())
    for layer in model.layers:
        for name, param in layer.params.items():
            numeric = numerical_gradient(lambda _: loss_value(), param)
            result = compare_gradients(layer.grads[name], numeric)
            assert result.max_rel_error <= 1e-6, f"{layer.name}/{name}: {result}"


def test_a_final_softmax_with_from_logits_false_equals_logits_with_from_logits_true():
    """Keras fuses a final softmax into the loss; so do we: same loss, same gradients."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)).astype(np.float32), rng.integers(0, 3, 6)
    probs_model = nn.Sequential([Dense(3, activation="softmax")], seed=0, input_shape=(5,))
    logit_model = nn.Sequential([Dense(3)], seed=0, input_shape=(5,))
    probs_model.compile("sgd", "sparse_categorical_crossentropy")
    logit_model.compile("sgd", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss_p, _ = probs_model.train_on_batch(x, y)
    loss_l, _ = logit_model.train_on_batch(x, y)
    assert loss_p == pytest.approx(loss_l, rel=1e-6)
    for a, b in zip(probs_model.get_weights(), logit_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fit_learns_a_separable_problem_and_records_history_per_epoch():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 8)) * 3
    y = rng.integers(0, 3, 300)
    x = (centers[y] + rng.standard_normal((300, 8))).astype(np.float32)
    model = nn.Sequential([Dense(16, activation="relu"), Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=32, seed=0, verbose=0)
    assert history.epoch == [0, 1, 2, 3] and len(history.history["loss"]) == 4
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y)
    assert acc > 0.9 and loss < history.history["loss"][0]


def test_fit_with_the_same_seed_is_bit_identical():
    def run():
        rng = np.random.default_rng(1)
        x, y = rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 2, 64)
        model = nn.Sequential([Dense(8, activation="relu"), Dropout(0.5), Dense(2)], seed=3)
        model.compile("adam", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model.fit(x, y, epochs=2, batch_size=16, seed=4, verbose=0).history["loss"], model.get_weights()
    (loss_a, w_a), (loss_b, w_b) = run(), run()
    assert loss_a == loss_b
    assert all(np.array_equal(a, b) for a, b in zip(w_a, w_b))


def test_categorical_crossentropy_with_one_hot_labels_trains_like_sparse_labels():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 4)).astype(np.float32), rng.integers(0, 3, 10)
    sparse = nn.Sequential([Dense(3)], seed=0, input_shape=(4,))
    dense = nn.Sequential([Dense(3)], seed=0, input_shape=(4,))
    sparse.compile("sgd", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    dense.compile("sgd", nn.losses.CategoricalCrossentropy(from_logits=True))
    assert sparse.train_on_batch(x, y)[0] == pytest.approx(dense.train_on_batch(x, np.eye(3, dtype=np.float32)[y])[0], rel=1e-6)
    np.testing.assert_allclose(sparse.get_weights()[0], dense.get_weights()[0], rtol=1e-6)


def test_dropout_layer_is_identity_at_inference_and_scales_kept_units_in_training():
    layer = Dropout(0.25, seed=0)
    x = np.ones((200, 50), np.float32)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02


def test_get_weights_follows_kerass_order_kernel_then_bias_layer_by_layer():
    model = nn.Sequential([Dense(4), ReLU(), Dense(2), Softmax()], seed=0, input_shape=(3,))
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    w = [np.full(s.shape, k, np.float32) for k, s in enumerate(model.get_weights())]
    model.set_weights(w)
    assert model.layers[2].params["kernel"][0, 0] == 2 and model.layers[2].params["bias"][0] == 3


def test_a_layer_refuses_input_of_another_shape_after_it_is_built():
    layer = Dense(3)
    layer.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 4\), got \(2, 5\)"):
        layer.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError, match="built for float32 inputs, got float64"):
        layer.forward(np.zeros((2, 4), np.float64))
