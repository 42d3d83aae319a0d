"""``numpy-nn``: the command line (also ``python -m numpy_nn``).

    numpy-nn train --model {softmax,mlp,dropout,cnn,all} --backend {numpy,tf,both} [--epochs N]
                   [--batch-size N] [--learning-rate LR] [--seed S] [--data-dir DIR] [--limit N|all]
                   [--out DIR] [--no-figures] [--quiet]
    numpy-nn parity [ARGS...]      # parity_tests.report.main(ARGS)
    numpy-nn bench [ARGS...]       # benchmarks.__main__.main(ARGS)

``train`` trains the tutorial models (:mod:`numpy_nn.zoo`) on MNIST (found by
:func:`numpy_nn.datasets.load_mnist`), in NumPy, TensorFlow or both side by side (same initial
weights, same batch order, same dropout masks: see :mod:`numpy_nn.experiment`), prints a table,
and writes the figures (:mod:`numpy_nn.plots`) and ``metrics.json`` to ``--out``.

Errors end with one line naming the argument or file and what is wrong, and no traceback: exit
status 2 for a usage problem (a bad argument, TensorFlow or matplotlib missing), 1 for a data
problem (missing, truncated, corrupt or mismatched files) or an output folder that cannot be written.
TensorFlow is imported only when a TF backend is asked for, matplotlib only to draw.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import __version__, zoo
from .datasets import DataError, load_mnist
from .models import TrainingDiverged

PROG = "numpy-nn"
BACKEND_CHOICES = {"numpy": ("numpy",), "tf": ("tf",), "both": ("numpy", "tf")}
MODEL_CHOICES = list(zoo.TUTORIAL_MODELS) + ["all"]
#: Training images used unless --limit says otherwise: all of them. (`make demo` passes
#: --limit 20000, the mnist-20k reference setting, so that it stays within 5 minutes on 2 cores even
#: when the loader has downloaded the full 60,000.)
DEFAULT_LIMIT = None

#: Subcommands that hand their arguments to another module's ``main(argv)``.
DELEGATES = {
    "parity": ("parity_tests.report", "the op-by-op parity report (numpy_nn vs TensorFlow)"),
    "bench": ("benchmarks.__main__", "NumPy vs TensorFlow timings"),
}


class UsageError(Exception):
    """A bad argument or a missing optional dependency: exit status 2."""


class OutputError(Exception):
    """The output folder cannot be created or written: exit status 1."""


# ----------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _limit(text):
    """``--limit``: a positive integer, or ``all``."""
    if text.strip().lower() == "all":
        return None
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}") from None


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def build_parser():
    """The ``numpy-nn`` argument parser (``train``; ``parity`` and ``bench`` are listed for help)."""
    parser = argparse.ArgumentParser(prog=PROG,
                                     description="numpy-nn: NumPy neural networks, checked against TensorFlow.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,parity,bench}")
    train = sub.add_parser(
        "train", help="train the tutorial models in NumPy and/or TensorFlow, side by side",
        description="Train the tutorial models on MNIST in numpy_nn and/or TensorFlow from the same initial "
                    "weights and batch order; print a side-by-side table; write figures and metrics.json. "
                    "Unset options take each model's tutorial defaults.")
    train.add_argument("--model", default="all", choices=MODEL_CHOICES, help="which model (default: all)")
    train.add_argument("--backend", default="both", choices=list(BACKEND_CHOICES),
                       help="numpy, tf, or both side by side (default: both)")
    train.add_argument("--epochs", type=_positive_int, help="passes over the training set (default: the model's)")
    train.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default: the model's)")
    train.add_argument("--learning-rate", type=_positive_float, help="learning rate (default: the model's)")
    train.add_argument("--seed", type=_non_negative_int, default=0,
                       help="seeds the initial weights, the batch order and the dropout masks (default: 0)")
    train.add_argument("--data-dir", help="MNIST folder (four IDX files or mnist.npz) or .npz file "
                                          "(default: $NUMPY_NN_DATA, the cache, a download, or the bundled sample)")
    train.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT, metavar="N|all",
                       help="use only the first N training images (default: all; `make demo` uses 20000)")
    train.add_argument("--out", default="out", help="folder for the figures and metrics.json (default: out)")
    train.add_argument("--no-figures", action="store_true", help="write metrics.json only (no matplotlib needed)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    for name, (module, text) in DELEGATES.items():
        sub.add_parser(name, help=f"{text}: runs {module}.main(ARGS)", add_help=False)
    return parser


# ----------------------------------------------------------------------------------------------
# Delegated subcommands
# ----------------------------------------------------------------------------------------------

def delegate(name, argv):
    """Run ``<module>.main(argv)`` for the subcommand ``name``; a one-line error if it cannot be imported."""
    module_name = DELEGATES[name][0]
    try:
        module = importlib.import_module(module_name)
        entry = module.main
    except (ImportError, AttributeError) as e:
        print(f"{PROG} {name}: error: cannot run {module_name}.main ({e}); "
              "is this a full numpy-nn checkout with its test/benchmark packages?", file=sys.stderr)
        return 1
    status = entry(list(argv))
    return 0 if status is None else int(status)


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------

def _check_dependencies(backend, figures):
    """Import what the run will need now, before any data is loaded or any time is spent."""
    if "tf" in BACKEND_CHOICES[backend]:
        from .experiment import load_tf_trainer

        try:
            load_tf_trainer()
        except ImportError as e:
            raise UsageError(f"argument --backend: '{backend}' needs TensorFlow, which cannot be imported ({e}); "
                             "install it with pip install 'numpy-nn[tf]', or use --backend numpy") from None
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError as e:
            raise UsageError(f"the figures need matplotlib, which cannot be imported ({e}); install it with "
                             "pip install 'numpy-nn[dev]', or pass --no-figures") from None


def _prepare_out(out):
    """Create the output folder; OutputError if that is impossible."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out must be a folder, and this is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the output folder: {e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"{out}: the output folder is not writable")
    return out


def _load_data(args, stream):
    """``((x_train, y_train), (x_test, y_test)), source``, the training set cut to ``--limit``."""
    train, test, source = load_mnist(args.data_dir, return_source=True, verbose=True)
    x_train, y_train = train
    if args.limit is not None and args.limit < len(x_train):
        print(f"{PROG}: using the first {args.limit:,} of the {len(x_train):,} training images (--limit)", file=stream)
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    return ((x_train, y_train), test), source


def _fmt(value, spec):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def results_table(results):
    """The side-by-side table (Markdown), one row per model."""
    backends = [b for b in ("numpy", "tf") if any(b in r.runs for r in results)]
    both = len(backends) == 2
    head = ["model"]
    head += [f"{b} test acc" for b in backends] + (["diff (pp)"] if both else [])
    head += [f"{b} final loss" for b in backends] + [f"{b} s/epoch" for b in backends]
    head += ["max |w_numpy - w_tf|"] if both else []
    rows = []
    for r in results:
        runs = [r.runs.get(b) for b in backends]
        row = [r.name]
        row += [_fmt(None if run is None else 100 * run.test_accuracy, ".2f") + ("%" if run else "") for run in runs]
        if both:
            diff = r.summary().get("test_accuracy_diff_pp")
            row.append(_fmt(diff, "+.2f"))
        row += [_fmt(None if run is None else run.final_loss, ".4f") for run in runs]
        row += [_fmt(None if run is None else run.seconds_per_epoch, ".3g") for run in runs]
        if both:
            row.append(_fmt(r.max_weight_diff, ".2e"))
        rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(head, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def write_figures(results, data, out):
    """Draw every figure into ``out`` (see :mod:`numpy_nn.plots` for what each shows); returns
    ``{figure: file name}``. The single-framework figures show numpy_nn's model when it ran."""
    from . import plots

    (x_train, y_train), (x_test, _) = data
    written = {}

    def save(key, draw):
        draw(out / f"{key}.png")
        written[key] = f"{key}.png"

    save("digits", lambda p: plots.plot_digits(x_train, y_train, p))
    for r in results:
        run, name = r.primary, r.name
        who = f"{name} ({plots.BACKEND_LABELS[run.backend]})"
        probabilities = r.probabilities()
        predicted = np.argmax(probabilities, axis=1)
        curves = {b: {"loss": rr.step_loss, "accuracy": rr.step_accuracy, "epoch_loss": rr.epoch_loss,
                      "epoch_accuracy": rr.epoch_accuracy} for b, rr in r.runs.items()}
        if name == "softmax":
            save("softmax_weights", lambda p: plots.plot_softmax_weights(run.weights[0], p))
        save(f"{name}_curves", lambda p: plots.plot_curves(curves, p, title=f"{name}: training loss and accuracy"))
        save(f"{name}_predictions", lambda p: plots.plot_predictions(
            x_test, r.test_labels, predicted, p, title=f"{who}: test predictions"))
        save(f"{name}_confusion", lambda p: plots.plot_confusion(r.test_labels, predicted, p, title=who))
        save(f"{name}_probabilities", lambda p: plots.plot_probabilities(
            x_test[0], probabilities[0], r.test_labels[0], p, title=who))
        save(f"{name}_embedding", lambda p: plots.plot_embedding(
            r.embedding_pixels, r.embedding_features, r.embedding_labels, p,
            title=f"{who}: PCA of {len(r.embedding_labels):,} test images, raw pixels vs learned features"))
    return written


def write_json(path, payload):
    """Write ``payload`` as JSON at ``path`` atomically (temp file + ``os.replace``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, allow_nan=True)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _metrics(args, argv, source, data, results, figures, seconds):
    (x_train, _), (x_test, _) = data
    versions = {"numpy_nn": __version__, "numpy": np.__version__, "python": platform.python_version()}
    tensorflow = sys.modules.get("tensorflow")  # only if this run imported it
    if getattr(tensorflow, "__version__", None):
        versions["tensorflow"] = tensorflow.__version__
    return {
        "command": [PROG] + list(argv),
        "data": {"source": source.kind, "location": source.location,
                 "train_images": len(x_train), "test_images": len(x_test)},
        "backends": list(BACKEND_CHOICES[args.backend]),
        "models": {r.name: r.summary() for r in results},
        "table": results_table(results).splitlines(),
        "figures": figures,
        "total_seconds": seconds,
        "versions": versions,
    }


def train(args, argv, stream=None):
    """``numpy-nn train``: check, load, train every model, print the table, write figures and metrics."""
    from .experiment import train_model

    stream = sys.stderr if stream is None else stream
    start = time.perf_counter()
    backends = BACKEND_CHOICES[args.backend]
    figures = not args.no_figures
    _check_dependencies(args.backend, figures)
    out = _prepare_out(args.out)
    data, source = _load_data(args, stream)
    names = list(zoo.TUTORIAL_MODELS) if args.model == "all" else [args.model]
    results = []
    for name in names:
        print(f"\n== {name}: {zoo.get(name).description} ({' vs '.join(backends)})", file=stream)
        results.append(train_model(name, data, backends, args.epochs, args.batch_size, args.learning_rate,
                                   args.seed, verbose=not args.quiet, stream=stream))
    table = results_table(results)
    print(f"\nMNIST from {source.describe()}: {len(data[0][0]):,} training / {len(data[1][0]):,} test images\n")
    print(table)
    written = write_figures(results, data, out) if figures else {}
    metrics = _metrics(args, argv, source, data, results, written, time.perf_counter() - start)
    write_json(out / "metrics.json", metrics)
    print(f"\nwrote {len(written)} figures and metrics.json to {out}/ in {metrics['total_seconds']:.0f} s")
    return 0


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

def main(argv=None):
    """Run ``numpy-nn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATES:
        return delegate(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 and a one-line error on bad usage
    sub = f"{PROG} {args.command}"
    try:
        return train(args, argv)
    except UsageError as e:
        print(f"{sub}: error: {e}", file=sys.stderr)
        return 2
    except (DataError, OutputError) as e:
        print(f"{sub}: error: {e}", file=sys.stderr)
        return 1
    except TrainingDiverged as e:
        print(f"{sub}: error: {e}; try a smaller --learning-rate", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. the disk filled while writing a figure
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"{sub}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{sub}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
