"""``numpy-nn diverge``: where numpy_nn and TensorFlow trainings part, and whether it is rounding.

    numpy-nn diverge --model {softmax,mlp,dropout,cnn} [--steps N] [--optimizer sgd|adam]
                     [--batch-size B] [--learning-rate LR] [--seed S] [--data-dir DIR] [--out DIR]
                     [--train-hyperparameters] [--no-figure] [--quiet]

Trains the model four ways in lockstep (numpy_nn and Keras, float32 and float64; same start, batches
and dropout masks), records the gaps after every step, classifies the divergence (``semantics``,
``precision``, ``rounding`` or ``none``) and localises it: :mod:`numpy_nn.app.divergence` (the runs),
:mod:`numpy_nn.app.divergence_rule` (the rule), :mod:`numpy_nn.app.divergence_localise`. Writes
``divergence.json`` and ``divergence.png`` to
``--out`` and prints the verdict. A bad argument is a one-line error with exit status 2 (TensorFlow
or matplotlib missing too); data that cannot be read or an ``--out`` that cannot be written, 1.
"""
from __future__ import annotations

import sys
import time

from .. import zoo
from ..datasets import load_mnist
from ..progress import ProgressBar

HELP = "find where NumPy and TensorFlow trainings part (step, layer, op) and whether it is rounding"
DESCRIPTION = ("Train a tutorial model four ways from the same start (numpy_nn and TensorFlow, each in float32 "
               "and float64; same batches and dropout masks), record the gaps after every step, and say at "
               "which step, in which layer and op they part, and whether it is a real (semantic) difference, "
               "one framework's float32 precision, or rounding. Writes divergence.json and divergence.png.")

#: Default number of steps (``--steps``).
DEFAULT_STEPS = 400
#: ``--steps`` must be below this: every step adds 12 numbers per parameter array to divergence.json
#: and to memory (one million steps of the CNN would be ~2 GB of Python floats).
MAX_STEPS = 100_001


def add_arguments(parser):
    from .cli import _positive_float, _positive_int, _seed

    parser.add_argument("--model", required=True, choices=list(zoo.TUTORIAL_MODELS), help="which tutorial model")
    parser.add_argument("--steps", type=lambda text: _positive_int(text, MAX_STEPS), default=DEFAULT_STEPS,
                        help=f"training steps (batches) to run (default: {DEFAULT_STEPS})")
    parser.add_argument("--optimizer", choices=["sgd", "adam"],
                        help="sgd or adam (default: the model's; float32-exact hyperparameters)")
    parser.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default: the model's)")
    parser.add_argument("--learning-rate", type=_positive_float, help="learning rate (default: the model's for its optimizer)")
    parser.add_argument("--train-hyperparameters", action="store_true",
                        help="the optimizer's hyperparameters as numpy-nn train passes them (Python floats, which numpy_nn "
                             "uses in double and Keras rounds to float32) instead of their float32 values")
    parser.add_argument("--seed", type=_seed, default=0, help="initial weights, batch order, dropout masks (default: 0)")
    parser.add_argument("--data-dir", help="MNIST folder or .npz (default: as numpy-nn train finds it)")
    parser.add_argument("--out", default="out/diverge", help="folder for divergence.json and divergence.png")
    parser.add_argument("--no-figure", action="store_true", help="write divergence.json only (no matplotlib needed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def command_line(args):
    """The command as typed, for the verdict line (numbers come with the command that produced them)."""
    parts = ["numpy-nn diverge", f"--model {args.model}", f"--steps {args.steps}"]
    if args.optimizer:
        parts.append(f"--optimizer {args.optimizer}")
    if args.batch_size:
        parts.append(f"--batch-size {args.batch_size}")
    if args.learning_rate:
        parts.append(f"--learning-rate {args.learning_rate:g}")
    if args.seed:
        parts.append(f"--seed {args.seed}")
    if args.train_hyperparameters:
        parts.append("--train-hyperparameters")
    return " ".join(parts)


def verdict_line(result):
    """``kind at step t, layer L, op O`` (or framework F) -- the short verdict."""
    if result["kind"] == "none":
        line = f"none: no divergence in {result['settings']['steps']} steps"
        near = result.get("closest") or {}
        parts = [f"{pair} gap {c['gap']:.1e} of max|w| ({c['ratio']:.2g} of its bound) at step {c['step']} in layer "
                 f"'{c['layer']}'" for pair, c in (("float32", near.get("rounding")), ("float64", near.get("semantics"))) if c]
        return line + (f"; closest: {'; '.join(parts)}" if parts else "")
    line = f"{result['kind']} at step {result['first_step']}, layer '{result['layer']}'"
    if result.get("op"):
        line += f", op '{result['op']}'"
    if result.get("framework"):
        line += f", framework {result['framework']}"
    cause = result.get("cause")
    if cause:
        first = cause["first"][0]
        line += f"; cause: ReLU unit {first['unit']} of layer '{first['layer']}' fires in one framework only"
    return line


def secondary_line(result):
    """For a ``semantics`` verdict, the first jump of the float64 gap and the ReLU unit behind it;
    otherwise where the float32 runs part, when the verdict is another kind; or None."""
    jump = ((result.get("findings") or {}).get("semantics") or {}).get("jump")
    if result["kind"] == "semantics" and jump:
        line = f"(the float64 runs' gap jumps {jump['factor']:.0f}x at step {jump['step']}"
        flips = jump.get("relu_flips")
        if flips:
            first = flips["first"][0]
            line += (f": ReLU unit {first['unit']} of layer '{first['layer']}' (example {first['example']}) is "
                     f"{first['numpy']:.2e} in numpy_nn and {first['tensorflow']:.2e} in TensorFlow, float64")
        return line + ")"
    found = (result.get("findings") or {}).get("rounding")
    if result["kind"] == "rounding" or not found:
        return None
    line = f"(the float32 runs part beyond rounding at step {found['first_step']}, layer '{found['layer']}'"
    cause = found.get("cause")
    if cause:
        first = cause["first"][0]
        line += (f"; at step {cause['step']} ReLU unit {first['unit']} of layer '{first['layer']}' is "
                 f"{first['numpy']:.2e} in numpy_nn and {first['tensorflow']:.2e} in TensorFlow")
    return line + ")"


def _check_dependencies(figure):
    from .cli import require_matplotlib, require_tensorflow

    require_tensorflow("diverge")
    if figure:
        require_matplotlib("the figure needs", "--no-figure")


def run(args, stream=None):
    """``numpy-nn diverge``: check the arguments and the output folder, load the data, run, write, print."""
    from .cli import _check_splits, _prepare_out
    from .divergence import run_divergence
    from .results import write_json

    stream = sys.stderr if stream is None else stream
    out = _prepare_out(args.out)
    _check_dependencies(not args.no_figure)
    start = time.perf_counter()
    train, test, source = load_mnist(args.data_dir, return_source=True, verbose=True)
    _check_splits(source, train, test)
    bar = ProgressBar(args.steps, f"{args.model} x4 (np/tf, float32/float64)", stream=stream, enabled=not args.quiet)
    result = run_divergence(args.model, args.steps, (train, test), optimizer=args.optimizer, batch_size=args.batch_size,
                            seed=args.seed, learning_rate=args.learning_rate, progress=lambda t, n: bar.update(t),
                            float32_exact=not args.train_hyperparameters)
    bar.close()
    command = command_line(args)
    result = {"command": command, "data": {"source": source.describe(), "train_images": len(train[0])},
              "seconds": round(time.perf_counter() - start, 1), **result}
    write_json(out / "divergence.json", result)
    written = ["divergence.json"]
    if not args.no_figure:
        from .divergence_plot import plot_divergence

        plot_divergence(result, out / "divergence.png")
        written.append("divergence.png")
    print(f"{command}: {verdict_line(result)}")
    print(result["explanation"])
    if secondary_line(result):
        print(secondary_line(result))
    print(f"wrote {' and '.join(written)} to {out}/ in {result['seconds']:.0f} s")
    return 0
