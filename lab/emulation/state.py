"""The record of a run: every resource it created and the process that owns it.

Written *before* anything is created (and updated as the run comes up), so that after a SIGKILL at any
moment ``lab clean`` knows exactly what to remove. A run is alive while its owner process exists with the
same start time (pids are reused; the start time in ``/proc/<pid>/stat`` tells them apart).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.emulation.names import state_dir


@dataclass
class RunState:
    run_id: str
    owner_pid: int
    owner_start: int | None
    topology: str
    source: str
    mode: str  # "netns" or "loopback"
    created: float = field(default_factory=time.time)
    namespaces: dict[str, str] = field(default_factory=dict)  # node -> namespace
    etc_dirs: list[str] = field(default_factory=list)
    addresses: dict[str, dict[str, str | None]] = field(default_factory=dict)  # node -> {ipv4, ipv6}
    kinds: dict[str, str] = field(default_factory=dict)
    status: str = "creating"  # creating | up | stopping
    keeper: bool = False  # brought up by `lab up` (owner is the keeper process)

    @property
    def path(self) -> Path:
        return state_dir() / f"{self.run_id}.json"

    def save(self) -> None:
        d = state_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o755)
        tmp = d / f".{self.run_id}.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def alive(self) -> bool:
        return process_alive(self.owner_pid, self.owner_start)


def load_states(directory: Path | None = None) -> list[RunState]:
    """Every run recorded on this machine (unreadable files are skipped, never deleted)."""
    d = directory or state_dir()
    out = []
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            data = json.loads(p.read_text())
            out.append(RunState(**data))
        except (OSError, ValueError, TypeError):
            continue
    return out


def load_state(run_id: str) -> RunState | None:
    for s in load_states():
        if s.run_id == run_id:
            return s
    return None


def process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # a zombie owner is gone, whatever its parent does
        return None
    return int(fields[19])


def process_alive(pid: int, start: int | None) -> bool:
    current = process_start(pid)
    if current is None:
        return False
    return start is None or current == start
