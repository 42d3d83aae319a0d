"""A dependency-free progress bar for long loops (one line per epoch).

On a terminal it redraws in place (at most ten times a second); elsewhere (CI logs, pipes) it
prints only the finished line, so logs stay readable.
"""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """``bar = ProgressBar(total, "Epoch 1/5"); bar.update(k, loss=..., accuracy=...); bar.close()``.

    ``update`` takes the number of steps done so far (not an increment) plus metrics to show, and
    ``samples`` (images seen so far) for an images-per-second rate.
    """

    def __init__(self, total, desc="", stream=None, width=24, enabled=True):
        self.total, self.desc, self.width = max(int(total), 1), desc, width
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.interactive = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self._last_draw = time.perf_counter()
        self.done, self.metrics, self.samples = 0, {}, 0

    def update(self, done, samples=None, **metrics):
        self.done, self.metrics = done, metrics
        if samples is not None:
            self.samples = samples
        now = time.perf_counter()
        if self.interactive and (now - self._last_draw > 0.1 or done >= self.total):
            self._last_draw = now
            self.stream.write("\r" + self.render(now))
            self.stream.flush()

    def render(self, now=None):
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        filled = int(self.width * min(self.done / self.total, 1.0))
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        parts = [f"{self.desc} [{bar[:self.width]}] {self.done}/{self.total}"]
        parts += [f"{k} {v:.4f}" for k, v in self.metrics.items()]
        if self.samples:
            parts.append(f"{self.samples / elapsed:,.0f} img/s")
        parts.append(f"{elapsed:.1f}s")
        return " - ".join(parts)

    def close(self):
        if not self.enabled:
            return
        self.stream.write(("\r" if self.interactive else "") + self.render() + "\n")
        self.stream.flush()
