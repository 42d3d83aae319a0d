"""Where two trainings part: numpy_nn and TensorFlow, each in float32 and float64, in lockstep.

    result = run_divergence("dropout", steps=400, optimizer="adam", data=load_mnist(...))
    result["kind"], result["first_step"], result["layer"], result["op"]

Four runs start from one set of weights (the float32 weights of ``spec.build(seed)``; the float64
runs hold exactly those numbers) and take the same batches (:func:`numpy_nn.batching.epoch_batch_indices`
of ``(seed, epoch)``) with the same dropout keep-masks (those the float32 numpy model draws from its seed,
as in ``numpy-nn train``, injected into the three other runs): numpy_nn's
``Sequential.train_on_batch`` and the one Keras step (``tf_nn.training.KerasTrainer``), in float32 and
in float64. The optimizer's hyperparameters are float32 numbers in all four runs (Keras casts its
Python-float hyperparameters through float32, so only then do both float64 runs compute one formula).
After every step the gaps of :data:`~numpy_nn.app.divergence_rule.GAPS` are recorded; the rule that
turns them into a verdict, and its derivation, is :mod:`numpy_nn.app.divergence_rule`; the localisers
(which op, which unit) are :mod:`numpy_nn.app.divergence_localise`.

TensorFlow is imported only inside :func:`run_divergence` (through :func:`numpy_nn.app.driver.load_tf_trainer`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import optimizers, zoo
from ..batching import epoch_batch_indices
from ..errors import TrainingDiverged
from ..layers import Dropout
from .divergence_localise import explain, localise_rounding, localise_semantics, relu_flips
from .divergence_rule import (EPS32, EPS64, FRAMEWORKS, GAPS, METRICS, RUNS, Thresholds, classify,  # noqa: F401
                              closest, longest_sum, step_flags)
from .driver import load_tf_trainer, prepare_inputs

# ----------------------------------------------------------------------------------------------
# The four runs
# ----------------------------------------------------------------------------------------------

@dataclass
class Plant:
    """Hooks for planted differences (tests): ``on_build(tag, obj)`` once per run after it is made,
    ``before_step(step, tag, obj)`` before each step (1-based). ``obj`` is the numpy_nn
    ``Sequential`` for "np32"/"np64" and the ``KerasTrainer`` for "tf32"/"tf64"."""

    on_build: object = None
    before_step: object = None


def make_optimizer(spec, kind, learning_rate=None, float32_exact=True):
    """SGD or Adam (Keras's defaults). The learning rate: the given one, else the tutorial's when it
    trains with ``kind``, else 0.01 (SGD) / 0.001 (Adam). ``float32_exact``: every hyperparameter
    rounded to float32 (what Keras computes with, since it casts Python floats through float32);
    False: the Python floats as ``numpy-nn train`` passes them (numpy_nn then computes with 0.9, 0.999,
    1e-7 in double where Keras uses their float32 roundings: a real, if small, difference)."""
    exact = (lambda v: float(np.float32(v))) if float32_exact else float
    if learning_rate is None:
        learning_rate = spec.learning_rate if spec.optimizer == kind else {"sgd": 0.01, "adam": 0.001}[kind]
    if kind == "sgd":
        return optimizers.SGD(exact(learning_rate))
    if kind == "adam":
        return optimizers.Adam(exact(learning_rate), exact(0.9), exact(0.999), exact(1e-7))
    raise ValueError(f"unknown optimizer {kind!r}; expected 'sgd' or 'adam'")


def build_runs(spec, seed, kind, learning_rate=None, plant=None, float32_exact=True):
    """``({tag: (numpy model or KerasTrainer)}, the float32 model)``: the four runs from one start."""
    m32 = spec.build(seed=seed, dtype="float32")
    m64 = spec.build(seed=seed, dtype="float64")
    m64.set_weights([np.asarray(w, np.float64) for w in m32.get_weights()])
    KerasTrainer = load_tf_trainer()
    runs = {}
    for tag, model in (("32", m32), ("64", m64)):
        model.compile(make_optimizer(spec, kind, learning_rate, float32_exact), spec.make_loss())
        runs["np" + tag] = model
        runs["tf" + tag] = KerasTrainer(model, inject_masks=True, seed=seed)  # before the model trains
    if plant is not None and plant.on_build is not None:
        for tag, obj in runs.items():
            plant.on_build(tag, obj)
    return {tag: runs[tag] for tag in RUNS}, m32


def batches_for(n, batch_size, seed, steps):
    """The first ``steps`` batches (index arrays) of epochs 0, 1, ... (``Sequential.fit``'s order)."""
    out, epoch = [], 0
    while len(out) < steps:
        out += epoch_batch_indices(n, batch_size, seed, epoch)
        epoch += 1
    return out[:steps]


def step_run(tag, obj, x, y, masks):
    """One training step of run ``tag`` on ``(x, y)`` (x cast exactly to the run's dtype) with the
    keep-masks ``masks``; ``masks=None`` (the float32 numpy run): its Dropout layers draw their own.
    Returns ``(loss, masks)``, the masks this step applied."""
    xb = x.astype(np.float64) if tag.endswith("64") else x
    if tag.startswith("np"):
        drops = [layer for layer in obj.layers if isinstance(layer, Dropout)]
        for layer, mask in zip(drops, masks or []):
            layer.mask = mask
        loss = obj.train_on_batch(xb, y)[0]
        return loss, [layer.last_mask.copy() for layer in drops]
    return obj.train_on_batch(xb, y, list(masks) if obj.inject_masks else None)[0], masks


def gap_metrics(a, b, ref):
    """``(max, norm, median)`` of ``|a - b|`` relative to ``ref``'s size (module docstring)."""
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).ravel()
    ref = np.abs(np.asarray(ref, np.float64)).ravel()
    tiny = np.finfo(np.float64).tiny
    scale, norm = max(float(ref.max(initial=0.0)), tiny), max(float(np.linalg.norm(ref)), tiny)
    return (float(diff.max(initial=0.0)) / scale, float(np.linalg.norm(diff)) / norm,
            float(np.median(diff)) / scale if diff.size else 0.0)


def record_gaps(weights, gaps):
    """Append this step's gaps (every pair, every parameter) to ``gaps[gap][metric]`` (lists of rows)."""
    ref = weights["np64"]
    for name, (a, b) in GAPS.items():
        rows = [gap_metrics(wa, wb, r) for wa, wb, r in zip(weights[a], weights[b], ref)]
        for k, metric in enumerate(METRICS):
            gaps[name][metric].append([row[k] for row in rows])


def run_divergence(model, steps, data, optimizer=None, batch_size=None, seed=0, learning_rate=None, plant=None,
                   progress=None, localise=True, float32_exact=True):
    """Train ``model`` (a :mod:`numpy_nn.zoo` name or a ``TutorialModel``) the four ways for ``steps``
    steps on ``data`` (``((x_train, y_train), test)`` uint8 images, as ``load_mnist`` returns); record
    the gaps after every step; classify (:func:`classify`) and localise
    (:mod:`numpy_nn.app.divergence_localise`). Returns the JSON-ready result dict (divergence.json).
    ``progress(step, steps)`` is called after every step; ``plant`` (a :class:`Plant`) plants a
    difference; ``float32_exact``: see :func:`make_optimizer`."""

    spec = zoo.get(model) if isinstance(model, str) else model
    kind = optimizer or spec.optimizer
    batch_size = batch_size or spec.batch_size
    (train_images, y_train), test = data
    x_train, _ = prepare_inputs(spec, train_images, test[0][:1])
    y_train = np.asarray(y_train, np.int64)
    runs, m32 = build_runs(spec, seed, kind, learning_rate, plant, float32_exact)
    thresholds = Thresholds(longest_sum(m32, batch_size))
    names = [f"{layer.name}/{k}" for layer in m32.layers for k, _ in layer.weights]
    layers = [layer.name for layer in m32.layers for _ in layer.weights]
    gaps = {g: {m: [] for m in METRICS} for g in GAPS}
    losses = {tag: [] for tag in RUNS}
    before = {tag: obj.get_weights() for tag, obj in runs.items()}
    snapshots, recent = {}, []
    for t, idx in enumerate(batches_for(len(x_train), batch_size, seed, steps), start=1):
        x, y = x_train[idx], y_train[idx]
        masks = None  # drawn by the float32 numpy run, the first
        for tag, obj in runs.items():
            if plant is not None and plant.before_step is not None:
                plant.before_step(t, tag, obj)
            try:
                loss, masks = step_run(tag, obj, x, y, masks)
            except TrainingDiverged as e:  # the message names the model, the run and the step
                raise e.where(step=t, reason=f"{spec.name} ({tag}, step {t}): {e.reason}") from None
            losses[tag].append(float(loss))
        after = {tag: obj.get_weights() for tag, obj in runs.items()}
        record_gaps(after, gaps)
        state = dict(before=before, x=x, y=y, masks=masks)
        _snapshot(snapshots, recent, t, {g: {m: gaps[g][m][-1:] for m in METRICS} for g in GAPS}, thresholds, state)
        _jump(snapshots, t, gaps["np64-tf64"]["max"], thresholds.margin, state)
        before = after
        if progress is not None:
            progress(t, steps)
    series = {"params": names, "layers": layers, "gaps": gaps}
    verdict = classify(series, thresholds)
    verdict.update(op=None, cause=None, closest=closest(series, thresholds))
    if localise and verdict["kind"] == "semantics":
        verdict.update(localise_semantics(runs["np64"], runs["tf64"], snapshots["semantics"],
                                          [layer.name for layer in m32.layers], verdict))
        if "jump" in snapshots:  # the consequence: the first step the float64 gap jumps, and its ReLU switches
            jump = snapshots["jump"]
            flips = relu_flips(runs["np64"], runs["tf64"], jump, ("np64", "tf64"), [layer.name for layer in m32.layers])
            verdict["findings"]["semantics"]["jump"] = {"step": jump["step"], "factor": jump["factor"], "relu_flips": flips}
    if localise and verdict["findings"]["rounding"] is not None and "rounding" in snapshots:
        cause = localise_rounding(runs["np32"], runs["tf32"], snapshots["rounding"])
        verdict["findings"]["rounding"]["cause"] = cause
        if verdict["kind"] == "rounding":
            verdict["cause"] = cause
    settings = {"model": spec.name, "description": spec.description, "steps": steps, "optimizer": kind,
                "hyperparameters": runs["np64"].optimizer.get_config(),
                "float32_exact_hyperparameters": float32_exact, "batch_size": batch_size, "seed": seed,
                "train_images": len(x_train), "preprocessing": spec.preprocessing}
    result = {"settings": settings, "rule": thresholds.describe(), **verdict,
              "series": {"steps": list(range(1, steps + 1)), "loss": losses,
                         "gaps": {g: {p: {m: [row[j] for row in gaps[g][m]] for m in METRICS}
                                      for j, p in enumerate(names)} for g in GAPS}},
              "params": names, "layers": layers}
    result["explanation"] = explain(result)
    return result


#: Steps before the first ``rounding`` step whose float32 states are kept, to look for the ReLU switch
#: that caused it (under SGD its effect can take a few steps to pass the bound).
LOOKBACK = 4


def _snapshot(snapshots, recent, t, last, thresholds, state):
    """Keep ``state`` (the weights before step ``t``, its batch and masks) for the first step that is
    flagged ``semantics``, and the float32 states of the first step flagged ``rounding`` and of the
    :data:`LOOKBACK` steps before it, latest first (the localisers re-run those steps)."""
    flags = step_flags({"gaps": last}, thresholds)
    state = {**state, "step": t}
    recent.append({**state, "before": {tag: state["before"][tag] for tag in ("np32", "tf32")}})
    del recent[:-(LOOKBACK + 1)]
    if "semantics" not in snapshots and flags["semantics"].any():
        snapshots["semantics"] = state
    if "rounding" not in snapshots and flags["rounding"].any():
        snapshots["rounding"] = recent[::-1]


def _jump(snapshots, t, gap64, factor, state):
    """Keep the state before the first step (after the first) at which the float64 runs' largest
    ``max`` gap grows more than ``factor`` times in one step: a discrete event (a unit switching) that
    a semantic difference set off. Stored with its growth factor."""
    if "jump" in snapshots or len(gap64) < 2:
        return
    now, then = max(gap64[-1]), max(gap64[-2])
    if then > 0 and now > factor * then:
        snapshots["jump"] = {**state, "step": t, "factor": now / then}
