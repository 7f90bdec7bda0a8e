"""Scratch namespaces: the short-lived namespaces the lab makes outside any run (netem detection).

A scratch namespace exists before any run's record does (``lab topo plan`` makes one with no run at all),
so its name is its record: ``lab-probe<pid>.<start>`` names the owner process and that process's start
time (pids are reused). ``lab clean`` removes those whose owner is gone, and only those: a live owner's is
left alone, and no run's namespace can match, because ``lab-<run>-<node>`` never contains a '.' (run ids
and node names are ``[A-Za-z0-9_-]``), and the earlier versions' ``lab-probe<pid>`` has no second '-'.
"""

from __future__ import annotations

import os
import re
import subprocess

from lab.emulation.names import NETNS_DIR
from lab.emulation.state import process_alive, process_start

# ``lab-probe<pid>`` without the start time is how earlier versions named it (and leaked it): recognised too,
# and removed only when no process has that pid at all
SCRATCH_RE = re.compile(r"lab-probe(\d{1,10})(?:\.(\d{1,20}))?")


def scratch_namespace() -> str:
    """The name of this process's scratch namespace (one at a time per process)."""
    pid = os.getpid()
    return f"lab-probe{pid}.{process_start(pid) or 0}"


def owner(name: str) -> tuple[int, int | None] | None:
    """(pid, start) of a scratch namespace's owner (start None: an earlier version's name), or None if
    ``name`` is not a scratch namespace."""
    m = SCRATCH_RE.fullmatch(name)
    if not m:
        return None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) is not None else None)


def stale() -> list[str]:
    """Scratch namespaces whose owner process is gone (a SIGKILL between create and delete)."""
    try:
        names = sorted(e.name for e in os.scandir(NETNS_DIR))
    except OSError:
        return []
    out = []
    for name in names:
        who = owner(name)
        if who is not None and not process_alive(who[0], who[1] or None):
            out.append(name)
    return out


def remove(name: str, attempts: int = 3) -> str | None:
    """Delete one scratch namespace; returns the problem, or None.

    Tried again while it still exists: a Ctrl-C signals the whole process group, so the ``ip netns del``
    that was running at that instant dies with it.
    """
    if owner(name) is None:
        return f"{name}: not a scratch namespace"
    problem = None
    for _ in range(attempts):
        proc = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True, timeout=30)
        if not (NETNS_DIR / name).exists():
            return None
        problem = f"{name}: {proc.stderr.strip() or 'netns del failed'}"
    return problem
