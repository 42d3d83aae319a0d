"""Every bad input in the op catalogue raises the documented error in numpy_nn (type, message pattern,
and the words it must contain: the argument, what was expected, what arrived), and TensorFlow
refuses it too where the catalogue says so (``tf_raises``).

numpy_nn runs here, in pytest's process. TensorFlow runs in a child process
(:mod:`parity_tests.tf_isolated`), in this process's own configuration (the same environment, so
the same ``TF_ENABLE_ONEDNN_OPTS``): on some bad inputs TensorFlow aborts the process instead of
raising. Such a crash passes only where it is a known abort for this configuration (the table
``KNOWN_ABORTS`` in ``test_known_differences.py``), and there it is required: if TensorFlow stops
aborting, the test says so. All cases share one child run (two if an unknown crash interrupts it).
"""
import pytest
import tensorflow as tf

from tf_nn.runtime import onednn_enabled

from .registry import OPS
from .test_known_differences import case_id, error_input_calls, known_abort
from .tf_isolated import cached_run

ON_GPU = bool(tf.config.list_logical_devices("GPU"))
ONEDNN = onednn_enabled()


def tensorflow_outcomes():
    """TensorFlow's outcome on every registry bad input, from one child run in this environment."""
    report = cached_run(error_input_calls(ONEDNN))
    assert report.config["onednn"] == ONEDNN, f"the child's oneDNN state differs from this process's: {report.config}"
    return report


def _error_cases():
    return [pytest.param(op, case, id=f"{op.name}-{case.description.replace(' ', '_')}")
            for op in OPS for case in op.error_inputs()]


@pytest.mark.parametrize("op, case", _error_cases())
def test_bad_input_raises_the_documented_error(op, case):
    with pytest.raises(case.error, match=case.match) as info:
        op.forward(*case.args, **case.kwargs)
    missing = [w for w in case.words if w not in str(info.value)]
    assert not missing, f"{op.name} ({case.description}): message {str(info.value)!r} lacks {missing}"
    if not (case.tf_raises is True or (case.tf_raises == "cpu" and not ON_GPU)):
        return
    outcome = tensorflow_outcomes()[case_id(op, case)]
    where = f"{op.name} ({case.description}), oneDNN {'on' if ONEDNN else 'off'}"
    abort = known_abort(op.name, case.description, ONEDNN)
    if abort is not None:
        assert outcome.kind == "crash", (
            f"{where}: TensorFlow was known to abort ({abort.reason}) but now gives {outcome}; "
            "remove it from KNOWN_ABORTS in test_known_differences.py")
    else:
        assert outcome.kind == "error", f"{where}: TensorFlow should refuse it, got {outcome}"
