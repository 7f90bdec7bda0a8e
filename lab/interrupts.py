"""SIGINT and SIGTERM end a command the same way at any moment: as exceptions that unwind it.

One mechanism for the whole program:

* SIGINT raises ``KeyboardInterrupt`` (Python's own), SIGTERM raises ``Terminated`` (a ``SystemExit`` with
  code 143 = 128 + SIGTERM). Both skip ``except Exception``, so every ``finally`` and ``__exit__`` on the
  way up runs: networks are torn down, captures stopped and saved, partial outputs marked.
* ``signals_raise()`` installs those handlers for the duration of a CLI command (``lab.cli.main``); a
  ``Network`` installs the same ones for its own life (so a library caller gets them too), and
  ``lab.emulation.deferred.signals_deferred()`` holds them during steps that must not be cut short.
* The CLI turns either exception into one line on stderr and the conventional exit status (130, 143);
  whoever knows more (the runner: which phase, where the partial outputs are) adds a note to the
  exception on its way up (``BaseException.add_note``), and the line carries the notes.

Without the SIGTERM handler Python dies of the signal at once (no ``finally``, exit -15): analysis
output cut mid-record and nothing saying so.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(SystemExit):
    """Raised by the SIGTERM handler to unwind the program (as KeyboardInterrupt does for SIGINT).

    A SystemExit (code 143 = 128 + SIGTERM): every ``finally`` runs, ``except Exception`` does not catch
    it, and at the top of the program it exits with the conventional status.
    """


def raise_terminated(signum: int, _frame: object) -> None:
    """The SIGTERM handler: unwind as ``Terminated(128 + signum)``."""
    raise Terminated(128 + signum)


def _rescue_unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook``: a signal's exception that Python had to drop is raised again as the signal.

    A handler's exception can only surface where Python can propagate it. Raised inside an ``os.fork()``
    callback (every ``subprocess`` start runs logging's ``_releaseLock`` there) or a ``__del__``, it is
    printed as "Exception ignored" and dropped, and the program carries on as if never signalled (a
    SIGTERM during bring-up once ended a run with exit 0). The signal is sent again a moment later from
    a timer thread (sent from here, its handler would run at once, still inside the hook or the fork, and
    be dropped again), so the main thread takes it at an ordinary step; any other unraisable exception
    goes to the previous hook.
    """
    sig = signal_of(unraisable.exc_value) if unraisable.exc_value is not None else None
    if sig is None:
        _previous_unraisablehook(unraisable)
        return
    timer = threading.Timer(RESEND_DELAY_S, os.kill, args=(os.getpid(), sig))
    timer.daemon = True
    timer.start()


_previous_unraisablehook = sys.unraisablehook
RESEND_DELAY_S = 0.02


def install_unraisable_rescue() -> None:
    """Install ``_rescue_unraisable`` (idempotent; it passes every other exception on unchanged)."""
    global _previous_unraisablehook
    if sys.unraisablehook is not _rescue_unraisable:
        _previous_unraisablehook = sys.unraisablehook
        sys.unraisablehook = _rescue_unraisable


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGINT -> KeyboardInterrupt and SIGTERM -> Terminated inside the block; previous handlers after.

    Outside the main thread (where Python cannot set handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    install_unraisable_rescue()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def signal_of(err: BaseException) -> int | None:
    """The signal an exception stands for: SIGINT, SIGTERM, or None for any other exception."""
    if isinstance(err, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(err, Terminated):
        return signal.SIGTERM
    return None


def describe(err: BaseException) -> str:
    """``interrupted (SIGINT)`` / ``terminated (SIGTERM)`` followed by the notes added on the way up."""
    what = "interrupted (SIGINT)" if signal_of(err) == signal.SIGINT else "terminated (SIGTERM)"
    notes = [n for n in getattr(err, "__notes__", ()) if n]
    return "; ".join([what, *notes])
