"""``python -m parity_tests.check`` / ``numpy-nn check``: the catalogue's properties against any
module, and the golden vectors.

* numpy_nn.functional itself passes every op;
* each deliberately broken implementation (``parity_tests/broken/``, one classic bug each) fails,
  with the hint for that bug and no other;
* a newcomer's module -- the template with relu and dense written in -- passes those two and skips
  every other op; the template names every op of the catalogue;
* usage errors are one line and exit status 2; ``numpy-nn check`` runs the checker from the
  checkout and returns its status, and says what to do without a checkout;
* TensorFlow (``--against both``) and writing golden vectors run in child processes (TensorFlow can
  abort a process, see ``tf_isolated.py``); checking against golden vectors works with
  ``import tensorflow`` blocked.

The in-process runs use a few examples per property (the bugs are found within them with the
default seed; Hypothesis then shrinks each to a smallest failing example).
"""
from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import numpy_nn.functional as F
from numpy_nn.app import check as app_check

from .broken import BROKEN
from .check import check_module, format_verdict, main
from .cli_helpers import assert_one_line_error, run_cli
from .registry import OPS, OPS_BY_NAME

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}

#: What a newcomer writes into the template: relu and dense, from scratch, without argument checks.
NEWCOMER = '''

def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def dense_forward(x, kernel, bias=None):
    y = x @ kernel
    if bias is not None:
        y = y + bias
    return y, (x, kernel, bias is not None)


def dense_backward(dout, cache):
    x, kernel, has_bias = cache
    return dout @ kernel.T, x.T @ dout, (dout.sum(axis=0) if has_bias else None)
'''


def _report(verdicts):
    return "\n".join(format_verdict(v) for v in verdicts)


def _statuses(text):
    """``{op: "PASS" | "FAIL" | "SKIP"}`` from the checker's output."""
    return {line.split()[1]: line.split()[0] for line in text.splitlines() if line[:4] in ("PASS", "FAIL", "SKIP")}


def test_numpy_nn_itself_passes_every_op_of_the_catalogue():
    verdicts = check_module(F, examples=4)
    assert [v.op for v in verdicts] == [op.name for op in OPS]
    assert all(v.status == "PASS" for v in verdicts), _report(verdicts)
    assert all(p.status == "pass" and p.examples > 0 for v in verdicts for p in v.properties), _report(verdicts)


@functools.lru_cache(maxsize=None)
def broken_verdict(module):
    """The checker's verdict on ``parity_tests.broken.<module>``'s op, 25 examples per property."""
    (v,) = check_module(importlib.import_module(f"parity_tests.broken.{module}"), ops=[BROKEN[module][0]], examples=25)
    return v


@pytest.mark.parametrize("module", list(BROKEN))
def test_each_broken_implementation_fails_with_the_hint_for_its_bug(module):
    v, hint = broken_verdict(module), BROKEN[module][1]
    text = format_verdict(v)
    assert v.status == "FAIL", text
    assert {p.failure.hint.kind for p in v.failures if p.failure.hint} == {hint}, text
    assert "example (smallest failing):" in text and "seed=" in text, text
    assert "worst at index" in text or "has shape" in text, text  # where it is, or what shape it has


def test_the_hints_point_at_the_bug_with_its_numbers():
    """The shrunk example of the batch-size bug has N = 2 and the hint says so; the finite differences
    of its own forward catch it too (the forward is right)."""
    v = broken_verdict("batch_factor")
    failed = {p.name: p.failure for p in v.failures}
    assert set(failed) == {"backward vs numpy_nn", "finite differences"}, format_verdict(v)
    example = failed["backward vs numpy_nn"].example
    assert re.search(r"logits=float(32|64)\(2, 2\)", example) and "reduction='mean'" in example, format_verdict(v)
    assert "exactly 2 times numpy_nn's, and 2 is the batch size" in str(failed["backward vs numpy_nn"].hint)


def test_padding_split_the_wrong_way_passes_its_own_finite_differences_and_fails_against_numpy_nn():
    v = broken_verdict("same_padding_split")
    status = {p.name: p.status for p in v.properties}
    assert status == {"forward vs numpy_nn": "fail", "backward vs numpy_nn": "fail", "finite differences": "pass"}, \
        format_verdict(v)
    assert "padding='same'" in v.failures[0].failure.example


def test_the_newcomers_relu_and_dense_pass_and_every_other_op_is_skipped(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    status, out, _ = run_cli(["check", "--template", mine], capsys)
    assert status == 0 and mine.is_file(), out
    mine.write_text(mine.read_text() + NEWCOMER)
    status = main([str(mine), "--examples", "5"])
    out = capsys.readouterr().out
    assert status == 0, out
    verdicts = _statuses(out)
    assert set(verdicts) == set(OPS_BY_NAME), out
    assert verdicts.pop("relu") == "PASS" and verdicts.pop("dense") == "PASS", out
    assert set(verdicts.values()) == {"SKIP"}, out
    assert "SKIP  conv2d" in out and "conv2d_forward raises NotImplementedError" in out
    assert f"2 passed, 0 failed, {len(OPS) - 2} skipped" in out


def test_a_module_with_only_some_ops_reports_the_rest_skipped_by_name():
    verdicts = {v.op: v for v in check_module(importlib.import_module("parity_tests.broken.maxpool_ties"),
                                              ops=["relu", "conv2d", "maxpool2d"], examples=3)}
    assert verdicts["relu"].status == verdicts["conv2d"].status == "SKIP"
    assert verdicts["conv2d"].reason == "no conv2d_forward or conv2d_backward in the module"


def test_bad_inputs_are_checked_on_request(tmp_path):
    """numpy_nn's dense refuses every bad input of the catalogue with its documented error; the
    newcomer's (no checks at all) does not, and the failure lists which."""
    (v,) = check_module(F, ops=["dense"], examples=2, bad_inputs=True)
    assert v.status == "PASS" and v.properties[-1].name == "bad inputs", format_verdict(v)
    mine = tmp_path / "newcomer.py"
    mine.write_text("import numpy as np\n" + NEWCOMER)
    from .check import load_module

    (v,) = check_module(load_module(str(mine)), ops=["dense"], examples=2, bad_inputs=True)
    assert v.status == "FAIL" and [p.name for p in v.failures] == ["bad inputs"], format_verdict(v)
    assert "integer input: no error, expected TypeError" in v.failures[0].failure.message
    asserting = tmp_path / "asserting.py"
    asserting.write_text("import numpy as np\nfrom numpy_nn.functional import dense_backward, dense_forward as _forward\n\n\n"
                         "def dense_forward(x, kernel, bias=None):\n    assert x.ndim == 2, 'x must be 2-D'\n"
                         "    return _forward(x, kernel, bias)\n")
    (v,) = check_module(load_module(str(asserting)), ops=["dense"], examples=2, bad_inputs=True)
    assert "3-D input: raised AssertionError: x must be 2-D, expected ValueError" in v.failures[0].failure.message, \
        format_verdict(v)


#: A right dropout that rounds once more than numpy_nn's (``x * mask / (1 - rate)`` against
#: ``x * mask * scale``): within FLOAT64_FLOOR, not within the table's 0 for dropout.
DIVIDING_DROPOUT = '''
def dropout_forward(x, rate, rng=None, training=True, mask=None):
    if not training or (rate == 0 and mask is None):
        return x, None
    return x * mask / (1 - rate), (mask, rate)


def dropout_backward(dout, cache):
    if cache is None:
        return dout
    mask, rate = cache
    return dout * mask / (1 - rate)
'''


def test_an_equally_right_formula_that_rounds_differently_passes(tmp_path):
    mine = tmp_path / "dividing_dropout.py"
    mine.write_text(DIVIDING_DROPOUT)
    from .check import load_module

    (v,) = check_module(load_module(str(mine)), ops=["dropout"], examples=25)
    assert v.status == "PASS", format_verdict(v)


def test_a_result_in_another_dtype_fails_naming_it(tmp_path):
    mine = tmp_path / "upcasting_relu.py"
    mine.write_text("import numpy as np\n\n\ndef relu_forward(x):\n    return np.maximum(x, 0.0).astype(np.float64), x\n\n\n"
                    "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n")
    from .check import load_module

    (v,) = check_module(load_module(str(mine)), ops=["relu"], examples=25)
    assert [p.name for p in v.failures] == ["forward vs numpy_nn"], format_verdict(v)
    assert "your output is float64 for float32 inputs: the dtype must be kept" in v.failures[0].failure.message


def test_the_template_has_both_functions_of_every_catalogue_op():
    tree = ast.parse(app_check.TEMPLATE.read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    expected = {f"{op.name}_{half}" for op in OPS for half in ("forward", "backward")}
    assert expected <= defined, f"the template lacks {sorted(expected - defined)}"


@pytest.mark.parametrize("argv, fragment", [
    (["no_such_file.py"], "no_such_file.py: no such file"),
    (["no_such_module_anywhere"], "cannot import no_such_module_anywhere"),
    (["numpy_nn.functional", "--ops", "relu,convolution"], "unknown op 'convolution'"),
    (["numpy_nn.functional", "--examples", "0"], "--examples"),
    (["numpy_nn.functional", "--against", "keras"], "--against"),
    (["numpy_nn.functional", "--golden", "no_such_folder"], "no such folder"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    assert_one_line_error(capsys.readouterr().err, fragment)


def test_a_module_that_fails_to_import_is_a_usage_error_naming_the_error(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\ndef broken(:\n")
    assert main([str(bad)]) == 2
    assert_one_line_error(capsys.readouterr().err, "importing", "SyntaxError")


def test_numpy_nn_check_runs_the_checker_from_the_checkout_and_returns_its_status(capfd):
    status = app_check.run(_args(module="parity_tests.broken.maxpool_ties", ops="maxpool2d", examples=25))
    out = capfd.readouterr().out
    assert status == 1, out
    assert "FAIL  maxpool2d" in out and "hint [maxpool-ties]" in out
    assert app_check.run(_args(module="numpy_nn.functional", ops="relu", examples=3)) == 0


def test_numpy_nn_check_without_a_checkout_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    original = app_check.find_checkout
    monkeypatch.setattr(app_check, "find_checkout", lambda: original(tmp_path / "numpy_nn"))
    status, _, err = run_cli(["check", "mine.py"], capsys)
    assert status == 2
    assert_one_line_error(err, "numpy-nn check: error:", "needs a checkout of numpy-nn", "git clone")


def test_numpy_nn_check_without_hypothesis_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(app_check, "has_module", lambda name: name != "hypothesis")
    status, _, err = run_cli(["check", "mine.py"], capsys)
    assert status == 2
    assert_one_line_error(err, "needs hypothesis", "pip install 'numpy-nn[dev]'")


def test_numpy_nn_check_refuses_to_overwrite_with_the_template(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text("# my work\n")
    status, _, err = run_cli(["check", "--template", mine], capsys)
    assert status == 1 and mine.read_text() == "# my work\n"
    assert_one_line_error(err, "already exists")


def _args(**given):
    from argparse import Namespace

    defaults = dict(module=None, template=None, ops=None, examples=None, against=None, golden=None, bad_inputs=False,
                    seed=None)
    return Namespace(**{**defaults, **given})


# ----------------------------------------------------------------------------------------------
# TensorFlow and golden vectors, in child processes
# ----------------------------------------------------------------------------------------------

def _child(*argv, code=None, timeout=300):
    command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", *argv]
    return subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout)


def test_against_tensorflow_numpy_nn_passes_and_a_broken_softmax_fails():
    proc = _child("parity_tests.check", "numpy_nn.functional", "--ops", "relu,dense,maxpool2d", "--examples", "4",
                  "--against", "both")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"forward vs tensorflow \d+, backward vs tensorflow \d+", proc.stdout), proc.stdout
    proc = _child("parity_tests.check", "parity_tests.broken.softmax_unshifted", "--ops", "softmax", "--examples", "25",
                  "--against", "tensorflow")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "forward vs tensorflow FAIL" in proc.stdout and "hint [softmax-unshifted]" in proc.stdout, proc.stdout


GOLDEN_OPS = ("relu", "dense", "conv2d", "maxpool2d", "softmax_cross_entropy")


@pytest.fixture(scope="module")
def golden_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    proc = _child("parity_tests.golden", "--out", str(out), "--ops", ",".join(GOLDEN_OPS), "--draws", "20")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_golden_vectors_cover_paddings_strides_label_kinds_and_both_dtypes(golden_dir):
    index = json.loads((golden_dir / "index.json").read_text())
    cases = index["cases"]
    assert {c["op"] for c in cases} == set(GOLDEN_OPS)
    for op in GOLDEN_OPS:
        assert {c["dtype"] for c in cases if c["op"] == op} == {"float32", "float64"}, op
        assert any(c["gradcheck"] for c in cases if c["op"] == op), op
    for op in ("conv2d", "maxpool2d"):
        assert {c["kwargs"]["padding"] for c in cases if c["op"] == op} == {"valid", "same"}, op
    assert len({json.dumps(c["kwargs"]["stride"]) for c in cases if c["op"] == "conv2d"}) >= 4
    label_kinds = {("sparse" if np_load(golden_dir, c)["in_labels"].ndim == 1 else "rows")
                   for c in cases if c["op"] == "softmax_cross_entropy"}
    assert label_kinds == {"sparse", "rows"}
    assert all((golden_dir / c["file"]).is_file() for c in cases)
    assert sum((golden_dir / c["file"]).stat().st_size for c in cases) < 5e6


def np_load(folder, case):
    import numpy as np

    with np.load(folder / case["file"], allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_checking_against_golden_vectors_needs_no_tensorflow(golden_dir):
    code = ("import sys; sys.modules['tensorflow'] = None; from parity_tests.check import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = _child("numpy_nn.functional", "--golden", str(golden_dir), code=code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = _statuses(proc.stdout)
    assert {op for op, s in verdicts.items() if s == "PASS"} == set(GOLDEN_OPS), proc.stdout
    assert "forward vs golden" in proc.stdout


@pytest.mark.parametrize("module", ["same_padding_split", "transposed_kernel", "maxpool_ties", "batch_factor"])
def test_golden_vectors_catch_the_broken_implementations_too(golden_dir, module):
    op, hint = BROKEN[module]
    (v,) = check_module(importlib.import_module(f"parity_tests.broken.{module}"), ops=[op], golden=golden_dir)
    assert v.status == "FAIL", format_verdict(v)
    assert hint in {p.failure.hint.kind for p in v.failures if p.failure.hint}, format_verdict(v)
    assert "golden case" in v.failures[0].failure.example


def test_golden_vectors_are_not_written_when_numpy_nn_disagrees_with_tensorflow(tmp_path):
    """Each case is verified against TensorFlow before it is written: with the batch-size bug planted
    into the catalogue's softmax cross-entropy, generation stops with status 1 and leaves no index."""
    code = ("import sys, dataclasses, parity_tests.registry as r; from parity_tests.broken import batch_factor as b; "
            "op = r.OPS_BY_NAME['softmax_cross_entropy']; "
            "r.OPS_BY_NAME[op.name] = dataclasses.replace(op, backward=b.softmax_cross_entropy_backward); "
            "from parity_tests.golden import main; sys.exit(main(sys.argv[1:]))")
    proc = _child("--out", str(tmp_path), "--ops", "softmax_cross_entropy", "--draws", "20", code=code)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "numpy_nn disagrees with TensorFlow" in proc.stderr and "dlogits" in proc.stderr, proc.stderr
    assert not (tmp_path / "index.json").exists()


def test_a_damaged_golden_folder_is_named(golden_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "golden"
    shutil.copytree(golden_dir, copy)
    index = json.loads((copy / "index.json").read_text())
    index["cases"][0]["file"] = "../../etc/passwd.npz"
    (copy / "index.json").write_text(json.dumps(index))
    assert main(["numpy_nn.functional", "--golden", str(copy)]) == 2
    assert_one_line_error(capsys.readouterr().err, "a case's file must be a plain .npz name")
