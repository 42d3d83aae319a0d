"""tf_nn: the TensorFlow / Keras side of numpy-nn's contract.

Everything here mirrors a piece of :mod:`numpy_nn` with TensorFlow's own implementation, so the
parity suite (``parity_tests/``) can hold the two against each other:

* :mod:`tf_nn.functional` -- the forward ops under ``numpy_nn.functional``'s names, built on
  ``tf.nn``, plus :func:`tf_nn.functional.vjp` (TensorFlow's vector-Jacobian product via GradientTape);
* :mod:`tf_nn.models` -- :func:`to_keras` builds the Keras twin of a built ``numpy_nn.Sequential``
  (same layers, dtype, input shape and weights) from the one layer mapping ``KERAS_LAYERS``;
  :func:`copy_weights_to_keras` and :func:`copy_weights_to_numpy` copy weights either way;
* :mod:`tf_nn.training` -- :class:`KerasTrainer`, the only Keras training step (its compiled
  ``tf.function`` is ``trainer.compiled_step``);
* :mod:`tf_nn.layers` -- :class:`InjectedDropout`, a Keras Dropout whose next keep-mask can be set
  from outside (so both frameworks drop the same units);
* :mod:`tf_nn.optimizers` / :mod:`tf_nn.losses` -- Keras optimizers and losses configured from
  numpy_nn's objects.

Importing ``tf_nn`` is cheap: TensorFlow is imported the first time one of these submodules (or
names) is used. ``TF_CPP_MIN_LOG_LEVEL`` is set to 2 first (unless already set) to silence
TensorFlow's C++ info and warning lines.
"""
from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_SUBMODULES = ("functional", "layers", "losses", "models", "optimizers", "runtime", "training")
_NAMES = {
    "to_keras": "models",
    "copy_weights_to_keras": "models",
    "copy_weights_to_numpy": "models",
    "KerasTrainer": "training",
    "InjectedDropout": "layers",
    "from_numpy": "optimizers",
    "enable_determinism": "runtime",
}

__all__ = list(_SUBMODULES) + list(_NAMES)


def __getattr__(name):  # PEP 562: import TensorFlow only when something needs it
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
