"""``divergence.png``: per layer, the four gaps of :mod:`numpy_nn.app.divergence` against the step.

One panel per layer with weights; in each, the ``max`` gap (``max|a - b| / max|w|``, the largest over
the layer's parameters) of each pair of runs on a log scale (a gap of exactly 0 is not drawn), dotted,
the rule's bounds for the float64 pair (``semantics`` above it) and the float32 pair (``rounding``), the
first divergent step of the verdict as a solid vertical line, the first jump of the float64 gap (a
semantic verdict's consequence) dash-dotted and, when it differs from the verdict's, the step at which
the float32 runs part (the ``rounding`` finding) dotted. matplotlib is imported inside
(through :func:`numpy_nn.app.plots._figure`).
"""
from __future__ import annotations

import numpy as np

from .divergence_rule import GAPS, Thresholds
from .plots import _finish, _figure

#: One colour and style per gap: the float64 pair solid black, the float32 pair red, the drifts dashed.
STYLES = {"np64-tf64": dict(color="black", ls="-"), "np32-tf32": dict(color="tab:red", ls="-"),
          "np32-np64": dict(color="tab:blue", ls="--"), "tf32-tf64": dict(color="tab:orange", ls="--")}


def layer_gaps(result):
    """``{layer: {gap: per-step max over the layer's parameters}}`` in layer order, and the two bounds
    of the rule (``"float64 bound"`` for np64-tf64, ``"float32 bound"`` for np32-tf32), each the bound
    of the parameter whose gap is nearest to it (largest gap / bound) at that step."""
    thresholds = Thresholds(result["rule"]["K (longest sum of one step)"])
    out = {}
    for param, layer in zip(result["params"], result["layers"]):
        g = {gap: np.asarray(result["series"]["gaps"][gap][param]["max"], np.float64) for gap in GAPS}
        bounds = {"float64 bound": ("np64-tf64", thresholds.semantic_bound(g["np32-np64"], g["tf32-tf64"])),
                  "float32 bound": ("np32-tf32", thresholds.rounding_bound(g["np64-tf64"]))}
        per = out.setdefault(layer, {})
        for gap, values in g.items():
            per[gap] = values if gap not in per else np.maximum(per[gap], values)
        for name, (gap, bound) in bounds.items():
            ratio = g[gap] / bound
            if name not in per:
                per[name], per[name + " ratio"] = bound, ratio
            else:
                nearer = ratio > per[name + " ratio"]
                per[name] = np.where(nearer, bound, per[name])
                per[name + " ratio"] = np.maximum(ratio, per[name + " ratio"])
    return out


def _limits(gaps):
    """The y-range: the gaps with a margin, and the bounds where they are within 1000x of the largest
    gap (a bound far above every gap, as the float32 one once the float64 runs have parted, is off-scale)."""
    values = np.concatenate([gaps[gap] for gap in GAPS])
    positive = values[values > 0]
    if not positive.size:
        return 1e-17, 1.0
    lo, hi = positive.min() / 30, positive.max()
    bounds = np.concatenate([gaps["float64 bound"], gaps["float32 bound"]])
    return min(lo, bounds.min() / 3), max(hi * 30, min(bounds.max() * 3, hi * 1e3))


def plot_divergence(result, path=None):
    """Draw (and write to ``path``) the figure of ``result`` (:func:`~numpy_nn.app.divergence.run_divergence`)."""
    per_layer = layer_gaps(result)
    steps = np.asarray(result["series"]["steps"])
    fig = _figure(5.2 * len(per_layer), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(per_layer), squeeze=False)[0])
    rounding = (result.get("findings") or {}).get("rounding") or {}
    jump = ((result.get("findings") or {}).get("semantics") or {}).get("jump")
    for ax, (layer, gaps) in zip(axes, per_layer.items()):
        for gap in GAPS:
            shown = np.where(gaps[gap] > 0, gaps[gap], np.nan)
            if np.isfinite(shown).any():
                ax.semilogy(steps, shown, lw=1.2, label=gap, **STYLES[gap])
        for name, color in (("float64 bound", "black"), ("float32 bound", "tab:red")):
            ax.semilogy(steps, gaps[name], lw=0.8, ls=":", color=color, label=f"{name} (rule)")
        ax.set_ylim(*_limits(gaps))
        if result.get("first_step"):
            ax.axvline(result["first_step"], color="tab:green", lw=1.5, label=f"{result['kind']}: step {result['first_step']}")
        if jump:
            ax.axvline(jump["step"], color="tab:purple", ls="-.", lw=1.2,
                       label=f"float64 gap jumps {jump['factor']:.0f}x: step {jump['step']}")
        if rounding.get("first_step") and rounding["first_step"] != result.get("first_step"):
            ax.axvline(rounding["first_step"], color="tab:green", ls=":", lw=1.5,
                       label=f"float32 runs part: step {rounding['first_step']}")
        ax.set_title(f"layer '{layer}'" + (" (verdict)" if layer == result.get("layer") else ""))
        ax.set_xlabel("training step")
        ax.set_ylabel("max |a - b| / max |w|")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    s = result["settings"]
    where = f", step {result['first_step']}, layer '{result['layer']}'" if result.get("first_step") else ""
    fig.suptitle(f"{s['model']} ({s['optimizer']}, batch {s['batch_size']}, seed {s['seed']}): "
                 f"{result['kind']}{where}", fontsize=11)
    return _finish(fig, path)
