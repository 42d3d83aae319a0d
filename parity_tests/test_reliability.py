"""Reliability: determinism, safe checkpoints, exact resume, divergence that stops cleanly, fuzzed
parsers that only ever raise their documented error, and extreme-but-valid numerics."""
import gzip
import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpy_nn as nn
import numpy_nn.functional as F
from numpy_nn import load_model
from numpy_nn.checkpoint import CheckpointError
from numpy_nn.datasets import DataError, load_mnist, read_idx
from numpy_nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from numpy_nn.models import TrainingDiverged

FUZZ = settings(max_examples=max(200, settings().max_examples))


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 4, n)


def _model(seed=0):
    model = nn.Sequential([Conv2D(4, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dense(16, activation="relu"),
                           Dropout(0.3), Dense(4)], seed=seed)
    model.build((8, 8, 1))
    model.compile(nn.optimizers.Adam(0.01), nn.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    return model


def _same(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in zip(a, b))


# --- determinism ---------------------------------------------------------------------------------
def test_the_same_seed_gives_bit_identical_weights_losses_and_metrics():
    x, y = _data()
    runs = []
    for _ in range(2):
        model = _model(seed=5)
        history = model.fit(x, y, epochs=2, batch_size=16, seed=7, verbose=0)
        runs.append((history.history, model.get_weights(), model.evaluate(x, y)))
    assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2]
    assert _same(runs[0][1], runs[1][1])


def test_another_seed_gives_another_run():
    x, y = _data()
    a, b = _model(seed=5), _model(seed=5)
    a.fit(x, y, epochs=1, batch_size=16, seed=1, verbose=0)
    b.fit(x, y, epochs=1, batch_size=16, seed=2, verbose=0)
    assert not _same(a.get_weights(), b.get_weights())


# --- checkpoints ---------------------------------------------------------------------------------
def test_a_checkpoint_round_trips_architecture_weights_and_optimizer_state_exactly(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, batch_size=32, seed=0, verbose=0)
    path = model.save(tmp_path / "model.npz", training_state={"epoch": 1})
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    loaded = load_model(path)
    loaded.compile(loaded.optimizer, model.loss)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert _same(loaded.get_weights(), model.get_weights())
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    # The next step (same batch, dropout masks from the restored generators) is identical too.
    assert loaded.train_on_batch(x[:32], y[:32]) == model.train_on_batch(x[:32], y[:32])
    assert _same(loaded.get_weights(), model.get_weights())


def test_resuming_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path):
    x, y = _data()
    straight = _model()
    straight.fit(x, y, epochs=3, batch_size=16, seed=11, verbose=0)

    first = _model()
    first.fit(x, y, epochs=1, batch_size=16, seed=11, verbose=0)
    first.save(tmp_path / "epoch1.npz")
    resumed = _model(seed=99)  # different initial weights: everything must come from the file
    resumed.load_weights(tmp_path / "epoch1.npz")
    resumed.fit(x, y, epochs=3, batch_size=16, seed=11, verbose=0, initial_epoch=1)
    assert _same(resumed.get_weights(), straight.get_weights())


def _damaged(tmp_path, model, how):
    path = model.save(tmp_path / "good.npz")
    raw = path.read_bytes()
    bad = tmp_path / f"bad-{how}.npz"
    if how == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif how == "not-npz":
        bad.write_bytes(b"this is not a checkpoint")
    elif how == "flipped":
        bad.write_bytes(raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:])
    else:  # a valid npz whose arrays do not fit the model
        arrays = dict(np.load(path))
        if how == "wrong-shape":
            arrays["weight_000"] = np.zeros((2, 2, 1, 4), np.float32)
        elif how == "nan-weight":
            arrays["weight_002"] = np.full_like(arrays["weight_002"], np.nan)
        elif how == "no-header":
            del arrays["header"]
        elif how == "nan-slot":  # caught only after the weights were read: nothing may be assigned yet
            arrays["slot_003"] = np.full_like(arrays["slot_003"], np.nan)
        elif how == "bad-rng-state":
            header = json.loads(arrays["header"].tobytes())
            header["layers"][4]["rng_state"] = {"bit_generator": "PCG64", "state": "garbage"}
            arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        np.savez(bad, **arrays)
    return bad


@pytest.mark.parametrize("how", ["truncated", "not-npz", "flipped", "wrong-shape", "nan-weight", "no-header", "nan-slot",
                                 "bad-rng-state"])
def test_a_damaged_checkpoint_raises_a_clear_error_and_leaves_the_model_unchanged(tmp_path, how):
    model = _model()
    bad = _damaged(tmp_path, model, how)
    target = _model(seed=3)
    before = target.get_weights()
    with pytest.raises(CheckpointError) as info:
        target.load_weights(bad)
    assert str(bad) in str(info.value)
    assert _same(before, target.get_weights())
    with pytest.raises(CheckpointError):
        load_model(bad)


def test_a_checkpoint_of_another_architecture_is_refused_before_anything_is_assigned(tmp_path):
    other = nn.Sequential([Flatten(), Dense(4)], seed=0, input_shape=(8, 8, 1))
    other.compile("sgd", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    path = other.save(tmp_path / "other.npz")
    model = _model()
    before = model.get_weights()
    with pytest.raises(CheckpointError, match="architecture differs"):
        model.load_weights(path)
    assert _same(before, model.get_weights())


def test_a_pickled_checkpoint_is_never_unpickled(tmp_path):
    bad = tmp_path / "pickled.npz"
    np.savez(bad, header=np.array([{"format": "numpy-nn-checkpoint"}], dtype=object))
    with pytest.raises(CheckpointError):
        load_model(bad)


# --- divergence ----------------------------------------------------------------------------------
def test_training_stops_on_a_nan_loss_naming_epoch_step_and_layer_and_keeps_the_last_good_weights():
    x, y = _data(64)
    x[40, 3, 3, 0] = np.nan  # in the third batch of 16 of the second epoch's order? find it below
    model = _model()
    seed, batch = 0, 16
    order = nn.batching.epoch_batch_indices(64, batch, seed, 0)
    bad_step = next(k for k, idx in enumerate(order, 1) if 40 in idx)
    reference = _model()
    for idx in order[: bad_step - 1]:
        reference.train_on_batch(x[idx], y[idx])
    with pytest.raises(TrainingDiverged) as info:
        model.fit(x, y, epochs=2, batch_size=batch, seed=seed, verbose=0)
    err = info.value
    assert (err.epoch, err.step) == (1, bad_step)
    assert err.layer == model.layers[0].name
    assert f"epoch 1, step {bad_step}" in str(err) and "the weights are those before this step" in str(err)
    assert _same(model.get_weights(), reference.get_weights())


def test_a_non_finite_gradient_with_a_finite_loss_is_caught_in_the_first_layer_it_reaches():
    """Tiny first-layer weights and huge second-layer weights: logits of +-4e3 (a finite loss), but
    dL/dW1 = x^T (dlogits W2^T) ~ 100 * 2e38 overflows float32 in the first layer only."""
    model = nn.Sequential([Dense(2, use_bias=False), Dense(2, use_bias=False)], seed=0, input_shape=(2,))
    model.compile("sgd", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.set_weights([np.full((2, 2), 1e-37, np.float32), np.array([[1e38, -1e38], [1e38, -1e38]], np.float32)])
    before = model.get_weights()
    with pytest.raises(TrainingDiverged, match=f"non-finite gradient in layer '{model.layers[0].name}'") as info:
        with np.errstate(over="ignore"):
            model.train_on_batch(np.full((1, 2), 100, np.float32), np.array([1]))
    assert info.value.layer == model.layers[0].name and np.isfinite(model.loss.forward(np.array([1]), model.forward(np.full((1, 2), 100, np.float32))))
    assert _same(before, model.get_weights())


def test_an_update_that_overflows_the_weights_is_reported_truthfully_in_the_step_that_did_it():
    """Finite gradients, but lr = 1e38 sends the kernel to inf: the optimizer's check after the
    update stops that very step, and the error does not claim that the weights are good."""
    model = nn.Sequential([Dense(10, activation="softmax")], seed=0, input_shape=(4,))
    model.compile(nn.optimizers.SGD(1e38), "sparse_categorical_crossentropy")
    x, y = np.full((2, 4), 100, np.float32), np.array([1, 2])
    with pytest.raises(TrainingDiverged) as info:
        model.train_on_batch(x, y)
    assert info.value.weights_finite is False and info.value.layer == model.layers[0].name
    assert f"layer '{model.layers[0].name}' (kernel)" in str(info.value)
    assert "NOT those before this step" in str(info.value) and "the weights are those before" not in str(info.value)


# --- fuzzing -------------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_idx_reader(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "blob-idx3-ubyte"
    path.write_bytes(blob)
    try:
        read_idx(path)
    except DataError:
        pass


def _valid_idx_bytes(compress):

    arr = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    raw = b"\x00\x00\x08\x03" + np.array(arr.shape, ">i4").tobytes() + arr.tobytes()
    return gzip.compress(raw, mtime=0) if compress else raw


@FUZZ
@given(st.booleans(), st.data())
def test_mutated_idx_files_only_ever_raise_data_error(tmp_path_factory, compress, data):
    blob = bytearray(_valid_idx_bytes(compress))
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "truncate", "append"]), label="kind")
        if kind == "flip" and blob:
            i = data.draw(st.integers(0, len(blob) - 1), label="index")
            blob[i] ^= data.draw(st.integers(1, 255), label="mask")
        elif kind == "truncate":
            blob = blob[: data.draw(st.integers(0, len(blob)), label="cut")]
        else:
            blob += data.draw(st.binary(min_size=1, max_size=8), label="tail")
    path = tmp_path_factory.mktemp("fuzz") / ("f.gz" if compress else "f")
    path.write_bytes(bytes(blob))
    try:
        out = read_idx(path)
        assert isinstance(out, np.ndarray)
    except DataError:
        pass


def _mnist_npz_bytes():
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buf, x_train=rng.integers(0, 255, (3, 28, 28), dtype=np.uint8), y_train=np.array([1, 2, 3], np.uint8),
             x_test=rng.integers(0, 255, (2, 28, 28), dtype=np.uint8), y_test=np.array([4, 5], np.uint8))
    return buf.getvalue()


@FUZZ
@given(st.data())
def test_mutated_mnist_npz_files_only_ever_raise_data_error(tmp_path_factory, data):
    blob = bytearray(_mnist_npz_bytes())
    i = data.draw(st.integers(0, len(blob) - 1), label="index")
    blob[i] ^= data.draw(st.integers(1, 255), label="mask")
    if data.draw(st.booleans(), label="truncate"):
        blob = blob[: data.draw(st.integers(0, len(blob)), label="cut")]
    folder = tmp_path_factory.mktemp("npz")
    (folder / "mnist.npz").write_bytes(bytes(blob))
    try:
        load_mnist(folder, verbose=False)
    except DataError:
        pass


_CHECKPOINT = None


def _checkpoint_bytes(tmp_path_factory):
    global _CHECKPOINT
    if _CHECKPOINT is None:
        model = nn.Sequential([Dense(3, activation="relu"), Dropout(0.5), Dense(2)], seed=0, input_shape=(4,))
        model.compile("adam", nn.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(np.ones((2, 4), np.float32), np.array([0, 1]))
        _CHECKPOINT = model.save(tmp_path_factory.mktemp("ckpt") / "c.npz").read_bytes()
    return _CHECKPOINT


@FUZZ
@given(st.data())
def test_mutated_checkpoints_only_ever_raise_checkpoint_error(tmp_path_factory, data):
    blob = bytearray(_checkpoint_bytes(tmp_path_factory))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        i = data.draw(st.integers(0, len(blob) - 1), label="index")
        blob[i] ^= data.draw(st.integers(1, 255), label="mask")
    path = tmp_path_factory.mktemp("ckpt") / "m.npz"
    path.write_bytes(bytes(blob))
    try:
        load_model(path)
    except CheckpointError:
        pass


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_as_a_checkpoint_raise_checkpoint_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("ckpt") / "r.npz"
    path.write_bytes(blob)
    with pytest.raises(CheckpointError):
        load_model(path)


def test_a_checkpoint_header_with_a_valid_zip_but_garbage_json_is_refused(tmp_path):
    path = tmp_path / "garbage.npz"
    np.savez(path, header=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(CheckpointError, match="damaged header"):
        load_model(path)
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(CheckpointError, match="no numpy-nn header"):
        load_model(tmp_path / "empty.npz")


# --- extreme but valid numerics ------------------------------------------------------------------
BIG = np.finfo(np.float32).max / 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_of_extreme_or_all_equal_inputs_are_finite_and_correct(dtype):
    big = np.finfo(dtype).max / 4
    x = np.array([[big, -big, 0.0], [7.0, 7.0, 7.0], [-big, -big, -big]], dtype=dtype)
    y, _ = F.softmax_forward(x)
    log_y, _ = F.log_softmax_forward(x)
    assert np.all(np.isfinite(y)) and y.dtype == dtype
    np.testing.assert_allclose(y, [[1, 0, 0], [1 / 3] * 3, [1 / 3] * 3], atol=1e-7)
    assert log_y[0, 0] == 0 and np.isfinite(log_y[1:]).all()
    np.testing.assert_allclose(log_y[1:], np.log(1 / 3), rtol=1e-6)


def test_maxpool_of_all_equal_windows_routes_each_gradient_once_to_the_first_element():
    x = np.full((1, 4, 4, 2), 3.0, np.float32)
    y, cache = F.maxpool2d_forward(x, 2, 1)
    dy = np.ones_like(y)
    dx = F.maxpool2d_backward(dy, cache)
    assert dx.sum() == dy.sum()
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]])


def test_maxpool_and_relu_of_values_near_the_float32_maximum_are_exact():
    x = np.full((1, 2, 2, 1), BIG, np.float32)
    x[0, 1, 1, 0] = np.finfo(np.float32).max
    y, _ = F.maxpool2d_forward(x)
    assert y[0, 0, 0, 0] == np.finfo(np.float32).max
    r, _ = F.relu_forward(x)
    np.testing.assert_array_equal(r, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_of_logits_of_plus_minus_1e4_is_finite_with_finite_gradients(dtype):
    logits = np.array([[1e4, -1e4], [-1e4, 1e4], [0, 0]], dtype=dtype)
    for labels in (np.array([0, 0, 1]), np.eye(2, dtype=dtype)[[0, 0, 1]]):
        loss, cache = F.softmax_cross_entropy_forward(logits, labels, "none")
        grad = F.softmax_cross_entropy_backward(np.ones(3, dtype), cache)
        np.testing.assert_allclose(loss, [0, 2e4, np.log(2)], rtol=1e-6)
        assert np.all(np.isfinite(grad))
