"""Seeded mini-batch order, shared by ``Sequential.fit``, the CLI and the TensorFlow side.

Both frameworks must see the same batches in the same order for a side-by-side run to be a fair
comparison, so the order is computed here once, from a NumPy generator, and handed to each.
"""
from __future__ import annotations

import numpy as np


def batch_indices(n, batch_size, shuffle=True, rng=None):
    """Split ``range(n)`` into consecutive mini-batches of at most ``batch_size`` indices.

    With ``shuffle=True`` the indices are a permutation drawn from ``rng`` (a ``numpy.random.Generator``,
    or a seed, or ``None`` for fresh entropy); the last batch holds the remainder (``n % batch_size``),
    as in Keras. Returns a list of int64 arrays.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if shuffle:
        order = np.random.default_rng(rng).permutation(n)
    else:
        order = np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def epoch_batch_indices(n, batch_size, seed, epoch, shuffle=True):
    """The mini-batches of epoch ``epoch`` (0-based) of a run seeded with ``seed``.

    Each epoch's order comes from its own generator, ``default_rng([seed, epoch])``, so any epoch's
    batches can be recomputed on their own: a run resumed at epoch k sees exactly the batches an
    uninterrupted run would have seen.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return batch_indices(n, batch_size, shuffle, np.random.default_rng([int(seed), int(epoch)]))
