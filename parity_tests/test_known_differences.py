"""The documented differences between TensorFlow with oneDNN on and off (and numpy_nn), pinned.

TensorFlow decides at import whether to run its oneDNN kernels: on by default on recent Intel CPUs,
off e.g. on AMD; ``TF_ENABLE_ONEDNN_OPTS=1`` / ``=0`` forces it on / off on any x86 CPU. Each test
here runs TensorFlow in child processes (:mod:`parity_tests.tf_isolated`) with the switch forced
both ways, so every difference is checked on any x86 machine, whatever its default:

(a) a bad input can abort the process instead of raising: ``tf.nn.conv2d`` on a 3-D input (no batch
    axis) fails a C++ CHECK under oneDNN and raises InvalidArgumentError without it. The registry's
    bad inputs that do this are listed in :data:`KNOWN_ABORTS`, the one table of them;
(b) inside a ``tf.function``, Grappler fuses MatMul + BiasAdd + ReLU (a ``Dense(activation="relu")``)
    into one oneDNN kernel whose ReLU maps NaN to 0; without oneDNN, and eagerly, ReLU keeps NaN,
    as numpy_nn's does. So a NaN in the input of a Keras model can vanish under oneDNN;
(c) a window larger than the input with 'valid' padding (numpy_nn refuses it): without oneDNN
    TensorFlow returns an empty output; under oneDNN ``conv2d`` returns a tensor of the *input's*
    shape holding uninitialized memory (garbage, different run to run) and ``max_pool2d`` raises
    AbortedError.

(d) max-pooling and NaN / -inf: TensorFlow's CPU kernel compares with ``>`` from the lowest float,
    so it ignores a NaN in a window (an all-NaN window gives -3.4e38 in float32) and gives -3.4e38,
    not -inf, for a window of -inf; numpy_nn's max propagates NaN (the window's gradient goes to its
    first NaN) and gives -inf. Both route an all -inf window's gradient to its first real cell;
(e) average pooling with "same" padding and a pool larger than the input (e.g. 7x7 on 5x5, stride 1):
    TensorFlow's forward is right but its gradient is not the derivative of that forward (off by
    ~0.1 to 0.2 for unit upstream gradients); numpy_nn's gradient is (float64 central differences of
    TensorFlow's forward agree with it to 1e-10);
(f) empty and zero-size: a convolution of an empty batch (or with an empty spatial axis) returns a
    tensor of the *input's* shape under oneDNN (ignoring the kernel, the stride and "valid"), so a
    bias then fails; without oneDNN, the right shape, as numpy_nn; a kernel with 0 filters
    gives an empty output without oneDNN and an error with it (numpy_nn refuses every kernel with a
    zero-length axis, as TensorFlow does for the others); a stride beyond int32 aborts the process
    under oneDNN (``mkl_layout_pass.cc``) and raises without it (numpy_nn raises a ValueError).

All of it costs two children, one per setting of the switch, each running every probe and every
registry bad input (those expected to abort last, so that a crash ends the child's work).
"""
from __future__ import annotations

import math
import platform
from dataclasses import dataclass

import numpy as np
import pytest

import numpy_nn.functional as F

from .registry import OPS, get
from .tf_isolated import Call, cached_run

HERE = "parity_tests.test_known_differences"


@dataclass(frozen=True)
class KnownAbort:
    """A registry bad input on which TensorFlow aborts the process (a failed C++ CHECK) instead of
    raising, under the configuration ``onednn``; under the other one it raises ``otherwise``."""

    onednn: bool
    check: tuple                  # what TensorFlow's last stderr line says (one of these: it varies by version)
    otherwise: str                # the exception type name it raises in the other configuration
    reason: str


#: The one table of TensorFlow's aborts on the registry's bad inputs, keyed by (op name, case
#: description), as observed with TensorFlow 2.21 (every registry case run under
#: ``TF_ENABLE_ONEDNN_OPTS=1`` and ``=0``; on the CPU). A case that aborts and is not listed fails
#: ``test_no_bad_input_aborts_tensorflow_unless_it_is_a_known_abort``; a listed one that stops
#: aborting fails ``test_error_inputs`` and the tests below: then this table should shrink.
KNOWN_ABORTS = {
    ("conv2d", "3-D input (no batch axis)"): KnownAbort(
        onednn=True, check=("tensor_format.h:428] Check failed: index >= 0 && index < num_total_dims",),
        otherwise="InvalidArgumentError",
        reason="oneDNN's Conv2D looks up the channel axis (index 3 of NHWC) before checking that the input is 4-D"),
}
#: oneDNN's graph rewrite (mkl_layout_pass) reads the strides / ksize attributes with a CHECK where
#: the plain kernels raise "Attr ... out of range for an int32" (AvgPool raises in both).
for _op, _description, _attr, _line in (("conv2d", "stride beyond int32", "strides", "2703"),
                                        ("conv2d", "stride of 2**62", "strides", "2703"),
                                        ("maxpool2d", "stride beyond int32", "strides", "1598"),
                                        ("maxpool2d", "pool_size beyond int32", "ksize", "1597")):
    KNOWN_ABORTS[(_op, _description)] = KnownAbort(
        # TensorFlow 2.21's CHECK line; 2.20 (make test-oldest) aborts too, printing the failed status
        onednn=True, check=(f"mkl_layout_pass.cc:{_line}] Check failed", f"Attr {_attr} has value"),
        otherwise="InvalidArgumentError",
        reason=f"oneDNN's layout pass reads the {_attr} attribute with a CHECK before validating it as an int32")


def known_abort(op_name, description, onednn):
    """The :class:`KnownAbort` for this case if TensorFlow aborts on it under ``onednn``, else None."""
    abort = KNOWN_ABORTS.get((op_name, description))
    return abort if abort is not None and abort.onednn == onednn else None


# --- what the children run ----------------------------------------------------------------------
def tensorflow_on(op_name, index):
    """TensorFlow's side of the registry's bad input number ``index`` of ``op_name`` (run in a child)."""
    op = get(op_name)
    case = op.error_inputs()[index]
    return op.tf_fn(*case.args, **case.kwargs)


def case_id(op, case):
    return f"{op.name}-{case.description}"


def error_input_calls(onednn):
    """One :class:`Call` per registry bad input, those known to abort under ``onednn`` last (a crash
    then ends a child that has nothing left to do)."""
    calls, aborting = [], []
    for op in OPS:
        for i, case in enumerate(op.error_inputs()):
            call = Call(case_id(op, case), f"{HERE}:tensorflow_on", (op.name, i))
            (aborting if known_abort(op.name, case.description, onednn) else calls).append(call)
    return calls + aborting


NAN_INPUT = [[math.nan, 1.0, 2.0]]


def dense_relu_in_a_tf_function():
    """``keras.layers.Dense(4, activation="relu")`` on a row holding a NaN, traced by tf.function."""
    import keras
    import tensorflow as tf

    layer = keras.layers.Dense(4, activation="relu", kernel_initializer="ones")
    return tf.function(layer)(np.array(NAN_INPUT, np.float32))


def eager_relu():
    import tensorflow as tf

    return tf.nn.relu(np.array([math.nan, -1.0, 1.0], np.float32))


def conv2d_with_a_kernel_larger_than_the_input():
    """A 3x3 'valid' convolution of a 2x5 image: the output has no rows. (Only its shape is
    reported: under oneDNN its values are uninitialized memory.)"""
    import tensorflow as tf

    return tf.nn.conv2d(np.ones((1, 2, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32), 1, "VALID").shape.as_list()


def max_pool2d_with_a_pool_larger_than_the_input():
    import tensorflow as tf

    return tf.nn.max_pool2d(np.ones((1, 4, 4, 2), np.float32), 5, 5, "VALID")


def _nan_windows():
    """A 4x4 image in 2x2 windows: window (0, 0) holds a NaN among 0, 1, 4, 5; window (1, 1) is all NaN."""
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    x[0, 0, 0, 0] = math.nan
    x[0, 2:, 2:, 0] = math.nan
    return x


def _max_pool_value_and_gradient(x, pool, padding):
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.nn.max_pool2d(xt, pool, pool, padding)
    return [y, tape.gradient(y, xt, output_gradients=tf.ones_like(y))]


def max_pool2d_with_nan_windows():
    return _max_pool_value_and_gradient(_nan_windows(), 2, "VALID")


def _minus_inf_windows():
    """A 3x3 image of -inf but one corner, in 2x2 "same" windows (one row and column of padding)."""
    x = np.full((1, 3, 3, 1), -math.inf, np.float32)
    x[0, 2, 2, 0] = 1.0
    return x


def max_pool2d_with_minus_inf_windows():
    return _max_pool_value_and_gradient(_minus_inf_windows(), 2, "SAME")


def _avg_pool_case():
    rng = np.random.default_rng(0)
    return rng.standard_normal((1, 5, 5, 1)), rng.standard_normal((1, 5, 5, 1))


def avg_pool2d_gradient_with_a_pool_larger_than_the_input():
    """Max |TensorFlow's gradient - numpy_nn's| and max |central differences of TensorFlow's forward -
    numpy_nn's| for a 7x7 "same" average pool, stride 1, on a 5x5 image (float64)."""
    import tensorflow as tf

    from numpy_nn.gradcheck import numerical_gradient

    x, dout = _avg_pool_case()
    ours = F.avgpool2d_backward(dout, F.avgpool2d_forward(x, 7, 1, "same")[1])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.nn.avg_pool2d(xt, 7, 1, "SAME")
    theirs = tape.gradient(y, xt, output_gradients=tf.constant(dout)).numpy()
    numeric = numerical_gradient(lambda v: float(np.sum(tf.nn.avg_pool2d(v, 7, 1, "SAME").numpy() * dout)), x)
    return [float(np.max(np.abs(theirs - ours))), float(np.max(np.abs(numeric - ours)))]


def conv2d_of_an_empty_batch():
    import tensorflow as tf

    return tf.nn.conv2d(np.ones((0, 4, 4, 2), np.float32), np.ones((3, 3, 2, 1), np.float32), 1, "SAME").shape.as_list()


def conv2d_with_0_filters():
    import tensorflow as tf

    return tf.nn.conv2d(np.ones((1, 4, 4, 2), np.float32), np.ones((3, 3, 2, 0), np.float32), 1, "SAME").shape.as_list()


def empty_inputs_through_tensorflow():
    """The output shapes of the TensorFlow twins on numpy_nn's zero-size cases (``EMPTY_CASES``)."""
    from .registry import get as get_op
    from .test_hostile_ops import EMPTY_CASES

    shapes = {}
    for name, description, args, kwargs, _ in EMPTY_CASES:
        try:
            shapes[f"{name}-{description}"] = list(get_op(name).tf_fn(*args, **kwargs).shape)
        except Exception as e:  # noqa: BLE001 - reported, and the test says which
            shapes[f"{name}-{description}"] = f"{type(e).__name__}: {str(e)[:200]}"
    return shapes


PROBES = [dense_relu_in_a_tf_function, eager_relu, conv2d_with_a_kernel_larger_than_the_input,
          max_pool2d_with_a_pool_larger_than_the_input, max_pool2d_with_nan_windows, max_pool2d_with_minus_inf_windows,
          avg_pool2d_gradient_with_a_pool_larger_than_the_input, conv2d_of_an_empty_batch, conv2d_with_0_filters,
          empty_inputs_through_tensorflow]


def forced(onednn):
    """The report of one child run with oneDNN forced on (True) or off (False): the probes, then every
    registry bad input. Cached: the whole module costs two children."""
    calls = [Call(p.__name__, f"{HERE}:{p.__name__}") for p in PROBES] + error_input_calls(onednn)
    report = cached_run(calls, env={"TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"})
    assert report.config["onednn"] is onednn, (
        f"TF_ENABLE_ONEDNN_OPTS={int(onednn)} did not turn oneDNN {'on' if onednn else 'off'}: {report.config}")
    return report


# The switch exists only in TensorFlow's x86 builds.
x86_only = pytest.mark.skipif(platform.machine().lower() not in {"x86_64", "amd64", "i386", "i686"},
                              reason=f"TF_ENABLE_ONEDNN_OPTS applies only to x86 CPUs; this is {platform.machine()}")
both_ways = pytest.mark.parametrize("onednn", [True, False], ids=["onednn-on", "onednn-off"])


def values(outcome):
    assert outcome.kind == "result", f"expected a result, got {outcome}"
    return np.array(outcome.value["values"], dtype=float)


# --- (a) aborts -----------------------------------------------------------------------------------
@x86_only
@pytest.mark.parametrize("key", list(KNOWN_ABORTS), ids=lambda key: f"{key[0]}-{key[1]}")
def test_a_known_abort_aborts_under_its_configuration_and_raises_under_the_other(key):
    abort = KNOWN_ABORTS[key]
    call_id = "-".join(key)
    crashed, refused = forced(abort.onednn)[call_id], forced(not abort.onednn)[call_id]
    assert crashed.kind == "crash" and crashed.reason == "SIGABRT", (
        f"{call_id}: TensorFlow no longer aborts with oneDNN {'on' if abort.onednn else 'off'} ({crashed}); "
        "remove it from KNOWN_ABORTS")
    assert any(line in crashed.stderr_line for line in abort.check), f"{call_id}: another CHECK failed: {crashed.stderr_line}"
    assert refused.kind == "error" and refused.error == abort.otherwise, f"{call_id}: expected {abort.otherwise}, got {refused}"


@x86_only
@both_ways
def test_no_bad_input_aborts_tensorflow_unless_it_is_a_known_abort(onednn):
    report = forced(onednn)
    for op in OPS:
        for case in op.error_inputs():
            outcome = report[case_id(op, case)]
            if known_abort(op.name, case.description, onednn) is None:
                assert outcome.kind != "crash", (
                    f"{op.name} ({case.description}) aborts TensorFlow with oneDNN {'on' if onednn else 'off'}: "
                    f"{outcome}; list it in KNOWN_ABORTS")


@x86_only
@both_ways
def test_max_pool2d_on_a_3d_input_raises_in_both_configurations(onednn):
    outcome = forced(onednn)["maxpool2d-3-D input"]
    assert outcome.kind == "error" and outcome.error == "InvalidArgumentError", outcome


# --- (b) NaN through a fused ReLU -----------------------------------------------------------------
@x86_only
def test_a_fused_dense_relu_in_a_tf_function_maps_nan_to_zero_under_onednn_only():
    np.testing.assert_array_equal(values(forced(True)["dense_relu_in_a_tf_function"]), [0, 0, 0, 0])
    assert np.isnan(values(forced(False)["dense_relu_in_a_tf_function"])).all()


@x86_only
@both_ways
def test_eager_tensorflow_relu_keeps_nan(onednn):
    np.testing.assert_array_equal(values(forced(onednn)["eager_relu"]), [math.nan, 0, 1])


def test_numpy_nn_relu_keeps_nan():
    out, _ = F.relu_forward(np.array([math.nan, -1.0, 1.0], np.float32))
    np.testing.assert_array_equal(out, [math.nan, 0, 1])


# --- (c) a window larger than the input -----------------------------------------------------------
@x86_only
def test_a_kernel_larger_than_the_input_gives_an_empty_output_without_onednn_and_the_input_shape_with_it():
    assert forced(False)["conv2d_with_a_kernel_larger_than_the_input"].value == [1, 0, 3, 4]
    assert forced(True)["conv2d_with_a_kernel_larger_than_the_input"].value == [1, 2, 5, 2]


@x86_only
def test_a_pool_larger_than_the_input_gives_an_empty_output_without_onednn_and_an_aborted_error_with_it():
    assert forced(False)["max_pool2d_with_a_pool_larger_than_the_input"].value["shape"] == [1, 0, 0, 2]
    with_onednn = forced(True)["max_pool2d_with_a_pool_larger_than_the_input"]
    assert with_onednn.kind == "error" and with_onednn.error == "AbortedError", with_onednn


# --- (d) NaN and -inf in a max-pool window ---------------------------------------------------------
FLOAT32_LOWEST = float(np.finfo(np.float32).min)


@x86_only
@both_ways
def test_tensorflow_max_pool_ignores_nan_where_numpy_nn_propagates_it(onednn):
    """TensorFlow's forward skips NaN (window (0, 0) gives 5, the all-NaN window the lowest float),
    but its gradient goes to the window's first NaN, as numpy_nn's does: only the forward differs."""
    y, dx = forced(onednn)["max_pool2d_with_nan_windows"].value
    assert y["values"] == [5.0, 7.0, 13.0, FLOAT32_LOWEST], y
    ours, cache = F.maxpool2d_forward(_nan_windows(), 2)
    assert np.isnan(ours[0, 0, 0, 0]) and np.isnan(ours[0, 1, 1, 0]) and ours[0, 0, 1, 0] == 7 and ours[0, 1, 0, 0] == 13
    ours_dx = F.maxpool2d_backward(np.ones_like(ours), cache)
    assert ours_dx[0, 0, 0, 0] == 1 and ours_dx[0, 2, 2, 0] == 1, "a NaN window's gradient goes to its first NaN"
    np.testing.assert_array_equal(ours_dx.ravel(), dx["values"])
    ref_dx = F.maxpool2d_backward_reference(np.ones_like(ours), F.maxpool2d_forward_reference(_nan_windows(), 2)[1])
    np.testing.assert_array_equal(ours_dx, ref_dx)


@x86_only
@both_ways
def test_an_all_minus_inf_max_pool_window_is_the_lowest_float_in_tensorflow_and_minus_inf_in_numpy_nn(onednn):
    y, dx = forced(onednn)["max_pool2d_with_minus_inf_windows"].value
    assert y["values"] == [FLOAT32_LOWEST, FLOAT32_LOWEST, FLOAT32_LOWEST, 1.0], y
    ours, cache = F.maxpool2d_forward(_minus_inf_windows(), 2, padding="same")
    assert ours.ravel().tolist() == [-math.inf, -math.inf, -math.inf, 1.0]
    # the gradient of each window goes to its first real cell, in both
    np.testing.assert_array_equal(F.maxpool2d_backward(np.ones_like(ours), cache).ravel(), dx["values"])


# --- (e) TensorFlow's average-pooling gradient with a pool larger than the input --------------------------
@x86_only
@both_ways
def test_tensorflow_avg_pool_gradient_with_a_pool_larger_than_the_input_is_not_its_forwards_derivative(onednn):
    tf_vs_ours, numeric_vs_ours = forced(onednn)["avg_pool2d_gradient_with_a_pool_larger_than_the_input"].value
    assert numeric_vs_ours < 1e-8, f"numpy_nn's gradient is off the derivative of TensorFlow's forward by {numeric_vs_ours}"
    assert tf_vs_ours > 0.05, (f"TensorFlow's avg_pool2d gradient now agrees ({tf_vs_ours}): its bug is fixed; "
                               "remove (e) from the known differences")


# --- (f) empty and zero-size ---------------------------------------------------------------------------
@x86_only
def test_a_convolution_of_an_empty_batch_has_the_inputs_shape_under_onednn():
    assert forced(False)["conv2d_of_an_empty_batch"].value == [0, 4, 4, 1]
    assert forced(True)["conv2d_of_an_empty_batch"].value == [0, 4, 4, 2]
    assert F.conv2d_forward(np.ones((0, 4, 4, 2), np.float32), np.ones((3, 3, 2, 1), np.float32), padding="same")[0].shape \
        == (0, 4, 4, 1)


@x86_only
def test_a_kernel_with_0_filters_is_empty_without_onednn_refused_with_it_and_by_numpy_nn():
    assert forced(False)["conv2d_with_0_filters"].value == [1, 4, 4, 0]
    assert forced(True)["conv2d_with_0_filters"].kind == "error"
    with pytest.raises(ValueError, match="no zero-length axis"):
        F.conv2d_forward(np.ones((1, 4, 4, 2), np.float32), np.ones((3, 3, 2, 0), np.float32))


#: Zero-size cases where oneDNN's shape differs from TensorFlow's own (and numpy_nn's): see (f).
ONEDNN_EMPTY_SHAPES = {"conv2d-batch of 0, valid": [0, 5, 5, 2], "conv2d-batch of 0, same": [0, 5, 5, 2],
                       "conv2d-batch of 0, with a bias": "InvalidArgumentError",  # BiasAdd on the input's shape
                       "conv2d-height 0, same": [1, 0, 5, 2], "conv2d-width 0, same, stride 2": [1, 5, 0, 2]}


@x86_only
@both_ways
def test_zero_size_inputs_give_tensorflows_output_shapes(onednn):
    from .test_hostile_ops import EMPTY_CASES

    shapes = forced(onednn)["empty_inputs_through_tensorflow"].value
    for name, description, _, _, shape in EMPTY_CASES:
        key = f"{name}-{description}"
        expected = ONEDNN_EMPTY_SHAPES.get(key, list(shape)) if onednn else list(shape)
        got = shapes[key].split(":")[0] if isinstance(shapes[key], str) else shapes[key]
        assert got == expected, f"{key}: TensorFlow (oneDNN {'on' if onednn else 'off'}) gives {shapes[key]}, " \
                                        f"expected {expected}"
