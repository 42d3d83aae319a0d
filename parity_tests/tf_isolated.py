"""Run TensorFlow calls that may abort the process in a child process, and say how each one ended.

Some TensorFlow kernels check their inputs with a C++ ``CHECK`` instead of raising: on such an input
the whole process aborts (SIGABRT), and pytest with it. Which inputs do that depends on the
configuration -- with oneDNN on (the default on recent Intel CPUs, or ``TF_ENABLE_ONEDNN_OPTS=1``),
``tf.nn.conv2d`` on a 3-D input aborts where it otherwise raises ``InvalidArgumentError``. So the
tests run such calls here, in a child, and look at the :class:`Outcome`:

* ``"error"``: the call raised (``error`` is the exception's type name, ``message`` its first line);
* ``"result"``: it returned (``value`` is a short JSON summary of what);
* ``"crash"``: the child died during it (``reason``: the signal, the exit status or a timeout;
  ``stderr_line``: the "Check failed" line, or else the last line it wrote to stderr).

Importing TensorFlow costs seconds, so one child runs many calls: it prints one JSON line per
finished call (flushed at once); if it dies during a call, that call is a crash and a new child
runs the calls after it. Put the calls expected to abort last and a whole list costs one child::

    calls = [Call("conv2d-3d", "parity_tests.test_known_differences:tensorflow_on", ("conv2d", 0))]
    report = run(calls, env={"TF_ENABLE_ONEDNN_OPTS": "1"})
    report.config["onednn"], report["conv2d-3d"].kind       # True, "crash"

A call names a function by ``"package.module:function"`` and gives it JSON arguments; the child
imports the module and calls it. The child is ``python -m parity_tests.tf_isolated`` (the calls on
stdin as one JSON list), started with this interpreter, in the repository root, with the parent's
environment plus ``env`` (a value of None removes that variable).
"""
from __future__ import annotations

import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Seconds a child may take to import TensorFlow and report its configuration, and then per call.
STARTUP_TIMEOUT = 120
CALL_TIMEOUT = 60

#: Arrays with at most this many elements are summarized with their values.
MAX_VALUES = 16


@dataclass(frozen=True)
class Call:
    """``target(*args)`` run in the child; ``id`` names it in the report. ``args`` must be JSON."""

    id: str
    target: str                   # "package.module:function"
    args: tuple = ()


@dataclass(frozen=True)
class Outcome:
    """How one call ended: ``kind`` is "error", "result" or "crash" (see the module docstring)."""

    kind: str
    error: str = None             # error: the exception's type name
    message: str = None           # error: the first line of its message
    value: object = None          # result: summary(returned value)
    reason: str = None            # crash: "SIGABRT", "exit status 1", "timeout after 60 s"
    stderr_line: str = None       # crash: the child's "Check failed" line (else its last stderr line)

    def __str__(self):
        if self.kind == "error":
            return f"error {self.error}: {self.message}"
        if self.kind == "result":
            return f"result {self.value}"
        return f"crash ({self.reason}): {self.stderr_line}"


@dataclass
class Report:
    """What the children said: ``config`` (the first child's ``onednn``, ``gpu``, ``tensorflow``),
    one :class:`Outcome` per call id, and how many children it took."""

    config: dict
    outcomes: dict = field(default_factory=dict)
    children: int = 0

    def __getitem__(self, call_id):
        return self.outcomes[call_id]


# --- the parent ---------------------------------------------------------------------------------
def run(calls, env=None, call_timeout=CALL_TIMEOUT, startup_timeout=STARTUP_TIMEOUT):
    """Run ``calls`` (a list of :class:`Call`) in as few children as their crashes allow; returns a
    :class:`Report`. Raises RuntimeError if a child dies before it has run any call (it could not
    import TensorFlow or a target): that says nothing about the calls."""
    ids = [c.id for c in calls]
    if len(set(ids)) != len(ids):
        raise ValueError(f"call ids must be unique, got {ids}")
    report = Report(config=None)
    pending = list(calls)
    while pending:
        config, finished, crash = _run_child(pending, _child_env(env), call_timeout, startup_timeout)
        report.children += 1
        report.config = report.config or config
        report.outcomes.update(finished)
        pending = [c for c in pending if c.id not in finished]
        if crash is not None:  # the first unfinished call is the one the child died in
            report.outcomes[pending.pop(0).id] = crash
    return report


_CACHE = {}


def cached_run(calls, env=None):
    """:func:`run`, once per (calls, env) for the life of this process (a pytest session)."""
    key = (tuple(calls), tuple(sorted((env or {}).items())))
    if key not in _CACHE:
        _CACHE[key] = run(list(calls), env)
    return _CACHE[key]


def _child_env(overrides):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def _run_child(calls, env, call_timeout, startup_timeout):
    """One child over ``calls``: ``(config, {id: Outcome}, crash Outcome or None)``."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "parity_tests.tf_isolated"], cwd=REPO, env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
        config, finished, timed_out = None, {}, None
        try:
            try:
                child.stdin.write(json.dumps([[c.id, c.target, list(c.args)] for c in calls]))
                child.stdin.close()
            except BrokenPipeError:  # died before reading its calls: reported below as "died before any call"
                pass
            lines = _lines_of(child.stdout)
            while len(finished) < len(calls):
                timeout = startup_timeout if config is None else call_timeout
                try:
                    line = lines.get(timeout=timeout)
                except queue.Empty:
                    timed_out = timeout
                    break
                if line is None:  # end of output: the child has exited
                    break
                record = json.loads(line)
                if config is None:
                    config = record["config"]
                else:
                    call_id = record.pop("id")
                    finished[call_id] = Outcome(**record)
        finally:
            if child.poll() is None and len(finished) < len(calls):
                child.kill()
            returncode = child.wait()
        stderr.seek(0)
        err = stderr.read()
    if len(finished) == len(calls):
        return config, finished, None
    if config is None:  # it never got as far as importing TensorFlow: no call is to blame
        why = f"timeout after {timed_out} s" if timed_out is not None else _reason(returncode)
        raise RuntimeError(f"the TensorFlow child died before running any call ({why}):\n{err[-2000:]}")
    reason = f"timeout after {timed_out} s" if timed_out is not None else _reason(returncode)
    return config, finished, Outcome("crash", reason=reason, stderr_line=_telling_line(err))


def _lines_of(stream):
    """A queue of ``stream``'s lines, filled by a thread, ending with None at end of file (so that
    the parent can wait for the next line with a timeout)."""
    lines = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _reason(returncode):
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


#: What the child writes to stderr before each call, so that a crash is explained by what came after.
MARKER = "tf_isolated: running "


def _telling_line(stderr_text):
    """The line of a dead child's stderr that says why: its last "Check failed" line, else its last
    non-empty line, from what it wrote after it began the last call."""
    stderr_text = stderr_text.rpartition(MARKER)[2].partition("\n")[2]
    lines = [line.strip() for line in stderr_text.splitlines() if line.strip()]
    checks = [line for line in lines if "Check failed" in line]
    return (checks or lines or ["(nothing on stderr)"])[-1]


# --- the child ----------------------------------------------------------------------------------
def summary(value):
    """A short JSON-able description of a returned value: arrays and tensors as dtype, shape and (if
    small) values; NaN stays NaN (Python's json writes and reads it)."""
    import numpy as np

    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        a = np.asarray(value)
        out = {"dtype": a.dtype.name, "shape": list(a.shape)}
        if a.size <= MAX_VALUES:
            out["values"] = a.ravel().tolist()
        return out
    if isinstance(value, (list, tuple)):
        return [summary(v) for v in value]
    if isinstance(value, dict):
        return {str(k): summary(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)[:200]


def _resolve(target):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _child_main():
    # Our JSON lines go to a private copy of stdout; fd 1 itself now writes to stderr, so nothing
    # TensorFlow or a call prints can be mistaken for a result.
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    def emit(record):
        results.write(json.dumps(record) + "\n")
        results.flush()

    calls = [(call_id, _resolve(target), args) for call_id, target, args in json.load(sys.stdin)]
    import tensorflow as tf

    from tf_nn.runtime import onednn_enabled

    from .runtime import parity_threads, set_threads

    if parity_threads() is not None:  # NUMPY_NN_THREADS (the parity matrix): the same pools as the parent
        set_threads(parity_threads())

    emit({"config": {"onednn": onednn_enabled(), "gpu": bool(tf.config.list_logical_devices("GPU")),
                     "tensorflow": tf.__version__}})
    for call_id, fn, args in calls:
        sys.stderr.write(f"{MARKER}{call_id}\n")
        sys.stderr.flush()
        try:
            value = fn(*args)
        except Exception as e:
            lines = str(e).strip().splitlines()
            emit({"id": call_id, "kind": "error", "error": type(e).__name__, "message": lines[0] if lines else ""})
        else:
            emit({"id": call_id, "kind": "result", "value": summary(value)})


if __name__ == "__main__":
    _child_main()
