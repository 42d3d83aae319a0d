"""The four tutorial models, and cnn_bn (trainable by name, not a tutorial model: :data:`EXTRA_MODELS`),
each defined once. ``numpy_nn`` builds them here; ``tf_nn`` builds the
Keras twin from the built NumPy model (same layers, same initial weights), so the two frameworks
always start from one definition and one seed.

| name      | architecture                                              | training (defaults)                      |
|-----------|-----------------------------------------------------------|------------------------------------------|
| softmax   | Dense(10, softmax) on 784 pixels                          | SGD lr 0.5, batch 100, 5 epochs, /255     |
| mlp       | 784-128-128-10, ReLU, softmax output                      | SGD lr 0.01, batch 32, 3 epochs, standardised |
| dropout   | Flatten-Dense(128, relu)-Dropout(0.2)-Dense(10) (logits)  | Adam, batch 32, 5 epochs, /255            |
| cnn       | Conv2D(32, 3x3, relu)-Flatten-Dense(128, relu)-Dense(10)  | Adam, batch 32, 5 epochs, /255            |
| cnn_bn    | Conv2D(32, 3x3, no bias)-BatchNormalization-ReLU-Flatten-Dense(128, relu)-Dense(10) | Adam, batch 32, 5 epochs, /255 (not a tutorial model) |
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import losses, optimizers
from .layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, ReLU
from .models import Sequential


@dataclass(frozen=True)
class TutorialModel:
    """Everything that defines one tutorial run: layers, input layout, loss, optimizer, schedule."""

    name: str
    description: str
    make_layers: object            # () -> list of layers
    input_shape: tuple             # per example, batch axis excluded
    from_logits: bool              # does the model end in logits (True) or a softmax (False)?
    optimizer: str                 # "sgd" or "adam"
    learning_rate: float
    batch_size: int
    epochs: int
    preprocessing: str             # "scale" (pixels / 255) or "standardize" (train mean / std)
    extra: dict = field(default_factory=dict)

    def build(self, seed=0, dtype="float32"):
        """The numpy_nn model, built (weights drawn from ``seed``) and compiled with the default loss
        and optimizer."""
        model = Sequential(self.make_layers(), seed=seed, name=self.name)
        model.build(self.input_shape, dtype)
        model.compile(self.make_optimizer(), self.make_loss(), metrics=["accuracy"])
        return model

    def make_loss(self):
        return losses.SparseCategoricalCrossentropy(from_logits=self.from_logits)

    def make_optimizer(self, learning_rate=None):
        lr = self.learning_rate if learning_rate is None else learning_rate
        return optimizers.SGD(lr) if self.optimizer == "sgd" else optimizers.Adam(lr)


TUTORIAL_MODELS = {
    "softmax": TutorialModel(
        "softmax", "softmax regression 784->10", lambda: [Dense(10, activation="softmax")],
        (784,), False, "sgd", 0.5, 100, 5, "scale"),
    "mlp": TutorialModel(
        "mlp", "MLP 784-128-128-10, ReLU",
        lambda: [Dense(128, activation="relu"), Dense(128, activation="relu"), Dense(10, activation="softmax")],
        (784,), False, "sgd", 0.01, 32, 3, "standardize"),
    "dropout": TutorialModel(
        "dropout", "Flatten-Dense(128, relu)-Dropout(0.2)-Dense(10)",
        lambda: [Flatten(), Dense(128, activation="relu"), Dropout(0.2), Dense(10)],
        (28, 28), True, "adam", 0.001, 32, 5, "scale"),
    "cnn": TutorialModel(
        "cnn", "Conv2D(32, 3x3, relu)-Flatten-Dense(128, relu)-Dense(10)",
        lambda: [Conv2D(32, 3, activation="relu"), Flatten(), Dense(128, activation="relu"), Dense(10)],
        (28, 28, 1), True, "adam", 0.001, 32, 5, "scale"),
}


#: Models trainable by name (``zoo.get``, ``numpy-nn train --model NAME``) that are not tutorial models:
#: ``--model all``, the parity report, the model parity tests, the benchmarks and the CuPy check
#: iterate over :data:`TUTORIAL_MODELS` only, so adding one here costs none of them any time.
#: cnn_bn's Conv2D has no bias: the BatchNormalization after it subtracts every channel's mean, so
#: a conv bias would change nothing and its gradient would be exactly 0 -- in float32 a rounding
#: residue that Adam (which normalises gradients) would turn into steps of ~lr, differently in each
#: framework. BatchNormalization's beta takes the bias's place.
EXTRA_MODELS = {
    "cnn_bn": TutorialModel(
        "cnn_bn", "Conv2D(32, 3x3, no bias)-BatchNormalization-ReLU-Flatten-Dense(128, relu)-Dense(10)",
        lambda: [Conv2D(32, 3, use_bias=False), BatchNormalization(), ReLU(), Flatten(),
                 Dense(128, activation="relu"), Dense(10)],
        (28, 28, 1), True, "adam", 0.001, 32, 5, "scale"),
}

#: Every model ``get`` knows: the tutorial models, then the extra ones.
MODELS = {**TUTORIAL_MODELS, **EXTRA_MODELS}


def get(name):
    """The :class:`TutorialModel` called ``name`` (a tutorial model or one of :data:`EXTRA_MODELS`);
    a clear error for an unknown name."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name]
