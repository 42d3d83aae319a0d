"""Holding Ctrl-C back while a step changes state in place, so that it is all or nothing.

:class:`SigintDeferred` is used by :meth:`numpy_nn.optimizers.Optimizer.apply_gradients`: a
KeyboardInterrupt arrives after every parameter is updated and ``iterations`` advanced, never
between two of them.
"""
from __future__ import annotations

import signal
import threading

try:  # CPython's C module under ``signal``: the same functions, without ``signal``'s conversion of
    # handlers to enums (an exception per function handler, ~5 us a call, 3 calls a step)
    import _signal as _signals
except ImportError:  # another Python
    _signals = signal


class SigintDeferred:
    """``with SigintDeferred():`` holds back SIGINT (Ctrl-C, KeyboardInterrupt) while the body runs,
    then delivers it.

    Python runs a signal handler between any two bytecodes, so a KeyboardInterrupt could otherwise
    stop an update between two parameters (or two passes over one block), leaving some parameters
    updated and others not. Inside, a SIGINT is only recorded; on exit the previous handler is
    restored and, if a SIGINT came, called (the default one raises KeyboardInterrupt there, after
    the whole update). Only the main thread can set handlers; elsewhere, or when the handler was
    not set from Python (``getsignal`` is None), the body runs unprotected."""

    def __enter__(self):
        self.pending, self.previous = [], None
        if threading.current_thread() is threading.main_thread():
            self.previous = _signals.getsignal(signal.SIGINT)
            if self.previous is not None:
                _signals.signal(signal.SIGINT, self._record)
        return self

    def _record(self, signum, frame):
        self.pending.append(frame)

    def __exit__(self, *exc):
        if self.previous is None:
            return False
        _signals.signal(signal.SIGINT, self.previous)
        if self.pending:
            if callable(self.previous):
                self.previous(signal.SIGINT, self.pending[0])
            elif self.previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)
        return False
