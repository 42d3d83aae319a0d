"""The fast paths added for speed (benchmarks/README.md) equal their plain formulations.

* every op whose backward takes ``need_dx`` (a model's first layer skips its input gradient; dense
  and conv2d, read from the catalogue) gives, with ``need_dx=False``, no input gradient and exactly
  the same other gradients as the full backward;
* the cache-blocked optimizer updates at the shipped ``BLOCK`` size, across block boundaries, ==
  the whole-array update (``block=None``), bit for bit; and so do updates split between several
  threads (runs of whole blocks), whose gradient check refuses a NaN in any run before any change.

(The fast forward and backward against the plain references: ``test_reference_paths.py``.)
Float64 throughout; examples from the active hypothesis profile.
"""
import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn.errors import TrainingDiverged
from numpy_nn.functional._windows import im2col, im2col_by_offsets, windows
from numpy_nn.blocks import THREAD_MIN_BLOCKS
from numpy_nn.blocks import runs as _runs
from numpy_nn.optimizers import BLOCK, SGD, Adam

from .registry import OPS
from .strategies import seeds, upstream

SKIPS_DX = [op for op in OPS if "need_dx" in inspect.signature(op.backward).parameters]


def test_the_ops_that_can_skip_the_input_gradient_are_found():
    assert {"dense", "conv2d"} <= {op.name for op in SKIPS_DX}


@pytest.mark.parametrize("op", SKIPS_DX, ids=lambda op: op.name)
@given(data=st.data())
def test_backward_without_the_input_gradient_gives_the_same_other_gradients(op, data):
    sample = data.draw(op.samples("float64"), label="sample")
    out, cache = op.run_numpy(sample)
    dout = upstream(np.random.default_rng(data.draw(seeds, label="dout seed")), out.shape, np.float64)
    full = op.backward(dout, cache)
    skipped = op.backward(dout, cache, need_dx=False)
    what = f"{op.name} on {sample.describe()}"
    assert skipped[0] is None and full[0].shape == sample.args[0].shape, what
    for name, a, b in zip(op.grad_names(sample)[1:], skipped[1:], full[1:]):
        if b is None:
            assert a is None, f"{what}: d{name}"
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: d{name}")


@given(st.sampled_from(["sgd", "sgd-momentum", "sgd-nesterov", "adam"]),
       st.one_of(st.integers(1, 64), st.integers(BLOCK - 3, BLOCK + 3), st.integers(2 * BLOCK, 3 * BLOCK + 17)),
       st.sampled_from([np.float32, np.float64]), seeds)
def test_optimizers_blocked_at_the_shipped_block_size_equal_the_whole_array_update(kind, size, dtype, seed):
    make = {"sgd": lambda b: SGD(0.1, block=b), "sgd-momentum": lambda b: SGD(0.1, 0.9, block=b),
            "sgd-nesterov": lambda b: SGD(0.1, 0.9, nesterov=True, block=b), "adam": lambda b: Adam(0.01, block=b)}[kind]
    rng = np.random.default_rng(seed)
    blocked, plain = make(BLOCK), make(None)
    # Two parameters, so one scratch buffer serves blocks of different lengths.
    w_blocked = [rng.standard_normal(size).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)]
    w_plain = [w.copy() for w in w_blocked]
    for _ in range(3):
        grads = [rng.standard_normal(w.shape).astype(dtype) for w in w_blocked]
        blocked.apply_gradients(list(zip(grads, w_blocked)))
        plain.apply_gradients(list(zip(grads, w_plain)))
    for k, (a, b) in enumerate(zip(w_blocked, w_plain)):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind} parameter {k} size={a.size} {np.dtype(dtype).name} block={BLOCK}")


@given(st.integers(1, 10_000), st.integers(1, 300), st.integers(1, 8))
def test_thread_runs_cover_every_element_once_in_whole_blocks(n, size, threads):
    runs = _runs(n, size, threads)
    assert runs[0][0] == 0 and runs[-1][1] == n and len(runs) <= threads
    assert all(a[1] == b[0] for a, b in zip(runs, runs[1:])), runs           # contiguous, no overlap, no gap
    assert all((stop - start) % size == 0 for start, stop in runs[:-1]), runs  # whole blocks but the last
    blocks = -(-n // size)
    assert len(runs) == (1 if blocks < THREAD_MIN_BLOCKS else min(threads, blocks // 2)), (n, size, threads, runs)


@given(st.sampled_from(["sgd", "sgd-momentum", "sgd-nesterov", "adam"]),
       st.one_of(st.tuples(st.just(4), st.integers(1, 200)), st.tuples(st.just(BLOCK), st.integers(4 * BLOCK, 4 * BLOCK + 9))),
       st.integers(2, 4), st.sampled_from([np.float32, np.float64]), seeds)
def test_optimizers_on_several_threads_equal_one_thread_and_the_whole_array_update(kind, block_size, threads, dtype, seed):
    block, size = block_size
    make = {"sgd": lambda b, t: SGD(0.1, block=b, threads=t), "sgd-momentum": lambda b, t: SGD(0.1, 0.9, block=b, threads=t),
            "sgd-nesterov": lambda b, t: SGD(0.1, 0.9, nesterov=True, block=b, threads=t),
            "adam": lambda b, t: Adam(0.01, block=b, threads=t)}[kind]
    rng = np.random.default_rng(seed)
    opts = {"threads": make(block, threads), "one thread": make(block, 1), "whole array": make(None, 1)}
    start = [rng.standard_normal(size).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)]
    weights = {name: [w.copy() for w in start] for name in opts}
    for _ in range(3):
        grads = [rng.standard_normal(w.shape).astype(dtype) for w in start]
        for name, opt in opts.items():
            opt.apply_gradients(list(zip(grads, weights[name])), check_gradients=True)
    for name in ("one thread", "whole array"):
        for k, (a, b) in enumerate(zip(weights["threads"], weights[name])):
            np.testing.assert_array_equal(a, b, err_msg=f"{kind} parameter {k} size={a.size} block={block} "
                                                       f"{threads} threads against {name}")


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("where", ["first run", "last run", "last element"])
def test_a_non_finite_gradient_in_any_thread_run_is_refused_before_anything_changes(threads, where):
    block, size = 4, 4 * 4 * 3 + 2  # 14 blocks: three runs of whole blocks on 3 threads
    opt = Adam(0.01, block=block, threads=threads)
    w = [np.linspace(-1, 1, size), np.ones(3)]
    opt.apply_gradients([(np.full(size, 0.5), w[0]), (np.ones(3), w[1])])
    before = [a.copy() for a in w] + [s.copy() for a in w for s in opt.slots(a)]
    g = np.full(size, 0.5)
    g[{"first run": 1, "last run": size - 5, "last element": size - 1}[where]] = np.nan
    with pytest.raises(TrainingDiverged, match="gradient of parameter 0") as info:
        opt.apply_gradients([(np.ones(3), w[1]), (g, w[0])][::-1], check_gradients=True)
    assert info.value.weights_finite and info.value.parameter == 0
    after = [a for a in w] + [s for a in w for s in opt.slots(a)]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert opt.iterations == 1


@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 3), seeds)
def test_im2col_by_kernel_offsets_equals_the_copy_of_the_strided_view(n, h, w, c, kh, kw, sh, sw, seed):
    if kh > h or kw > w:
        kh, kw = min(kh, h), min(kw, w)
    xpad = np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)
    out_hw = ((h - kh) // sh + 1, (w - kw) // sw + 1)
    plain = windows(xpad, (kh, kw), (sh, sw), out_hw).reshape(-1, kh * kw * c)
    for fast in (im2col(xpad, (kh, kw), (sh, sw), out_hw), im2col_by_offsets(xpad, (kh, kw), (sh, sw), out_hw)):
        np.testing.assert_array_equal(fast, plain, err_msg=f"x {xpad.shape} kernel {(kh, kw)} strides {(sh, sw)}")


@pytest.mark.parametrize("bad", [0, -1, 257, 1.5, True, "2", None])
def test_optimizer_threads_must_be_an_integer_from_1_to_256(bad):
    with pytest.raises(ValueError, match="threads must be an integer in"):
        Adam(threads=bad)
    opt = SGD()
    with pytest.raises(ValueError, match="threads must be an integer in"):
        opt.threads = bad
    assert opt.threads == 1


def test_a_threaded_update_keeps_the_steps_errstate_in_every_thread_and_waits_for_all_runs():
    """An overflow in any thread's run is TrainingDiverged (the step's ``np.errstate`` holds in the
    pool threads too), raised only after every run and the count are done, without a warning."""
    import warnings
    opt = SGD(1e38, block=4, threads=3)
    w = np.full(32, 1e3, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDiverged) as info:
            opt.apply_gradients([(np.full(32, 1e3, np.float32), w)])
    assert not info.value.weights_finite and opt.iterations == 1
    assert np.all(np.isinf(w)), w  # every run finished its blocks before the error was raised


def test_a_forked_child_updates_on_threads_after_its_parent_did():
    """The pool threads of the parent do not exist in a forked child: it starts its own pool."""
    import multiprocessing as mp
    opt = Adam(block=4, threads=2)
    w = np.ones(64)
    opt.apply_gradients([(np.ones(64), w)])  # the parent's pool exists now
    ctx = mp.get_context("fork")
    child = ctx.Process(target=opt.apply_gradients, args=([(np.ones(64), w)],))
    child.start()
    child.join(30)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0, "the forked child hung or failed in its threaded update"


def test_an_optimizer_pickled_before_threads_existed_still_steps():
    opt = Adam(block=4)
    state = opt.__getstate__()
    del state["_threads"]
    old = Adam.__new__(Adam)
    old.__setstate__(state)
    w = np.ones(16)
    old.apply_gradients([(np.ones(16), w)])
    assert old.threads == 1 and old.iterations == 1
