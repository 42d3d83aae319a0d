"""Hypothesis strategies for the parity suite: one per op, each drawing a :class:`Sample` (the op
catalogue, ``parity_tests.registry``, names each op's strategy and its settings for the finite
differences and the reference checks).

Hypothesis draws the *structure* of an example -- shapes, kernel sizes, strides, paddings, label
kind, reduction, rate -- and one integer seed; the array *values* come from
``numpy.random.default_rng(seed)``. That keeps examples cheap to generate for the larger shapes,
exactly reproducible from the printed sample, and still shrinkable (Hypothesis shrinks the shapes
and the seed).

Values are drawn so that the comparison tests the frameworks, not the luck of the draw:

* ReLU inputs stay at least ``KINK_MARGIN`` away from 0 (its kink), as in the gradient checks;
* max-pool inputs are distinct values at least ``TIE_GAP`` apart, so no window has a near-tie whose
  winner could flip under rounding (exact ties: against the reference, ``ties=True``, and as a known
  answer);
* average-pool inputs are plain normal values (a mean has no kink);
* batch-normalization inputs give every channel its own mean and spread, and at least 2 entries
  (no constant channel, whose normalised values are 0 / 0 up to epsilon);
* probabilities for ``cross_entropy`` are either comfortably inside Keras's clip range
  [1e-7, 1 - 1e-7] or far below it (testing the clipped region), never at its edges;
* float32 examples are float64 draws rounded once, so both frameworks see the same float32 numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

DTYPES = ("float32", "float64")
KINK_MARGIN = 1e-2
TIE_GAP = 4e-3

seeds = st.integers(0, 2**32 - 1)


@dataclass
class Sample:
    """One example for an op: positional inputs ``args`` (arrays, or None for an absent bias),
    keyword arguments ``kwargs`` (settings; the dropout mask), and the value ``seed``."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    seed: int = 0
    names: tuple = ()

    def astype(self, dtype):
        """The same example with every floating-point array (inputs, soft labels) cast to ``dtype``:
        the float64 oracle of a float32 example sees exactly the float32 numbers, held exactly.
        Integer labels, boolean masks and settings are unchanged."""
        def cast(v):
            if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
                return v.astype(dtype)
            return v

        return Sample(tuple(cast(a) for a in self.args), {k: cast(v) for k, v in self.kwargs.items()},
                      self.seed, self.names)

    def describe(self):
        """``x=float32(2, 5, 5, 3), kernel=float32(3, 3, 3, 4), bias=None, stride=(2, 1), padding='same', seed=7``."""
        def show(v):
            if isinstance(v, np.ndarray):
                if v.ndim == 0 or v.size <= 6:
                    return f"{v.dtype}{tuple(v.shape)} {np.array2string(v, precision=4, separator=',')}"
                return f"{v.dtype}{tuple(v.shape)}"
            return repr(v)

        names = self.names or tuple(f"arg{i}" for i in range(len(self.args)))
        parts = [f"{n}={show(a)}" for n, a in zip(names, self.args)]
        parts += [f"{k}={show(v)}" for k, v in self.kwargs.items()]
        return ", ".join(parts + [f"seed={self.seed}"])


# --- value generators (NumPy, from a seed) -------------------------------------------------------
def normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def off_kink(rng, shape, dtype, scale=1.0, margin=KINK_MARGIN):
    """Normal values pushed at least ``margin`` away from 0."""
    x = rng.standard_normal(shape) * scale
    return (np.where(x >= 0, 1.0, -1.0) * (np.abs(x) + margin)).astype(dtype)


def distinct(rng, shape, dtype, gap=TIE_GAP):
    """Values in random order on a jittered grid: any two differ by at least ``gap``."""
    size = int(np.prod(shape, dtype=np.int64))
    grid = rng.permutation(size) + rng.uniform(-0.25, 0.25, size)
    step = gap / 0.5  # neighbours on the grid are >= 0.5 steps apart after the jitter
    return ((grid - size / 2) * step).reshape(shape).astype(dtype)


def upstream(rng, shape, dtype):
    """A random upstream gradient (never all ones: that would hide transposed or permuted terms)."""
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


def _shape(draw, min_rank, max_rank, max_side):
    rank = draw(st.integers(min_rank, max_rank), label="rank")
    return tuple(draw(st.lists(st.integers(1, max_side), min_size=rank, max_size=rank), label="shape"))


# --- per-op strategies ------------------------------------------------------------------------
@st.composite
def elementwise(draw, dtype, values="normal", scales=(0.1, 1.0, 5.0, 20.0)):
    """Any shape of rank 1-4; ``values``: "normal" (scale 0.1-20, reaching saturation for sigmoid and
    tanh) or "off_kink" (ReLU)."""
    shape = _shape(draw, 1, 4, 6)
    scale = draw(st.sampled_from(scales), label="scale")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    make = off_kink if values == "off_kink" else normal
    return Sample((make(rng, shape, dtype, scale),), {}, seed, ("x",))


@st.composite
def softmax_inputs(draw, dtype, scales=(1.0, 5.0, 30.0), shifts=(0.0, 100.0)):
    """Rank 1-3, any axis (negative too), logits of scale 1 to 30 (large enough that a naive
    ``exp`` would overflow float32 at the top of the range), shifted by 0 or 100."""
    shape = _shape(draw, 1, 3, 7)
    axis = draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    scale = draw(st.sampled_from(scales), label="scale")
    shift = draw(st.sampled_from(shifts), label="shift")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    return Sample(((normal(rng, shape, "float64", scale) + shift).astype(dtype),), {"axis": axis}, seed, ("x",))


def _labels(draw, rng, n, c, dtype):
    kind = draw(st.sampled_from(["sparse", "one-hot", "soft"]), label="labels")
    ids = rng.integers(0, c, size=n)
    if kind == "sparse":
        return kind, ids.astype(draw(st.sampled_from(["int64", "int32", "uint8"]), label="label dtype"))
    if kind == "one-hot":
        return kind, np.eye(c, dtype=dtype)[ids]
    rows = rng.dirichlet(np.ones(c), size=n)
    return kind, rows.astype(dtype)


@st.composite
def logits_and_labels(draw, dtype, scales=(0.5, 3.0, 30.0)):
    """Logits (N, C), N in 1-8, C in 1-10, labels sparse / one-hot / soft, any reduction."""
    n, c = draw(st.integers(1, 8), label="N"), draw(st.integers(1, 10), label="C")
    scale = draw(st.sampled_from(scales), label="scale")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    _, labels = _labels(draw, rng, n, c, dtype)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    return Sample((normal(rng, (n, c), dtype, scale), labels), {"reduction": reduction}, seed, ("logits", "labels"))


@st.composite
def probs_and_labels(draw, dtype, clipped=True, low=0.05):
    """Probabilities (N, C) for ``from_logits=False``: rows of weights in [``low``, 1] normalised, with
    (for C >= 3, at most C - 2 per row, unless ``clipped`` is False) some entries in [0, 1e-9], far
    inside Keras's clipped region. Every other entry is >= 0.005, far from the clip edges, and no
    row has one entry near 1.
    """
    n, c = draw(st.integers(1, 8), label="N"), draw(st.integers(1, 10), label="C")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    weights = rng.uniform(low, 1.0, size=(n, c))
    if clipped and c >= 3 and draw(st.booleans(), label="clipped entries"):
        for row in weights:
            k = rng.integers(0, c - 1)  # 0 .. C-2 tiny entries
            row[rng.choice(c, size=k, replace=False)] = rng.uniform(0, 1e-9, size=k) * rng.integers(0, 2, size=k)
    probs = (weights / weights.sum(axis=1, keepdims=True)).astype(dtype)
    _, labels = _labels(draw, rng, n, c, dtype)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    return Sample((probs, labels), {"reduction": reduction}, seed, ("probs", "labels"))


@st.composite
def dense_inputs(draw, dtype):
    n, d_in, d_out = draw(st.integers(1, 8)), draw(st.integers(1, 40)), draw(st.integers(1, 16))
    use_bias = draw(st.booleans(), label="use_bias")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    x, w = normal(rng, (n, d_in), dtype), normal(rng, (d_in, d_out), dtype, 1 / np.sqrt(d_in))
    b = normal(rng, (d_out,), dtype) if use_bias else None
    return Sample((x, w, b), {}, seed, ("x", "kernel", "bias"))


def _pair_or_int(draw, low, high, label):
    a = draw(st.integers(low, high), label=label)
    if draw(st.booleans(), label=f"square {label}"):
        return a
    return (a, draw(st.integers(low, high), label=label))


def _as_pair(v):
    return (v, v) if isinstance(v, int) else v


@st.composite
def conv2d_inputs(draw, dtype, extra=7, max_batch=3, max_channels=4):
    """NHWC input, HWIO kernel: kernel sizes 1-5, strides 1-3 (square or not), "valid" and "same",
    spatial sizes up to kernel + ``extra`` (smaller than the kernel only with "same"), bias or none."""
    kh, kw = draw(st.integers(1, 5), label="KH"), draw(st.integers(1, 5), label="KW")
    stride = _pair_or_int(draw, 1, 3, "stride")
    padding = draw(st.sampled_from(["valid", "same"]), label="padding")
    low_h, low_w = (kh, kw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(low_h, kh + extra), label="H"), draw(st.integers(low_w, kw + extra), label="W")
    n, c = draw(st.integers(1, max_batch), label="N"), draw(st.integers(1, max_channels), label="C")
    f = draw(st.integers(1, max_channels), label="F")
    use_bias = draw(st.booleans(), label="use_bias")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    x = normal(rng, (n, h, w, c), dtype)
    kernel = normal(rng, (kh, kw, c, f), dtype, 1 / np.sqrt(kh * kw * c))
    b = normal(rng, (f,), dtype) if use_bias else None
    return Sample((x, kernel, b), {"stride": stride, "padding": padding}, seed, ("x", "kernel", "bias"))


def _pool_geometry(draw, extra, max_batch):
    """Pool sizes 1-4 (square or not), strides 1-3 or the default (= pool size), "valid" and "same",
    spatial sizes up to pool + ``extra`` (smaller than the pool only with "same")."""
    pool = _pair_or_int(draw, 1, 4, "pool_size")
    ph, pw = _as_pair(pool)
    stride = draw(st.none() | st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3)), label="stride")
    padding = draw(st.sampled_from(["valid", "same"]), label="padding")
    low_h, low_w = (ph, pw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(low_h, ph + extra), label="H"), draw(st.integers(low_w, pw + extra), label="W")
    n, c = draw(st.integers(1, max_batch), label="N"), draw(st.integers(1, 3), label="C")
    return (n, h, w, c), {"pool_size": pool, "stride": stride, "padding": padding}


@st.composite
def maxpool2d_inputs(draw, dtype, extra=7, max_batch=3, ties=False):
    """Pool geometry as :func:`_pool_geometry`; inputs of distinct values (no near-ties), or with
    ``ties=True`` sometimes values on a coarse grid (exact ties: the first maximum must win)."""
    shape, kwargs = _pool_geometry(draw, extra, max_batch)
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    if ties and draw(st.booleans(), label="exact ties"):
        x = np.round(rng.standard_normal(shape)).astype(dtype)
    else:
        x = distinct(rng, shape, dtype)
    return Sample((x,), kwargs, seed, ("x",))


@st.composite
def avgpool2d_inputs(draw, dtype, extra=7, max_batch=3):
    """Pool geometry as :func:`_pool_geometry`, normal values ("same" windows at the border average
    only their real cells, as Keras does)."""
    shape, kwargs = _pool_geometry(draw, extra, max_batch)
    seed = draw(seeds, label="seed")
    return Sample((normal(np.random.default_rng(seed), shape, dtype),), kwargs, seed, ("x",))


@st.composite
def batchnorm_inputs(draw, dtype, min_batch=2, max_batch=3, max_side=6):
    """2-D (N, C) or NHWC inputs, N >= ``min_batch`` (so every channel has >= 2 distinct values: no
    constant channel), channels on the last axis or (sometimes) another non-batch axis; per channel
    a mean and a spread of its own (spreads 0.1-10 apart, means up to 2 spreads from 0); gamma
    (either sign) and beta, each sometimes None (``scale=False`` / ``center=False``); moving mean
    and variance (0.2-3); training on or off, momentum and epsilon drawn (Keras's defaults among them)."""
    rank = draw(st.sampled_from([2, 4]), label="rank")
    n = draw(st.integers(min_batch, max_batch if rank == 4 else 2 * max_batch + 2), label="N")
    shape = (n, draw(st.integers(1, 6), label="C")) if rank == 2 else \
        (n, draw(st.integers(1, max_side), label="H"), draw(st.integers(1, max_side), label="W"),
         draw(st.integers(1, 4), label="C"))
    axis = draw(st.sampled_from([-1, -1, *range(1, rank)]), label="axis")
    training = draw(st.booleans(), label="training")
    momentum = draw(st.sampled_from([0.99, 0.9, 0.0, 1.0]) | st.floats(0.0, 1.0), label="momentum")
    epsilon = draw(st.sampled_from([1e-3, 1e-5, 0.1]), label="epsilon")
    use_gamma, use_beta = draw(st.booleans(), label="scale"), draw(st.booleans(), label="center")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    c = shape[axis]
    spread = 10.0 ** rng.uniform(-1, 1, size=c)
    where = [1] * rank
    where[axis] = c
    x = rng.standard_normal(shape) * spread.reshape(where) + (rng.uniform(-2, 2, size=c) * spread).reshape(where)
    gamma = normal(rng, (c,), dtype, 1.5) if use_gamma else None
    beta = normal(rng, (c,), dtype) if use_beta else None
    moving_mean, moving_var = normal(rng, (c,), dtype), rng.uniform(0.2, 3.0, size=c).astype(dtype)
    return Sample((x.astype(dtype), gamma, beta, moving_mean, moving_var),
                  {"training": training, "momentum": momentum, "epsilon": epsilon, "axis": axis}, seed,
                  ("x", "gamma", "beta", "moving_mean", "moving_var"))


@st.composite
def dropout_inputs(draw, dtype):
    """Rate in [0, 0.9], training on or off, and an injected keep-mask with P(keep) = 1 - rate."""
    shape = _shape(draw, 1, 4, 6)
    rate = draw(st.sampled_from([0.0, 0.2, 0.5]) | st.floats(0.0, 0.9), label="rate")
    training = draw(st.booleans(), label="training")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype)
    mask = rng.random(shape) >= rate
    return Sample((x,), {"rate": rate, "training": training, "mask": mask}, seed, ("x",))


@st.composite
def flatten_inputs(draw, dtype):
    shape = _shape(draw, 1, 4, 6)
    seed = draw(seeds, label="seed")
    return Sample((normal(np.random.default_rng(seed), shape, dtype),), {}, seed, ("x",))


def draw_examples(strategy, n, seed=0):
    """``n`` examples of ``strategy``, reproducibly from ``seed``, outside pytest (generate phase only,
    no example database): what the parity report and the CuPy check run on."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    examples = []

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate], derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(example):
        examples.append(example)

    run()
    return examples


# --- optimizers ---------------------------------------------------------------------------------
OPTIMIZER_STEPS = 20


@st.composite
def parameters_and_gradients(draw, dtype, steps=OPTIMIZER_STEPS):
    """1-3 parameters of rank 1-3 (sides 1-5) and ``steps`` gradient steps for them: normal values
    of a drawn scale (1e-3 to 1e2), optionally with exact zeros (a unit that got no gradient).
    Returns ``(initial, gradients, description)``."""
    shapes = draw(st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), min_size=1, max_size=3),
                  label="shapes")
    scale = draw(st.sampled_from([1e-3, 1.0, 100.0]), label="gradient scale")
    sparse = draw(st.booleans(), label="some zero gradients")
    seed = draw(seeds, label="seed")
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = []
    for _ in range(steps):
        step = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
        if sparse:
            step = [g * (rng.random(g.shape) < 0.7) for g in step]
        grads.append(step)
    return initial, grads, f"shapes={shapes}, gradient scale={scale}, zeros={sparse}, seed={seed}"


def float32_exact(dtype, value):
    """``value`` rounded to float32, whatever ``dtype``: Keras casts Python-float hyperparameters
    through float32 in any dtype, so a float64 Keras optimizer uses ``float32(0.9)``; with
    float32-representable settings numpy_nn's and Keras's float64 runs compute the same formula, and
    a float32 test's float64 oracle (same settings) is exact. ``dtype`` is kept for the call sites."""
    return float(np.float32(value))


@st.composite
def sgd_settings(draw, dtype, momentum, nesterov):
    from numpy_nn import optimizers as O

    lr = draw(st.sampled_from([0.01, 0.1, 0.5]) | st.floats(1e-3, 0.5), label="learning_rate")
    return O.SGD(float32_exact(dtype, lr), momentum=float32_exact(dtype, momentum), nesterov=nesterov)


@st.composite
def adam_settings(draw, dtype):
    from numpy_nn import optimizers as O

    lr = draw(st.sampled_from([1e-3, 1e-2]) | st.floats(1e-4, 0.1), label="learning_rate")
    beta_1 = draw(st.sampled_from([0.9]) | st.floats(0.5, 0.99), label="beta_1")
    beta_2 = draw(st.sampled_from([0.999]) | st.floats(0.9, 0.9999), label="beta_2")
    epsilon = draw(st.sampled_from([1e-7, 1e-8, 1e-3]), label="epsilon")
    return O.Adam(*(float32_exact(dtype, v) for v in (lr, beta_1, beta_2, epsilon)))
