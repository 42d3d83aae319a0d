"""Golden vectors: every catalogue op on a fixed, seeded set of cases, written as ``.npz`` files with
an ``index.json``, each verified against TensorFlow when written; ``python -m parity_tests.check
MODULE --golden DIR`` then runs the checker's verdicts from them on a machine without TensorFlow.

    python -m parity_tests.golden --out DIR [--ops relu,conv2d] [--seed S] [--draws N]

The cases. For each op and dtype (float32, float64), Hypothesis draws ``--draws`` examples from the
op's strategy (``reference_samples``, else ``samples``: exact max-pool ties included) with a fixed
seed, and an example is kept when it shows a *feature* no kept example has yet (:func:`features`:
each keyword value -- padding, stride, pool size, axis, reduction, rate --, an absent bias, the label
kind, exact ties), at least :data:`MIN_CASES` per dtype. So every padding, stride, pool size, label
kind and both dtypes appear, in a few hundred small cases (measured: 272 cases, 0.6 MB of compressed
.npz and a 0.1 MB index, written in 34 s on 2 shared cores). Then
:data:`GRADCHECK_CASES` float64 cases per op from its finite-difference strategy (off the kinks),
marked ``"gradcheck": true``: the checker differentiates the user's forward on those.

A case file ``<op>-<dtype>-<k>.npz`` holds the inputs (``in_<name>``; an absent bias is ``null`` in
the index), array keyword arguments (``kw_<name>``: the dropout mask), numpy_nn's output ``out``, the
upstream gradient ``dout`` (random, never all ones) and the gradients ``grad_<name>``; a float32
case also ``out64`` and ``grad64_<name>``, numpy_nn's float64 results on the same numbers (the
oracle the float32 verdict needs). Each case's output and VJP pass the parity suite's own verdict
against TensorFlow (``assertions.assert_parity``, the op's tolerances) before it is written.

``index.json``: ``{"format": "numpy-nn golden vectors", "version": 1, "seed", "numpy_nn", "tensorflow",
"cases": [{"file", "op", "dtype", "args": [{"name", "array" | null}], "kwargs", "grads": [name | null],
"gradcheck", "dout_seed"}]}``; keyword values are JSON, a tuple as ``{"tuple": [...]}`` and an array as
``{"array": key}``.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .registry import OPS, OPS_BY_NAME, NoGradCheck
from .strategies import DTYPES, Sample, draw_examples, upstream

FORMAT = "numpy-nn golden vectors"
VERSION = 1
DEFAULT_DRAWS = 200
MIN_CASES = 3
GRADCHECK_CASES = 2
FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.npz$")


class GoldenError(Exception):
    """A golden folder that cannot be read: named, with what is wrong."""


# ----------------------------------------------------------------------------------------------
# Choosing the cases
# ----------------------------------------------------------------------------------------------

def _canonical(value):
    if isinstance(value, float):
        return f"{round(value, 1):g}"
    if isinstance(value, tuple):
        return "(" + ",".join(map(_canonical, value)) + ")"
    return repr(value)


def _label_kind(labels):
    if labels.ndim == 1:
        return "sparse"
    return "one-hot" if bool(np.all((labels == 0) | (labels == 1))) else "soft"


def features(op, sample):
    """What a case shows: each non-array keyword value, each absent input, the label kind, exact ties."""
    found = {f"{k}={_canonical(v)}" for k, v in sample.kwargs.items() if not isinstance(v, np.ndarray)}
    for name, arg in zip(sample.names, sample.args):
        if arg is None:
            found.add(f"{name}=None")
        elif name == "labels":
            found.add(f"labels={_label_kind(arg)}")
    x = sample.args[0]
    if op.name == "maxpool2d" and np.unique(x).size < x.size:
        found.add("exact ties")
    return found


def select_cases(op, dtype, seed, draws=DEFAULT_DRAWS):
    """The covering subset of ``draws`` seeded examples (see the module docstring)."""
    strategy = (op.reference_samples or op.samples)(dtype)
    chosen, seen = [], set()
    for sample in draw_examples(strategy, draws, seed=seed):
        new = features(op, sample) - seen
        if new or len(chosen) < MIN_CASES:
            chosen.append(sample)
            seen |= new
    return chosen


def gradcheck_cases(op, seed):
    if isinstance(op.gradcheck, NoGradCheck):
        return []
    return draw_examples((op.gradcheck.samples or op.samples)("float64"), GRADCHECK_CASES, seed=seed + 1)


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------

def _encode(value, key, arrays):
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"array": key}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, key, arrays) for v in value]}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def compute_case(op, sample, dout_seed):
    """numpy_nn's output and VJP for ``sample`` (and, for float32, on its float64 copy), each checked
    against TensorFlow with the parity suite's verdict. Returns ``(dout, out, grads, out64, grads64)``."""
    from .assertions import assert_parity

    dtype = str(sample.args[0].dtype)
    out, cache = op.run_numpy(sample)
    out = np.asarray(out)
    dout = upstream(np.random.default_rng(dout_seed), out.shape, dtype)
    grads = op.numpy_vjp(sample, dout, cache)
    s64, d64 = sample.astype("float64"), dout.astype(np.float64)
    out64, grads64 = (np.asarray(op.run_numpy(s64)[0]), op.numpy_vjp(s64, d64)) if dtype == "float32" else (None, None)
    what = f"golden case {op.name} {sample.describe()}"
    assert_parity(dtype, out, op.run_tensorflow(sample), lambda: (out64, op.run_tensorflow(s64)), op.tolerances,
                  op=op.name, what=f"{what}: forward", sample=sample,
                  scale=op.forward_scale(sample) if op.forward_scale else None)
    theirs = op.tensorflow_vjp(sample, dout)
    theirs64 = op.tensorflow_vjp(s64, d64) if dtype == "float32" else None
    scale = op.vjp_scale(sample, dout) if op.vjp_scale else None
    for k, (i, name) in enumerate(zip(op.grad_argnums, op.grad_names(sample))):
        if sample.args[i] is not None:
            assert_parity(dtype, grads[k], theirs[k], lambda k=k: (grads64[k], theirs64[k]), op.tolerances,
                          op=op.name, what=f"{what}: d{name}", sample=sample, scale=scale)
    return dout, out, grads, out64, grads64


def write_case(folder, file, op, sample, dout_seed, gradcheck):
    """Compute, verify and write one case; its entry for the index."""
    dout, out, grads, out64, grads64 = compute_case(op, sample, dout_seed)
    arrays = {"out": out, "dout": dout}
    args = []
    for name, arg in zip(sample.names, sample.args):
        args.append({"name": name, "array": None if arg is None else f"in_{name}"})
        if arg is not None:
            arrays[f"in_{name}"] = arg
    kwargs = {k: _encode(v, f"kw_{k}", arrays) for k, v in sample.kwargs.items()}
    names = op.grad_names(sample)
    for k, (name, g) in enumerate(zip(names, grads)):
        if g is not None:
            arrays[f"grad_{name}"] = g
            if grads64 is not None:
                arrays[f"grad64_{name}"] = grads64[k]
    if out64 is not None:
        arrays["out64"] = out64
    np.savez_compressed(folder / file, **arrays)
    return {"file": file, "op": op.name, "dtype": str(sample.args[0].dtype), "args": args, "kwargs": kwargs,
            "grads": [n if g is not None else None for n, g in zip(names, grads)], "gradcheck": gradcheck,
            "seed": int(sample.seed), "dout_seed": dout_seed}


def generate(out, ops=None, seed=0, draws=DEFAULT_DRAWS, stream=None):
    """Write the golden folder ``out``; returns the index."""
    import tensorflow as tf

    from numpy_nn import __version__

    from .runtime import configure_for_parity

    configure_for_parity()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / "index.json"
    if old.exists():  # regenerating: the previous cases and their index go first (a failure leaves no index)
        for entry in json.loads(old.read_text()).get("cases", []):
            if FILE_NAME.match(str(entry.get("file", ""))):
                (folder / entry["file"]).unlink(missing_ok=True)
        old.unlink()
    entries = []
    for op in (OPS if ops is None else [OPS_BY_NAME[n] for n in ops]):
        start, before = time.perf_counter(), len(entries)
        batches = [(dtype, select_cases(op, dtype, seed, draws), False) for dtype in DTYPES]
        batches.append(("float64", gradcheck_cases(op, seed), True))
        for dtype, samples, gradcheck in batches:
            for sample in samples:
                k = len(entries) - before
                file = f"{op.name}-{dtype}-{k:03d}.npz"
                entries.append(write_case(folder, file, op, sample, dout_seed=seed * 100_003 + k, gradcheck=gradcheck))
        if stream is not None:
            print(f"{op.name:<22} {len(entries) - before:3d} cases, verified against TensorFlow "
                  f"({time.perf_counter() - start:.1f} s)", file=stream, flush=True)
    index = {"format": FORMAT, "version": VERSION, "seed": seed, "draws": draws, "numpy_nn": __version__,
             "tensorflow": tf.__version__, "cases": entries}
    (folder / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return index


# ----------------------------------------------------------------------------------------------
# Reading (no TensorFlow)
# ----------------------------------------------------------------------------------------------

@dataclass
class GoldenCase:
    op: str
    dtype: str
    file: str
    sample: Sample
    dout: np.ndarray
    out: np.ndarray
    out64: object
    grads: tuple
    grads64: object
    gradcheck: bool

    @property
    def size(self):
        return sum(a.size for a in self.sample.args if a is not None)


def _decode(value, arrays, file):
    if isinstance(value, dict) and set(value) == {"array"}:
        return _array(arrays, value["array"], file)
    if isinstance(value, dict) and set(value) == {"tuple"}:
        return tuple(_decode(v, arrays, file) for v in value["tuple"])
    if isinstance(value, (dict, list)):
        raise GoldenError(f"{file}: a keyword value must be a number, a string, null, a tuple or an array, got {value!r:.80}")
    return value


def _array(arrays, key, file):
    if not isinstance(key, str) or key not in arrays:
        raise GoldenError(f"{file}: no array {key!r} in the file")
    return arrays[key]


def _read_case(folder, entry):
    if not isinstance(entry, dict):
        raise GoldenError(f"{folder / 'index.json'}: each case must be an object, got {entry!r:.80}")
    file = entry.get("file")
    if not (isinstance(file, str) and FILE_NAME.match(file)):
        raise GoldenError(f"{folder / 'index.json'}: a case's file must be a plain .npz name in the folder, got {file!r:.80}")
    op, dtype = entry.get("op"), entry.get("dtype")
    if op not in OPS_BY_NAME or dtype not in DTYPES:
        raise GoldenError(f"{file}: unknown op {op!r} or dtype {dtype!r} (ops: {', '.join(OPS_BY_NAME)})")
    path = folder / file
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise GoldenError(f"{path}: listed in index.json but missing") from None
    except (OSError, ValueError) as e:
        raise GoldenError(f"{path}: not a readable .npz file ({e})") from None
    try:
        args = tuple(None if a["array"] is None else _array(arrays, a["array"], file) for a in entry["args"])
        names = tuple(a["name"] for a in entry["args"])
        kwargs = {str(k): _decode(v, arrays, file) for k, v in entry["kwargs"].items()}
        grads = tuple(None if n is None else _array(arrays, f"grad_{n}", file) for n in entry["grads"])
        grads64 = tuple(None if n is None else _array(arrays, f"grad64_{n}", file) for n in entry["grads"]) \
            if dtype == "float32" else None
        out64 = _array(arrays, "out64", file) if dtype == "float32" else None
        out, dout = _array(arrays, "out", file), _array(arrays, "dout", file)
    except (KeyError, TypeError, AttributeError) as e:
        raise GoldenError(f"{file}: its index entry lacks or mangles {e}") from None
    floats = [a for a in (args[0], out, dout) + grads if a is not None and a.dtype.kind == "f"]
    if not args or args[0] is None or any(str(a.dtype) != dtype for a in floats):
        raise GoldenError(f"{file}: its arrays are not all {dtype}")
    sample = Sample(args, kwargs, int(entry.get("seed", 0)), names)
    return GoldenCase(op, dtype, file, sample, dout, out, out64, grads, grads64, bool(entry.get("gradcheck")))


@functools.lru_cache(maxsize=4)
def _load(folder):
    folder = Path(folder)
    index = folder / "index.json"
    if not folder.is_dir():
        raise GoldenError(f"{folder}: no such folder (write one with python -m parity_tests.golden --out {folder})")
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoldenError(f"{index}: missing: not a golden folder (python -m parity_tests.golden --out DIR)") from None
    except (OSError, ValueError) as e:
        raise GoldenError(f"{index}: not readable JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise GoldenError(f"{index}: not version {VERSION} of the {FORMAT!r} format")
    if not isinstance(data.get("cases"), list):
        raise GoldenError(f"{index}: 'cases' must be a list")
    return tuple(_read_case(folder, entry) for entry in data["cases"])


def load_cases(folder):
    """Every case of the golden folder, validated (GoldenError naming the file otherwise)."""
    return list(_load(str(Path(folder).resolve())))


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m parity_tests.golden",
                                     description="Write golden vectors for every catalogue op, each verified against "
                                                 "TensorFlow, for python -m parity_tests.check MODULE --golden DIR.")
    parser.add_argument("--out", required=True, metavar="DIR", help="the folder to write (index.json and the .npz cases)")
    parser.add_argument("--ops", help="comma-separated ops (default: every op of the catalogue)")
    parser.add_argument("--seed", type=int, default=0, help="the cases' seed (default 0)")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS,
                        help=f"examples drawn per op and dtype to choose the cases from (default {DEFAULT_DRAWS})")
    args = parser.parse_args(argv)
    from .check import UsageError, parse_ops

    try:
        ops = parse_ops(args.ops) if args.ops else None
        if not 1 <= args.draws <= 10_000 or args.seed < 0:
            raise UsageError("--draws must be in [1, 10000] and --seed non-negative")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow  # noqa: F401
    except UsageError as e:
        parser.error(str(e))
    except ImportError as e:
        parser.error(f"writing golden vectors needs TensorFlow to verify them, which cannot be imported ({e})")
    start = time.perf_counter()
    try:
        index = generate(args.out, ops, args.seed, args.draws, stream=sys.stdout)
    except AssertionError as e:
        print(f"python -m parity_tests.golden: error: numpy_nn disagrees with TensorFlow, nothing trustworthy to "
              f"write:\n{e}", file=sys.stderr)
        return 1
    size = sum((Path(args.out) / c["file"]).stat().st_size for c in index["cases"])
    print(f"wrote {len(index['cases'])} cases ({size / 1e6:.1f} MB) and index.json to {args.out} in "
          f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
