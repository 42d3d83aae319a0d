"""BatchNormalization as a layer: its non-trainable state, against Keras's layer, in checkpoints, in
the weight copy and in the one Keras training step.

(The op itself -- forward and VJP parity in training and inference, float32 and float64, finite
differences, the compact backward against the step-by-step graph, dtypes, bad inputs -- is the
catalogue's entry ``batchnorm``: ``pytest parity_tests -k batchnorm`` runs its generated tests.)
"""
from __future__ import annotations

import numpy as np
import pytest

import numpy_nn as nn
import numpy_nn.functional as F
from numpy_nn import zoo
from numpy_nn.layers import BatchNormalization, Dense, Flatten, LAYERS

from .assertions import OracleTrajectory, assert_parity
from .registry import get
from .runtime import configure_for_parity
from .strategies import DTYPES
from .tolerances import TRAJECTORY_TOLERANCES

configure_for_parity()

BATCHNORM = get("batchnorm")


def _batches(shape, steps, seed=0):
    """``steps`` batches of ``shape``, each channel with its own mean and spread (not zero-mean, unit-variance)."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    return [rng.standard_normal(shape) * rng.uniform(0.5, 3, c) + rng.uniform(-2, 2, c) for _ in range(steps)]


def _cnn_bn(seed=0, dtype="float32"):
    return zoo.get("cnn_bn").build(seed=seed, dtype=dtype)


def _digits(n, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 28, 28, 1)).astype(dtype), rng.integers(0, 10, n)


# --- the layer contract -------------------------------------------------------------------------
def test_batchnorm_weights_are_gamma_beta_then_the_moving_statistics_in_keras_order():
    layer = BatchNormalization()
    layer.build((5, 5, 3), np.float32)
    assert [k for k, _ in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert list(layer.params) == ["gamma", "beta"] and list(layer.state) == ["moving_mean", "moving_variance"]
    for key, start in (("gamma", 1), ("beta", 0), ("moving_mean", 0), ("moving_variance", 1)):
        np.testing.assert_array_equal(dict(layer.weights)[key], np.full(3, start, np.float32))
    assert layer.count_params() == 12 and layer.count_trainable_params() == 6
    plain = BatchNormalization(center=False, scale=False)
    plain.build((4,), np.float64)
    assert list(plain.params) == [] and list(plain.state) == ["moving_mean", "moving_variance"]
    assert LAYERS["BatchNormalization"] is BatchNormalization


def test_cnn_bn_summary_counts_the_moving_statistics_as_non_trainable_like_keras():
    text = _cnn_bn().summary(print_fn=None)
    # conv 3*3*1*32 (no bias) + BN 4*32 + dense 21632*128 + 128 + dense 128*10 + 10
    assert "Total params: 2,770,730" in text and "Trainable params: 2,770,666" in text
    assert "Non-trainable params: 64" in text and "batch_normalization" in text


@pytest.mark.parametrize("shape, axis", [((6, 4, 5, 3), -1), ((8, 5), -1), ((6, 4, 5, 3), 1)])
def test_a_training_forward_updates_the_moving_statistics_and_inference_changes_nothing(shape, axis):
    layer = BatchNormalization(axis=axis, momentum=0.9)
    x = _batches(shape, 1)[0]
    layer.build(shape[1:], np.float64)
    axes = tuple(a for a in range(len(shape)) if a != axis % len(shape))
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(layer.state["moving_mean"], 0.1 * x.mean(axis=axes), rtol=1e-13)
    np.testing.assert_allclose(layer.state["moving_variance"], 0.9 + 0.1 * x.var(axis=axes), rtol=1e-13)
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)  # the batch statistics normalise it
    before = [w.copy() for w in layer.get_weights()]
    layer.forward(x)  # inference: the moving statistics are used, and kept
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights()))


def test_evaluate_and_predict_leave_the_moving_statistics_alone_and_use_them():
    model = _cnn_bn(dtype="float64")
    x, y = _digits(16, "float64")
    model.train_on_batch(x, y)
    bn = model.layers[1]
    before = [w.copy() for w in model.get_weights()]
    out = model.predict(x)
    model.evaluate(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    bn.state["moving_mean"][...] += 1.0  # inference reads them: the outputs move
    assert not np.allclose(model.predict(x), out)


def test_the_layer_refuses_bad_arguments_with_a_clear_error():
    cases = [(dict(momentum=1.5), ValueError, "momentum"), (dict(epsilon=0), ValueError, "epsilon"),
             (dict(epsilon=float("nan")), ValueError, "epsilon"), (dict(axis="last"), ValueError, "axis"),
             (dict(center="yes"), TypeError, "center"), (dict(scale=1), TypeError, "scale")]
    for kwargs, error, word in cases:
        with pytest.raises(error, match=word):
            BatchNormalization(**kwargs)
    with pytest.raises(ValueError, match="axis 0 is not a non-batch axis"):
        nn.Sequential([BatchNormalization(axis=0)], input_shape=(4,))
    with pytest.raises(ValueError, match="axis 3 is not a non-batch axis"):
        nn.Sequential([BatchNormalization(axis=3)], input_shape=(4, 2))


# --- against Keras's layer: the moving statistics after several training steps ------------------
def _keras_layer_run(batches, dtype, momentum, epsilon, axis):
    import keras

    layer = keras.layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, dtype=dtype)
    stats = []
    for x in batches:
        layer(x.astype(dtype), training=True)
        stats.append((layer.moving_mean.numpy(), layer.moving_variance.numpy()))
    return stats


def _numpy_layer_run(batches, dtype, momentum, epsilon, axis):
    layer = BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon)
    stats = []
    for x in batches:
        layer.forward(x.astype(dtype), training=True)
        stats.append((layer.state["moving_mean"].copy(), layer.state["moving_variance"].copy()))
    return stats


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis, momentum", [((4, 6, 6, 3), -1, 0.99), ((4, 6, 6, 3), -1, 0.5),
                                                   ((12, 5), -1, 0.9), ((3, 5, 4, 2), 2, 0.8)])
def test_the_moving_statistics_after_several_training_steps_match_keras(dtype, shape, axis, momentum):
    """Six training-mode calls of the same batches through numpy_nn's layer and Keras's: the moving
    mean and variance after each. float32 is judged by its float64 oracle (both layers again in
    float64 on the same float32 numbers) with the op's cap; the scale of a moving statistic is the
    largest value it averages (|x| for the mean, the batch variances and the initial 1 for the variance)."""
    batches = [x.astype(np.float32) for x in _batches(shape, 6, seed=len(shape) + axis)]
    runs = {"np" + tag: _numpy_layer_run(batches, d, momentum, 1e-3, axis) for tag, d in (("32", dtype), ("64", "float64"))}
    runs.update({"tf" + tag: _keras_layer_run(batches, d, momentum, 1e-3, axis) for tag, d in (("32", dtype), ("64", "float64"))})
    axes = tuple(a for a in range(len(shape)) if a != axis % len(shape))
    scales = (max(float(np.max(np.abs(x))) for x in batches),
              max(1.0, max(float(np.max(x.astype(np.float64).var(axis=axes))) for x in batches)))
    for step in range(len(batches)):
        for k, what in enumerate(("moving_mean", "moving_variance")):
            pick = lambda tag: runs[tag][step][k]  # noqa: E731
            assert pick("np32").dtype == np.dtype(dtype)
            assert_parity(dtype, pick("np32"), pick("tf32"), lambda: (pick("np64"), pick("tf64")), BATCHNORM.tolerances,
                          op="BatchNormalization", what=f"{what} after step {step + 1}", scale=scales[k])


# --- checkpoints and the weight copy ------------------------------------------------------------
def _trained(dtype="float32", steps=3):
    model = _cnn_bn(seed=1, dtype=dtype)
    for step in range(steps):
        model.train_on_batch(*_digits(8, dtype, seed=step))
    bn = model.layers[1]
    assert not np.allclose(bn.state["moving_mean"], 0) and not np.allclose(bn.state["moving_variance"], 1)
    return model


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_checkpoint_with_moving_statistics_round_trips_bit_for_bit(tmp_path, dtype):
    model = _trained(dtype)
    path = model.save(tmp_path / "cnn_bn.npz")
    loaded = nn.load_model(path)
    same = lambda a, b: a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()  # noqa: E731
    assert all(same(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    params = [(p, q) for l1, l2 in zip(model.layers, loaded.layers) for p, q in zip(l1.params.values(), l2.params.values())]
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    for p, q in params:  # Adam's moments of gamma and beta too
        assert all(same(s, t) for s, t in zip(model.optimizer.slots(p), loaded.optimizer.slots(q)))
    x, y = _digits(8, dtype, seed=9)
    assert same(model.predict(x), loaded.predict(x))
    other = _cnn_bn(seed=2, dtype=dtype)
    other.load_weights(path)
    assert all(same(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
    model.compile(model.optimizer, model.loss)
    loaded.compile(loaded.optimizer, model.loss)
    model.train_on_batch(x, y)  # and training goes on identically
    loaded.train_on_batch(x, y)
    assert all(same(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))


def test_the_weight_copy_to_and_from_keras_carries_the_moving_statistics():
    import tf_nn

    model = _trained("float64")
    keras_model = tf_nn.to_keras(model)
    keras_bn = keras_model.get_layer(model.layers[1].name)
    np.testing.assert_array_equal(keras_bn.moving_mean.numpy(), model.layers[1].state["moving_mean"])
    np.testing.assert_array_equal(keras_bn.moving_variance.numpy(), model.layers[1].state["moving_variance"])
    assert [v.trainable for v in keras_bn.weights] == [True, True, False, False]
    assert keras_model.count_params() == model.count_params()
    assert sum(int(np.prod(v.shape)) for v in keras_model.non_trainable_weights) == 64
    x, _ = _digits(8, "float64", seed=5)
    out = keras_model(x, training=False).numpy()  # inference with the copied moving statistics
    assert_parity("float64", model.predict(x), out, None, BATCHNORM.tolerances, op="cnn_bn", what="inference outputs",
                  scale=float(np.max(np.abs(out))))
    keras_bn.moving_mean.assign(keras_bn.moving_mean.numpy() + 0.5)
    tf_nn.copy_weights_to_numpy(keras_model, model)
    np.testing.assert_array_equal(model.layers[1].state["moving_mean"], keras_bn.moving_mean.numpy())


# --- the one Keras training step keeps the moving statistics in lockstep -------------------------
def test_cnn_bn_trains_in_lockstep_with_the_keras_step_moving_statistics_included():
    """numpy_nn's ``train_on_batch`` and the Keras step (``KerasTrainer``), float32 and float64, from
    the same start on the same digits: after every step every weight -- the moving mean and variance
    too, which each framework updates in its training forward -- agrees (float64 element-wise;
    float32 by the float64 oracle, the SGD trajectory caps).

    SGD, not cnn_bn's Adam: after BatchNormalization the background pixels are no longer exact zeros,
    so ~40% of the dense kernel's gradient entries are below 1e-6, and Adam's first step divides
    each by ~(|g| + epsilon / sqrt(1 - beta_2)): it multiplies their float64 rounding differences
    (~1e-15) by up to lr / epsilon' ~ 300, past the 1e-11 of the float64 comparison (measured:
    1.1e-11 at step 1, one entry with g = 1.27e-6). SGD adds lr * g: no amplification."""
    from .lockstep import tutorial_trajectory_oracle

    tutorial = zoo.get("cnn_bn")
    tol = TRAJECTORY_TOLERANCES["sgd"]
    initial = tutorial.build(seed=0).get_weights()
    judge = OracleTrajectory(initial, tol["float32"], tol["float64"], typical=True)
    moved = []
    names, _ = tutorial_trajectory_oracle(tutorial, "sgd", steps=4, batch_size=8,
                                          on_step=lambda step, w: (judge.step(step, w), moved.append(w["tf64"][4])))
    assert names[3:5] == ["layer 1 BatchNormalization moving_mean", "layer 1 BatchNormalization moving_variance"]
    assert not np.allclose(moved[-1], 1.0), "the Keras step did not update the moving variance"
    if judge.failure:
        cmp, step, k = judge.failure
        raise AssertionError(f"cnn_bn, sgd, {names[k]} after step {step}: {cmp.failure}\n  {cmp.describe()}")


def test_cnn_bn_is_trainable_by_name_but_not_a_tutorial_model():
    assert "cnn_bn" in zoo.MODELS and "cnn_bn" not in zoo.TUTORIAL_MODELS
    assert zoo.get("cnn_bn").build(seed=0).layers[1].__class__ is BatchNormalization
    with pytest.raises(ValueError, match="cnn_bn"):
        zoo.get("no_such_model")


def test_a_dense_batchnorm_model_round_trips_its_config():
    model = nn.Sequential([Flatten(), BatchNormalization(momentum=0.5, epsilon=0.01, center=False), Dense(3)],
                          seed=0, input_shape=(2, 3))
    config = model.layers[1].get_config()
    again = BatchNormalization(**config)
    assert again.get_config() == config and config["center"] is False and config["momentum"] == 0.5


# --- hostile inputs (the catalogue's bad inputs are in registry.py) -----------------------------
@pytest.mark.parametrize("forward, backward", [(F.batchnorm_forward, F.batchnorm_backward),
                                               (F.batchnorm_forward_reference, F.batchnorm_backward_reference)])
def test_a_constant_channel_gives_beta_and_a_finite_input_gradient(forward, backward):
    """var = 0: epsilon keeps sigma = sqrt(epsilon) > 0, xhat = 0, so y = beta; to first order a
    change of x moves y by gamma / sqrt(epsilon) times its deviation from the channel mean, so
    dx = gamma / sqrt(epsilon) * (dout - mean(dout)) and dgamma = 0, in both forms."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    x[:, 1] = 2.5
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.1, -0.7, 0.3])
    y, cache = forward(x, gamma, beta, np.zeros(3), np.ones(3), True)
    np.testing.assert_array_equal(y[:, 1], np.full(5, -0.7))
    dout = rng.standard_normal((5, 3))
    dx, dgamma, _ = backward(dout, cache)
    np.testing.assert_allclose(dx[:, 1], 2.0 / np.sqrt(1e-3) * (dout[:, 1] - dout[:, 1].mean()), rtol=1e-12)
    assert np.all(np.isfinite(dx)) and dgamma[1] == 0


def test_a_nan_stays_in_its_channel_and_an_empty_batch_at_inference_is_empty():
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    x[2, 0] = np.nan
    c = np.ones(3, np.float32)
    y, cache = F.batchnorm_forward(x, c, c, c, c, True)
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1:]).all()
    assert np.isnan(cache.new_moving_mean[0]) and np.isfinite(cache.new_moving_mean[1:]).all()
    empty, cache = F.batchnorm_forward(x[:0], c, c, c, c, False)
    assert empty.shape == (0, 3) and empty.dtype == np.float32
    dx, dgamma, dbeta = F.batchnorm_backward(empty, cache)
    assert dx.shape == (0, 3) and np.array_equal(dgamma, np.zeros(3)) and np.array_equal(dbeta, np.zeros(3))


def test_the_forward_never_writes_to_its_inputs():
    rng = np.random.default_rng(2)
    args = (rng.standard_normal((4, 2, 2, 3)), *(rng.uniform(0.5, 2, 3) for _ in range(4)))
    before = [a.copy() for a in args]
    for training in (True, False):
        for forward in (F.batchnorm_forward, F.batchnorm_forward_reference):
            forward(*args, training, momentum=0.5)
            assert all(np.array_equal(a, b) for a, b in zip(args, before))


# --- side by side through the driver that `numpy-nn train` runs --------------------------------
def test_the_driver_trains_cnn_bn_in_both_frameworks_and_checkpoints_the_moving_statistics(tmp_path):
    """``driver.train_model("cnn_bn", ...)`` (what ``numpy-nn train --model cnn_bn --backend both``
    runs) on 128 digits: both runs update their moving statistics, and each framework's checkpoint
    holds its final weights, the moving statistics included, bit for bit."""
    from numpy_nn.app import driver
    from numpy_nn.app.resume import checkpoint_path
    from numpy_nn.datasets import SAMPLE_PATH, load_mnist

    (x, y), (xt, yt) = load_mnist(SAMPLE_PATH, verbose=False)
    result = driver.train_model("cnn_bn", ((x[:128], y[:128]), (xt[:64], yt[:64])), ("numpy", "tf"), epochs=1,
                                verbose=False, save_dir=tmp_path)
    for backend, run in result.runs.items():
        moving_mean, moving_var = run.weights[3], run.weights[4]
        assert not np.allclose(moving_mean, 0) and not np.allclose(moving_var, 1), backend
        saved = nn.load_model(checkpoint_path(tmp_path, "cnn_bn", backend)).get_weights()
        assert all(a.tobytes() == b.tobytes() for a, b in zip(saved, run.weights)), backend
