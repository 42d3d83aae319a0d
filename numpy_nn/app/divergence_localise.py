"""Localising a divergence found by :mod:`numpy_nn.app.divergence`: which op, which unit.

:func:`localise_semantics` re-runs the first step at which the float64 runs part, op by op, in
numpy_nn and in Keras (the twin's own layers, called eagerly), on the *same* inputs: the float64 numpy
run's weights before that step, its batch and masks. Every op gets the same input on both sides (numpy's
output of the op before, or numpy's upstream gradient), so each op is judged alone, against an op-level
float64 tolerance ``MARGIN * K * eps64`` of the reference's magnitude (``max |error| / max |keras|``). The
order is the order of computation: every layer's main op (dense, conv2d, dropout, flatten, ...) and its
activation, the loss and its gradient, then backwards the activation's and the main op's gradients (of
its input, kernel and bias). The first op beyond tolerance is named; if none is, the forward and backward
agree and the runs part in the optimizer's update.

:func:`localise_rounding` re-runs the first step at which the float32 runs part (else up to ``LOOKBACK``
steps before it), each float32 run from its *own*
weights before that step, and lists the ReLU pre-activations whose sign differs between the two: a unit
within rounding of 0 that fires in one framework only.

The Keras side goes through :mod:`tf_nn.layerwise`, imported inside the functions (they are only
called by ``run_divergence``, after it): this module imports no TensorFlow itself.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..layers import Dropout
from .divergence_rule import EPS32, EPS64, longest_sum

#: Flips listed in divergence.json (the first ones in layer, example, unit order).
MAX_FLIPS = 5


def _rel(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = max(float(np.abs(theirs).max(initial=0.0)), np.finfo(np.float64).tiny)
    return float(np.abs(ours - theirs).max(initial=0.0)) / scale


def _assign_keras(trainer, weights):
    for variable, w in zip(trainer.model.weights, weights):
        variable.assign(np.asarray(w, dtype=np.dtype(variable.dtype)))


def _numpy_main(layer, h, mask):
    """numpy_nn's layer on ``h`` in training mode, stopping before its activation (cached for backward)."""
    if isinstance(layer, Dropout):
        layer.mask = mask
        return layer.forward(h, training=True)
    if getattr(layer, "activation", None) is not None:
        return layer.forward(h, training=True, logits=True)
    return layer.forward(h, training=True)


def _activation(layer):
    return getattr(layer, "activation", None)


def localise_semantics(np_model, trainer, snapshot, layer_names, verdict):
    """``{"layer", "op", "localisation"}`` for the first semantic divergence (module docstring);
    ``np_model`` / ``trainer`` are the float64 numpy model and Keras trainer (their weights are
    overwritten), ``snapshot`` the state before the first divergent step, ``layer_names`` the names
    the verdict uses for the model's layers, in order."""
    from tf_nn import layerwise as K

    weights = snapshot["before"]["np64"]
    np_model.set_weights(weights)
    _assign_keras(trainer, weights)
    x, y = snapshot["x"].astype(np.float64), snapshot["y"]
    tol = 8.0 * longest_sum(np_model, len(x)) * EPS64
    checks = []

    def check(stage, layer, op, ours, theirs):
        checks.append({"stage": stage, "layer": layer, "op": op, "error": _rel(ours, theirs)})

    masks = iter(snapshot["masks"])
    fused, n = np_model.softmax_in_loss, len(np_model.layers)
    h, trace = x, []
    for i, (layer, klayer) in enumerate(zip(np_model.layers, trainer.model.layers)):
        mask = next(masks) if isinstance(layer, Dropout) else None
        z = _numpy_main(layer, h, mask)
        check("forward", layer_names[i], type(layer).__name__.lower(), z, K.main_forward(klayer, h, mask))
        act, a, cache = _activation(layer), z, None
        if act is not None:
            a, cache = getattr(F, f"{act}_forward")(z)
            check("forward", layer_names[i], act, a, K.activation_forward(klayer, z))
        trace.append((layer_names[i], layer, klayer, h, z, act, cache, mask, fused and i == n - 1))
        h = a
    # The loss: from the logits for a fused final softmax (Keras takes the softmax's input), as training does.
    last_name, _, last_k, _, z_last, _, _, _, last_fused = trace[-1]
    out = z_last if last_fused else h
    loss = np_model.loss.forward(y, out, from_logits=True if last_fused else None)
    d = np_model.loss.backward()
    k_loss, k_d = K.loss_and_gradient(trainer.loss, y, out, last_k if last_fused else None)
    check("loss", last_name, "loss", np.float64(loss), k_loss)
    check("backward", last_name, "d loss", d, k_d)
    for name, layer, klayer, h_in, z, act, cache, mask, skip_act in reversed(trace):
        if act is not None and not skip_act:
            d_np = getattr(F, f"{act}_backward")(d, cache)
            check("backward", name, f"d {act}", d_np, K.activation_vjp(klayer, z, d))
            d = d_np
        k_dx, k_grads = K.main_vjp(klayer, h_in, mask, d)
        dx = layer.backward(d, need_dx=True)
        op = type(layer).__name__.lower()
        if dx is not None and k_dx is not None:
            check("backward", name, f"d {op} input", dx, k_dx)
        for key, g in zip(layer.params, k_grads):
            check("backward", name, f"d {op} {key}", layer.grads[key], g)
        d = dx
    bad = next((c for c in checks if c["error"] > tol), None)
    detail = {"step": snapshot["step"], "op_tolerance": tol, "ops": checks}
    if bad is None:
        detail["first_op_error"] = None
        return {"layer": verdict["layer"], "op": f"update ({type(np_model.optimizer).__name__})", "localisation": detail}
    detail["first_op_error"] = bad["error"]
    return {"layer": bad["layer"], "op": bad["op"], "localisation": detail}


def _preactivations_numpy(model, x, masks):
    """``{layer index: pre-activation}`` of every ReLU layer of the numpy model, training mode."""
    out, h, masks = {}, x, iter(masks)
    for i, layer in enumerate(model.layers):
        z = _numpy_main(layer, h, next(masks) if isinstance(layer, Dropout) else None)
        act = _activation(layer)
        if act == "relu":
            out[i] = np.array(z)
        h = layer.activate(z) if act is not None else z
    return out


def _preactivations_keras(model, trainer, x, masks):
    """The same for the Keras twin (:func:`tf_nn.layerwise.preactivations`)."""
    from tf_nn import layerwise

    masks = iter(masks)
    plan = [(next(masks) if isinstance(layer, Dropout) else None, _activation(layer) is not None,
             _activation(layer) == "relu") for layer in model.layers]
    return layerwise.preactivations(trainer.model.layers, x, plan)


def relu_flips(np_model, trainer, snapshot, tags=("np32", "tf32"), layer_names=None):
    """The ReLU pre-activations whose sign differs between the numpy model and the Keras trainer of
    runs ``tags`` (float32 by default), each from its own weights before ``snapshot``'s step, on its
    batch (cast exactly to the model's dtype) and masks:
    ``{"step", "flips": count, "first": [{"layer", "example", "unit", "numpy", "tensorflow",
    "within_rounding"}, ...]}`` (at most :data:`MAX_FLIPS` listed), or None when there is none.
    ``within_rounding``: both values within ``8 K eps`` of that layer's largest |pre-activation|.
    ``layer_names``: the names to report for the model's layers (default: its own)."""
    layer_names = layer_names or [layer.name for layer in np_model.layers]
    x, masks = snapshot["x"].astype(np_model.layers[0].dtype), snapshot["masks"]
    np_model.set_weights(snapshot["before"][tags[0]])
    _assign_keras(trainer, snapshot["before"][tags[1]])
    ours, theirs = _preactivations_numpy(np_model, x, masks), _preactivations_keras(np_model, trainer, x, masks)
    bound = 8.0 * longest_sum(np_model, len(x)) * (EPS32 if x.dtype == np.float32 else EPS64)
    flips, count = [], 0
    for i, z in ours.items():
        zk, name = theirs[i], layer_names[i]
        where = np.argwhere((z > 0) != (zk > 0))
        count += len(where)
        scale = float(np.abs(z).max(initial=0.0))
        for index in where[:MAX_FLIPS - len(flips)]:
            example, unit = int(index[0]), [int(i) for i in index[1:]]
            zn, zt = float(z[tuple(index)]), float(zk[tuple(index)])
            flips.append({"layer": name, "example": example, "unit": unit[0] if len(unit) == 1 else unit,
                          "numpy": zn, "tensorflow": zt,
                          "within_rounding": bool(max(abs(zn), abs(zt)) <= bound * scale)})
    return {"step": snapshot["step"], "flips": count, "first": flips} if count else None


def localise_rounding(np_model, trainer, snapshots):
    """The cause of the first ``rounding`` step: :func:`relu_flips` at that step, else at the latest
    of the steps before it kept in ``snapshots`` (latest first) that has one; None if none has (the
    float32 runs then part by summation order alone, or by a switch of another kind). The models'
    weights are overwritten."""
    for snapshot in snapshots:
        found = relu_flips(np_model, trainer, snapshot)
        if found is not None:
            return found
    return None


def explain(result):
    """The verdict in one sentence."""
    kind, t, layer = result["kind"], result["first_step"], result["layer"]
    steps = result["settings"]["steps"]
    if kind == "none":
        return f"The four runs stay within rounding of each other for all {steps} steps."
    if kind == "semantics":
        if result["op"].startswith("update"):
            return (f"The float64 runs part beyond float64 rounding at step {t}, yet that step's forward and backward "
                    f"agree op by op, so the two frameworks' {result['op'][8:-1]} updates differ (first in layer "
                    f"'{layer}'): a real difference, not rounding.")
        err = result["localisation"]["first_op_error"]
        return (f"The float64 runs part beyond float64 rounding at step {t}; re-run op by op on that step's inputs, "
                f"the first op that differs is '{result['op']}' in layer '{layer}' (relative error {err:.1e}): "
                "a real difference, not rounding.")
    if kind == "precision":
        return (f"The float64 runs agree, but {result['framework']}'s float32 run drifts from its float64 run "
                f"more than {result['rule']['ratio']:g} times faster than the other framework's from step {t} "
                f"(layer '{layer}', {result['param']}): a float32 loss of accuracy in {result['framework']}.")
    sentence = (f"The float64 runs agree and each float32 run stays as close to them as the other, but the "
                f"float32 runs part beyond rounding at step {t} (layer '{layer}')")
    cause = result.get("cause")
    if cause:
        f = cause["first"][0]
        when = "that step" if cause['step'] == t else f"step {cause['step']}"
        sentence += (f": at {when} the ReLU pre-activation of unit {f['unit']} of layer '{f['layer']}' for example "
                     f"{f['example']} of the batch is {f['numpy']:.2e} in numpy_nn and {f['tensorflow']:.2e} in TensorFlow"
                     f"{', within rounding of 0' if f['within_rounding'] else ''}, so it fires in one framework only"
                     f" ({cause['flips']} such unit{'s' if cause['flips'] != 1 else ''} at that step)")
    return sentence + "."
