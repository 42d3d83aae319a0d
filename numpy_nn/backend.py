"""The array-module switch: the same backprop code runs on NumPy arrays or on CuPy arrays.

Every op asks its inputs which module they belong to (``xp = get_array_module(x)``) and calls
``xp.exp``, ``xp.matmul``, ... on it, as DeZero and Chainer do. NumPy stays the only dependency:
CuPy is imported only when a CuPy array actually arrives.
"""
from __future__ import annotations

import numpy as np


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            import cupy  # only reachable when the caller already holds CuPy arrays

            return cupy
    return np


def to_numpy(a):
    """A NumPy copy of ``a`` (a no-op view for NumPy arrays; ``.get()`` for CuPy arrays)."""
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.asarray(a)
