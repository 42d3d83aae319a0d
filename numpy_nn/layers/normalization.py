"""BatchNormalization: the first layer with non-trainable state (``keras.layers.BatchNormalization``)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .base import Layer, check_bool


def _number(value, what, owner, low, high, low_open=False):
    """A real number in [low, high] (or (low, high] with ``low_open``), as a Python float."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        value = float(value)
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise ValueError(f"{owner}: {what} must be a number in {'(' if low_open else '['}{low}, {high}], got {value!r:.80}")
    return value


class BatchNormalization(Layer):
    """``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`` per channel on ``axis``
    (:func:`numpy_nn.functional.batchnorm_forward`), with Keras's arguments and defaults.

    * ``params`` (trainable): ``"gamma"`` (ones; absent with ``scale=False``) and ``"beta"`` (zeros;
      absent with ``center=False``), shape (C,);
    * ``state`` (non-trainable): ``"moving_mean"`` (zeros) and ``"moving_variance"`` (ones), (C,).

    ``forward(x, training=True)`` normalises with the batch statistics and updates the moving ones
    in place, ``moving = moving * momentum + batch * (1 - momentum)``, as Keras's layer does when
    called with ``training=True``; ``forward(x)`` (inference: ``evaluate``, ``predict``) uses the moving
    statistics and changes nothing. ``weights`` is gamma, beta, moving_mean, moving_variance: Keras's
    order, so ``get_weights``/``set_weights``, ``summary`` (the moving statistics are its
    "Non-trainable params"), checkpoints and the weight copy to and from Keras include the state.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, name=None):
        super().__init__(name=name)
        owner = "BatchNormalization"
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{owner}: axis must be an int, got {axis!r:.80}")
        self.axis = int(axis)
        self.momentum = _number(momentum, "momentum", owner, 0.0, 1.0)
        self.epsilon = _number(epsilon, "epsilon", owner, 0.0, 1e30, low_open=True)
        self.center = check_bool(center, "center", owner)
        self.scale = check_bool(scale, "scale", owner)

    def _channels(self, input_shape):
        """The size of the normalised axis for inputs ``(batch,) + input_shape``; ValueError if
        ``axis`` is not one of their non-batch axes."""
        rank = len(input_shape) + 1
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"BatchNormalization '{self.name}': axis {self.axis} is not a non-batch axis of inputs of "
                             f"shape (batch, {', '.join(map(str, input_shape))})")
        return input_shape[self.axis % rank - 1]

    def param_shapes(self, input_shape):
        c = self._channels(input_shape)
        return {**({"gamma": (c,)} if self.scale else {}), **({"beta": (c,)} if self.center else {})}

    def state_shapes(self, input_shape):
        c = self._channels(input_shape)
        return {"moving_mean": (c,), "moving_variance": (c,)}

    def initial_weights(self, shapes, dtype, rng):
        start = {"gamma": np.ones, "beta": np.zeros, "moving_mean": np.zeros, "moving_variance": np.ones}
        return {key: start[key](shape, dtype=dtype) for key, shape in shapes.items()}

    def get_config(self):
        return {"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "name": self.name}

    def _forward(self, x, training):
        moving_mean, moving_var = self.state["moving_mean"], self.state["moving_variance"]
        y, self._cache = F.batchnorm_forward(x, self.params.get("gamma"), self.params.get("beta"), moving_mean,
                                             moving_var, bool(training), self.momentum, self.epsilon, self.axis)
        if training:  # in place: the state arrays stay the ones get_weights and checkpoints see
            moving_mean[...] = self._cache.new_moving_mean
            moving_var[...] = self._cache.new_moving_var
        return y

    def _backward(self, dout, need_dx):
        dx, dgamma, dbeta = F.batchnorm_backward(dout, self._cache)
        if self.scale:
            self.grads["gamma"] = dgamma
        if self.center:
            self.grads["beta"] = dbeta
        return dx if need_dx else None
