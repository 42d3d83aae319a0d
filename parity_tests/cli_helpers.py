"""Helpers shared by the command-line tests (test_cli.py, test_cli_resume.py, test_determinism.py,
test_environment.py): run ``numpy-nn`` in-process, read its table, check its one-line errors,
compare checkpoints and metrics without their timings."""
import json

from numpy_nn.app import cli
from numpy_nn.checkpoint import read_checkpoint

#: The wall-clock entries of metrics.json and of a checkpoint's training state: they differ run to run.
TIMINGS = {"epoch_seconds", "seconds_per_epoch"}


def run_cli(argv, capsys):
    """``main(argv)`` in-process: ``(status, stdout, stderr)``; argparse's exit counts as a status."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(err, *fragments):
    """The last stderr line is the error and names what is wrong; no traceback anywhere."""
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "error" in last, last
    for fragment in fragments:
        assert fragment in last, f"{fragment!r} not in {last!r}"
    return last


def parse_table(text):
    """The Markdown table printed by ``train``: ``{model: {column: cell}}``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split(" | ")]
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]
    return {row[0]: dict(zip(head, row)) for row in rows}


def without_timings(value):
    """``value`` (parsed JSON) without the wall-clock entries, which differ run to run by nature."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def checkpoint_arrays(path):
    """Every array a checkpoint holds (weights, optimizer slots), as raw bytes, its optimizer
    header and its training state."""
    header, arrays = read_checkpoint(path)
    state = header["training_state"]
    return {k: (a.dtype.str, a.shape, a.tobytes()) for k, a in arrays.items()}, header["optimizer"], state


def models_metrics(folder):
    """The ``models`` part of ``folder/metrics.json``, without timings."""
    return without_timings(json.loads((folder / "metrics.json").read_text())["models"])
