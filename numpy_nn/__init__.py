"""numpy-nn: a from-scratch NumPy neural-network library with hand-written backprop.

    import numpy_nn as nn
    model = nn.Sequential([nn.layers.Dense(128, activation="relu"), nn.layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss=nn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, batch_size=32, seed=0)

Imports NumPy only. The functional ops (``numpy_nn.functional``) are the reference every other
part of the project (the TensorFlow parity suite, the MNIST job, the benchmarks) compares with.
"""
from . import functional, gradcheck, initializers, layers, losses, optimizers
from .backend import get_array_module
from .checkpoint import CheckpointError
from .errors import TrainingDiverged
from .models import History, Sequential, load_model

__version__ = "0.1.0"
__all__ = ["Sequential", "History", "TrainingDiverged", "load_model", "CheckpointError", "functional", "layers", "losses", "optimizers", "initializers",
           "gradcheck", "get_array_module", "__version__"]
