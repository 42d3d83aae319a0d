"""The four tutorial models (``numpy_nn.zoo``) against their Keras twins (``tf_nn.to_keras``).

* Same weights, same batch, same dropout masks give the same outputs, loss and gradient of every
  parameter -- drawn weight seeds, batch sizes, batches, sparse and one-hot labels, float32 and
  float64. The models' own loss settings are kept, so softmax regression and the MLP exercise
  ``from_logits=False`` on a final softmax (Keras's fused-logits path, numpy_nn's too), and the
  dropout and CNN models ``from_logits=True``.
* Training trajectories: same initial weights, same 50 batches of real MNIST digits (the bundled
  sample), same dropout masks, 50 steps of SGD and of Adam through each library's own
  ``train_on_batch``; the weights must still agree (``TRAJECTORY_TOLERANCES``). Marked ``slow``.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_nn.zoo import TUTORIAL_MODELS
import tf_nn
from tf_nn.parity import tutorial_step_pair, tutorial_trajectory
from tf_nn.runtime import configure_for_parity

from .assertions import assert_close
from .strategies import DTYPES, seeds
from .tolerances import MODEL_TOLERANCES, TRAJECTORY_TOLERANCES

configure_for_parity()

TRAJECTORY_STEPS, TRAJECTORY_BATCH = 50, 32
MODEL_NAMES = list(TUTORIAL_MODELS)


# --- same weights, same batch: same outputs, loss and gradients -----------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=max(3, settings().max_examples // 5))
@given(data=st.data())
def test_tutorial_model_gives_keras_outputs_loss_and_gradients(name, dtype, data):
    seed = data.draw(st.integers(0, 2**16), label="weights seed")
    size = data.draw(st.integers(1, 32), label="batch size")
    start = data.draw(st.integers(0, 4000), label="batch start")
    one_hot = data.draw(st.booleans(), label="one-hot labels")
    mask_seed = data.draw(seeds, label="mask seed")
    names, ours, theirs = tutorial_step_pair(TUTORIAL_MODELS[name], dtype, seed, start, size, one_hot, mask_seed)

    where = f"{name} (seed {seed}, batch {start}:{start + size}, {'one-hot' if one_hot else 'sparse'} labels)"
    tol = {k: v[dtype] for k, v in MODEL_TOLERANCES.items()}
    assert_close(ours[0], theirs[0], tol["outputs"], op=where, dtype=dtype, what="outputs")
    assert_close(np.float64(ours[1]), np.float64(theirs[1]), tol["loss"], op=where, dtype=dtype, what="loss")
    assert len(ours[2]) == len(theirs[2]) == len(names)
    for pname, g, ref in zip(names, ours[2], theirs[2]):
        assert_close(g, ref, tol["gradients"], op=where, dtype=dtype, what=f"d {pname}")


def test_to_keras_copies_architecture_and_weights_both_ways():
    model = TUTORIAL_MODELS["cnn"].build(seed=3)
    twin = tf_nn.to_keras(model)
    assert [type(layer).__name__ for layer in twin.layers] == ["Conv2D", "Flatten", "Dense", "Dense"]
    assert twin.input_shape == (None, 28, 28, 1) and twin.count_params() == model.count_params()
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    shifted = [w + 1 for w in twin.get_weights()]
    twin.set_weights(shifted)
    tf_nn.copy_weights_to_numpy(twin, model)
    for ours, theirs in zip(model.get_weights(), shifted):
        np.testing.assert_array_equal(ours, theirs)
    other = TUTORIAL_MODELS["mlp"].build(seed=0)
    with pytest.raises(ValueError, match="do not match"):
        tf_nn.copy_weights_to_keras(other, twin)


def test_injected_dropout_applies_the_mask_once_then_behaves_like_keras_dropout():
    layer = tf_nn.InjectedDropout(0.5)
    x = np.ones((2, 4), dtype="float32")
    layer.mask = np.array([[True, False, True, False], [False, False, True, True]])
    np.testing.assert_array_equal(layer(x, training=True).numpy(), layer.last_mask * 2.0)
    assert layer.mask is None  # used once, like numpy_nn's Dropout.mask
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    with pytest.raises(ValueError, match="boolean array of shape"):
        layer.mask = np.ones((3, 4), bool)
        layer(x, training=True)


# --- training trajectories ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_training_trajectory_stays_with_keras_for_50_steps(name, kind, dtype):
    names, ours, theirs, _ = tutorial_trajectory(TUTORIAL_MODELS[name], kind, dtype, TRAJECTORY_STEPS, TRAJECTORY_BATCH)
    tol = TRAJECTORY_TOLERANCES[kind][dtype]
    for pname, w, ref in zip(names, ours, theirs):
        assert_close(w, ref, tol, op=f"{name} after {TRAJECTORY_STEPS} steps of {kind}", dtype=dtype, what=pname)


# --- Keras's fused softmax: a from_logits=False loss on a final softmax uses its logits -----
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("one_hot", [False, True], ids=["sparse", "one-hot"])
def test_loss_on_a_final_softmax_uses_the_logits_unclipped_like_keras(dtype, one_hot):
    """Keras (TensorFlow backend) computes a from_logits=False cross-entropy on the output of a
    softmax activation from the softmax's input logits (``_get_logits``), so a confidently wrong
    prediction costs its full -log p (here ~60), not the clipped -log(1e-7) = 16.1."""
    import numpy_nn
    from numpy_nn import losses as np_losses
    from tf_nn.parity import keras_step, numpy_step

    model = numpy_nn.Sequential([numpy_nn.layers.Dense(3, activation="softmax")], seed=0)
    model.build((2,), dtype)
    model.set_weights([np.array([[30.0, 0.0, -30.0], [0.0, 0.0, 0.0]]), np.zeros(3)])
    x = np.array([[1.0, 0.0], [1.0, 1.0]], dtype=dtype)
    y = np.array([2, 0])
    loss = (np_losses.CategoricalCrossentropy if one_hot else np_losses.SparseCategoricalCrossentropy)(from_logits=False)
    if one_hot:
        y = np.eye(3, dtype=dtype)[y]
    ours = numpy_step(model, x, y, loss=loss)
    theirs = keras_step(tf_nn.to_keras(model), tf_nn.losses.from_numpy(loss, dtype=dtype), x, y)
    assert float(theirs[1]) > 25, "Keras no longer fuses the softmax into the loss: update numpy_nn and the docs"
    np.testing.assert_allclose(float(ours[1]), float(theirs[1]), rtol=1e-6)
    for g, ref in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-7)
