"""Test fixtures: a numpy_nn model and its Keras twin in lockstep, on the same batches and dropout masks.

These are the moving parts of the model-level parity checks (``test_parity_models.py``,
``test_parity_optimizers.py``, ``test_oracle.py``, ``python -m parity_tests.report``):

    np_model = numpy_nn.zoo.get("dropout").build(seed=0)
    masks = draw_dropout_masks(np_model, batch_size=32, rng=0)
    ours = numpy_step(np_model, x, y, masks)         # outputs, loss, gradients; no update
    theirs = keras_step(np_model, x, y, masks)       # the same for the Keras twin

Both sides run the code that trains: numpy_nn's ``Sequential.train_on_batch`` (with a zero learning
rate, so nothing moves) and the one Keras step, :class:`tf_nn.training.KerasTrainer` -- its
forward-and-backward half (:meth:`~tf_nn.training.KerasTrainer.gradients`) for one batch, its
``train_on_batch`` (the compiled step, injected masks as arguments) for training runs.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from numpy_nn import layers as np_layers
from numpy_nn import optimizers as np_optimizers
from tf_nn import optimizers as tf_optimizers
from tf_nn.training import KerasTrainer


def draw_dropout_masks(np_model, batch_size, rng):
    """One boolean keep-mask per Dropout layer of ``np_model`` (in order), ``P(keep) = 1 - rate``,
    for a batch of ``batch_size``, drawn as numpy_nn draws its own: ``rng.random(shape) >= rate``."""
    rng = np.random.default_rng(rng)
    return [rng.random((batch_size,) + tuple(layer.input_shape)) >= layer.rate
            for layer in np_model.layers if isinstance(layer, np_layers.Dropout)]


def inject_numpy_masks(np_model, masks):
    drops = [layer for layer in np_model.layers if isinstance(layer, np_layers.Dropout)]
    if len(drops) != len(masks or []):
        raise ValueError(f"inject_numpy_masks: the model has {len(drops)} Dropout layers, got {len(masks or [])} masks")
    for layer, mask in zip(drops, masks or []):
        layer.mask = mask


def numpy_step(np_model, x, y, masks=(), loss=None):
    """numpy_nn's outputs, loss and gradients for one batch in training mode, without changing the
    weights: ``(outputs, loss, [grad, ...])``, gradients in ``get_weights`` order.

    Runs ``Sequential.train_on_batch`` with a zero-learning-rate SGD, so the loss (including the
    fused-softmax logic) and the backward pass are exactly what training uses. ``loss`` replaces the
    compiled loss for this call if given."""
    saved = np_model.optimizer, np_model.loss
    try:
        np_model.optimizer = np_optimizers.SGD(0.0)
        if loss is not None:
            np_model.loss = loss
        if np_model.loss is None:
            raise ValueError("numpy_step: compile the model or pass a loss")
        inject_numpy_masks(np_model, list(masks))
        outputs = np_model.forward(x, training=True).copy()
        inject_numpy_masks(np_model, list(masks))
        value, _ = np_model.train_on_batch(x, y)
        grads = [g.copy() for g, _ in np_model.trainable_pairs()]
    finally:
        np_model.optimizer, np_model.loss = saved
    return outputs, value, grads


def keras_step(np_model, x, y, masks=(), loss=None):
    """The Keras twin of ``np_model`` (compiled; as it is now): its ``(outputs, loss, [grad, ...])``
    for one batch in training mode, without an update -- the forward-and-backward half of the one
    Keras step (:meth:`tf_nn.training.KerasTrainer.gradients`). ``loss`` (a numpy_nn loss) replaces
    the compiled loss."""
    masks = list(masks)
    trainer = KerasTrainer(np_model, inject_masks=bool(masks), loss=loss)
    return trainer.gradients(x, y, masks if trainer.inject_masks else None)


def run_optimizers(np_optimizer, initial, gradients, dtype=None):
    """Apply the same gradient sequence with a numpy_nn optimizer and its Keras twin.

    ``initial``: list of parameter arrays; ``gradients``: list of steps, each a list of arrays like
    ``initial``. Returns ``(numpy_history, keras_history)``: the parameters after every step."""
    dtype = dtype or np.asarray(initial[0]).dtype.name
    keras_opt = tf_optimizers.from_numpy(np_optimizer, dtype=dtype)
    params = [np.array(p, copy=True) for p in initial]
    variables = [tf.Variable(np.array(p, copy=True)) for p in initial]
    ours, theirs = [], []
    for step_grads in gradients:
        np_optimizer.apply_gradients(list(zip(step_grads, params)))
        keras_opt.apply_gradients([(tf.convert_to_tensor(g), v) for g, v in zip(step_grads, variables)])
        ours.append([p.copy() for p in params])
        theirs.append([v.numpy() for v in variables])
    return ours, theirs


def run_optimizers_with_oracle(np_optimizer, initial, gradients):
    """:func:`run_optimizers` on float32 parameters and gradients, and again on the same numbers in
    float64 with fresh optimizers of the same settings: ``{"np32", "tf32", "np64", "tf64"}`` histories."""
    import copy

    initial32 = [np.asarray(p, dtype=np.float32) for p in initial]
    grads32 = [[np.asarray(g, dtype=np.float32) for g in step] for step in gradients]
    runs = {}
    for tag, dtype in (("32", np.float32), ("64", np.float64)):
        ours, theirs = run_optimizers(copy.deepcopy(np_optimizer), [p.astype(dtype) for p in initial32],
                                      [[g.astype(dtype) for g in step] for step in grads32])
        runs["np" + tag], runs["tf" + tag] = ours, theirs
    return runs


# --- the tutorial models on real digits ----------------------------------------------------
_SAMPLE_CACHE = {}


def mnist_sample(dtype="float32"):
    """numpy_nn's bundled MNIST sample (5,000 training digits): images scaled to [0, 1] in ``dtype``
    (N, 28, 28), and int64 labels. Cached."""
    from pathlib import Path

    import numpy_nn

    dtype = np.dtype(dtype).name
    if dtype not in _SAMPLE_CACHE:
        path = Path(numpy_nn.__file__).parent / "data" / "mnist_sample.npz"
        with np.load(path, allow_pickle=False) as d:
            _SAMPLE_CACHE[dtype] = ((d["x_train"] / 255.0).astype(dtype), d["y_train"].astype(np.int64))
    return _SAMPLE_CACHE[dtype]


def tutorial_batch(tutorial, dtype, start, size, one_hot=False):
    """Digits ``start:start+size`` of the sample, shaped for ``tutorial`` (a ``numpy_nn.zoo`` entry)."""
    x, y = mnist_sample(dtype)
    x, y = x[start:start + size].reshape((size,) + tuple(tutorial.input_shape)), y[start:start + size]
    return x, (np.eye(10, dtype=dtype)[y] if one_hot else y)


def tutorial_loss(tutorial, one_hot=False):
    """The tutorial's loss with the chosen label kind (same ``from_logits``)."""
    from numpy_nn import losses as np_losses

    cls = np_losses.CategoricalCrossentropy if one_hot else np_losses.SparseCategoricalCrossentropy
    return cls(from_logits=tutorial.from_logits)


def tutorial_step_pair(tutorial, dtype, seed, start, size, one_hot=False, mask_seed=0):
    """Build ``tutorial`` from ``seed`` and its Keras twin; run one batch through both.
    Returns ``(parameter names, numpy (outputs, loss, grads), keras (outputs, loss, grads))``."""
    model = tutorial.build(seed=seed, dtype=dtype)
    x, y = tutorial_batch(tutorial, dtype, start, size, one_hot)
    masks = draw_dropout_masks(model, size, mask_seed)
    loss = tutorial_loss(tutorial, one_hot)
    theirs = keras_step(model, x, y, masks, loss=loss)  # the twin of the untouched model
    ours = numpy_step(model, x, y, masks, loss=loss)
    names = [f"layer {i} {type(layer).__name__} {k}" for i, layer in enumerate(model.layers) for k, _ in layer.weights]
    return names, ours, theirs


def trajectory_optimizer(tutorial, kind, dtype):
    """SGD at the tutorial's learning rate (0.01 for the models trained with Adam), or Adam with its
    defaults. In float64 the hyperparameters are rounded to float32 values: Keras casts Python-float
    hyperparameters through float32 (``ops.cast``), so that is what a float64 Keras optimizer uses."""
    exact = (lambda v: float(np.float32(v))) if np.dtype(dtype) == np.float64 else float
    if kind == "sgd":
        return np_optimizers.SGD(exact(tutorial.learning_rate if tutorial.optimizer == "sgd" else 0.01))
    return np_optimizers.Adam(exact(0.001), exact(0.9), exact(0.999), exact(1e-7))


# --- the float64 oracle of a float32 run -------------------------------------------------------
def build_pair(tutorial, seed, dtype="float32"):
    """``tutorial`` built from ``seed`` in float32, and the same model in float64 holding exactly the
    float32 weights: the float64 oracle of a float32 run must start from the same numbers."""
    model = tutorial.build(seed=seed, dtype=dtype)
    oracle = tutorial.build(seed=seed, dtype="float64")
    oracle.set_weights([np.asarray(w, dtype=np.float64) for w in model.get_weights()])
    return model, oracle


def as_float64(value):
    """Floating-point arrays cast to float64 (the float32 numbers, held exactly); anything else as is."""
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value.astype(np.float64)
    return value


def tutorial_step_oracle(tutorial, seed, start, size, one_hot=False, mask_seed=0):
    """:func:`tutorial_step_pair` in float32, and its float64 oracle on the same weights, digits and
    masks. Returns ``(names, {"np32", "tf32", "np64", "tf64"}: (outputs, loss, grads))``."""
    model, oracle = build_pair(tutorial, seed)
    x, y = tutorial_batch(tutorial, "float32", start, size, one_hot)
    masks = draw_dropout_masks(model, size, mask_seed)
    loss = tutorial_loss(tutorial, one_hot)
    runs = {}
    for tag, m, xb, yb in (("32", model, x, y), ("64", oracle, as_float64(x), as_float64(y))):
        runs["tf" + tag] = keras_step(m, xb, yb, masks, loss=loss)
        runs["np" + tag] = numpy_step(m, xb, yb, masks, loss=loss)
    names = [f"layer {i} {type(layer).__name__} {k}" for i, layer in enumerate(model.layers) for k, _ in layer.weights]
    return names, runs


class _KerasRun:
    """The Keras twin of a compiled numpy model, trained by the one Keras step,
    :meth:`tf_nn.training.KerasTrainer.train_on_batch` (the compiled step; masks as its arguments)."""

    def __init__(self, np_model):
        self.trainer = KerasTrainer(np_model, inject_masks=True)

    def step(self, x, y, masks):
        return self.trainer.train_on_batch(x, y, masks if self.trainer.inject_masks else None)[0]

    def get_weights(self):
        return self.trainer.get_weights()


class _NumpyRun:
    def __init__(self, np_model, np_optimizer, loss):
        self.model = np_model
        self.model.compile(np_optimizer, loss)

    def step(self, x, y, masks):
        inject_numpy_masks(self.model, masks)
        return self.model.train_on_batch(x, y)[0]

    def get_weights(self):
        return self.model.get_weights()


def tutorial_trajectory_oracle(tutorial, kind, steps=50, batch_size=32, seed=0, on_step=None):
    """Four training runs of ``tutorial`` in lockstep from the same start: numpy_nn and Keras, each in
    float32 and in float64 (the float64 ones from the float32 weights, on the float32 digits cast
    exactly). Same batches (the sample's first ``steps * batch_size`` digits in order), same dropout
    masks, the same optimizer settings (float32-representable, so that both float64 runs compute the
    same formula: Keras casts its hyperparameters through float32).

    ``on_step(step, weights)`` is called after every step with ``weights[tag]`` the parameter list of
    run ``tag`` in "np32", "tf32", "np64", "tf64". Returns ``(names, losses)``, ``losses[tag]`` the
    per-step losses."""
    model, oracle = build_pair(tutorial, seed)
    runs = {}
    for tag, m in (("32", model), ("64", oracle)):
        opt = trajectory_optimizer(tutorial, kind, "float64")  # float32-exact settings in both dtypes
        runs["np" + tag] = _NumpyRun(m, opt, tutorial.make_loss())  # compiles m: the twin copies its settings
        runs["tf" + tag] = _KerasRun(m)
    rng = np.random.default_rng(seed)
    losses = {tag: [] for tag in runs}
    for step in range(steps):
        x, y = tutorial_batch(tutorial, "float32", step * batch_size, batch_size)
        masks = draw_dropout_masks(model, batch_size, rng)
        for tag, run in runs.items():
            xb = x if tag.endswith("32") else as_float64(x)
            losses[tag].append(run.step(xb, y, list(masks)))
        if on_step is not None:
            on_step(step + 1, {tag: run.get_weights() for tag, run in runs.items()})
    names = [f"layer {i} {type(layer).__name__} {k}" for i, layer in enumerate(model.layers) for k, _ in layer.weights]
    return names, losses
