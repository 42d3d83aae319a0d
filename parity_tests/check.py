"""Check your own implementation of the ops: the catalogue's properties, run against any module.

    python -m parity_tests.check MODULE [--ops conv2d,maxpool2d] [--examples N]
                                 [--against reference|tensorflow|both] [--golden DIR] [--bad-inputs] [--seed S]

(``numpy-nn check`` runs this from the checkout.) ``MODULE`` is a dotted module name or a ``.py``
file. For every op of the catalogue (:data:`parity_tests.registry.OPS`) it looks up the functions
named as in :mod:`numpy_nn.functional` -- ``conv2d_forward(x, kernel, bias=None, stride=1,
padding="valid") -> (out, cache)`` and ``conv2d_backward(dout, cache) -> (dx, dkernel, dbias)`` --
and runs the op's properties on examples drawn by Hypothesis (shapes, strides, paddings, label
kinds, both dtypes), each shrunk to a smallest failing one:

==============================  ===================================================================
``forward vs numpy_nn``         the output equals numpy_nn's (float64: within the op's float64
                                tolerance, at least :data:`FLOAT64_FLOOR`; float32: judged by the
                                float64 oracle, the op's cap), with the input's dtype and shape
``backward vs numpy_nn``        every gradient equals numpy_nn's VJP for a random upstream gradient
``finite differences``          the backward equals float64 central differences of *your own*
                                forward (``numpy_nn.gradcheck``, the op's settings in the catalogue)
``forward/backward vs TF``      the same two against TensorFlow's twin (``--against tensorflow|both``)
``bad inputs``                  (``--bad-inputs``) the forward refuses the catalogue's bad inputs
                                with the documented error type
==============================  ===================================================================

An op whose functions are missing, or raise ``NotImplementedError`` (the student template,
``numpy-nn check --template mine.py``), is SKIPped. Each op gets one verdict line; a failure shows
the shrunk example (shapes, arguments, values seed), the worst error and where it is, and a hint
when the pattern is a classic mistake (:mod:`parity_tests.check_hints`). ``--golden DIR`` runs the
same verdicts on the vectors written by ``python -m parity_tests.golden`` (no TensorFlow needed).

Exit status: 0 when every op that ran passed, 1 when one failed, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from numpy_nn.gradcheck import compare_gradients, numerical_gradient

from .assertions import compare, compare_with_oracle
from .check_hints import Mismatch, hint_for
from .registry import OPS, OPS_BY_NAME, NoGradCheck, as_tuple
from .strategies import DTYPES, Sample, upstream
from .tolerances import Tolerance

PROG = "python -m parity_tests.check"
AGAINST = ("reference", "tensorflow", "both")
DEFAULT_EXAMPLES = 25

#: The float64 tolerance against numpy_nn is the op's float64 row of the tolerance table (what two
#: implementations of one formula in IEEE double differ by), but at least 16 ulps of the scale: the
#: table says 0 for the exact ops (ReLU, dropout, flatten) because numpy_nn and TensorFlow evaluate the
#: same expression, and an equally right ``x * mask / (1 - rate)`` rounds once more than ``x * mask *
#: scale``. Any wrong term in a formula is off by 1e-3 or more.
FLOAT64_FLOOR = 16 * float(np.finfo(np.float64).eps)


class UsageError(Exception):
    """A bad argument: the one-line error and exit status 2."""


# ----------------------------------------------------------------------------------------------
# The user's module
# ----------------------------------------------------------------------------------------------

def load_module(spec):
    """Import ``spec``: a ``.py`` file (its folder goes on ``sys.path`` for its own imports) or a dotted
    module name. UsageError if it cannot be found; an exception inside it is reported with its line."""
    path = Path(spec)
    try:
        if spec.endswith(".py") or path.is_file():
            if not path.is_file():
                raise UsageError(f"{spec}: no such file")
            sys.path.insert(0, str(path.resolve().parent))
            name = f"_checked_{path.stem}"
            loader = importlib.util.spec_from_file_location(name, path.resolve())
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            loader.loader.exec_module(module)
            return module
        return importlib.import_module(spec)
    except UsageError:
        raise
    except ModuleNotFoundError as e:
        if e.name and spec.startswith(e.name):
            raise UsageError(f"cannot import {spec}: no module named {e.name!r} (give a dotted module name on "
                             "sys.path or a path to a .py file)") from None
        raise UsageError(f"importing {spec} failed: {_one_line(e)}") from None
    except Exception as e:
        raise UsageError(f"importing {spec} failed: {_one_line(e)}") from None


@dataclass(frozen=True)
class UserOp:
    """The user's two functions for one op."""

    forward: object
    backward: object


def find_functions(module, op):
    """``(UserOp, "")`` or ``(None, why it is skipped)``."""
    names = (f"{op.name}_forward", f"{op.name}_backward")
    fns = [getattr(module, n, None) for n in names]
    missing = [n for n, f in zip(names, fns) if not callable(f)]
    if missing:
        return None, f"no {' or '.join(missing)} in the module"
    return UserOp(*fns), ""


# ----------------------------------------------------------------------------------------------
# Verdicts
# ----------------------------------------------------------------------------------------------

@dataclass
class Failure:
    """Why one property failed on one (shrunk) example."""

    what: str                  # "forward", a gradient's input name, or "call"
    message: str               # the error, the worst element, the tolerance
    example: str = ""          # the arguments (Sample.describe) and the dout seed / the golden case
    hint: object = None        # a check_hints.Hint, or None


@dataclass
class PropertyResult:
    name: str
    status: str                # "pass", "fail" or "skip"
    examples: int = 0
    failure: Failure = None
    reason: str = ""           # why skipped


@dataclass
class OpVerdict:
    op: str
    status: str                # "PASS", "FAIL" or "SKIP"
    properties: list = field(default_factory=list)
    reason: str = ""

    @property
    def failures(self):
        return [p for p in self.properties if p.status == "fail"]


class PropertyFailed(Exception):
    def __init__(self, failure):
        super().__init__(failure.message)
        self.failure = failure


class NotImplementedSkip(Exception):
    """The user's function raised NotImplementedError: the op (or this half of it) is not written yet."""


def _one_line(e):
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _user_frame(e, tb=None):
    """``file:line in function`` of the deepest frame of the exception outside this package and NumPy."""
    frames = traceback.extract_tb(tb or e.__traceback__)
    here = str(Path(__file__).resolve().parent)
    mine = [f for f in frames if not f.filename.startswith(here) and "/numpy/" not in f.filename]
    f = (mine or frames)[-1] if frames else None
    return f" at {f.filename}:{f.lineno} in {f.name}" if f else ""


def _copy(sample):
    """A fresh copy of every array of ``sample``: the user's code can change its inputs without harm."""
    def cp(v):
        return v.copy() if isinstance(v, np.ndarray) else v
    return Sample(tuple(cp(a) for a in sample.args), {k: cp(v) for k, v in sample.kwargs.items()}, sample.seed,
                  sample.names)


def dtype_of(sample):
    return str(sample.args[0].dtype)


class Trial:
    """One property on one example: calls the user's functions and judges their results, raising
    :class:`PropertyFailed` with the example, the worst element and a hint."""

    def __init__(self, op, user, sample, dout=None, example="", source="numpy_nn"):
        self.op, self.user, self.sample, self.dout, self.example, self.source = op, user, sample, dout, example, source

    def fail(self, what, message, hint=None):
        raise PropertyFailed(Failure(what, message, self.example or self.sample.describe(), hint))

    def call(self, fn, label, *args, **kwargs):
        try:
            with np.errstate(all="ignore"):  # an overflow shows in the verdict (and its hint), not as a warning
                return fn(*args, **kwargs)
        except NotImplementedError:
            raise NotImplementedSkip(f"{label} raises NotImplementedError") from None
        except Exception as e:
            self.fail("call", f"your {label} raised {_one_line(e)}{_user_frame(e)}")

    def forward(self, sample):
        """The user's ``(out, cache)`` on a copy of ``sample``."""
        result = self.call(self.user.forward, f"{self.op.name}_forward", *_copy(sample).args, **_copy(sample).kwargs)
        if not (isinstance(result, tuple) and len(result) == 2):
            self.fail("forward", f"your {self.op.name}_forward must return (out, cache), got {type(result).__name__}"
                                 + (f" of length {len(result)}" if isinstance(result, tuple) else ""))
        return result

    def backward(self, dout, cache, sample):
        grads = as_tuple(self.call(self.user.backward, f"{self.op.name}_backward", dout.copy(), cache))
        names = self.op.grad_names(sample)
        if len(grads) != len(names):
            self.fail("backward", f"your {self.op.name}_backward returned {len(grads)} gradient(s), expected "
                                  f"{len(names)}: ({', '.join('d' + n for n in names)})")
        return grads

    def tolerance(self, dtype):
        tol = self.op.tolerance(dtype)
        return replace(tol, atol=max(tol.atol, FLOAT64_FLOOR)) if dtype == "float64" else tol

    def judge(self, what, k, user, expected, oracle, scale):
        """``user`` against ``expected`` (same dtype, shape, values); ``oracle()`` gives the float64
        ``(user, expected)`` on the same numbers for a float32 example."""
        dtype = dtype_of(self.sample)
        label = "output" if what == "forward" else f"d{what}"
        if expected is None or user is None:
            if user is not expected:
                self.fail(what, f"your {label} is {'None' if user is None else type(user).__name__}, "
                                f"{self.source}'s is {'None' if expected is None else 'an array'}")
            return
        user, expected = np.asarray(user), np.asarray(expected)
        tol64 = self.tolerance("float64")
        if user.shape != expected.shape:
            self.fail(what, f"your {label} has shape {user.shape}, {self.source}'s {expected.shape}",
                      self._hint(what, k, user, expected, tol64.atol))
        if user.dtype != expected.dtype:
            self.fail(what, f"your {label} is {user.dtype} for {dtype} inputs: the dtype must be kept ({expected.dtype})")
        if dtype == "float64":
            cmp = compare(user, expected, tol64, scale)
            if not cmp.passed:
                self.fail(what, f"{label}: max abs error {cmp.max_abs_error:.3e} = {cmp.max_rel_error:.3e} x the scale "
                                f"{cmp.scale:.3e} (tolerance {tol64.atol:.0e} x scale), worst at index {cmp.index}: "
                                f"yours {cmp.actual!r} vs {self.source}'s {cmp.expected!r}",
                          self._hint(what, k, user, expected, tol64.atol))
            return
        cap = replace(self.tolerance("float32"), tensorflow_less_accurate=f"{self.source} is the reference")
        user64, expected64 = oracle()
        cmp = compare_with_oracle(user, expected, np.asarray(user64), np.asarray(expected64), cap, tol64, scale)
        if cmp.passed:
            return
        eps = float(np.finfo(np.float32).eps)
        index, mine, truth = (cmp.worst or {}).get("numpy", ((), np.nan, np.nan))
        if not cmp.agree64.passed:
            a = cmp.agree64
            index, mine, truth = a.index, a.actual, a.expected
            why = (f"on the same numbers in float64 your {label} differs from {self.source}'s by "
                   f"{a.error:.3e} x the scale (tolerance {tol64.atol:.0e})")
        elif cmp.e_np > cap.atol:
            why = f"float32 error {cmp.e_np:.3e} x the scale {cmp.scale:.3e} ({cmp.e_np / eps:.1f} ulp), over the cap {cap}"
        else:
            why = (f"float32 error {cmp.e_np:.3e} ({cmp.e_np / eps:.1f} ulp), more than {cmp.ratio:g}x {self.source}'s "
                   f"{cmp.e_tf:.3e} (floor {cmp.floor:.1e})")
        pair = (f"yours in float64 {mine!r} vs {self.source}'s {truth!r}" if not cmp.agree64.passed else
                f"yours {mine!r} vs the float64 {truth!r}")
        self.fail(what, f"{label}: {why}; worst at index {index}: {pair}",
                  self._hint(what, k, user, expected, 2 * cap.atol + 16 * eps))

    def _hint(self, what, k, user, expected, tol):
        return hint_for(Mismatch(self.op.name, what, k, self.sample, self.dout, user, expected, tol))


# ----------------------------------------------------------------------------------------------
# The properties: each judges one example given what to expect
# ----------------------------------------------------------------------------------------------

def check_forward(trial, expected, expected64):
    """The user's forward output against ``expected`` (``expected64``: on the float64 copy, for float32)."""
    sample = trial.sample
    out, _ = trial.forward(sample)

    def oracle():
        return trial.forward(sample.astype("float64"))[0], expected64

    scale = trial.op.forward_scale(sample) if trial.op.forward_scale else None
    trial.judge("forward", None, out, expected, oracle, scale)


def check_backward(trial, expected, expected64):
    """The user's gradients for ``trial.dout`` against ``expected`` (a tuple, one per grad_argnums)."""
    op, sample, dout = trial.op, trial.sample, trial.dout
    out, cache = trial.forward(sample)
    if np.shape(out) != np.shape(dout):
        trial.fail("forward", f"your output has shape {np.shape(out)}, expected {np.shape(dout)} (see the forward)")
    grads = trial.backward(dout, cache, sample)
    computed = {}

    def oracle(k):
        if "user64" not in computed:
            s64 = sample.astype("float64")
            out64, cache64 = trial.forward(s64)
            computed["user64"] = trial.backward(dout.astype(np.float64), cache64, s64)
        return lambda: (computed["user64"][k], expected64[k])

    scale = op.vjp_scale(sample, dout) if op.vjp_scale else None
    for k, (i, name) in enumerate(zip(op.grad_argnums, op.grad_names(sample))):
        if sample.args[i] is None:
            if grads[k] is not None:
                trial.fail(name, f"the {name} is None (absent), so d{name} must be None, got {type(grads[k]).__name__}")
            continue
        trial.judge(name, k, grads[k], expected[k], oracle(k) if dtype_of(sample) == "float32" else None, scale)


def check_finite_differences(trial):
    """The user's backward against float64 central differences of the user's own forward."""
    op, sample, dout = trial.op, trial.sample, trial.dout
    settings = op.gradcheck
    out, cache = trial.forward(sample)
    grads = trial.backward(dout, cache, sample)
    names = op.grad_names(sample)
    for i in settings.argnums or op.grad_argnums:
        k = op.grad_argnums.index(i)
        x = sample.args[i]
        if x is None:
            continue
        g = grads[k]

        def loss(v, i=i):
            args = _copy(sample).args[:i] + (v.copy(),) + _copy(sample).args[i + 1:]
            y, _ = trial.call(trial.user.forward, f"{op.name}_forward", *args, **_copy(sample).kwargs)
            return np.sum(np.asarray(y, dtype=np.float64) * dout)

        numeric = numerical_gradient(loss, x.copy(), settings.h)
        if g is None or np.shape(g) != x.shape:
            trial.fail(names[k], f"your d{names[k]} has shape {np.shape(g) if g is not None else None}, the {names[k]} "
                                 f"{x.shape}", None if g is None else trial._hint(names[k], k, np.asarray(g), numeric, 1e-4))
        result = compare_gradients(np.asarray(g, dtype=np.float64), numeric)
        if not result.max_rel_error <= settings.tol:
            trial.fail(names[k], f"d{names[k]} against central differences of your forward (h={settings.h:g}): "
                                 f"{result} (tolerance {settings.tol:g})",
                       trial._hint(names[k], k, np.asarray(g), numeric, 1e-4))


def check_bad_inputs(op, user):
    """The catalogue's bad inputs through the user's forward: each must raise its documented error type."""
    cases = op.error_inputs()
    missed = []
    for case in cases:
        try:
            user.forward(*case.args, **case.kwargs)
        except NotImplementedError:
            return PropertyResult("bad inputs", "skip", reason=f"{op.name}_forward raises NotImplementedError")
        except case.error:
            continue
        except Exception as e:
            missed.append(f"{case.description}: raised {_one_line(e)}, expected {case.error.__name__}")
            continue
        else:
            missed.append(f"{case.description}: no error, expected {case.error.__name__}")
    if missed:
        more = f" (and {len(missed) - 3} more)" if len(missed) > 3 else ""
        return PropertyResult("bad inputs", "fail", len(cases) - len(missed), Failure(
            "bad inputs", f"{len(missed)} of {len(cases)} refused with the wrong error or not at all: "
                          + "; ".join(missed[:3]) + more))
    return PropertyResult("bad inputs", "pass", len(cases))


# ----------------------------------------------------------------------------------------------
# What to expect: numpy_nn's op, or TensorFlow's twin
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where the expected results come from: ``samples(op)`` (dtype -> strategy), ``forward(op,
    sample)`` and ``vjp(op, sample, dout)`` (a tuple, one per ``grad_argnums``)."""

    name: str
    samples: object
    forward: object
    vjp: object


def _tf_array(g):
    return g.numpy() if hasattr(g, "numpy") else g


#: numpy_nn's own ops (the fast paths, equal to the plain references to 1e-12 by test_reference_paths)
#: on the reference samples: exact max-pool ties included, since the first-maximum rule is the contract.
NUMPY_NN = Source("numpy_nn", lambda op: op.reference_samples or op.samples,
                  lambda op, s: np.asarray(op.run_numpy(_copy(s))[0]),
                  lambda op, s, dout: op.numpy_vjp(_copy(s), dout.copy()))
#: TensorFlow's twins on the parity samples (no exact ties: a GPU may route them elsewhere).
TENSORFLOW = Source("tensorflow", lambda op: op.samples, lambda op, s: op.run_tensorflow(s),
                    lambda op, s, dout: tuple(_tf_array(g) for g in op.tensorflow_vjp(s, dout)))


def load_tensorflow():
    """Import TensorFlow for ``--against tensorflow|both``, with the parity suite's settings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter would bury the verdicts
    try:
        import tensorflow  # noqa: F401

        import tf_nn.functional  # noqa: F401
    except ImportError as e:
        raise UsageError(f"argument --against: needs TensorFlow, which cannot be imported ({e}); install it with "
                         "pip install 'numpy-nn[tf]', use --against reference, or check against golden vectors "
                         "(--golden DIR, written by python -m parity_tests.golden)") from None
    from .runtime import configure_for_parity

    configure_for_parity()


# ----------------------------------------------------------------------------------------------
# Driving Hypothesis
# ----------------------------------------------------------------------------------------------

def search(name, body, strategy, dtypes, examples, seed, dout=True):
    """Run ``body(sample, dout_seed)`` on up to ``examples`` drawn examples (a dtype from ``dtypes``,
    then ``strategy(dtype)``); on a failure Hypothesis shrinks the example, and the failure of the
    smallest one is returned in the :class:`PropertyResult`."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from .strategies import seeds

    state = {"count": 0, "skip": "", "failure": None}

    @hseed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False, print_blob=False,
              phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False, verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        dtype = data.draw(st.sampled_from(dtypes), label="dtype")
        sample = data.draw(strategy(dtype), label="sample")
        dout_seed = data.draw(seeds, label="dout seed") if dout else None
        if state["skip"]:  # drawn all the same: Hypothesis wants the same draws for the same data
            return
        try:
            with np.errstate(all="ignore"):
                body(sample, dout_seed)
        except NotImplementedSkip as e:
            state["skip"] = str(e)
            return
        except PropertyFailed as e:
            state["failure"] = e.failure
            raise
        except Exception as e:  # the user's result broke the comparison itself (a wrong type, say)
            failure = Failure("call", f"checking your result raised {_one_line(e)}{_user_frame(e)}", sample.describe())
            state["failure"] = failure
            raise PropertyFailed(failure) from None
        if state["failure"] is None:
            state["count"] += 1

    try:
        run()
    except PropertyFailed as e:
        return PropertyResult(name, "fail", state["count"], e.failure)
    except Exception as e:  # Hypothesis' own verdicts: a flaky failure (your code is not deterministic?)
        failure = state["failure"] or Failure("call", _one_line(e))
        failure = replace(failure, message=f"{failure.message} (Hypothesis: {_one_line(e)})")
        return PropertyResult(name, "fail", state["count"], failure)
    if state["skip"]:
        return PropertyResult(name, "skip", reason=state["skip"])
    return PropertyResult(name, "pass", state["count"])


def _forward_body(op, user, src):
    def body(sample, _):
        expected = src.forward(op, sample)
        expected64 = src.forward(op, sample.astype("float64")) if dtype_of(sample) == "float32" else None
        check_forward(Trial(op, user, sample, source=src.name), expected, expected64)
    return body


def _backward_body(op, user, src):
    def body(sample, dout_seed):
        dtype = dtype_of(sample)
        dout = upstream(np.random.default_rng(dout_seed), np.shape(src.forward(op, sample)), dtype)
        expected = src.vjp(op, sample, dout)
        expected64 = src.vjp(op, sample.astype("float64"), dout.astype(np.float64)) if dtype == "float32" else None
        trial = Trial(op, user, sample, dout, f"{sample.describe()}, dout seed={dout_seed}", src.name)
        check_backward(trial, expected, expected64)
    return body


def _finite_differences_body(op, user):
    def body(sample, dout_seed):
        out, _ = Trial(op, user, sample).forward(sample)
        dout = upstream(np.random.default_rng(dout_seed), np.shape(out), np.float64)
        check_finite_differences(Trial(op, user, sample, dout, f"{sample.describe()}, dout seed={dout_seed}"))
    return body


def check_op(op, user, against="reference", examples=DEFAULT_EXAMPLES, seed=0, bad_inputs=False):
    """Every property of ``op`` on the user's functions: an :class:`OpVerdict`."""
    sources = {"reference": [NUMPY_NN], "tensorflow": [TENSORFLOW], "both": [NUMPY_NN, TENSORFLOW]}[against]
    props = []
    for src in sources:
        props.append(search(f"forward vs {src.name}", _forward_body(op, user, src), src.samples(op), DTYPES,
                            examples, seed, dout=False))
        props.append(search(f"backward vs {src.name}", _backward_body(op, user, src), src.samples(op), DTYPES,
                            examples, seed))
    if isinstance(op.gradcheck, NoGradCheck):
        props.append(PropertyResult("finite differences", "skip", reason=op.gradcheck.reason))
    else:
        props.append(search("finite differences", _finite_differences_body(op, user),
                            op.gradcheck.samples or op.samples, ("float64",), examples, seed))
    if bad_inputs:
        props.append(check_bad_inputs(op, user))
    return verdict(op.name, props)


def verdict(name, props):
    if any(p.status == "fail" for p in props):
        return OpVerdict(name, "FAIL", props)
    if all(p.status == "skip" for p in props):
        return OpVerdict(name, "SKIP", props, "; ".join(sorted({p.reason for p in props})))
    return OpVerdict(name, "PASS", props)


def check_module(module, ops=None, against="reference", examples=DEFAULT_EXAMPLES, seed=0, bad_inputs=False,
                 golden=None, stream=None):
    """The verdicts for every op of the catalogue (or those named in ``ops``) on ``module``; each is
    printed to ``stream`` (if given) as soon as it is known."""
    verdicts = []
    cases = None
    if golden is not None:
        from .golden import load_cases

        cases = load_cases(golden)
    for op in (OPS if ops is None else [OPS_BY_NAME[name] for name in ops]):
        user, why = find_functions(module, op)
        if user is None:
            v = OpVerdict(op.name, "SKIP", reason=why)
        elif cases is not None:
            v = check_golden_op(op, user, [c for c in cases if c.op == op.name], bad_inputs)
        else:
            v = check_op(op, user, against, examples, seed, bad_inputs)
        verdicts.append(v)
        if stream is not None:
            print(format_verdict(v), file=stream, flush=True)
    return verdicts


# ----------------------------------------------------------------------------------------------
# Golden vectors (parity_tests.golden writes them)
# ----------------------------------------------------------------------------------------------

def _golden_run(name, cases, body):
    """``body(case)`` on each case, smallest first; the first failure is the property's."""
    count = 0
    for case in sorted(cases, key=lambda c: c.size):
        try:
            with np.errstate(all="ignore"):
                body(case)
        except NotImplementedSkip as e:
            return PropertyResult(name, "skip", reason=str(e))
        except PropertyFailed as e:
            return PropertyResult(name, "fail", count, e.failure)
        count += 1
    if not count:
        return PropertyResult(name, "skip", reason="no golden case")
    return PropertyResult(name, "pass", count)


def check_golden_op(op, user, cases, bad_inputs=False):
    """The verdicts of :func:`check_op` on golden cases: the stored outputs and VJPs (verified against
    TensorFlow when written) are what to expect; finite differences on the cases marked for them."""
    def example(case):
        return f"{case.sample.describe()} (golden case {case.file})"

    def forward(case):
        check_forward(Trial(op, user, case.sample, example=example(case), source="the golden"), case.out, case.out64)

    def backward(case):
        trial = Trial(op, user, case.sample, case.dout, example(case), "the golden")
        check_backward(trial, case.grads, case.grads64)

    def finite_differences(case):
        check_finite_differences(Trial(op, user, case.sample, case.dout, example(case)))

    props = [_golden_run("forward vs golden", cases, forward), _golden_run("backward vs golden", cases, backward)]
    if isinstance(op.gradcheck, NoGradCheck):
        props.append(PropertyResult("finite differences", "skip", reason=op.gradcheck.reason))
    else:
        props.append(_golden_run("finite differences", [c for c in cases if c.gradcheck], finite_differences))
    if bad_inputs:
        props.append(check_bad_inputs(op, user))
    return verdict(op.name, props)


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------

def format_verdict(v):
    """One line per op (``PASS relu  forward vs numpy_nn 25, ...``), then, for a failure, each failing
    property's example, error and hint."""
    if v.status == "SKIP":
        return f"SKIP  {v.op:<22} {v.reason}"
    parts = []
    for p in v.properties:
        parts.append(f"{p.name} {p.examples}" if p.status == "pass" else f"{p.name} {p.status.upper()}")
    lines = [f"{v.status}  {v.op:<22} " + ", ".join(parts)]
    for p in v.properties:
        if p.status == "skip" and v.status != "SKIP":
            lines.append(f"      {p.name}: skipped ({p.reason})")
    for p in v.failures:
        f = p.failure
        after = "" if p.name == "bad inputs" else f" after {p.examples} passing example(s)"
        lines.append(f"      {p.name}: failed{after}")
        if f.example:
            lines.append(f"        example (smallest failing): {' '.join(f.example.split())}")
        lines.append(f"        {f.message}")
        if f.hint is not None:
            lines.append(f"        {f.hint}")
    return "\n".join(lines)


def summary(verdicts):
    counts = {s: sum(v.status == s for v in verdicts) for s in ("PASS", "FAIL", "SKIP")}
    return f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"


def exit_status(verdicts):
    return 1 if any(v.status == "FAIL" for v in verdicts) else 0


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"expected an integer in [1, 100000], got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text!r}")
    return value


def parse_ops(text):
    """``--ops relu,dense``: names of the catalogue, in its order; UsageError naming an unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPS_BY_NAME]
    if unknown or not names:
        raise UsageError(f"argument --ops: unknown op {', '.join(map(repr, unknown)) or repr(text)}; the ops are "
                         f"{', '.join(OPS_BY_NAME)}")
    return [op.name for op in OPS if op.name in names]


def build_parser():
    p = _Parser(prog=PROG, description="Run the op catalogue's properties against your own implementation of "
                                       "the ops (functions named as in numpy_nn.functional).")
    p.add_argument("module", help="your module: a dotted name or a path to a .py file")
    p.add_argument("--ops", help="comma-separated ops to check (default: every op of the catalogue)")
    p.add_argument("--examples", type=_positive, default=DEFAULT_EXAMPLES,
                   help=f"examples per property (default {DEFAULT_EXAMPLES})")
    p.add_argument("--against", choices=AGAINST, default="reference",
                   help="expected results from numpy_nn (reference, the default), TensorFlow, or both")
    p.add_argument("--golden", metavar="DIR", help="check against the golden vectors in DIR instead "
                                                   "(python -m parity_tests.golden --out DIR; no TensorFlow needed)")
    p.add_argument("--bad-inputs", action="store_true", help="also check that the forwards refuse the "
                                                             "catalogue's bad inputs with the documented error type")
    p.add_argument("--seed", type=_seed, default=0, help="Hypothesis' seed (default 0: the same examples every run)")
    return p


def main(argv=None, stream=None):
    stream = sys.stdout if stream is None else stream
    try:
        args = build_parser().parse_args(argv)
        ops = parse_ops(args.ops) if args.ops else None
        if args.golden is not None and args.against != "reference":
            raise UsageError("argument --golden: the golden vectors are the expected results; leave out --against")
        if args.golden is None and args.against != "reference":
            load_tensorflow()
        if args.golden is not None:
            from .golden import GoldenError, load_cases

            try:
                load_cases(args.golden)
            except GoldenError as e:
                raise UsageError(f"argument --golden: {e}") from None
        module = load_module(args.module)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    where = f"the golden vectors in {args.golden}" if args.golden else \
        {"reference": "numpy_nn", "tensorflow": "TensorFlow", "both": "numpy_nn and TensorFlow"}[args.against]
    how = "" if args.golden else f", {args.examples} examples per property, seed {args.seed}"
    print(f"checking {args.module} against {where}{how}", file=stream, flush=True)
    start = time.perf_counter()
    verdicts = check_module(module, ops, args.against, args.examples, args.seed, args.bad_inputs, args.golden, stream)
    status = exit_status(verdicts)
    print(f"{summary(verdicts)} in {time.perf_counter() - start:.1f} s (exit status {status})", file=stream)
    if status:
        again = [args.module, "--ops", ",".join(v.op for v in verdicts if v.status == "FAIL")]
        if args.golden:
            again += ["--golden", args.golden]
        else:
            again += ["--examples", str(args.examples), "--against", args.against, "--seed", str(args.seed)]
        print(f"rerun the failures: {PROG} {' '.join(again + (['--bad-inputs'] if args.bad_inputs else []))}", file=stream)
    return status


if __name__ == "__main__":
    sys.exit(main())
