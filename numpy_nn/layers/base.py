"""The layer contract that every layer follows, and Sequential, checkpoints and ``tf_nn`` rely on.

    y = layer.forward(x, training=False)          # caches what backward needs
    dx = layer.backward(dy, need_dx=True)         # fills layer.grads; returns dL/dx (None if not needed)

A layer keeps its arrays in two dictionaries keyed by Keras's names:

* ``params`` -- the trainable weights (``"kernel"``, ``"bias"``); after ``backward``, ``grads``
  holds dL/d(each of them) under the same key;
* ``state`` -- the non-trainable weights (BatchNormalization keeps ``"moving_mean"`` and
  ``"moving_variance"`` here, updated by its training-mode forward; empty for the other layers).

``layer.weights`` lists both, trainable first, exactly as Keras lists ``layer.weights``; that one
order is what ``get_weights``/``set_weights``, ``summary``, checkpoints and the weight copy to and
from Keras use, so a layer with state needs no change in any of them. A layer that draws random
numbers while training (Dropout) keeps its own ``numpy.random.Generator`` in ``rng``; checkpoints
save and restore its state.

A layer builds its weights on the first ``forward`` from the input's shape and dtype (float64 in,
float64 weights), drawing them from a ``numpy.random.Generator`` that ``Sequential`` hands down (or
from the layer's own ``seed``). Default names are Keras's: the class name in snake case
(:func:`to_snake_case`), numbered from the second layer of a kind on (``dense``, ``dense_1``, ...).
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict

import numpy as np

from .. import functional as F
from ..functional._checks import check_float

_name_counters = defaultdict(itertools.count)


def to_snake_case(name):
    """Keras's ``to_snake_case``: ``Dense`` -> ``dense``, ``MaxPooling2D`` -> ``max_pooling2d``,
    ``BatchNormalization`` -> ``batch_normalization``, ``ReLU`` -> ``re_lu``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def check_name(name, owner):
    """A layer's ``name``: None (a default is chosen) or a non-empty string."""
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"{owner}: name must be a non-empty string or None, got {name!r:.80}")
    return name


def check_seed(seed, owner):
    """A layer's ``seed``: None or an integer in [0, 2**63) (numpy integers are accepted)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ValueError(f"{owner}: seed must be None or an integer in [0, 2**63), got {seed!r:.80}")
    return int(seed)


def check_bool(value, what, owner):
    """A flag such as ``use_bias``: True or False (a checkpoint's ``"abc"`` must not count as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {what} must be True or False, got {value!r:.80}")
    return bool(value)


def unique_name(cls_name):
    """``dense`` the first time, then ``dense_1``, ``dense_2``, ... (one counter per name, as Keras)."""
    base = to_snake_case(cls_name)
    index = next(_name_counters[base])
    return base if index == 0 else f"{base}_{index}"


class Layer:
    """Base class: the shape bookkeeping, the lazy build, ``params``/``state``/``grads``.

    A subclass writes ``param_shapes`` (the weights' shapes, from the input's) and
    ``initial_weights`` (their starting values), ``compute_output_shape``, ``get_config`` and the pair ``_forward(x, training) -> y`` / ``_backward(dout, need_dx) -> dx or None``."""

    #: This layer's own random generator, for layers that draw random numbers while training.
    rng = None

    def __init__(self, name=None, seed=None):
        self.name = check_name(name, type(self).__name__) or unique_name(type(self).__name__)
        self.seed = check_seed(seed, type(self).__name__)
        self.params, self.state, self.grads = {}, {}, {}
        self.built = False
        self.input_shape = None  # without the batch axis
        self.dtype = None

    #: True for a layer that keeps its own generator in ``rng`` once built (its state is checkpointed).
    keeps_rng = False

    # --- building -------------------------------------------------------------------------
    def param_shapes(self, input_shape):
        """``{key: shape}`` of the trainable weights this layer builds for inputs of shape
        ``(batch,) + input_shape``, in :attr:`weights` order; ValueError if it cannot take such
        inputs. Shapes only, nothing is allocated: :meth:`build` uses it, and checkpoints use it
        to check a file's arrays against the architecture before reading any of them."""
        return {}

    def state_shapes(self, input_shape):
        """``{key: shape}`` of the non-trainable weights (none by default; BatchNormalization's two)."""
        return {}

    def weight_shapes(self, input_shape):
        """``(param_shapes, state_shapes)`` for inputs of shape ``(batch,) + input_shape``; ValueError
        if the layer cannot take them. The library's layers allocate nothing here; a layer written
        against the older ``_build(rng)`` hook (it creates its arrays itself) is built on a scratch
        copy to learn them, so give it ``param_shapes`` to have a checkpoint checked unallocated."""
        input_shape = tuple(int(d) for d in input_shape)
        if not self._builds_itself():
            return self.param_shapes(input_shape), self.state_shapes(input_shape)
        scratch = type(self)(**self.get_config())
        scratch.build(input_shape, np.float64, rng=np.random.default_rng(0))
        return ({k: w.shape for k, w in scratch.params.items()},
                {k: w.shape for k, w in scratch.state.items()})

    def build(self, input_shape, dtype=np.float32, rng=None):
        """Create the weights for inputs of shape ``(batch,) + input_shape``; ``rng`` defaults to the
        layer's seed. Atomic: every shape is checked before anything is allocated, and the layer
        changes only once everything is made, so a failed build leaves it unbuilt and rebuildable."""
        input_shape, dtype = tuple(int(d) for d in input_shape), np.dtype(dtype)
        rng = np.random.default_rng(self.seed if rng is None else rng)
        if self._builds_itself():
            return self._build_with_hook(input_shape, dtype, rng)
        param_shapes, state_shapes = self.param_shapes(input_shape), self.state_shapes(input_shape)
        output_shape = self.compute_output_shape(input_shape)
        weights = self.initial_weights({**param_shapes, **state_shapes}, dtype, rng)
        own_rng = self._make_rng(rng) if self.keeps_rng else None
        # Nothing below can fail: the layer changes all at once.
        self.params = {k: weights[k] for k in param_shapes}
        self.state = {k: weights[k] for k in state_shapes}
        self.input_shape, self.dtype, self.output_shape = input_shape, dtype, output_shape
        if self.keeps_rng:
            self.rng = own_rng
        self.built = True

    def unbuild(self):
        """Back to the state before :meth:`build` (no weights, no input shape): what a checkpoint
        load does to the layers it built when it fails afterwards."""
        self.params, self.state, self.grads = {}, {}, {}
        self.input_shape = self.dtype = None
        self.__dict__.pop("output_shape", None)
        self.__dict__.pop("rng", None)
        self.built = False

    def initial_weights(self, shapes, dtype, rng):
        """``{key: array}``: the starting value of each weight in ``shapes`` (drawn from ``rng``)."""
        return {}

    def _make_rng(self, rng):
        """The layer's own generator (for :attr:`keeps_rng` layers), seeded from ``rng``."""
        raise NotImplementedError

    def _builds_itself(self):
        return type(self)._build is not Layer._build

    def _build_with_hook(self, input_shape, dtype, rng):
        """The older hook: ``_build(rng)`` fills ``params``/``state`` from ``input_shape``/``dtype``;
        undone if it or the output shape fails."""
        self.input_shape, self.dtype, self.params, self.state = input_shape, dtype, {}, {}
        try:
            self._build(rng)
            self.output_shape = self.compute_output_shape(input_shape)
        except BaseException:
            self.input_shape = self.dtype = None
            self.params, self.state = {}, {}
            raise
        self.built = True

    def _build(self, rng):
        """Older hook for custom layers (see :meth:`_build_with_hook`); the library's layers use
        :meth:`param_shapes` and :meth:`initial_weights` instead."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # --- running --------------------------------------------------------------------------
    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def forward(self, x, training=False):
        """The layer's output for ``x``; ``training=True`` turns on training-only behaviour (dropout)."""
        self._check_input(x)
        return self._forward(x, training)

    def _check_input(self, x):
        check_float(x, "x", f"{type(self).__name__} '{self.name}'")
        if not self.built:
            self.build(x.shape[1:], x.dtype)
        elif tuple(x.shape[1:]) != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"{type(self).__name__} '{self.name}': expected input of shape (batch, {expected}), got {tuple(x.shape)}")
        elif x.dtype != self.dtype:
            raise TypeError(f"{type(self).__name__} '{self.name}': built for {self.dtype} inputs, got {x.dtype}")

    def backward(self, dout, need_dx=True):
        """Given ``dout`` = dL/d(output of the last forward), fill ``grads`` (dL/d each param) and
        return dL/dx. With ``need_dx=False`` (a model's first layer with parameters: nothing uses
        dL/d(model input)) the input gradient is not computed and None is returned."""
        if not self.built:
            raise RuntimeError(f"{type(self).__name__} '{self.name}': backward called before forward")
        return self._backward(dout, need_dx)

    # --- weights --------------------------------------------------------------------------
    @property
    def weights(self):
        """``[(key, array), ...]``: the trainable weights, then the non-trainable ones (Keras's order).
        The arrays are the layer's own (not copies)."""
        return list(self.params.items()) + list(self.state.items())

    def count_params(self):
        """All weights, trainable and not, as Keras's ``count_params``."""
        return int(sum(w.size for _, w in self.weights))

    def count_trainable_params(self):
        return int(sum(p.size for p in self.params.values()))

    def get_weights(self):
        """Copies of :attr:`weights`' arrays, in that order."""
        return [w.copy() for _, w in self.weights]

    def get_config(self):
        """The constructor arguments (JSON-serialisable) that rebuild this layer, as in Keras."""
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


_ACTIVATIONS = {
    "relu": (F.relu_forward, F.relu_backward),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward),
    "tanh": (F.tanh_forward, F.tanh_backward),
    "softmax": (F.softmax_forward, F.softmax_backward),
}


def check_activation(activation):
    if activation is not None and not isinstance(activation, str):
        raise TypeError(f"activation must be None or a string, got {activation!r:.80}")
    if activation in (None, "linear"):
        return None
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected None, 'linear' or one of {sorted(_ACTIVATIONS)}")
    return activation


class ActivationLayer(Layer):
    """A layer whose last step is an optional activation, Keras's ``activation=`` argument:
    ``y = activation(z)`` with ``z`` the layer's own output (``x @ kernel + bias`` for Dense).

    **The fused softmax.** A cross-entropy with ``from_logits=False`` on a final softmax is computed
    by Keras (TensorFlow backend) from the softmax's *input* ``z``, unclipped and without computing
    the softmax twice. numpy_nn does the same with one switch: ``forward(x, training, logits=True)``
    stops before the activation and returns ``z``; the layer remembers it, so the following
    ``backward`` takes dL/dz (for the fused loss: ``softmax(z) - onehot(y)``, scaled by 1/N) and
    skips the activation's backward. :attr:`numpy_nn.Sequential.softmax_in_loss` says when a model
    does this for its last layer."""

    def __init__(self, activation=None, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self.activation = check_activation(activation)
        self._undo = None  # (activation backward, its cache) when the last forward applied it

    def forward(self, x, training=False, logits=False):
        """``activation(z)``; with ``logits=True`` just ``z`` (see the class docstring)."""
        self._check_input(x)
        z = self._forward(x, training)
        if self.activation is None or logits:
            self._undo = None
            return z
        forward, backward = _ACTIVATIONS[self.activation]
        # z is this layer's own fresh array (nobody else holds it): ReLU may overwrite it.
        out, cache = forward(z, inplace=True) if self.activation == "relu" and z is not x else forward(z)
        self._undo = (backward, cache)
        return out

    def activate(self, z):
        """This layer's activation of ``z`` (pre-activation output), without caching anything."""
        return z if self.activation is None else _ACTIVATIONS[self.activation][0](z)[0]

    def backward(self, dout, need_dx=True):
        if not self.built:
            raise RuntimeError(f"{type(self).__name__} '{self.name}': backward called before forward")
        if self._undo is not None:  # the last forward applied the activation: its backward first
            backward, cache = self._undo
            dout = backward(dout, cache)
        return self._backward(dout, need_dx)
