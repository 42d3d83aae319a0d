"""Side-by-side timing: warm-up, then rounds in which every contender runs a block of timed calls.

Each contender is a zero-argument callable that does one unit of work *and waits for it*: GPU
callables synchronise their device before returning, so the clock never stops on queued work.
Contenders take turns round by round (the order reversed every other round), so a noisy neighbour or
a frequency change hits all of them alike, and the ratio of two medians is measured side by side.
"""
from __future__ import annotations

import gc
import math
import statistics
import time

clock = time.perf_counter


def quartiles(values):
    """(q1, median, q3) by linear interpolation (numpy's default), for a non-empty list."""
    v = sorted(values)
    def q(p):
        pos = p * (len(v) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (pos - lo)
    return q(0.25), q(0.5), q(0.75)


def summarise(seconds, rounds_seconds):
    """Median, quartiles and interquartile range in milliseconds, plus the per-round medians."""
    q1, med, q3 = quartiles(seconds)
    return {
        "median_ms": med * 1e3, "q1_ms": q1 * 1e3, "q3_ms": q3 * 1e3, "iqr_ms": (q3 - q1) * 1e3,
        "min_ms": min(seconds) * 1e3, "calls": len(seconds),
        "round_medians_ms": [statistics.median(r) * 1e3 for r in rounds_seconds if r],
    }


def measure(contenders, warmup, rounds, budget_s, min_calls, max_calls):
    """Time every callable in ``contenders`` (name -> callable); returns name -> summary dict.

    Warm-up calls are untimed (the first traces a tf.function, fills caches, allocates optimizer
    state); their last duration sets how many calls per round fit ``budget_s`` seconds in total.
    A contender that raises gets ``{"error": message}`` and the others go on.
    """
    alive, results, per_round = {}, {}, {}
    for name, fn in contenders.items():
        try:
            last = 0.0
            for _ in range(max(warmup, 1)):
                t0 = clock()
                fn()
                last = clock() - t0
        except Exception as exc:  # a failing contender must not sink the case
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        per_call = max(last, 1e-6)
        calls = int(min(max(math.ceil(budget_s / per_call / rounds), math.ceil(min_calls / rounds)), max(max_calls // rounds, 1)))
        alive[name] = (fn, calls)
        per_round[name] = []
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = list(alive.items())
            if r % 2:
                order.reverse()
            for name, (fn, calls) in order:
                times = []
                for _ in range(calls):
                    t0 = clock()
                    fn()
                    times.append(clock() - t0)
                per_round[name].append(times)
    finally:
        if was_enabled:
            gc.enable()
    for name, rounds_seconds in per_round.items():
        results[name] = summarise([t for r in rounds_seconds for t in r], rounds_seconds)
    return results


def ratio(a, b):
    """``a / b`` of two summaries' medians, with the spread of the per-round ratios; None if either is missing."""
    if not a or not b or "median_ms" not in a or "median_ms" not in b:
        return None
    rounds = [x / y for x, y in zip(a["round_medians_ms"], b["round_medians_ms"]) if y > 0]
    out = {"ratio": a["median_ms"] / b["median_ms"]}
    if rounds:
        out["round_min"], out["round_max"] = min(rounds), max(rounds)
    return out
