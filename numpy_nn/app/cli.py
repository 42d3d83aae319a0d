"""``numpy-nn``: the command line (also ``python -m numpy_nn``).

    numpy-nn train --model {softmax,mlp,dropout,cnn,cnn_bn,all} --backend {numpy,tf,both} [--epochs N]
                   [--batch-size N] [--learning-rate LR] [--seed S] [--data-dir DIR] [--limit N|all]
                   [--out DIR] [--no-figures] [--quiet] [--save DIR] [--resume DIR] [--blas-threads N]
    numpy-nn check MODULE [--ops ...] [--examples N] [--against reference|tensorflow|both] [--golden DIR]
    numpy-nn check --template PATH
    numpy-nn diverge --model {softmax,mlp,dropout,cnn} [--steps N] [--optimizer sgd|adam] [--batch-size B]
                     [--seed S] [--data-dir DIR] [--out DIR]

``diverge`` (:mod:`numpy_nn.app.diverge`) trains a model four ways in lockstep (numpy_nn and Keras,
float32 and float64) and says at which step, layer and op they part, and whether that is rounding,
a loss of precision on one side or a real difference in what they compute.

``check`` (:mod:`numpy_nn.app.check`) runs the op catalogue's properties against your own
implementation of the ops (the checker is in the checkout's test suite, run in a child process);
the other commands are listed in :data:`COMMANDS`.

``train`` trains the tutorial models (:mod:`numpy_nn.zoo`) on MNIST (found by
:func:`numpy_nn.datasets.load_mnist`), in NumPy, TensorFlow or both side by side (same initial
weights, same batch order, same dropout masks, one epoch loop: see :mod:`numpy_nn.app.driver`),
prints a table, and writes the figures (:mod:`numpy_nn.app.plots`) and ``metrics.json``
(:mod:`numpy_nn.app.results`) to ``--out``. The parity report and the benchmarks are not part of
the installed command: run ``python -m parity_tests.report`` and ``python -m benchmarks`` from a checkout.

Checkpoints. ``--save DIR`` writes, after every epoch, one checkpoint per model and framework:
``DIR/<model>-<backend>.npz`` (e.g. ``DIR/mlp-numpy.npz``, ``DIR/mlp-tf.npz``), each replaced
atomically, so an interrupted run leaves its last complete epoch and never a partial file; a
diverging run never overwrites the last good one. ``--resume DIR`` continues from the checkpoints in
``DIR`` (the same folder or another ``--save`` folder may follow): every model and framework of the
run resumes from its file, with the saved seed, batch size, learning rate and data (options left out
take the saved values; a different value is a usage error), up to ``--epochs`` in all (default: the
saved run's). The batch order of epoch ``e`` depends only on ``(seed, e)``, and the optimizer state
and dropout generators are restored, so the resumed run is bit for bit the uninterrupted one. With
``--model all`` a model with no file yet starts from scratch (the run was interrupted before it);
with ``--backend both`` both frameworks' files must be there, at the same epoch
(:mod:`numpy_nn.app.resume`). The Keras side is stored in numpy_nn's format (Keras's weights and
optimizer moments in a numpy_nn model, plus Keras's dropout generator states), so
``numpy_nn.load_model`` opens either file.

Threads. ``--blas-threads N`` limits NumPy's BLAS (OpenBLAS, MKL) to N threads for the run, through
``threadpoolctl`` (in the ``dev`` extra; without it, set ``OPENBLAS_NUM_THREADS=N`` in the
environment instead). Left out, BLAS uses every core, which is fastest on a quiet machine; on a
busy one a multi-threaded OpenBLAS waits on its own descheduled threads at every matmul. Measured on
2 cores, ``--model cnn --limit 2000``: numpy 1.0-1.2 s/epoch with 2 BLAS threads and 1.4-1.6 s
with 1 on a quiet machine; 72 s with 2 and 1.7 s with 1 while one other process kept a core busy --
with or without TensorFlow in the process (its pools are idle while numpy trains: the two
frameworks take turns epoch by epoch). Results depend on the thread count in the last bits (see
the README's "Determinism in detail"), so ``metrics.json`` records it.

Errors end with one line naming the argument or file and what is wrong, and no traceback: exit
status 2 for a usage problem (a bad argument, TensorFlow or matplotlib missing, an option that
contradicts the checkpoint being resumed), 1 for a data problem (missing, truncated, corrupt or
mismatched files, a training or test split of 0 images), a checkpoint that is missing, damaged or of
another model, an output folder that cannot be written, or a run that diverged: a NaN/inf loss or
gradient, an update that overflowed a weight or an optimizer slot, or a test loss that is not
finite. The message names the model, framework, epoch, step and first layer concerned, and says
truthfully whether the weights are those before the failing step (``weights_finite``) or not. A
diverged run never exits 0, never writes a checkpoint holding NaN/inf and never writes
``metrics.json``; ``metrics.json`` itself is strict JSON (``allow_nan=False``: a non-finite number
would be written as null and listed under ``"non_finite"``).
TensorFlow is imported only when a TF backend is asked for, matplotlib only to draw: this module
imports NumPy and numpy_nn alone.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time
from pathlib import Path

from .. import __version__, zoo
from ..checkpoint import CheckpointError
from ..datasets import DataError, load_mnist
from ..errors import TrainingDiverged
from .driver import load_tf_trainer, train_model
from .errors import OutputError, UsageError
from .results import results_table, run_metrics, write_json
from .resume import (ALL_IMAGES, MAX_COUNT, MAX_EPOCHS, MAX_SEED, NOT_GIVEN, check_resumed_data, data_fingerprint, read_resume_points,
                     resolve_limit, resolve_settings)

PROG = "numpy-nn"
BACKEND_CHOICES = {"numpy": ("numpy",), "tf": ("tf",), "both": ("numpy", "tf")}
MODEL_CHOICES = list(zoo.MODELS) + ["all"]  # "all": the tutorial models; the others (cnn_bn) by name


# ----------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------

def _positive_int(text, high=MAX_COUNT):
    """A positive integer below ``high``: the range a resumed run's checkpoint accepts (so that
    ``--save`` never writes a file ``--resume`` refuses)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value >= high:
        raise argparse.ArgumentTypeError(f"expected an integer below {high:,}, got {text!r:.40}")
    return value


def _epochs(text):
    return _positive_int(text, MAX_EPOCHS)


def _seed(text):
    """A seed as the library takes it: an integer in [0, 2**63) (numpy_nn.layers.base.check_seed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    if value >= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer below 2**63, got {text!r:.40}")
    return value


def _limit(text):
    """``--limit``: a positive integer, or ``all`` (:data:`ALL_IMAGES`)."""
    if text.strip().lower() == "all":
        return ALL_IMAGES
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer below {MAX_COUNT:,} or 'all', got {text!r:.40}") from None


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


#: The subcommands besides ``train``, each a module of numpy_nn.app with ``HELP`` and ``DESCRIPTION``
#: (strings), ``add_arguments(parser)`` and ``run(args) -> exit status``; it raises UsageError,
#: DataError, OutputError, CheckpointError or TrainingDiverged as ``train`` does, and :func:`main`
#: turns them into the one-line error and the exit status. Their modules import TensorFlow lazily.
COMMANDS = ("diverge", "check")


def _command_module(name):
    return importlib.import_module(f"{__package__}.{name}")


def build_parser():
    """The ``numpy-nn`` argument parser: ``train`` and the :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog=PROG,
                                     description="numpy-nn: NumPy neural networks, checked against TensorFlow.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(("train",) + COMMANDS) + "}")
    train = sub.add_parser(
        "train", help="train the tutorial models in NumPy and/or TensorFlow, side by side",
        description="Train the tutorial models on MNIST in numpy_nn and/or TensorFlow from the same initial "
                    "weights and batch order; print a side-by-side table; write figures and metrics.json. "
                    "Unset options take each model's tutorial defaults.")
    train.add_argument("--model", default="all", choices=MODEL_CHOICES, help="which model (default: all)")
    train.add_argument("--backend", default="both", choices=list(BACKEND_CHOICES),
                       help="numpy, tf, or both side by side (default: both)")
    train.add_argument("--epochs", type=_epochs, help="passes over the training set (default: the model's)")
    train.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default: the model's)")
    train.add_argument("--learning-rate", type=_positive_float, help="learning rate (default: the model's)")
    train.add_argument("--seed", type=_seed, default=NOT_GIVEN,
                       help="seeds the initial weights, the batch order and the dropout masks (default: 0)")
    train.add_argument("--data-dir", help="MNIST folder (four IDX files or mnist.npz) or .npz file "
                                          "(default: $NUMPY_NN_DATA, the cache, a download, or the bundled sample)")
    train.add_argument("--limit", type=_limit, default=NOT_GIVEN, metavar="N|all",
                       help="use only the first N training images (default: all; `make demo` uses 20000)")
    train.add_argument("--out", default="out", help="folder for the figures and metrics.json (default: out)")
    train.add_argument("--no-figures", action="store_true", help="write metrics.json only (no matplotlib needed)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument("--save", metavar="DIR",
                       help="after every epoch, write a checkpoint per model and framework: DIR/<model>-<backend>.npz")
    train.add_argument("--resume", metavar="DIR",
                       help="continue from the checkpoints in DIR (written by --save), bit for bit; --epochs is "
                            "the total to reach; unset options take the saved values")
    train.add_argument("--blas-threads", type=_positive_int, metavar="N",
                       help="limit NumPy's BLAS to N threads (needs threadpoolctl; default: BLAS's own, all cores); "
                            "1 avoids OpenBLAS's collapse on a busy machine")
    for name in COMMANDS:
        module = _command_module(name)
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION))
    return parser


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------

def require_tensorflow(subject, alternative=""):
    """Import the Keras trainer now; UsageError "<subject> needs TensorFlow ..." if it cannot be."""
    try:
        load_tf_trainer()
    except ImportError as e:
        raise UsageError(f"{subject} needs TensorFlow, which cannot be imported ({e}); "
                         f"install it with pip install 'numpy-nn[tf]'{alternative}") from None


def require_matplotlib(subject, flag):
    """Import matplotlib now; UsageError "<subject> need(s) matplotlib ..., or pass <flag>" if it cannot be."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise UsageError(f"{subject} matplotlib, which cannot be imported ({e}); install it with "
                         f"pip install 'numpy-nn[dev]', or pass {flag}") from None


def _check_dependencies(backend, figures):
    """Import what the run will need now, before any data is loaded or any time is spent."""
    if "tf" in BACKEND_CHOICES[backend]:
        require_tensorflow(f"argument --backend: '{backend}'", ", or use --backend numpy")
    if figures:
        require_matplotlib("the figures need", "--no-figures")


def _limit_blas_threads(n):
    """Apply ``--blas-threads n``: a ``threadpoolctl`` limiter to restore afterwards, or None."""
    if n is None:
        return None
    try:
        import threadpoolctl
    except ImportError as e:
        raise UsageError(f"argument --blas-threads: needs threadpoolctl, which cannot be imported ({e}); install it "
                         "with pip install 'numpy-nn[dev]', or set OPENBLAS_NUM_THREADS=N in the environment instead"
                         ) from None
    return threadpoolctl.threadpool_limits(n, user_api="blas")


def _prepare_folder(folder, option, what, hint=""):
    """Create ``folder`` for ``option`` (e.g. --out); OutputError naming it if that is impossible."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: {option} must be a folder{hint}, and this is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{folder}: cannot create the {what} folder: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{folder}: the {what} folder is not writable")
    return folder


def _prepare_out(out):
    """Create the output folder; OutputError if that is impossible."""
    return _prepare_folder(out, "--out", "output")


def _load_data(args, limit, stream):
    """``((x_train, y_train), (x_test, y_test)), source``, the training set cut to ``limit`` (None: all)."""
    train, test, source = load_mnist(args.data_dir, return_source=True, verbose=True)
    _check_splits(source, train, test)
    x_train, y_train = train
    if limit is not None and limit < len(x_train):
        print(f"{PROG}: using the first {limit:,} of the {len(x_train):,} training images (--limit)", file=stream)
        x_train, y_train = x_train[:limit], y_train[:limit]
    return ((x_train, y_train), test), source


def _check_splits(source, train, test):
    """Both splits must hold images (0 training images gives an epoch without a step, 0 test images
    no accuracy): DataError naming the data's location otherwise, whatever the loader accepted."""
    for split, (images, labels) in (("training", train), ("test", test)):
        if len(images) == 0 or len(labels) != len(images):
            where = source.location if source.location is not None else source.describe()
            raise DataError(f"{where}: the {split} split has {len(images)} images and {len(labels)} labels; "
                            "training needs at least one image, with its label, in each split")


# ----------------------------------------------------------------------------------------------
# --save / --resume
# ----------------------------------------------------------------------------------------------

def _prepare_save(folder):
    """Create the --save folder (OutputError if impossible); nothing is written in it until an epoch ends."""
    return _prepare_folder(folder, "--save", "checkpoint", f" (checkpoints go to {folder}/<model>-<backend>.npz)")


def _diverged_message(e, save):
    """The one line for a diverged run: what diverged where, what to try, and what --save kept."""
    line = f"{e}; try a smaller --learning-rate"
    if save is not None:
        paths = getattr(e, "checkpoints", [])
        if paths:
            line += f"; the last good epoch ({e.checkpoint_epoch}) is in {', '.join(str(p) for p in paths)}"
        else:
            line += "; no checkpoint was written by this run (no epoch of it completed)"
    return line


def train(args, argv, stream=None):
    """``numpy-nn train``: check, load, train every model, print the table, write figures and metrics."""
    stream = sys.stderr if stream is None else stream
    start = time.perf_counter()
    backends = BACKEND_CHOICES[args.backend]
    figures = not args.no_figures
    _check_dependencies(args.backend, figures)
    blas_limit = _limit_blas_threads(args.blas_threads)
    try:
        return _train(args, argv, stream, start, backends, figures)
    finally:
        if blas_limit is not None:
            blas_limit.restore_original_limits()


def _train(args, argv, stream, start, backends, figures):
    names = list(zoo.TUTORIAL_MODELS) if args.model == "all" else [args.model]
    # Everything about the checkpoints to resume is checked before anything is written.
    points = read_resume_points(args.resume, names, backends) if args.resume else {name: None for name in names}
    settings = {name: resolve_settings(args, name, points[name]) for name in names}
    limit = resolve_limit(args, points)
    out = _prepare_out(args.out)
    save = _prepare_save(args.save) if args.save else None
    data, source = _load_data(args, limit, stream)
    location = None if source.location is None else str(source.location)
    data_info = {"source": source.kind, "location": location, "limit": limit}
    check_resumed_data(points, {**data_info, "train_images": len(data[0][0])}, data_fingerprint(*data[0]))
    results = []
    for name in names:
        print(f"\n== {name}: {zoo.get(name).description} ({' vs '.join(backends)})", file=stream)
        point = points[name]
        if point is not None:
            done = "nothing left to train" if point.epoch >= settings[name]["epochs"] else "continuing"
            print(f"{PROG}: resuming from {', '.join(map(str, point.paths.values()))} after epoch {point.epoch} "
                  f"of {settings[name]['epochs']}: {done}", file=stream)
        elif args.resume:
            print(f"{PROG}: no checkpoint of {name} in {args.resume}: starting it from scratch", file=stream)
        cfg = settings[name]
        results.append(train_model(name, data, backends, cfg["epochs"], cfg["batch_size"], cfg["learning_rate"],
                                   cfg["seed"], verbose=not args.quiet, stream=stream, save_dir=save, resume=point,
                                   data_info=data_info))
    table = results_table(results)
    print(f"\nMNIST from {source.describe()}: {len(data[0][0]):,} training / {len(data[1][0]):,} test images\n")
    print(table)
    written = {}
    if figures:
        from .plots import write_figures

        written = write_figures(results, data, out)
    metrics = run_metrics([PROG] + list(argv), backends, source, data, results, written, time.perf_counter() - start,
                          resumed=bool(args.resume))
    write_json(out / "metrics.json", metrics)
    print(f"\nwrote {len(written)} figures and metrics.json to {out}/ in {metrics['total_seconds']:.0f} s")
    if save is not None:
        print(f"checkpoints: {', '.join(str(p) for r in results for p in r.checkpoints) or 'none written'}")
    return 0


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

def main(argv=None):
    """Run ``numpy-nn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 and a one-line error on bad usage
    sub = f"{PROG} {args.command}"
    try:
        return train(args, argv) if args.command == "train" else _command_module(args.command).run(args)
    except UsageError as e:
        print(f"{sub}: error: {e}", file=sys.stderr)
        return 2
    except (DataError, OutputError, CheckpointError) as e:
        print(f"{sub}: error: {e}", file=sys.stderr)
        return 1
    except TrainingDiverged as e:
        print(f"{sub}: error: {_diverged_message(e, getattr(args, 'save', None))}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. the disk filled while writing a figure
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"{sub}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = f"; continue with --resume {args.save}" if getattr(args, "save", None) else ""
        print(f"\n{sub}: interrupted{kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
