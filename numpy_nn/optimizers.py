"""SGD and Adam with Keras's exact update rules, applied in place.

``opt.apply_gradients([(grad, param), ...])`` changes each parameter array in place, as Keras
updates its variables. State (momentum, Adam's moments) is created once per parameter on its first
step and updated in place afterwards: a training step allocates nothing.

Speed without obscurity: an update is a handful of element-wise passes (for Adam about ten). Over a
2.8 M-parameter kernel each pass would stream ~11 MB through memory; instead the parameter is walked
in blocks of ``BLOCK`` elements, so all passes over one block run while it sits in cache. The block
kernels below *are* the formulas; running one kernel over the whole array (``block=None``) is the
plain reference that the tests compare the blocked path with, bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

#: Elements per cache block (64 KiB of float32 per array; ~5 arrays in flight fit in L2).
BLOCK = 1 << 14


def _check_number(value, name, low, high, owner, high_open=True):
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and low <= value and (value < high if high_open else value <= high)
    if not ok:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{owner}: {name} must be a finite number in [{low}, {high}{bracket}, got {value!r}")
    return float(value)


class Optimizer:
    """Shared bookkeeping: argument checks, per-parameter state, the step counter, blocking."""

    def __init__(self, learning_rate, block=BLOCK):
        self.learning_rate = _check_number(learning_rate, "learning_rate", 0.0, math.inf, type(self).__name__)
        self.iterations = 0
        self.block = block
        self._state = {}     # id(param) -> (param, state arrays)
        self._scratch = {}   # dtype -> one reusable scratch buffer

    def _slots_for(self, param):
        entry = self._state.get(id(param))
        if entry is None or entry[0] is not param:
            entry = (param, self._new_slots(param))
            self._state[id(param)] = entry
        return entry[1]

    def _new_slots(self, param):
        return ()

    def _check_pairs(self, grads_and_vars):
        pairs = list(grads_and_vars)
        owner = f"{type(self).__name__}.apply_gradients"
        for k, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"{owner}: expected (gradient, parameter) pairs, item {k} is {type(pair).__name__}")
            g, w = pair
            if not isinstance(w, np.ndarray) or w.dtype.kind != "f" or not w.flags.c_contiguous or not w.flags.writeable:
                raise TypeError(f"{owner}: parameter {k} must be a writeable, C-contiguous float ndarray (updated in place)")
            if not isinstance(g, np.ndarray) or g.shape != w.shape or g.dtype != w.dtype:
                got = f"{g.dtype} {g.shape}" if isinstance(g, np.ndarray) else type(g).__name__
                raise ValueError(f"{owner}: gradient {k} must match its parameter ({w.dtype} {w.shape}), got {got}")
        return pairs

    def apply_gradients(self, grads_and_vars):
        """One optimisation step: update every parameter in place from its gradient."""
        pairs = self._check_pairs(grads_and_vars)
        self.iterations += 1
        for g, w in pairs:
            slots = self._slots_for(w)
            flat = [w.reshape(-1), np.ascontiguousarray(g).reshape(-1)] + [s.reshape(-1) for s in slots]
            n = flat[0].size
            if n == 0:
                continue
            size = n if self.block is None else min(self.block, n)
            scratch = self._scratch.get(w.dtype)
            if scratch is None or scratch.size < size:  # grows once, to the largest block, then reused
                scratch = self._scratch[w.dtype] = np.empty(size, dtype=w.dtype)
            for start in range(0, n, size):
                stop = min(start + size, n)
                self._update_block(*(a[start:stop] for a in flat), scratch[:stop - start])

    def _update_block(self, w, g, *slots_and_scratch):
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

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, block=BLOCK):
        super().__init__(learning_rate, block)
        self.momentum = _check_number(momentum, "momentum", 0.0, 1.0, "SGD", high_open=False)
        self.nesterov = bool(nesterov)

    def _new_slots(self, param):
        return (np.zeros_like(param),) if self.momentum else ()

    def _update_block(self, w, g, *rest):
        lr, m = self.learning_rate, self.momentum
        if not m:
            (s,) = rest
            np.multiply(g, lr, out=s)
            w -= s
            return
        v, s = rest
        v *= m
        np.multiply(g, lr, out=s)
        v -= s                       # v = m*v - lr*g
        if self.nesterov:
            w -= s                   # w += m*v - lr*g
            np.multiply(v, m, out=s)
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

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, block=BLOCK):
        super().__init__(learning_rate, block)
        self.beta_1 = _check_number(beta_1, "beta_1", 0.0, 1.0, "Adam")
        self.beta_2 = _check_number(beta_2, "beta_2", 0.0, 1.0, "Adam")
        self.epsilon = _check_number(epsilon, "epsilon", 0.0, math.inf, "Adam")

    def _new_slots(self, param):
        return np.zeros_like(param), np.zeros_like(param)

    def apply_gradients(self, grads_and_vars):
        t = self.iterations + 1
        self._alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        super().apply_gradients(grads_and_vars)

    def _update_block(self, w, g, m, v, s):
        np.subtract(g, m, out=s)
        s *= 1 - self.beta_1
        m += s                       # m += (1 - b1) * (g - m)
        np.multiply(g, g, out=s)
        s -= v
        s *= 1 - self.beta_2
        v += s                       # v += (1 - b2) * (g^2 - v)
        np.sqrt(v, out=s)
        s += self.epsilon
        np.divide(m, s, out=s)
        s *= self._alpha
        w -= s                       # w -= alpha * m / (sqrt(v) + eps)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier):
    """An optimizer from a Keras name (``"sgd"``, ``"adam"``, default settings) or an existing object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected one of {sorted(_BY_NAME)} or an optimizer object")
