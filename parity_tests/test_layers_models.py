"""Layers, Sequential and the training loop: dtypes, seeds, initializers, whole-model gradients; the
layer contract (names, ``params``/``state``, the registry, the Keras mapping); AveragePooling2D."""
import ast
import math
from pathlib import Path

import numpy as np
import pytest

import numpy_nn as nn
import numpy_nn.functional as F
from numpy_nn.gradcheck import compare_gradients, numerical_gradient
from numpy_nn.layers import LAYERS, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, Layer, MaxPooling2D, ReLU, Softmax


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


# --- the layer contract ------------------------------------------------------------------------
def test_default_names_are_kerass_snake_case_numbered_per_name():
    assert [nn.layers.to_snake_case(c) for c in ("Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D",
                                                 "BatchNormalization", "ReLU")] == \
        ["dense", "conv2d", "max_pooling2d", "average_pooling2d", "batch_normalization", "re_lu"]
    first, second = AveragePooling2D(), AveragePooling2D()
    base = first.name.rsplit("_", 1)[0] if first.name != "average_pooling2d" else first.name
    assert base == "average_pooling2d" and second.name.startswith("average_pooling2d_")
    assert Dense(2, name="head").name == "head"


def test_every_layer_is_in_the_registry_and_rebuilds_from_its_config():
    classes = {c for c in vars(nn.layers).values() if isinstance(c, type) and issubclass(c, Layer)
               and not c.__name__.startswith("_") and c not in (Layer, nn.layers.ActivationLayer)}
    assert set(LAYERS.values()) == classes and all(LAYERS[c.__name__] is c for c in classes)
    for layer in (Dense(3, activation="relu"), Conv2D(2, (3, 2), strides=2, padding="same"), MaxPooling2D(3, 1),
                  AveragePooling2D((2, 3), padding="same"), Flatten(), Dropout(0.25), ReLU(), Softmax()):
        again = LAYERS[type(layer).__name__](**layer.get_config())
        assert again.get_config() == layer.get_config()


def test_every_backward_takes_need_dx_and_returns_none_without_it():
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 2))
    for layer in (Conv2D(2, 3, activation="tanh"), MaxPooling2D(2), AveragePooling2D(2), Dropout(0.5, seed=0),
                  ReLU(), Softmax(), Flatten()):
        y = layer.forward(x, training=True)
        assert layer.backward(np.ones_like(y), need_dx=True).shape == x.shape
        assert layer.backward(np.ones_like(y), need_dx=False) is None
    dense = Dense(3)
    dense.forward(np.ones((2, 4)))
    assert dense.backward(np.ones((2, 3)), need_dx=False) is None and dense.grads["kernel"].shape == (4, 3)


class _FrozenAffine(Layer):
    """A stand-in for a stateful layer (BatchNormalization's four weights, Keras's order): trainable
    ``gamma``, ``beta`` and non-trainable ``moving_mean``, ``moving_variance``; y = gamma * x + beta."""

    def _build(self, rng):
        c = self.input_shape[-1]
        self.params["gamma"], self.params["beta"] = np.ones(c, self.dtype), np.zeros(c, self.dtype)
        self.state["moving_mean"], self.state["moving_variance"] = np.zeros(c, self.dtype), np.ones(c, self.dtype)

    def _forward(self, x, training):
        self._x = x
        return x * self.params["gamma"] + self.params["beta"]

    def _backward(self, dout, need_dx):
        self.grads["gamma"], self.grads["beta"] = (dout * self._x).sum(0), dout.sum(0)
        return dout * self.params["gamma"] if need_dx else None


def _stateful_model(seed=0):
    model = nn.Sequential([Dense(3), _FrozenAffine(name="frozen_affine"), Dense(2)], seed=seed, input_shape=(4,))
    model.compile(nn.optimizers.Adam(0.1), nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_non_trainable_state_is_in_the_weights_after_the_trainable_ones_and_not_trained():
    model = _stateful_model()
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,), (3,), (3,), (3,), (3,), (3, 2), (2,)]
    assert [k for k, _ in model.layers[1].weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert sum(len(layer.params) for layer in model.layers) == 6
    model.train_on_batch(np.ones((2, 4), np.float32), np.array([0, 1]))
    assert len(model.trainable_pairs()) == 6
    np.testing.assert_array_equal(model.layers[1].state["moving_variance"], np.ones(3))
    text = model.summary(print_fn=None)
    assert "Total params: 35" in text and "Trainable params: 29" in text and "Non-trainable params: 6" in text
    weights = model.get_weights()
    weights[5] = np.full(3, 7.0, np.float32)
    model.set_weights(weights)
    assert model.layers[1].state["moving_variance"][0] == 7


def test_a_checkpoint_saves_and_restores_non_trainable_state(tmp_path, monkeypatch):
    monkeypatch.setitem(LAYERS, "_FrozenAffine", _FrozenAffine)
    model = _stateful_model()
    model.train_on_batch(np.ones((2, 4), np.float32), np.array([0, 1]))
    model.layers[1].state["moving_mean"][...] = [1, 2, 3]
    loaded = nn.load_model(model.save(tmp_path / "stateful.npz"))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(loaded.get_weights(), model.get_weights()))
    np.testing.assert_array_equal(loaded.layers[1].state["moving_mean"], [1, 2, 3])
    other = _stateful_model(seed=5)
    other.load_weights(tmp_path / "stateful.npz")
    np.testing.assert_array_equal(other.layers[1].state["moving_mean"], [1, 2, 3])


def test_set_weights_checks_every_array_before_assigning_any():
    model = nn.Sequential([Dense(3), Dense(2)], seed=0, input_shape=(4,))
    before = model.get_weights()
    bad = [w + 1 for w in before]
    bad[-1] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match=r"dense.*/bias must have shape \(2,\), got \(5,\)"):
        model.set_weights(bad)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ValueError, match="expected 4 arrays, got 3"):
        model.set_weights(bad[:3])


def test_a_final_softmax_is_fused_into_the_loss_only_for_from_logits_false():
    model = nn.Sequential([Dense(3, activation="softmax")], seed=0, input_shape=(2,))
    assert not model.softmax_in_loss  # not compiled
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert model.softmax_in_loss
    model.compile("sgd", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert not model.softmax_in_loss
    model = nn.Sequential([Dense(3), Softmax()], seed=0, input_shape=(2,))
    model.compile("sgd", "categorical_crossentropy")
    x = np.ones((2, 2), np.float32)
    z = model.forward(x, logits=True)
    np.testing.assert_array_equal(model.forward(x), F.softmax_forward(z)[0])


# --- optimizers' public state --------------------------------------------------------------------
def test_optimizer_slots_are_public_created_on_demand_and_updated_in_place():
    w = np.ones(3, np.float32)
    adam = nn.optimizers.Adam(0.1)
    assert adam.slot_names == ("momentum", "velocity") and adam.iterations == 0
    m, v = adam.slots(w)
    assert not m.any() and not v.any()
    adam.apply_gradients([(np.full(3, 2.0, np.float32), w)])
    assert adam.iterations == 1 and [s is t for s, t in zip(adam.slots(w), (m, v))] == [True, True]
    np.testing.assert_allclose(m, 0.2)
    assert nn.optimizers.SGD(0.1).slot_names == () and nn.optimizers.SGD(0.1, momentum=0.9).slot_names == ("momentum",)


def test_checkpoint_and_models_do_not_import_each_other_and_use_no_private_optimizer_state():
    root = Path(nn.__file__).parent
    for name, forbidden in (("checkpoint.py", "models"), ("layers/__init__.py", "models")):
        tree = ast.parse((root / name).read_text())
        imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert forbidden not in imported, f"{name} imports {forbidden}"
    for path in (root / "checkpoint.py", root.parent / "tf_nn" / "training.py"):
        text = path.read_text()
        assert "_slots_for" not in text and "_new_slots" not in text and "._state" not in text, path


# --- AveragePooling2D --------------------------------------------------------------------------
@pytest.mark.parametrize("pool, strides, padding", [(2, None, "valid"), (3, 2, "same"), ((2, 3), (1, 2), "same"),
                                                   (3, 1, "valid")])
def test_average_pooling_layer_is_the_functional_op_forward_and_backward(pool, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    layer = AveragePooling2D(pool, strides, padding)
    y = layer.forward(x)
    want, cache = F.avgpool2d_forward(x, pool, strides, padding)
    assert y.tobytes() == want.tobytes() and y.shape[1:] == layer.output_shape
    dy = rng.standard_normal(y.shape).astype(np.float32)
    assert layer.backward(dy).tobytes() == F.avgpool2d_backward(dy, cache).tobytes()


def _avg_model(seed=0, dtype=np.float64):
    model = nn.Sequential([Conv2D(3, 3, padding="same", activation="relu"), AveragePooling2D(2, padding="same"),
                           Flatten(), Dense(4)], seed=seed)
    model.build((5, 5, 2), dtype)
    model.compile(nn.optimizers.Adam(0.01), nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_gradients_through_average_pooling_match_central_differences():
    model = _avg_model()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 5, 5, 2)), np.array([0, 3, 1])

    def loss_value():
        return float(model.loss.forward(y, model.forward(x, training=True)))

    loss_value()
    dx = model.backward(model.loss.backward())
    numeric_x = numerical_gradient(lambda _: loss_value(), x)
    assert compare_gradients(dx, numeric_x).max_rel_error <= 1e-6
    loss_value()
    model.backward(model.loss.backward())
    for layer in model.layers:
        for name, param in layer.params.items():
            result = compare_gradients(layer.grads[name], numerical_gradient(lambda _: loss_value(), param))
            assert result.max_rel_error <= 1e-6, f"{layer.name}/{name}: {result}"


def test_a_model_with_average_pooling_checkpoints_bit_for_bit(tmp_path):
    model = _avg_model(dtype=np.float32)
    rng = np.random.default_rng(2)
    x, y = rng.random((8, 5, 5, 2), dtype=np.float32), rng.integers(0, 4, 8)
    model.train_on_batch(x, y)
    loaded = nn.load_model(model.save(tmp_path / "avg.npz"))
    loaded.compile(loaded.optimizer, model.loss)
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(loaded.get_weights(), model.get_weights()))
    assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(loaded.get_weights(), model.get_weights()))


# --- the Keras mapping (TensorFlow) ------------------------------------------------------------
def test_every_registered_layer_has_a_keras_twin():
    tf_models = pytest.importorskip("tf_nn.models")
    assert set(tf_models.KERAS_LAYERS) == set(LAYERS.values())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_conv_avgpool_model_round_trips_to_keras_with_keras_outputs_and_gradients(dtype):
    tf_nn = pytest.importorskip("tf_nn")
    from .lockstep import keras_step, numpy_step

    model = _avg_model(dtype=dtype)
    twin = tf_nn.to_keras(model)
    assert [type(layer).__name__ for layer in twin.layers] == ["Conv2D", "AveragePooling2D", "Flatten", "Dense"]
    assert twin.layers[1].get_config()["padding"] == "same" and tuple(twin.layers[1].pool_size) == (2, 2)
    shifted = [w + 1 for w in twin.get_weights()]
    twin.set_weights(shifted)
    tf_nn.copy_weights_to_numpy(twin, model)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), shifted))
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 5, 5, 2)).astype(dtype), np.array([0, 1, 2, 3])
    ours, theirs = numpy_step(model, x, y), keras_step(model, x, y)
    tol = 2e-5 if dtype == "float32" else 1e-12  # relative to each quantity's largest element
    for what, a, b in [("outputs", ours[0], theirs[0]), ("loss", ours[1], theirs[1])] + \
            [(f"gradient {k}", g, h) for k, (g, h) in enumerate(zip(ours[2], theirs[2]))]:
        scale = max(np.abs(b).max(), 1e-30)
        assert np.abs(np.asarray(a, np.float64) - b).max() <= tol * scale, what


def test_weight_copy_to_and_from_keras_carries_non_trainable_state(monkeypatch):
    tf_models = pytest.importorskip("tf_nn.models")
    import keras

    monkeypatch.setitem(tf_models.KERAS_LAYERS, _FrozenAffine,
                        lambda layer, common, _: keras.layers.BatchNormalization(**common))
    model = _stateful_model()
    model.layers[1].state["moving_mean"][...] = [1, 2, 3]
    twin = tf_models.to_keras(model)
    assert [bool(v.trainable) for v in twin.layers[1].weights] == [True, True, False, False]
    np.testing.assert_array_equal(twin.layers[1].weights[2].numpy(), [1, 2, 3])
    twin.layers[1].weights[3].assign(np.full(3, 5.0, np.float32))
    tf_models.copy_weights_to_numpy(twin, model)
    np.testing.assert_array_equal(model.layers[1].state["moving_variance"], [5, 5, 5])


def test_the_keras_trainer_exposes_its_compiled_step():
    training = pytest.importorskip("tf_nn.training")
    import tensorflow as tf

    from numpy_nn.zoo import TUTORIAL_MODELS

    model = TUTORIAL_MODELS["softmax"].build(seed=0)
    trainer = training.KerasTrainer(model)
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    out = trainer.compiled_step(tf.constant(x), tf.constant([1, 2, 3, 4], tf.int32), ()).numpy()
    assert out.shape == (3,) and out[2] == -1 and np.isfinite(out[0])
