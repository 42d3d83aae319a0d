"""Every documented bad input raises ValueError/TypeError naming the argument, what was expected and
what arrived: never a deep IndexError and never a silently wrong result."""
import numpy as np
import pytest

import numpy_nn as nn
import numpy_nn.functional as F
from numpy_nn.layers import Conv2D, Dense, Dropout, MaxPooling2D

f32 = np.float32
X4 = np.zeros((2, 5, 5, 3), f32)
K = np.zeros((3, 3, 3, 4), f32)

CASES = [
    # (id, callable, exception, words the message must contain)
    ("conv x wrong rank", lambda: F.conv2d_forward(np.zeros((5, 5, 3), f32), K), ValueError, ["x", "4-D", "(5, 5, 3)"]),
    ("conv kernel wrong rank", lambda: F.conv2d_forward(X4, np.zeros((3, 3, 3), f32)), ValueError, ["kernel", "4-D", "(3, 3, 3)"]),
    ("conv channel mismatch", lambda: F.conv2d_forward(X4, np.zeros((3, 3, 2, 4), f32)), ValueError, ["3 channels", "2 input channels"]),
    ("conv kernel larger than input", lambda: F.conv2d_forward(X4, np.zeros((6, 3, 3, 4), f32)), ValueError, ["kernel height 6", "larger", "5"]),
    ("conv integer input", lambda: F.conv2d_forward(X4.astype(np.int32), K), TypeError, ["x", "floating-point", "int32"]),
    ("conv mixed dtypes", lambda: F.conv2d_forward(X4, K.astype(np.float64)), TypeError, ["kernel", "float64", "float32"]),
    ("conv unknown padding", lambda: F.conv2d_forward(X4, K, padding="full"), ValueError, ["padding", "'full'"]),
    ("conv bad stride", lambda: F.conv2d_forward(X4, K, stride=0), ValueError, ["stride", "0"]),
    ("conv bias shape", lambda: F.conv2d_forward(X4, K, np.zeros(3, f32)), ValueError, ["bias", "(4,)", "(3,)"]),
    ("pool wrong rank", lambda: F.maxpool2d_forward(np.zeros((5, 5), f32)), ValueError, ["x", "4-D", "(5, 5)"]),
    ("pool larger than input", lambda: F.maxpool2d_forward(X4, pool_size=6), ValueError, ["pool_size", "larger"]),
    ("pool unknown padding", lambda: F.maxpool2d_forward(X4, padding="SAME!"), ValueError, ["padding", "'SAME!'"]),
    ("pool integer input", lambda: F.maxpool2d_forward(X4.astype(np.uint8)), TypeError, ["x", "uint8"]),
    ("dense feature mismatch", lambda: F.dense_forward(np.zeros((2, 3), f32), np.zeros((4, 5), f32)), ValueError, ["3 features", "expects 4", "(4, 5)"]),
    ("dense wrong rank", lambda: F.dense_forward(np.zeros(3, f32), np.zeros((3, 5), f32)), ValueError, ["x", "2-D", "(3,)"]),
    ("dense integer input", lambda: F.dense_forward(np.zeros((2, 3), np.int64), np.zeros((3, 5), f32)), TypeError, ["x", "int64"]),
    ("dense list input", lambda: F.dense_forward([[1.0, 2.0]], np.zeros((2, 5), f32)), TypeError, ["x", "array", "list"]),
    ("relu integer input", lambda: F.relu_forward(np.arange(3)), TypeError, ["x", "int"]),
    ("softmax bad axis", lambda: F.softmax_forward(np.zeros((2, 3), f32), axis=2), ValueError, ["axis", "2", "(2, 3)"]),
    ("labels out of range", lambda: F.softmax_cross_entropy_forward(np.zeros((2, 3), f32), np.array([0, 3])), ValueError, ["labels", "[0, 2]", "3"]),
    ("negative label", lambda: F.softmax_cross_entropy_forward(np.zeros((2, 3), f32), np.array([-1, 0])), ValueError, ["labels", "-1"]),
    ("labels wrong length", lambda: F.softmax_cross_entropy_forward(np.zeros((2, 3), f32), np.array([0, 1, 2])), ValueError, ["labels", "length 2", "(3,)"]),
    ("float sparse labels", lambda: F.softmax_cross_entropy_forward(np.zeros((2, 3), f32), np.array([0.0, 1.0])), TypeError, ["labels", "integer", "float64"]),
    ("one-hot wrong shape", lambda: F.cross_entropy_forward(np.full((2, 3), 1 / 3, f32), np.eye(4)[:2]), ValueError, ["labels", "(2, 3)", "(2, 4)"]),
    ("label rows not summing to 1", lambda: F.softmax_cross_entropy_forward(np.zeros((2, 3), f32), np.ones((2, 3))), ValueError, ["labels", "sum to 1"]),
    ("unknown reduction", lambda: F.softmax_cross_entropy_forward(np.zeros((2, 3), f32), np.array([0, 1]), "avg"), ValueError, ["reduction", "'avg'"]),
    ("empty batch", lambda: F.softmax_cross_entropy_forward(np.zeros((0, 3), f32), np.array([], int)), ValueError, ["logits", "(0, 3)"]),
    ("dropout rate 1", lambda: F.dropout_forward(np.zeros(3, f32), 1.0), ValueError, ["rate", "[0, 1)", "1.0"]),
    ("dropout rate negative", lambda: F.dropout_forward(np.zeros(3, f32), -0.1), ValueError, ["rate", "-0.1"]),
    ("dropout mask shape", lambda: F.dropout_forward(np.zeros(3, f32), 0.5, mask=np.ones(4, bool)), ValueError, ["mask", "(3,)", "(4,)"]),
    ("dout wrong shape", lambda: F.relu_backward(np.zeros(4, f32), F.relu_forward(np.zeros(3, f32))[1]), ValueError, ["dout", "(3,)", "(4,)"]),
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
