"""Whether a process still runs, read from /proc: the tests that check a run leaves no daemon or program
behind ask this, and a zombie (exited, not yet reaped by its parent) does not run."""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    """True while ``pid`` exists and is neither a zombie nor dead (state Z or X in /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"
