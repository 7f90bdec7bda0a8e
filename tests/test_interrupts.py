"""A signal is never lost, even when its handler's exception is raised where Python cannot propagate it."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import os, signal, sys, time
from lab.interrupts import Terminated, signals_raise

def after_fork_in_parent():  # runs inside os.fork(), like logging's _releaseLock at every subprocess start
    signal.raise_signal(signal.{sig})
    for _ in range(1000):  # the handler runs here: its exception can only be printed and dropped
        pass

os.register_at_fork(after_in_parent=after_fork_in_parent)
try:
    with signals_raise():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(1.0)  # the rest of the program (a lab run goes on for seconds)
    print("carried on as if never signalled")
except (Terminated, KeyboardInterrupt) as err:
    print(type(err).__name__)
"""


@pytest.mark.parametrize(("sig", "expected"), [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_a_signal_raised_inside_a_fork_callback_still_unwinds(sig: str, expected: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM.format(sig=sig)], capture_output=True, text=True,
                          timeout=30)
    assert done.stdout.strip() == expected, (done.stdout, done.stderr)
    assert "Exception ignored" not in done.stderr


def test_other_unraisable_exceptions_still_reach_the_previous_hook() -> None:
    program = ("import gc\nfrom lab.interrupts import signals_raise\n"
               "class C:\n    def __del__(self):\n        raise ValueError('from __del__')\n"
               "with signals_raise():\n    C()\n    gc.collect()\nprint('ok')\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "ok" and "ValueError: from __del__" in done.stderr
