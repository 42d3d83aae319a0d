"""The bundled sample ``numpy_nn/data/mnist_sample.npz``: a stratified random subset of a MNIST
folder, and the command that builds it (``python -m numpy_nn.datasets make-sample SRC OUT``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from .errors import DataError, abspath
from .mnist import NUM_CLASSES, load_folder


def _stratified_counts(labels, n):
    """How many of each class to draw so the ``n`` draws keep the class proportions of
    ``labels``: floors of ``n * p_k``, the remainder to the largest fractional parts."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.int64)
    if not 0 < n <= counts.sum():
        raise ValueError(f"cannot draw {n} from {counts.sum()} labels")
    quotas = counts * n / counts.sum()
    take = np.floor(quotas).astype(np.int64)
    by_remainder = np.argsort(-(quotas - take), kind="stable")
    take[by_remainder[:n - take.sum()]] += 1
    return take


def _stratified_indices(labels, n, rng):
    """Sorted indices of a stratified random subset of size ``n``."""
    take = _stratified_counts(labels, n)
    chosen = [rng.choice(np.flatnonzero(labels == k), size=int(t), replace=False)
              for k, t in enumerate(take)]
    return np.sort(np.concatenate(chosen))


def make_sample(src_dir, out_path, n_train=5000, n_test=1000, seed=0):
    """Build the bundled sample: a stratified random subset of a MNIST folder.

    ``n_train`` training and ``n_test`` test images are drawn without replacement, per class in
    the source's proportions (largest-remainder rounding), with ``numpy.random.default_rng(seed)``,
    kept in source order and saved Keras-style (``x_train``, ``y_train``, ``x_test``, ``y_test``,
    uint8) with ``np.savez_compressed``, atomically.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    (x_train, y_train), (x_test, y_test) = load_folder(src_dir)
    rng = np.random.default_rng(seed)
    train_idx = _stratified_indices(y_train, n_train, rng)
    test_idx = _stratified_indices(y_test, n_test, rng)
    arrays = dict(x_train=x_train[train_idx], y_train=y_train[train_idx],
                  x_test=x_test[test_idx], y_test=y_test[test_idx])
    out_path = Path(abspath(out_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out_path, lambda f: np.savez_compressed(f, **arrays))
    return out_path


def main(argv=None):
    """``python -m numpy_nn.datasets make-sample SRC OUT [--n-train N] [--n-test N] [--seed S]``; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m numpy_nn.datasets",
                                     description="MNIST helpers for numpy-nn.")
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("make-sample", help="build the bundled stratified sample")
    sample.add_argument("src", help="MNIST folder (four IDX files or mnist.npz)")
    sample.add_argument("out", help="output .npz")
    sample.add_argument("--n-train", type=int, default=5000)
    sample.add_argument("--n-test", type=int, default=1000)
    sample.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        out = make_sample(args.src, args.out, args.n_train, args.n_test, args.seed)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with np.load(out, allow_pickle=False) as npz:
        for split in ("train", "test"):
            counts = np.bincount(npz[f"y_{split}"], minlength=NUM_CLASSES)
            print(f"{split}: {counts.sum():,} images, per class {' '.join(map(str, counts))}")
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0
