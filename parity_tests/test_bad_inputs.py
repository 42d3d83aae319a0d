"""Every documented bad input raises ValueError/TypeError naming the argument, what was expected and
what arrived: never a deep IndexError and never a silently wrong result.

The functional ops' bad inputs are the catalogue's (``registry.OPS``, each entry's
``error_inputs``), tested in ``test_error_inputs.py``; here are the layers', the optimizers', the
losses' and Sequential's."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.layers import Conv2D, Dense, Dropout, MaxPooling2D

f32 = np.float32

CASES = [
    # (id, callable, exception, words the message must contain)
    ("layer Dropout rate", lambda: Dropout(1.5), ValueError, ["rate", "1.5"]),
    ("layer Dense units", lambda: Dense(0), ValueError, ["units", "0"]),
    ("layer Conv2D padding", lambda: Conv2D(4, 3, padding="circular"), ValueError, ["padding", "'circular'"]),
    ("layer MaxPooling2D pool", lambda: MaxPooling2D(pool_size=(2, 0)), ValueError, ["pool_size", "(2, 0)"]),
    ("unknown activation", lambda: Dense(3, activation="gelu"), ValueError, ["activation", "'gelu'"]),
    ("negative learning rate", lambda: nn.optimizers.SGD(learning_rate=-0.1), ValueError, ["learning_rate", "-0.1"]),
    ("beta_1 of 1", lambda: nn.optimizers.Adam(beta_1=1.0), ValueError, ["beta_1", "[0.0, 1.0)", "1.0"]),
    ("beta_2 negative", lambda: nn.optimizers.Adam(beta_2=-0.5), ValueError, ["beta_2", "-0.5"]),
    ("unknown optimizer", lambda: nn.optimizers.get("rmsprop"), ValueError, ["optimizer", "'rmsprop'"]),
    ("unknown loss", lambda: nn.losses.get("mse"), ValueError, ["loss", "'mse'"]),
    ("gradient shape mismatch", lambda: nn.optimizers.SGD().apply_gradients([(np.zeros(3), np.zeros(4))]), ValueError, ["gradient 0", "(4,)", "(3,)"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(case):
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def _mlp():
    model = nn.Sequential([Dense(4, activation="relu"), Dense(3)], seed=0, input_shape=(5,))
    model.compile("sgd", nn.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    return model


def test_fit_refuses_input_of_the_wrong_shape_for_the_first_layer():
    with pytest.raises(ValueError, match=r"first layer 'dense\w*' expects input of shape \(batch, 5\), got \(8, 6\)"):
        _mlp().fit(np.zeros((8, 6), f32), np.zeros(8, int), verbose=0)


def test_fit_refuses_labels_of_another_length():
    with pytest.raises(ValueError, match=r"one label per example \(8\), got 7"):
        _mlp().fit(np.zeros((8, 5), f32), np.zeros(7, int), verbose=0)


def test_fit_refuses_an_empty_batch_and_integer_images():
    with pytest.raises(ValueError, match=r"non-empty batch.*\(0, 5\)"):
        _mlp().fit(np.zeros((0, 5), f32), np.zeros(0, int), verbose=0)
    with pytest.raises(TypeError, match="x must be a floating-point array.*uint8"):
        _mlp().predict(np.zeros((2, 5), np.uint8))


def test_fit_before_compile_says_what_to_do():
    model = nn.Sequential([Dense(3)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 4), f32), np.zeros(2, int))


def test_set_weights_checks_everything_before_assigning_anything():
    model = _mlp()
    before = model.get_weights()
    bad = [w.copy() + 1 for w in before]
    bad[-1] = np.zeros(7, f32)  # last one wrong: nothing may change
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), got \(7,\)"):
        model.set_weights(bad)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expected 4 arrays, got 3"):
        model.set_weights(before[:3])
