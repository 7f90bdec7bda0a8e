"""Undo steps that a signal must not cut short: SIGINT and SIGTERM are held, then delivered.

A teardown interrupted half-way leaves exactly what it was removing (a namespace whose ``ip netns del`` was
killed, a directory tree half deleted). Ctrl-C and ``kill -- -PGID`` signal the whole process group, so the
lab's own ``ip`` child may die first and its failure start the teardown an instant before the same signal
reaches Python. Inside ``signals_deferred()`` those signals are recorded instead; on leaving, the previous
handlers are back and the first recorded signal is raised again, so it still ends the program as it would
have. Outside the main thread (where Python cannot set handlers) it does nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in HELD}
    for sig in HELD:
        signal.signal(sig, lambda s, _f: pending.append(s))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if pending:
            signal.raise_signal(pending[0])
