"""Keras optimizers configured from numpy_nn's, for side-by-side training and the parity suite.

Both use Keras 3's update rules (see ``numpy_nn.optimizers``); here the settings are carried across
and nothing else. Keras keeps its learning rate in a variable of ``keras.config.floatx()`` type and
casts it to each parameter's dtype, so for float64 parameters pass ``dtype="float64"``: the learning
rate variable is then float64 too, instead of a float32 rounding of it (0.01 would become
0.009999999776...).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from numpy_nn import optimizers as np_optimizers  # noqa: E402

from .runtime import floatx  # noqa: E402


def from_numpy(np_optimizer, dtype=None):
    """A fresh ``keras.optimizers.SGD`` or ``Adam`` with the numpy optimizer's settings.

    ``np_optimizer`` is a ``numpy_nn.optimizers.SGD``/``Adam`` instance or a name ("sgd", "adam",
    Keras's defaults). ``dtype`` is the float type of the learning-rate variable (default: Keras's
    floatx, float32). Only the settings are copied, not the state (moments, step count).
    """
    opt = np_optimizers.get(np_optimizer)
    with floatx(dtype or keras.config.floatx()):
        if isinstance(opt, np_optimizers.SGD):
            return keras.optimizers.SGD(learning_rate=opt.learning_rate, momentum=opt.momentum, nesterov=opt.nesterov)
        if isinstance(opt, np_optimizers.Adam):
            return keras.optimizers.Adam(learning_rate=opt.learning_rate, beta_1=opt.beta_1, beta_2=opt.beta_2,
                                         epsilon=opt.epsilon, amsgrad=False)
    raise TypeError(f"from_numpy: no Keras equivalent for {type(opt).__name__}")
