"""``numpy-nn check``: run the op catalogue's properties against your own implementation of the ops.

    numpy-nn check --template mine.py              # a module of empty functions, with their math
    numpy-nn check mine.py [--ops relu,dense] [--examples N] [--against reference|tensorflow|both]
                           [--golden DIR] [--bad-inputs] [--seed S]

The checker is part of the test suite (``parity_tests/check.py``, driven by the op catalogue
``parity_tests/registry.py`` and Hypothesis), which is not installed with the package: this command
finds the checkout numpy_nn was imported from (the folder above the ``numpy_nn`` package, holding
``parity_tests/``) and runs ``python -m parity_tests.check`` there in a child process with the same
arguments, returning its exit status (0: every op that ran passed, 1: one failed, 2: a usage error).
A ``.py`` path and ``--golden`` are made absolute first; a dotted module name is imported with the
current folder on the path. Only ``--template`` works without a checkout: it copies
``numpy_nn/app/check_template.py``.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from .errors import OutputError, UsageError

HELP = "check your own implementation of the ops against numpy_nn's (and TensorFlow's), with hints"
DESCRIPTION = ("Run the op catalogue's properties (forward and backward against numpy_nn or TensorFlow, finite "
               "differences of your own forward, dtypes, optionally bad inputs) against the functions of MODULE "
               "named as in numpy_nn.functional (relu_forward, relu_backward, conv2d_forward, ...); missing ops are "
               "skipped. Needs a checkout of numpy-nn (the checker lives in its test suite); --template PATH "
               "writes a module to start from.")
TEMPLATE = Path(__file__).with_name("check_template.py")
CHECKOUT_HINT = ("git clone the numpy-nn repository, pip install -e '.[dev]' in it (the checker needs hypothesis), "
                 "and run numpy-nn check from that environment")


def add_arguments(parser):
    parser.add_argument("module", nargs="?", help="your module: a .py file or a dotted module name")
    parser.add_argument("--template", metavar="PATH", help="write the template (empty functions and their math) to "
                                                           "PATH and stop")
    parser.add_argument("--ops", help="comma-separated ops to check (default: all)")
    parser.add_argument("--examples", type=int, help="examples per property (default 25)")
    parser.add_argument("--against", choices=("reference", "tensorflow", "both"),
                        help="expected results from numpy_nn (default), TensorFlow, or both")
    parser.add_argument("--golden", metavar="DIR", help="check against golden vectors (python -m parity_tests.golden)")
    parser.add_argument("--bad-inputs", action="store_true", help="also check the refusal of the catalogue's bad inputs")
    parser.add_argument("--seed", type=int, help="Hypothesis' seed (default 0)")


def find_checkout(package_dir=None):
    """The checkout numpy_nn comes from: the parent of the ``numpy_nn`` package, if it holds
    ``parity_tests/check.py``; UsageError saying how to get one otherwise."""
    package_dir = Path(package_dir or Path(__file__).resolve().parents[1])
    root = package_dir.parent
    if not (root / "parity_tests" / "check.py").is_file():
        raise UsageError(f"the checker needs a checkout of numpy-nn, and numpy_nn was imported from {package_dir}, "
                         f"which has no parity_tests/ beside it: {CHECKOUT_HINT}")
    return root


def has_module(name):
    """Whether ``name`` can be imported here (and so in the child, the same interpreter), without importing it."""
    return importlib.util.find_spec(name) is not None


def write_template(path):
    path = Path(path)
    if path.exists():
        raise OutputError(f"{path}: already exists; give --template a new file name")
    try:
        path.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as e:
        raise OutputError(f"{path}: cannot write the template: {e.strerror or e}") from None
    print(f"wrote the template to {path}: fill in some ops, then run numpy-nn check {path}")
    return 0


def child_argv(args, cwd):
    """The arguments for ``python -m parity_tests.check``, paths made absolute against ``cwd``."""
    module = args.module
    if module.endswith(".py") or (Path(cwd) / module).is_file():
        module = str((Path(cwd) / module).resolve())
    argv = [module]
    for option, value in (("--ops", args.ops), ("--examples", args.examples), ("--against", args.against),
                          ("--seed", args.seed)):
        if value is not None:
            argv += [option, str(value)]
    if args.golden is not None:
        argv += ["--golden", str((Path(cwd) / args.golden).resolve())]
    if args.bad_inputs:
        argv.append("--bad-inputs")
    return argv


def run(args):
    if args.template is not None:
        return write_template(args.template)
    if args.module is None:
        raise UsageError("the following arguments are required: module (or --template PATH to start one)")
    root = find_checkout()
    if not has_module("hypothesis"):  # the child imports the catalogue, which draws with Hypothesis
        raise UsageError("the checker needs hypothesis, which is not installed in this environment; install it with "
                         "pip install 'numpy-nn[dev]' (or pip install hypothesis)")
    cwd = os.getcwd()
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), cwd] + ([path] if path else []))}
    return subprocess.run([sys.executable, "-m", "parity_tests.check", *child_argv(args, cwd)], cwd=root,
                          env=env).returncode
