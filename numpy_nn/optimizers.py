"""SGD and Adam with Keras's exact update rules, applied in place.

``opt.apply_gradients([(grad, param), ...])`` changes each parameter array in place, as Keras
updates its variables. State (momentum, Adam's moments) is created once per parameter on its first
step and updated in place afterwards: a training step allocates nothing.

Speed without obscurity: the block kernels below (``_update_block``) *are* the formulas; the
parameter is walked through them in cache-sized blocks, on several threads for a large one
(:mod:`numpy_nn.blocks`). Running one kernel over the whole array (``block=None``, ``threads=1``)
is the plain reference the tests compare the blocked, threaded path with, bit for bit. CuPy arrays
take the same code (``xp = get_array_module(param)``), one kernel per pass over the whole array.

Safety of a step (:meth:`Optimizer.apply_gradients`): every pair is checked before anything changes
(shapes, dtypes, no parameter twice); everything the step allocates is allocated before the first
parameter changes; Ctrl-C is held back until the whole step (and ``iterations``) is done; and each
block is checked for NaN/inf right after its update, so an update that overflows a weight or a slot
raises :class:`~numpy_nn.errors.TrainingDiverged` (``weights_finite=False``) in the step that did it.
"""
from __future__ import annotations

import math

import numpy as np

from .backend import get_array_module
from .blocks import BLOCK, in_threads, runs, walk
from .errors import TrainingDiverged
from .interrupts import SigintDeferred
from .training_checks import check_block, check_number


def _module_of(a):
    """numpy or cupy for an array (the common NumPy case first, it is on every step's path), else None."""
    if type(a) is np.ndarray:
        return np
    if isinstance(a, np.ndarray) or type(a).__module__.split(".")[0] == "cupy":
        return get_array_module(a)
    return None


class Optimizer:
    """Shared bookkeeping: argument checks, per-parameter state, the step counter, blocking.

    The state is public, as Keras's: ``iterations`` (steps taken, settable), ``slot_names`` (the
    per-parameter arrays' names, Keras's: ``("momentum", "velocity")`` for Adam) and
    ``slots(param)``, that parameter's arrays in ``slot_names`` order, created (zeros) on first use
    and updated in place by every step -- assign into them in place (``slot[...] = saved``) to
    restore a state. Checkpoints and ``tf_nn`` use only these three."""

    #: Names of the arrays kept per parameter, in :meth:`slots` order (Keras's variable names).
    slot_names = ()
    #: Least value a slot may hold (Adam's second moment is a mean of squares: never negative);
    #: :meth:`slot_problem` checks a slot to be restored against it.
    slot_minimum = {}
    #: Slots that can become non-finite while the weights stay finite, so the check after an update
    #: reads them too (Adam's ``velocity``: ``g**2`` overflowing makes ``sqrt(v)`` infinite and the
    #: step 0). Any other slot's NaN/inf reaches the weights in the same step (see each subclass).
    hidden_slots = ()
    #: Hyperparameters that must stay positive once cast to the parameters' dtype, in which the update
    #: computes (Adam's epsilon: 1e-8 is 0 in float16, and a weight whose gradient has always been 0
    #: would then get 0 / 0 = NaN). :meth:`check_dtype` checks them.
    positive_in_dtype = ()

    def __init__(self, learning_rate, block=BLOCK, threads=1):
        self.learning_rate = check_number(learning_rate, "learning_rate", 0.0, math.inf, type(self).__name__)
        self.iterations = 0
        self.block = check_block(block, type(self).__name__)
        self.threads = threads
        self._state = {}     # id(param) -> (param, state arrays); re-keyed on copy (see __setstate__)
        self._scratch = {}   # (array module, dtype, thread) -> one reusable scratch buffer
        self._distinct = []  # the parameters of the last step, checked distinct (see _check_distinct)
        self._dtypes_ok = set()  # parameter dtypes check_dtype has accepted

    def __getstate__(self):
        """For ``copy.deepcopy`` and pickle: the state as (parameter, slots) pairs, since its keys are
        ``id``s, which a copy does not keep; the scratch buffers (keyed by module) are not copied."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_state", "_scratch", "_distinct")}
        state["_slot_pairs"] = list(self._state.values())
        return state

    def __setstate__(self, state):
        """Rebuild the ``id`` keys from the copied parameters: copied together with its model (one
        ``deepcopy`` of the ``Sequential``), the copy's slots follow the copy's parameters."""
        pairs = state.pop("_slot_pairs", [])
        self.__dict__.update({"_threads": 1, **state})  # _threads: pickled before optimizers had threads
        self._state = {id(param): (param, slots) for param, slots in pairs}
        self._scratch, self._distinct, self._dtypes_ok = {}, [], set()

    @property
    def threads(self):
        """Threads the update of one large parameter uses (default 1); settable. The result does not
        depend on it, bit for bit. More than one pays for the update alone (Adam on 2.77 M float32
        parameters, 2-core EPYC: 7.5 -> 4.7 ms), not inside a training step on 2 cores, where
        OpenBLAS's worker thread keeps spinning on the second core between the step's matrix
        products (benchmarks/README.md, "Speed notes"); hence the default."""
        return self._threads

    @threads.setter
    def threads(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 256:
            raise ValueError(f"{type(self).__name__}: threads must be an integer in [1, 256], got {value!r:.80}")
        self._threads = int(value)

    @property
    def iterations(self):
        """Steps taken so far (Keras's ``optimizer.iterations``); Adam's bias correction uses it."""
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**62:
            raise ValueError(f"{type(self).__name__}: iterations must be an integer in [0, 2**62), got {value!r:.80}")
        self._iterations = int(value)

    def slot_problem(self, name, value):
        """Why ``value`` cannot be restored as slot ``name`` (not finite, or below
        :attr:`slot_minimum`), or None if it can."""
        xp = get_array_module(value)
        if not bool(xp.all(xp.isfinite(value))):
            return "holds NaN or infinite values"
        low = self.slot_minimum.get(name)
        if low is not None and value.size and float(value.min()) < low:
            return f"holds values below {low} (its least is {float(value.min())!r})"
        return None

    def slots(self, param):
        """The state arrays of ``param`` (one per name in :attr:`slot_names`), created as zeros of
        its shape and dtype the first time; the same arrays on every later call."""
        entry = self._state.get(id(param))
        if entry is None or entry[0] is not param:
            xp = get_array_module(param)
            entry = (param, tuple(xp.zeros_like(param) for _ in self.slot_names))
            self._state[id(param)] = entry
        return list(entry[1])

    def _scratch_for(self, xp, dtype, size, thread=0):
        key = (xp, dtype, thread)
        scratch = self._scratch.get(key)
        if scratch is None or scratch.size < size:  # grows once, to the largest block, then reused
            scratch = self._scratch[key] = xp.empty(size, dtype=dtype)
        return scratch[:size]

    def check_dtype(self, dtype):
        """Refuse (ValueError) settings that the parameters' ``dtype`` turns into a silent NaN: each
        of :attr:`positive_in_dtype` must stay positive once cast to it. Run by every step before
        anything changes (once per dtype), and by checkpoint loading. (A learning rate that
        overflows is not refused here: its update overflows, which the step reports as divergence.)"""
        dtype = np.dtype(dtype)
        if dtype in self._dtypes_ok:
            return
        owner = type(self).__name__
        for name in self.positive_in_dtype:
            if not dtype.type(getattr(self, name)) > 0:
                raise ValueError(f"{owner}: {name} {getattr(self, name)!r} rounds to 0 in {dtype}, the parameters' "
                                 f"dtype (the smallest positive {dtype} is {np.finfo(dtype).smallest_subnormal})")
        self._dtypes_ok.add(dtype)

    def _check_pairs(self, grads_and_vars):
        """[(gradient, parameter, array module), ...], after checking every pair: a writeable,
        C-contiguous float parameter (updated in place), a gradient of its shape and dtype, and no
        parameter listed twice (or two overlapping in memory): it would be updated twice."""
        pairs = list(grads_and_vars)
        owner = f"{type(self).__name__}.apply_gradients"
        checked = []
        for k, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"{owner}: expected (gradient, parameter) pairs, item {k} is {type(pair).__name__}")
            g, w = pair
            xp = _module_of(w)
            flags = None if xp is None else w.flags
            if xp is None or w.dtype.kind != "f" or not flags.c_contiguous or (xp is np and not flags.writeable):
                raise TypeError(f"{owner}: parameter {k} must be a writeable, C-contiguous float ndarray (updated in place)")
            if _module_of(g) is not xp or g.shape != w.shape or g.dtype != w.dtype:
                got = f"{g.dtype} {g.shape}" if _module_of(g) is not None else type(g).__name__
                raise ValueError(f"{owner}: gradient {k} must match its parameter ({w.dtype} {w.shape}), got {got}")
            checked.append((g, w, xp))
            self.check_dtype(w.dtype)
        self._check_distinct(checked, owner)
        return checked

    def _check_distinct(self, checked, owner):
        """No parameter twice, nor two sharing memory (it would be updated twice), and no parameter
        this optimizer has not updated before once it keeps state for some: one optimizer per model,
        as in Keras (shared, two models would mix their moments and step count). Skipped when the
        parameters are the very objects of the last step that passed (the usual case: a model hands
        the same arrays every step)."""
        params = [w for _, w, _ in checked]
        if len(params) == len(self._distinct) and all(a is b for a, b in zip(params, self._distinct)):
            return
        for k, (_, w, xp) in enumerate(checked):
            for j, earlier in enumerate(params[:k]):
                if earlier is w or (xp is np and np.may_share_memory(earlier, w)):
                    raise ValueError(f"{owner}: parameter {k} is parameter {j} again (or shares its memory); "
                                     "each parameter may appear once per step")
        if self._state:
            for k, w in enumerate(params):
                entry = self._state.get(id(w))
                if entry is None or entry[0] is not w:
                    raise ValueError(f"{owner}: parameter {k} ({w.dtype} {tuple(w.shape)}) is not one this optimizer "
                                     f"has updated before (it keeps the state of {len(self._state)} others): use one "
                                     "optimizer per model")
        self._distinct = params

    def _prepare(self, checked):
        """Everything an update needs, allocated before the first parameter changes (contiguous
        gradients, scratch; then :meth:`_add_slots`, the slots on their first step), so that nothing
        can fail half-way: for each parameter to update ``(index in checked, xp, flat arrays [w, g],
        block size, parts)`` where ``parts`` is ``[(start, stop, scratch, boolean mask scratch), ...]``,
        one per thread (:func:`numpy_nn.blocks.runs`)."""
        work = []
        for k, (g, w, xp) in enumerate(checked):
            n = w.size
            if n == 0:
                continue
            flat = [w.reshape(-1), xp.ascontiguousarray(g).reshape(-1)]  # the slots follow: _add_slots
            # On a GPU every pass is one kernel over the whole array: blocking would only add launches.
            size = n if self.block is None or xp is not np else min(self.block, n)
            threads = self.threads if xp is np and size < n else 1
            parts = [(start, stop, self._scratch_for(xp, w.dtype, size, t), self._scratch_for(xp, bool, size, t))
                     for t, (start, stop) in enumerate(runs(n, size, threads))]
            work.append((k, xp, flat, size, parts))
        return work

    def _add_slots(self, checked, work):
        """Append each parameter's slots (created on its first step) to its flat arrays: [w, g, *slots]."""
        for k, _, flat, _, _ in work:
            flat.extend(s.reshape(-1) for s in self.slots(checked[k][1]))

    def _check_plan(self):
        """``[(name, index in [w, g, *slots]), ...]``: what the check after an update reads, the
        weights and then the :attr:`hidden_slots`."""
        return [("weights", 0)] + [(name, 2 + self.slot_names.index(name)) for name in self.hidden_slots]

    def _non_finite_gradient(self, work):
        """The index (in the pair list) of the first parameter whose gradient holds a NaN or an
        infinity, or None: the pass ``check_gradients=True`` makes before any update, over the same
        blocks and threads as the update (each gradient read once, nothing allocated)."""
        for k, xp, flat, size, parts in work:
            if any(in_threads(lambda *run: walk(xp, flat, size, *run, [("gradient", 1)]), parts)):
                return k
        return None

    def apply_gradients(self, grads_and_vars, check_gradients=False):
        """One optimisation step: update every parameter in place from its gradient.

        Checked before anything changes: the pairs (see :meth:`_check_pairs`), and with
        ``check_gradients=True`` that every gradient is finite (else TrainingDiverged with
        ``weights_finite=True`` and ``parameter`` = the first such pair's index: nothing was
        changed, ``iterations`` included; ``Sequential.train_on_batch`` asks for it). The update is atomic
        with respect to Ctrl-C: a SIGINT arriving during it is delivered (KeyboardInterrupt) after
        every parameter is updated and ``iterations`` advanced, never in between.

        Checked after each parameter's update: its new values and slots are finite. If not (an
        overflowing learning rate, ``g**2`` overflowing Adam's second moment), the step is still
        completed for every parameter and counted, then :class:`~numpy_nn.errors.TrainingDiverged`
        is raised with ``weights_finite=False`` and ``parameter`` = the index of the first such
        parameter: in place, the update cannot be undone (no copy of the weights is kept)."""
        checked = self._check_pairs(grads_and_vars)
        if self.iterations + 1 >= 2**62:  # else the count, advanced last, would fail after the update
            raise ValueError(f"{type(self).__name__}.apply_gradients: iterations ({self.iterations}) cannot advance "
                             "past its limit 2**62 - 1")
        work = self._prepare(checked)
        if check_gradients:
            k = self._non_finite_gradient(work)
            if k is not None:
                w = checked[k][1]
                raise TrainingDiverged(f"the gradient of parameter {k} ({w.dtype} {tuple(w.shape)}) is not finite",
                                       weights_finite=True, parameter=k)
        self._add_slots(checked, work)
        problems, plan = [], self._check_plan()
        with SigintDeferred(), np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
            self._begin_step()
            for k, xp, flat, size, parts in work:
                found = [p for p in in_threads(lambda *run: walk(xp, flat, size, *run, plan, self._update_block), parts) if p]
                problems += [(k, found[0])] if found else []
            self.iterations += 1
        if problems:
            raise self._diverged(checked, *problems[0])

    def _diverged(self, checked, k, problem):
        """The TrainingDiverged for parameter ``k`` whose ``problem`` ("weights" or a slot name) is non-finite."""
        w = checked[k][1]
        what = "its values" if problem == "weights" else f"its optimizer slot '{problem}'"
        return TrainingDiverged(f"the update of parameter {k} ({w.dtype} {tuple(w.shape)}) made {what} non-finite",
                                weights_finite=False, parameter=k)

    def _begin_step(self):
        """Per-step constants, computed once before the blocks (Adam's bias-corrected step size)."""

    def _update_block(self, xp, w, g, *slots_and_scratch):
        """Update one block in place; ``xp`` is the blocks' array module (numpy or cupy)."""
        raise NotImplementedError

    def get_config(self):
        return {"learning_rate": self.learning_rate}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, Keras's rule::

        momentum == 0:   w <- w - lr * g
        otherwise:       v <- momentum * v - lr * g
                         w <- w + v                            (classical)
                         w <- w + momentum * v - lr * g        (nesterov=True, with the new v)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, block=BLOCK, threads=1):
        super().__init__(learning_rate, block, threads)
        self.momentum = check_number(momentum, "momentum", 0.0, 1.0, "SGD", high_open=False)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()
        # hidden_slots stays empty: a non-finite velocity v reaches w in the same step (w += v, or
        # w += momentum * v with momentum > 0).

    def _update_block(self, xp, w, g, *rest):
        lr, m = self.learning_rate, self.momentum
        if not m:
            (s,) = rest
            xp.multiply(g, lr, out=s)
            w -= s
            return
        v, s = rest
        v *= m
        xp.multiply(g, lr, out=s)
        v -= s                       # v = m*v - lr*g
        if self.nesterov:
            w -= s                   # w += m*v - lr*g
            xp.multiply(v, m, out=s)
            w += s
        else:
            w += v

    def get_config(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam in Keras's "epsilon-hat" form. At step t (from 1)::

        m <- m + (1 - beta_1) * (g - m)          (= beta_1*m + (1-beta_1)*g)
        v <- v + (1 - beta_2) * (g**2 - v)
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w <- w - alpha * m / (sqrt(v) + epsilon)

    The bias correction is folded into ``alpha``, so ``epsilon`` is added to the *uncorrected*
    ``sqrt(v)``: this is what Keras (and the original paper's section 2 variant) computes.
    """

    slot_names = ("momentum", "velocity")  # m and v, Keras's names
    slot_minimum = {"velocity": 0.0}        # v is a running mean of g**2
    # A non-finite m makes the step, hence w, non-finite (inf / finite, or 0 * inf = NaN when
    # lr = 0); an infinite v makes the step 0 and leaves w finite, so v is checked on its own.
    hidden_slots = ("velocity",)
    positive_in_dtype = ("epsilon",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, block=BLOCK, threads=1):
        super().__init__(learning_rate, block, threads)
        self.beta_1 = check_number(beta_1, "beta_1", 0.0, 1.0, "Adam")
        self.beta_2 = check_number(beta_2, "beta_2", 0.0, 1.0, "Adam")
        # epsilon > 0: with 0, a weight whose gradient has always been exactly 0 gets 0 / 0 = NaN.
        self.epsilon = check_number(epsilon, "epsilon", 0.0, math.inf, "Adam", low_open=True)

    def _begin_step(self):
        t = self.iterations + 1
        self._alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def _update_block(self, xp, w, g, m, v, s):
        xp.subtract(g, m, out=s)
        s *= 1 - self.beta_1
        m += s                       # m += (1 - b1) * (g - m)
        xp.multiply(g, g, out=s)
        s -= v
        s *= 1 - self.beta_2
        v += s                       # v += (1 - b2) * (g^2 - v)
        xp.sqrt(v, out=s)
        s += self.epsilon
        xp.divide(m, s, out=s)
        s *= self._alpha
        w -= s                       # w -= alpha * m / (sqrt(v) + eps)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


#: Every optimizer by class name (checkpoints rebuild one as ``OPTIMIZERS[name](**config)``).
OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam)}
_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier):
    """An optimizer from a Keras name (``"sgd"``, ``"adam"``, default settings) or an existing object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected one of {sorted(_BY_NAME)} or an optimizer object")
