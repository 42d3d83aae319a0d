"""The four tutorial models (``numpy_nn.zoo``) against their Keras twins (``tf_nn.to_keras``).

* Same weights, same batch, same dropout masks give the same outputs, loss and gradient of every
  parameter -- drawn weight seeds, batch sizes, batches, sparse and one-hot labels, float32 and
  float64; float32 judged by its float64 oracle (the same weights, digits and masks in float64). The models' own loss settings are kept, so softmax regression and the MLP exercise
  ``from_logits=False`` on a final softmax (Keras's fused-logits path, numpy_nn's too), and the
  dropout and CNN models ``from_logits=True``.
* Training trajectories: same initial weights, same 50 batches of real MNIST digits (the bundled
  sample), same dropout masks, 50 steps of SGD and of Adam through each library's one training step
  (``Sequential.train_on_batch``, ``tf_nn.training.KerasTrainer.train_on_batch``), in float32 and
  float64 side by side; judged after every step
  (``TRAJECTORY_TOLERANCES``, the float64 oracle). Marked ``slow``.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_nn.zoo import TUTORIAL_MODELS
import tf_nn
from .lockstep import tutorial_step_oracle, tutorial_step_pair, tutorial_trajectory_oracle

from .assertions import OracleTrajectory, assert_parity
from .runtime import configure_for_parity
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
    where = f"{name} (seed {seed}, batch {start}:{start + size}, {'one-hot' if one_hot else 'sparse'} labels)"
    if dtype == "float64":
        names, ours, theirs = tutorial_step_pair(TUTORIAL_MODELS[name], dtype, seed, start, size, one_hot, mask_seed)
        runs = {"np64": ours, "tf64": theirs}
    else:  # float32, with its float64 oracle on the same weights, digits and masks
        names, runs = tutorial_step_oracle(TUTORIAL_MODELS[name], seed, start, size, one_hot, mask_seed)
    ours, theirs = runs["np" + dtype[-2:]], runs["tf" + dtype[-2:]]
    assert len(ours[2]) == len(theirs[2]) == len(names)

    def check(what, pick, tolerances):
        oracle = lambda: (pick(runs["np64"]), pick(runs["tf64"]))  # noqa: E731 (float32 only)
        assert_parity(dtype, pick(ours), pick(theirs), oracle, tolerances, op=where, what=what)

    check("outputs", lambda r: r[0], MODEL_TOLERANCES["outputs"])
    check("loss", lambda r: np.float64(r[1]), MODEL_TOLERANCES["loss"])
    for i, pname in enumerate(names):
        check(f"d {pname}", lambda r, i=i: r[2][i], MODEL_TOLERANCES["gradients"])


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
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_training_trajectory_stays_with_keras_for_50_steps(name, kind):
    """Four runs in lockstep: numpy_nn and Keras, float32 and float64, same start, batches and masks.
    After every step: the float64 runs agree element-wise (the frameworks train the same way); each
    float32 run's drift from the float64 truth stays under the cap, and neither drifts much faster
    than the other (median element, see ``compare_with_oracle(typical=True)``)."""
    tutorial = TUTORIAL_MODELS[name]
    tol = TRAJECTORY_TOLERANCES[kind]
    initial = tutorial.build(seed=0).get_weights()
    judge = OracleTrajectory(initial, tol["float32"], tol["float64"], typical=True)
    names, _ = tutorial_trajectory_oracle(tutorial, kind, TRAJECTORY_STEPS, TRAJECTORY_BATCH, on_step=judge.step)
    if judge.failure:
        cmp, step, k = judge.failure
        raise AssertionError(f"{name}, {kind}, {names[k]} after step {step} of {TRAJECTORY_STEPS}: {cmp.failure}\n"
                             f"  {cmp.describe()}")


# --- Keras's fused softmax: a from_logits=False loss on a final softmax uses its logits -----
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("one_hot", [False, True], ids=["sparse", "one-hot"])
def test_loss_on_a_final_softmax_uses_the_logits_unclipped_like_keras(dtype, one_hot):
    """Keras (TensorFlow backend) computes a from_logits=False cross-entropy on the output of a
    softmax activation from the softmax's input logits (``_get_logits``), so a confidently wrong
    prediction costs its full -log p (here ~60), not the clipped -log(1e-7) = 16.1."""
    import numpy_nn
    from numpy_nn import losses as np_losses
    from .lockstep import keras_step, numpy_step

    def both(run_dtype):
        model = numpy_nn.Sequential([numpy_nn.layers.Dense(3, activation="softmax")], seed=0)
        model.build((2,), run_dtype)
        model.set_weights([np.array([[30.0, 0.0, -30.0], [0.0, 0.0, 0.0]]), np.zeros(3)])
        x = np.array([[1.0, 0.0], [1.0, 1.0]], dtype=run_dtype)
        y = np.array([2, 0])
        loss = (np_losses.CategoricalCrossentropy if one_hot else np_losses.SparseCategoricalCrossentropy)(from_logits=False)
        if one_hot:
            y = np.eye(3, dtype=run_dtype)[y]
        model.compile("sgd", loss)
        return numpy_step(model, x, y), keras_step(model, x, y)

    (ours, theirs), oracle = both(dtype), (lambda: both("float64"))
    assert float(theirs[1]) > 25, "Keras no longer fuses the softmax into the loss: update numpy_nn and the docs"
    runs64 = {}
    for what, pick in [("loss", lambda r: np.float64(r[1]))] + [(f"d param {i}", lambda r, i=i: r[2][i]) for i in range(2)]:
        def pair(pick=pick):
            if "r" not in runs64:  # the float64 runs, once
                runs64["r"] = oracle()
            return pick(runs64["r"][0]), pick(runs64["r"][1])

        assert_parity(dtype, pick(ours), pick(theirs), pair, MODEL_TOLERANCES["loss" if what == "loss" else "gradients"],
                      op="Dense(3, softmax) + from_logits=False", what=what)
