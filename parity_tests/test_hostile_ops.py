"""The functional ops under hostile input: empty and extreme sizes, huge integer arguments, outputs
edited in place, labels of the wrong kind or not quite normalised, NaN and -inf in max-pool windows.

NumPy only, except one TensorFlow child (:mod:`parity_tests.tf_isolated`) that checks the pools
with windows far larger than the image against ``tf.nn.max_pool2d`` / ``avg_pool2d``; the bad inputs
themselves (and TensorFlow's side of them) are in the catalogue, ``registry.py``. Memory is checked
in a child process under ``RLIMIT_AS`` (the unprotected op asks for tens of GiB).
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpy_nn.functional as F
from numpy_nn.functional._windows import fit_window_to_input, real_cells
from numpy_nn.gradcheck import compare_gradients, numerical_gradient

from .registry import OPS, WITH_REFERENCE, get
from .strategies import seeds, upstream
from .tf_isolated import REPO, Call, cached_run

HERE = "parity_tests.test_hostile_ops"
f32 = np.float32


def _z(*shape):
    return np.zeros(shape, f32)


# --- 1. zero-size inputs ------------------------------------------------------------------------
#: (op, description, args, kwargs, output shape): zero-size inputs every op accepts, with the output
#: shape TensorFlow gives (pinned against TensorFlow in test_known_differences.py).
EMPTY_CASES = [
    ("relu", "batch of 0", (_z(0, 3),), {}, (0, 3)),
    ("sigmoid", "0 features", (_z(2, 0),), {}, (2, 0)),
    ("tanh", "batch of 0", (_z(0, 3),), {}, (0, 3)),
    ("softmax", "softmax over an axis of length 0", (_z(2, 0),), {}, (2, 0)),
    ("softmax", "batch of 0", (_z(0, 3),), {}, (0, 3)),
    ("log_softmax", "softmax over an axis of length 0", (_z(2, 0),), {}, (2, 0)),
    ("log_softmax", "axis 0 of length 0", (_z(0, 3),), {"axis": 0}, (0, 3)),
    ("dropout", "batch of 0", (_z(0, 3),), {"rate": 0.5, "mask": np.ones((0, 3), bool)}, (0, 3)),
    ("flatten", "batch of 0 images 28x28", (_z(0, 28, 28),), {}, (0, 784)),
    ("flatten", "images of width 0", (_z(2, 0, 3),), {}, (2, 0)),
    ("dense", "batch of 0", (_z(0, 3), _z(3, 4), _z(4)), {}, (0, 4)),
    ("dense", "0 input features", (_z(2, 0), _z(0, 4), _z(4)), {}, (2, 4)),
    ("conv2d", "batch of 0, valid", (_z(0, 5, 5, 2), _z(3, 3, 2, 4), None), {}, (0, 3, 3, 4)),
    ("conv2d", "batch of 0, same", (_z(0, 5, 5, 2), _z(3, 3, 2, 4), None), {"padding": "same"}, (0, 5, 5, 4)),
    ("conv2d", "batch of 0, with a bias", (_z(0, 5, 5, 2), _z(3, 3, 2, 4), _z(4)), {}, (0, 3, 3, 4)),
    ("conv2d", "height 0, same", (_z(1, 0, 5, 2), _z(3, 3, 2, 4), None), {"padding": "same"}, (1, 0, 5, 4)),
    ("conv2d", "width 0, same, stride 2", (_z(1, 5, 0, 2), _z(3, 3, 2, 4), None), {"padding": "same", "stride": 2},
     (1, 3, 0, 4)),
] + [
    (pool, description, (x,), kwargs, shape)
    for pool in ("maxpool2d", "avgpool2d")
    for description, x, kwargs, shape in [
        ("batch of 0", _z(0, 4, 4, 2), {}, (0, 2, 2, 2)),
        ("0 channels", _z(1, 4, 4, 0), {"padding": "same"}, (1, 2, 2, 0)),
        ("height 0, same", _z(1, 0, 4, 2), {"padding": "same"}, (1, 0, 2, 2)),
        ("width 0, same", _z(1, 4, 0, 2), {"padding": "same"}, (1, 2, 0, 2)),
        ("height 0, same, pool 10**5", _z(1, 0, 4, 2), {"pool_size": 10**5, "stride": 1, "padding": "same"}, (1, 0, 4, 2)),
        ("batch of 0, pool 10**5", _z(0, 5, 5, 2), {"pool_size": 10**5, "padding": "same"}, (0, 1, 1, 2)),
    ]
]


def _empty_id(case):
    return f"{case[0]}-{case[1].replace(' ', '_')}"


def _halves(op):
    """The (forward, backward) pairs of an op: the fast path, and the reference if it has one."""
    pairs = [(op.forward, op.backward)]
    if op.reference_forward is not None:
        pairs.append((op.reference_forward, op.reference_backward))
    return pairs


@pytest.mark.parametrize("case", EMPTY_CASES, ids=_empty_id)
def test_a_zero_size_input_gives_tensorflows_empty_output_and_gradients_of_the_inputs_shapes(case):
    name, description, args, kwargs, shape = case
    op = get(name)
    for forward, backward in _halves(op):
        out, cache = forward(*args, **kwargs)
        assert out.shape == shape and out.dtype == f32, f"{forward.__name__} ({description}): {out.shape} {out.dtype}"
        grads = backward(np.zeros(out.shape, f32), cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        for i, g in zip(op.grad_argnums, grads):
            if args[i] is not None:
                assert g.shape == args[i].shape, f"{backward.__name__} ({description}): d{i} {g.shape} != {args[i].shape}"
                assert not np.any(g), f"{backward.__name__} ({description}): a zero dout gave a non-zero gradient"


def test_softmax_over_an_axis_of_length_0_is_empty_and_not_a_numpy_reduction_error():
    for fwd, bwd in ((F.softmax_forward, F.softmax_backward), (F.log_softmax_forward, F.log_softmax_backward)):
        y, cache = fwd(_z(2, 0))
        assert y.shape == (2, 0)
        assert bwd(_z(2, 0), cache).shape == (2, 0)


def test_flatten_of_a_batch_of_0_images_gives_0_rows_of_784():
    y, cache = F.flatten_forward(_z(0, 28, 28))
    assert y.shape == (0, 784)
    assert F.flatten_backward(_z(0, 784), cache).shape == (0, 28, 28)


# --- 1. integer arguments: bounded, with a ValueError naming them -----------------------------------
HUGE = [2**31, 2**62, 2**64, 10**5000, -(10**5000), (1, 2**63), (float("inf"), 1)]
HUGE_IDS = ["2**31", "2**62", "2**64", "10**5000", "-10**5000", "(1,2**63)", "(inf,1)"]


@pytest.mark.parametrize("value", HUGE, ids=HUGE_IDS)
@pytest.mark.parametrize("call", [
    lambda v: F.conv2d_forward(_z(1, 5, 5, 1), _z(1, 1, 1, 1), stride=v),
    lambda v: F.conv2d_forward_reference(_z(1, 5, 5, 1), _z(1, 1, 1, 1), stride=v, padding="same"),
    lambda v: F.maxpool2d_forward(_z(1, 5, 5, 1), 2, stride=v, padding="same"),
    lambda v: F.maxpool2d_forward(_z(1, 5, 5, 1), v, stride=1, padding="same"),
    lambda v: F.avgpool2d_forward(_z(1, 5, 5, 1), v, padding="same"),
    lambda v: F.avgpool2d_forward_reference(_z(1, 5, 5, 1), 2, stride=v),
], ids=["conv2d-stride", "conv2d_reference-stride", "maxpool2d-stride", "maxpool2d-pool_size", "avgpool2d-pool_size",
        "avgpool2d_reference-stride"])
def test_a_stride_or_pool_size_beyond_int32_is_a_value_error_naming_it(call, value):
    with pytest.raises(ValueError, match=r"(stride|pool_size) must be") as info:
        call(value)
    assert len(str(info.value)) < 300, "the message must stay short, whatever the value"


def test_the_largest_stride_and_pool_size_still_work():
    big = 2**31 - 1
    x = np.arange(25, dtype=f32).reshape(1, 5, 5, 1)
    assert F.conv2d_forward(x, np.ones((1, 1, 1, 1), f32), stride=big)[0].ravel().tolist() == [0.0]
    assert F.conv2d_forward(x, np.ones((1, 1, 1, 1), f32), stride=big, padding="same")[0].ravel().tolist() == [0.0]
    for fwd in (F.maxpool2d_forward, F.maxpool2d_forward_reference):
        assert fwd(x, big, padding="same")[0].ravel().tolist() == [24.0]
    for fwd in (F.avgpool2d_forward, F.avgpool2d_forward_reference):
        assert fwd(x, big, padding="same")[0].ravel().tolist() == [12.0]


# --- 1. pools far larger than the image: an exact, small geometry --------------------------------
@given(size=st.integers(0, 12), window=st.one_of(st.integers(1, 40), st.just(10**5), st.just(2**31 - 1)),
       stride=st.one_of(st.integers(1, 8), st.just(2**31 - 1)), padding=st.sampled_from(["same", "valid"]))
def test_the_fitted_window_geometry_covers_exactly_the_same_cells_with_less_than_3x_the_input(size, window, stride, padding):
    if padding == "same":
        out, before, after = F.same_padding(size, window, stride)
    elif size < window:
        return
    else:
        out, before, after = (size - window) // stride + 1, 0, 0
    k, s, b, a = fit_window_to_input(size, window, stride, out, before, after)
    for i in range(out):
        assert real_cells(i, size, k, s, b) == real_cells(i, size, window, stride, before), (i, (k, s, b, a))
    if out:
        assert min(k, s, b + 1, a + 1) >= 1 and b + size + a == max((out - 1) * s + k, size)
        assert (out - 1) * s + k < 3 * size
    if window <= size:  # ordinary geometries are left exactly as they were
        assert (k, b, a) == (window, before, after)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), pool=st.tuples(st.integers(1, 40), st.integers(1, 40)),
       stride=st.one_of(st.none(), st.tuples(st.integers(1, 7), st.integers(1, 7))), seed=seeds,
       name=st.sampled_from(["maxpool2d", "avgpool2d"]))
def test_a_pool_larger_than_the_image_equals_the_real_cell_reference_forward_and_backward(h, w, pool, stride, seed, name):
    op = get(name)
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * h * w * 3).reshape(2, h, w, 3).astype(np.float64)  # distinct values: no ties
    y, cache = op.forward(x, pool, stride, "same")
    y_ref, ref_cache = op.reference_forward(x, pool, stride, "same")
    np.testing.assert_allclose(y, y_ref, rtol=1e-13, atol=0)
    dout = upstream(rng, y.shape, np.float64)
    np.testing.assert_allclose(op.backward(dout, cache), op.reference_backward(dout, ref_cache), rtol=1e-13, atol=1e-13)


def huge_pools_against_tensorflow():
    """(Run in a TensorFlow child.) numpy_nn's fast pools with windows far larger than the image
    against tf.nn.max_pool2d / avg_pool2d: per case ``[forward error (False: another shape),
    gradient error against TensorFlow's gradient, gradient error against float64 central
    differences of TensorFlow's forward]``."""
    import tensorflow as tf

    from numpy_nn.gradcheck import numerical_gradient
    from tf_nn.functional import avgpool2d, maxpool2d

    rng = np.random.default_rng(0)
    x = rng.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2).astype(np.float64)  # distinct: no ties
    errors = {}
    for name, ours, ours_back, theirs in (("max", F.maxpool2d_forward, F.maxpool2d_backward, maxpool2d),
                                          ("avg", F.avgpool2d_forward, F.avgpool2d_backward, avgpool2d)):
        for pool, stride in ((10**5, None), (10**5, 1), (10**5, (2, 3)), (9, 2), (7, 1), ((1, 50), (3, 1))):
            y, cache = ours(x, pool, stride, "same")
            dout = rng.standard_normal(y.shape)
            dx = ours_back(dout, cache)
            xt = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(xt)
                yt = theirs(xt, pool, stride, "same")
            dx_tf = tape.gradient(yt, xt, output_gradients=tf.constant(dout)).numpy()
            numeric = numerical_gradient(lambda v: float(np.sum(theirs(v, pool, stride, "same").numpy() * dout)), x)
            errors[f"{name} pool {pool} stride {stride}"] = [
                list(y.shape) == yt.shape.as_list() and float(np.max(np.abs(y - yt.numpy()))),
                float(np.max(np.abs(dx - dx_tf))), float(np.max(np.abs(dx - numeric)))]
    return errors


def test_pools_far_larger_than_the_image_equal_tensorflows_forward_and_its_derivative():
    """Forward: equal to TensorFlow's. Backward: equal to the float64 central differences of
    TensorFlow's forward; and to TensorFlow's gradient for max-pooling (TensorFlow's average-pooling
    gradient is wrong for some of these: pinned in test_known_differences.py)."""
    outcome = cached_run([Call("huge pools", f"{HERE}:huge_pools_against_tensorflow")])["huge pools"]
    assert outcome.kind == "result", outcome
    for case, (forward_err, grad_err_tf, grad_err_fd) in outcome.value.items():
        assert forward_err is not False, f"{case}: output shape differs from TensorFlow's"
        assert forward_err <= 1e-13, f"{case}: forward differs from TensorFlow's by {forward_err}"
        assert grad_err_fd <= 1e-6, f"{case}: gradient differs from the derivative of TensorFlow's forward by {grad_err_fd}"
        if case.startswith("max"):
            assert grad_err_tf <= 1e-13, f"{case}: gradient differs from TensorFlow's by {grad_err_tf}"


#: The child: import numpy_nn, then cap its address space at what it already has plus 200 MiB, then
#: run each op forward and backward, measuring the peak of what it allocates (tracemalloc).
MEMORY_CHILD = textwrap.dedent("""
    import json, resource, sys, tracemalloc
    import numpy as np
    import numpy_nn.functional as F
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + 200 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    x = np.random.default_rng(0).standard_normal((2, 20, 20, 3))
    results = {}
    for name in sys.argv[1:]:
        fwd, bwd = getattr(F, name.split(":")[0] + "_forward" + name.split(":")[1]), \\
            getattr(F, name.split(":")[0] + "_backward" + name.split(":")[1])
        for pool, stride in ((10**5, 1), (10**5, None), (2**31 - 1, 3), (30, 1)):
            tracemalloc.start()
            try:
                y, cache = fwd(x, pool, stride, "same")
                bwd(np.ones_like(y), cache)
                peak = tracemalloc.get_traced_memory()[1]
                results[f"{name} pool {pool} stride {stride}"] = [peak, x.nbytes + y.nbytes]
            except MemoryError as e:
                results[f"{name} pool {pool} stride {stride}"] = "MemoryError"
            tracemalloc.stop()
    print(json.dumps(results))
""")


def test_pooling_memory_is_a_small_multiple_of_input_and_output_for_any_pool_size():
    names = ["maxpool2d:", "maxpool2d:_reference", "avgpool2d:", "avgpool2d:_reference"]
    child = subprocess.run([sys.executable, "-c", MEMORY_CHILD, *names], capture_output=True, text=True, timeout=120,
                           cwd=REPO)
    assert child.returncode == 0, child.stderr[-2000:]
    for case, result in json.loads(child.stdout).items():
        assert result != "MemoryError", f"{case}: MemoryError under a 200 MiB address-space limit"
        peak, in_out = result
        # The padded copy (and its gradient) is < 3x the input along each axis: < 9x the input each.
        assert peak <= 24 * in_out, f"{case}: allocated {peak:,} bytes for {in_out:,} bytes of input and output"


@given(h=st.integers(1, 8), w=st.integers(1, 8), kh=st.integers(1, 40), kw=st.integers(1, 40),
       stride=st.integers(1, 3), padding=st.sampled_from(["same", "valid"]))
def test_conv2d_padding_is_proportional_to_the_kernel_the_caller_allocated(h, w, kh, kw, stride, padding):
    x, kernel = np.ones((1, h, w, 1), f32), np.ones((kh, kw, 1, 1), f32)
    if padding == "valid" and (kh > h or kw > w):
        return
    _, cache = F.conv2d_forward(x, kernel, stride=stride, padding=padding)
    _, ph, pw, _ = cache.padded_shape
    assert ph <= h + kh - 1 and pw <= w + kw - 1, (cache.padded_shape, (h, w), (kh, kw))


# --- 2a. the output is the cache: read-only -------------------------------------------------------
CACHED_OUTPUTS = [
    (F.relu_forward, F.relu_backward, {}),
    (F.sigmoid_forward, F.sigmoid_backward, {}),
    (F.tanh_forward, F.tanh_backward, {}),
    (F.softmax_forward, F.softmax_backward, {}),
    (F.log_softmax_forward, F.log_softmax_backward, {}),
    (F.maxpool2d_forward, F.maxpool2d_backward, {"pool_size": 2}),
]


@pytest.mark.parametrize("forward, backward, kwargs", CACHED_OUTPUTS, ids=lambda v: getattr(v, "__name__", ""))
def test_an_output_that_is_also_the_cache_cannot_be_edited_in_place(forward, backward, kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 4, 3))
    y, cache = forward(x, **kwargs)
    dout = upstream(rng, y.shape, np.float64)
    before = backward(dout, cache)
    with pytest.raises(ValueError, match="read-only"):
        y *= 2
    y.copy()[...] = 0  # a copy is the caller's to edit
    np.testing.assert_array_equal(backward(dout, cache), before)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_editing_any_ops_output_in_place_does_not_change_its_gradient(op, data):
    """Every op, both halves: where the output is writeable, overwrite it; the gradients stay."""
    sample = data.draw(op.samples("float64"), label="sample")
    for forward, backward in _halves(op):
        out, cache = forward(*sample.args, **sample.kwargs)
        dout = upstream(np.random.default_rng(0), np.shape(out), np.float64)
        before = [None if g is None else g.copy() for g in _as_tuple(backward(dout, cache))] if cache is not None else None
        if isinstance(out, np.ndarray) and out.flags.writeable and out.ndim and cache is not None:
            if any(out is a or np.shares_memory(out, a) for a in sample.args if isinstance(a, np.ndarray)):
                continue  # flatten, dropout at inference: the output is a view of the input (documented)
            out[...] = 1e3
            after = _as_tuple(backward(dout, cache))
            for b, a in zip(before, after):
                if b is not None:
                    np.testing.assert_array_equal(a, b, err_msg=f"{forward.__name__}: the edited output changed the gradient")


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


# --- 2b. labels of the wrong kind; rows not quite summing to 1 ------------------------------------------
def test_a_sparse_loss_refuses_one_hot_rows_and_a_dense_loss_refuses_class_ids():
    logits = np.zeros((3, 4), f32)
    for forward in (F.softmax_cross_entropy_forward, F.cross_entropy_forward):
        with pytest.raises(ValueError, match=r"sparse labels must be integer class ids of shape \(3,\), got float32 labels of shape \(3, 4\)"):
            forward(logits + 0.25, np.eye(4, dtype=f32)[:3], labels_kind="sparse")
        with pytest.raises(ValueError, match=r"dense labels must be one-hot or probability rows of shape \(3, 4\), got int64 labels of shape \(3,\)"):
            forward(logits + 0.25, np.array([0, 1, 2]), labels_kind="dense")
        assert np.isfinite(forward(logits + 0.25, np.array([0, 1, 2]), labels_kind="sparse")[0])
        assert np.isfinite(forward(logits + 0.25, np.eye(4, dtype=f32)[:3], labels_kind="dense")[0])


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n=st.integers(1, 5), c=st.integers(2, 6), excess=st.floats(-9e-4, 9e-4),
       reduction=st.sampled_from(["mean", "sum", "none"]), name=st.sampled_from(["softmax_cross_entropy", "cross_entropy"]))
def test_the_gradient_is_exact_for_accepted_label_rows_that_do_not_sum_to_1(seed, n, c, excess, reduction, name):
    """Rows summing to 1 + excess (|excess| < 1e-3) are accepted; the gradient must be that of the
    loss returned for them (float64 central differences), not the shortcut ``p - t``."""
    rng = np.random.default_rng(seed)
    labels = rng.random((n, c)) + 0.05
    labels *= (1 + excess) / labels.sum(axis=1, keepdims=True)
    op = get(name)
    scores = rng.standard_normal((n, c)) if name == "softmax_cross_entropy" else rng.uniform(0.2, 1.0, (n, c))
    dloss = rng.standard_normal(n) if reduction == "none" else np.float64(rng.standard_normal())
    _, cache = op.forward(scores, labels, reduction=reduction)
    analytic = op.backward(dloss, cache)
    numeric = numerical_gradient(lambda s: float(np.sum(op.forward(s, labels, reduction=reduction)[0] * dloss)), scores)
    result = compare_gradients(analytic, numeric)
    assert result.max_rel_error <= 1e-6, f"{name}, rows summing to 1 + {excess:.1e}: {result}"


# --- 4. NaN and -inf in a max-pool window: fast == reference -----------------------------------------------
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("filler", [np.nan, -np.inf], ids=["nan", "neg-inf"])
def test_maxpool_routes_a_nan_or_all_minus_inf_window_like_its_reference(filler, padding):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 5, 2))
    x[0, 0, 0, 0] = x[0, 3, 1, 1] = x[1, 4, 4, 0] = filler
    if filler == -np.inf:
        x[1, :3, :3, 1] = -np.inf  # whole windows of -inf
    for pool, stride in ((2, None), (3, 1), (3, 2)):
        y, cache = F.maxpool2d_forward(x, pool, stride, padding)
        y_ref, ref_cache = F.maxpool2d_forward_reference(x, pool, stride, padding)
        np.testing.assert_array_equal(y, y_ref)
        dout = upstream(rng, y.shape, np.float64)
        dx, dx_ref = F.maxpool2d_backward(dout, cache), F.maxpool2d_backward_reference(dout, ref_cache)
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-14, atol=1e-14,
                                   err_msg=f"pool {pool} stride {stride} {padding}: fast and reference route differently")
        assert np.isclose(dx.sum(), dout.sum()), "every window's gradient must land on a real cell"


def test_a_nan_in_a_maxpool_window_propagates_and_takes_the_windows_gradient():
    x = np.arange(16, dtype=f32).reshape(1, 4, 4, 1)
    x[0, 0, 0, 0] = np.nan
    y, cache = F.maxpool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 1, 1, 0] == 15
    dx = F.maxpool2d_backward(np.ones_like(y), cache)
    assert dx[0, 0, 0, 0] == 1 and dx.sum() == 4


def test_every_reference_op_is_covered_here():
    assert {op.name for op in WITH_REFERENCE} == {"conv2d", "maxpool2d", "avgpool2d", "batchnorm"}


# --- 1. convolution with a kernel as large as the image: no im2col matrix -------------------------------
from unittest import mock  # noqa: E402

from numpy_nn.functional import conv2d as conv2d_module  # noqa: E402

from . import strategies as S  # noqa: E402
from .test_reference_paths import ROUNDOFF  # noqa: E402


def _offset_path():
    """Force the offset-wise path of conv2d_forward on any input (the im2col budget set to 0)."""
    return mock.patch.multiple(conv2d_module, IM2COL_MIN_BYTES=0, IM2COL_MAX_RATIO=0)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float64", "float32"]), need_dx=st.booleans())
def test_conv2d_by_kernel_offsets_equals_the_reference_forward_and_backward(data, dtype, need_dx):
    """The memory-bounded path (one GEMM per kernel offset) against the index-notation reference:
    float64 within the fast-vs-reference round-off (1e-12 of the reference's magnitude); float32
    against the float64 reference of the same numbers within conv2d's float32 cap (2e-5)."""
    sample = data.draw(S.conv2d_inputs(dtype), label="sample")
    with _offset_path():
        out, cache = F.conv2d_forward(*sample.args, **sample.kwargs)
    assert isinstance(cache, conv2d_module.Conv2DOffsetCache), f"a budget of 0 must force the offset path, got {cache!r:.40}"
    dout = upstream(np.random.default_rng(data.draw(seeds, label="dout seed")), out.shape, dtype)
    grads = F.conv2d_backward(dout, cache, need_dx=need_dx)
    as64 = [None if a is None else a.astype(np.float64) for a in sample.args]
    ref_out, ref_cache = F.conv2d_forward_reference(*as64, **sample.kwargs)
    ref_grads = F.conv2d_backward_reference(dout.astype(np.float64), ref_cache, need_dx=need_dx)
    tol = ROUNDOFF if dtype == "float64" else get("conv2d").tolerance("float32").atol
    what = f"conv2d by offsets on {sample.describe()}, need_dx={need_dx}"
    for name, got, ref in zip(("y", "dx", "dkernel", "dbias"), (out, *grads), (ref_out, *ref_grads)):
        if ref is None:
            assert got is None, f"{what}: d{name} should be None"
            continue
        assert got.shape == ref.shape and got.dtype == dtype, f"{what}: {name} {got.shape} {got.dtype}"
        scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        assert err <= tol * scale, f"{what}: {name} differs from the reference by {err:.3e} (scale {scale:.3g})"


def test_conv2d_keeps_im2col_for_every_benchmarked_and_sampled_layer():
    """The budget leaves the ordinary layers (every benchmark size, a sampled layer) on the GEMM."""
    for batch, h, w, c, f, k, stride, padding in get("conv2d").benchmark.full + get("conv2d").benchmark.quick:
        out_hw, _ = conv2d_module.output_geometry((h, w), (k, k), (stride, stride), padding, "test")
        assert conv2d_module.im2col_fits((batch, h, w, c), (k, k, c, f), out_hw, 4), (batch, h, w, c, f, k, stride, padding)
    _, cache = F.conv2d_forward(np.ones((2, 9, 9, 3)), np.ones((5, 5, 3, 4)), padding="same")
    assert isinstance(cache, conv2d_module.Conv2DCache)


#: The child: import numpy_nn, cap the address space at what it has plus 300 MiB, then run the
#: hostile convolution (im2col would be 90000 x 90000 float32 numbers, 30 GiB) forward and backward.
CONV_MEMORY_CHILD = textwrap.dedent("""
    import json, resource, tracemalloc
    import numpy as np
    import numpy_nn.functional as F
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + 300 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    size = 300
    x, kernel = np.ones((1, size, size, 1), np.float32), np.ones((size, size, 1, 1), np.float32)
    tracemalloc.start()
    try:
        y, cache = F.conv2d_forward(x, kernel, padding="same")
        dx, dkernel, _ = F.conv2d_backward(np.ones_like(y), cache)
    except MemoryError:
        print(json.dumps("MemoryError"))
        raise SystemExit(0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # All ones: everything separates into rows times columns, counts of cells inside the image.
    _, top, _ = F.same_padding(size, size, 1)
    seen = [sum(0 <= i + a - top < size for a in range(size)) for i in range(size)]    # y, per row
    hit = [sum(0 <= p + top - i < size for i in range(size)) for p in range(size)]     # dx, per row
    used = [sum(0 <= i + a - top < size for i in range(size)) for a in range(size)]    # dkernel, per row
    exact = [bool(np.array_equal(got.reshape(size, size), np.outer(rows, rows).astype(np.float32)))
             for got, rows in ((y, seen), (dx, hit), (dkernel, used))]
    print(json.dumps([peak, x.nbytes + kernel.nbytes + y.nbytes, exact]))
""")


def test_conv2d_with_a_kernel_as_large_as_the_image_runs_in_memory_of_the_order_of_its_operands():
    """conv2d_forward(x (1,300,300,1), kernel (300,300,1,1), padding="same"): the im2col matrix
    would be 30 GiB from 720 KB of input and kernel; under a 300 MiB address-space limit forward and
    backward complete, exactly (all ones: the answers are counts), in a few times the operands."""
    child = subprocess.run([sys.executable, "-c", CONV_MEMORY_CHILD], capture_output=True, text=True, timeout=300,
                           cwd=REPO)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout)
    assert result != "MemoryError", "conv2d with a 300x300 kernel: MemoryError under a 300 MiB address-space limit"
    peak, operands, exact = result
    assert exact == [True, True, True], f"y, dx, dkernel exact: {exact}"
    # xpad and dxpad (< 4x the input each: padding < the kernel), the output, dout, one window, one product
    assert peak <= 16 * operands, (f"conv2d with a 300x300 kernel allocated {peak:,} bytes for {operands:,} bytes of "
                                   f"input, kernel and output: more than 16 times")
