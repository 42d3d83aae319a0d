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
    check: str                    # what TensorFlow's "Check failed" line says
    otherwise: str                # the exception type name it raises in the other configuration
    reason: str


#: The one table of TensorFlow's aborts on the registry's bad inputs, keyed by (op name, case
#: description), as observed with TensorFlow 2.21 (every registry case run under
#: ``TF_ENABLE_ONEDNN_OPTS=1`` and ``=0``; on the CPU). A case that aborts and is not listed fails
#: ``test_no_bad_input_aborts_tensorflow_unless_it_is_a_known_abort``; a listed one that stops
#: aborting fails ``test_error_inputs`` and the tests below: then this table should shrink.
KNOWN_ABORTS = {
    ("conv2d", "3-D input (no batch axis)"): KnownAbort(
        onednn=True, check="tensor_format.h:428] Check failed: index >= 0 && index < num_total_dims",
        otherwise="InvalidArgumentError",
        reason="oneDNN's Conv2D looks up the channel axis (index 3 of NHWC) before checking that the input is 4-D"),
}


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


PROBES = [dense_relu_in_a_tf_function, eager_relu, conv2d_with_a_kernel_larger_than_the_input,
          max_pool2d_with_a_pool_larger_than_the_input]


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
    assert abort.check in crashed.stderr_line, f"{call_id}: another CHECK failed: {crashed.stderr_line}"
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
