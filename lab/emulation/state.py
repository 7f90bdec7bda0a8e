"""The record of a run: every resource it created and the process that owns it.

Written *before* anything is created (and updated as the run comes up), so that after a SIGKILL at any
moment ``lab clean`` knows exactly what to remove. A run is alive while its owner process exists with the
same start time (pids are reused; the start time in ``/proc/<pid>/stat`` tells them apart).

Creating the file is also the claim on the run id: ``claim`` links a complete record to ``<id>.json`` with
``link(2)``, which fails if the name exists, so of two processes bringing up the same id exactly one gets it,
and the other learns who holds it before it has created anything (a separate "exists?" check and create
would let both pass, and the loser's teardown would then remove the winner's namespaces). Every write goes
through a temporary file of the writer's own (``.<id>.<pid>.tmp``), so two writers never rename each other's.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.emulation.names import state_dir
from lab.errors import UsageError


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
    live_dir: str | None = None  # `lab up` with capture: the live session's directory (lab.live)

    @property
    def path(self) -> Path:
        return state_dir() / f"{self.run_id}.json"

    @property
    def files_dir(self) -> Path:
        """``<id>.d/`` beside the record: the nodes' private /tmp directories (removed with the run)."""
        return state_dir() / f"{self.run_id}.d"

    def claim(self) -> None:
        """Create the record, or raise RunIdInUse: the atomic claim on the run id (see the module doc)."""
        tmp = self._write_tmp()
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            holder = _read(self.path)
            raise RunIdInUse(self.run_id, holder) from None
        finally:
            tmp.unlink(missing_ok=True)

    def save(self) -> None:
        """Replace the record (only its claimer does this, after ``claim``)."""
        os.replace(self._write_tmp(), self.path)

    def _write_tmp(self) -> Path:
        d = state_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o755)
        tmp = d / f".{self.run_id}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))
        return tmp

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def alive(self) -> bool:
        return process_alive(self.owner_pid, self.owner_start)


class RunIdInUse(UsageError):
    """Another run holds this run id: alive (its owner pid is named) or dead and waiting for ``lab clean``."""

    def __init__(self, run_id: str, holder: RunState | None) -> None:
        self.run_id = run_id
        self.holder = holder
        if holder is not None and holder.alive():
            text = f"run id {run_id} is in use by pid {holder.owner_pid}"
        elif holder is not None:
            text = (f"run id {run_id} is recorded by a run whose owner (pid {holder.owner_pid}) is gone; "
                    "`lab clean` removes it")
        else:
            text = f"run id {run_id} is in use (its record is being written or unreadable)"
        super().__init__(text)


def _read(path: Path) -> RunState | None:
    try:
        return RunState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def load_states(directory: Path | None = None) -> list[RunState]:
    """Every run recorded on this machine (unreadable files are skipped, never deleted)."""
    d = directory or state_dir()
    if not d.is_dir():
        return []
    return [st for p in sorted(d.glob("*.json")) if (st := _read(p)) is not None]


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
