"""Element-wise passes over large flat arrays: in cache-sized blocks, on several threads.

An optimizer step is a handful of element-wise passes over every parameter (for Adam twelve). Over
a 2.8 M-parameter kernel each whole-array pass would stream ~11 MB through memory; instead the
arrays are walked in blocks of ``BLOCK`` elements, and every pass over one block runs while the
block sits in cache (:func:`walk`). A large parameter is also cut into contiguous runs of whole
blocks, one per thread (:func:`runs`, :func:`in_threads`): the calling thread takes the first run,
a small shared pool the others. NumPy releases the GIL inside each ufunc loop over a block, so
the runs proceed in parallel. Every element goes through the same operations in the same order
whatever the blocks and threads, so the result is the same bit for bit (the tests compare it with
one pass over the whole array).

Each block is checked for NaN/inf right after its passes (:func:`non_finite`), while it is in cache.
"""
from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

#: Elements per cache block: 512 KiB of float32 per array, so the five arrays an Adam block touches
#: (parameter, gradient, two moments, scratch: 2.5 MiB) stay in the last-level cache through all a
#: block's passes (the measurements behind this size are in benchmarks/README.md, "Speed notes").
BLOCK = 1 << 17

#: Arrays of fewer blocks than this are walked by the calling thread alone: below a few blocks,
#: handing work to another thread costs more than it saves.
THREAD_MIN_BLOCKS = 4


def runs(n, size, threads):
    """``[(start, stop), ...]``: ``n`` elements in blocks of ``size`` cut into at most ``threads``
    contiguous runs of whole blocks (at least two blocks each), as equal as blocks allow: run ``t``
    holds blocks ``[t*B // count, (t+1)*B // count)`` of the ``B`` blocks. One run below
    :data:`THREAD_MIN_BLOCKS` blocks."""
    blocks = -(-n // size)
    count = max(1, min(threads, blocks // 2)) if blocks >= THREAD_MIN_BLOCKS else 1
    cuts = [t * blocks // count * size for t in range(count)] + [n]
    return list(zip(cuts[:-1], cuts[1:]))


_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools():
    """In a forked child: the parent's pool threads do not exist there, so start afresh."""
    _POOLS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(workers):
    """The process-wide pool of ``workers`` threads (created on first use, shared by all callers)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="numpy_nn-blocks")
        return pool


def in_threads(task, arguments):
    """``[task(*args) for args in arguments]``, the first on the calling thread while the pool runs
    the others, each in a copy of the caller's context (so ``np.errstate`` and other context
    variables hold there too); returns, or raises the first exception, only after all have finished."""
    if len(arguments) == 1:
        return [task(*arguments[0])]
    pool = _pool(len(arguments) - 1)
    others = [pool.submit(contextvars.copy_context().run, task, *args) for args in arguments[1:]]
    try:
        first = task(*arguments[0])
    finally:
        wait(others)  # never return while another run is still changing the arrays
    return [first] + [f.result() for f in others]


def non_finite(xp, arrays, mask, plan):
    """The name of the first array of ``plan`` (``[(name, index into arrays), ...]``) holding a NaN
    or an infinity, or None. ``mask`` is a reusable boolean scratch of the arrays' length:
    ``isfinite`` into it and ``all`` over it read each array once while its block is in cache,
    allocate nothing and cannot overflow (a sum can); measured about 1.4x faster than ``a.sum()``
    on a 128 K block, with no BLAS call."""
    for name, i in plan:
        xp.isfinite(arrays[i], out=mask)
        if not mask.all():
            return name
    return None


def walk(xp, flat, size, start, stop, scratch, mask, plan, passes=None):
    """Elements ``start:stop`` of the equally long 1-D arrays ``flat``, block by block (``size``
    elements): ``passes(xp, *blocks, scratch)`` on each block if given (updating it in place), then
    the :func:`non_finite` check of ``plan`` on it. Returns the first non-finite name or None (a
    check alone, ``passes=None``, stops at the first; an update finishes its run)."""
    if passes is not None and stop - start == size == flat[0].size:  # one block: no slicing
        passes(xp, *flat, scratch)
        return non_finite(xp, flat, mask, plan)
    problem = None
    for a in range(start, stop, size):
        b = min(a + size, stop)
        blocks = [x[a:b] for x in flat]
        if passes is None:
            problem = non_finite(xp, blocks, mask[:b - a], plan)
            if problem is not None:
                return problem
        else:
            passes(xp, *blocks, scratch[:b - a])
            problem = problem or non_finite(xp, blocks, mask[:b - a], plan)
    return problem
