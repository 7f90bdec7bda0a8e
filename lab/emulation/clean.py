"""``lab clean`` and ``lab down``: remove what runs created, and only that.

A run's resources are exactly those listed in its state file (``lab.emulation.state``); a run is removed
only when its owner process is gone (or, for ``lab down``, when its keeper was asked to stop). Nothing is
ever removed by name pattern: another engineer's, test's or user's live run is never touched
(mininet's ``killall``-style cleanup is the counter-example). The one exception proves the rule: a scratch
namespace (netem detection, ``lab.emulation.scratch``) carries its owner's pid and start time in its name,
which is its record; it is removed when that owner is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field

from lab.emulation import scratch
from lab.emulation.backend import KernelBackend, kill_all, pids_in_namespaces, pids_of_run
from lab.emulation.names import NETNS_DIR
from lab.emulation.state import RunState, load_state, load_states, process_alive
from lab.errors import EmulationError, PrivilegeError, UsageError


@dataclass
class Cleaned:
    run_id: str
    topology: str
    namespaces: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def remove_run(state: RunState) -> Cleaned:
    """Remove every resource recorded for ``state`` (processes in its namespaces first), then the record."""
    out = Cleaned(state.run_id, state.topology)
    if state.mode == "netns":
        if os.geteuid() != 0:
            raise PrivilegeError(f"run {state.run_id}: removing namespaces needs root")
        nss = list(state.namespaces.values())
        out.namespaces = [ns for ns in nss if (NETNS_DIR / ns).exists()]
        out.processes = pids_in_namespaces(out.namespaces)
        out.problems = KernelBackend().destroy(nss, state.etc_dirs)
    else:  # loopback: the run's programs share the machine; they carry LAB_RUN=<id> (see pids_of_run)
        out.processes = pids_of_run(state.run_id)
        survivors = kill_all(out.processes)
        if survivors:
            out.problems.append(f"processes survived SIGKILL: {survivors}")
    if not out.problems:
        shutil.rmtree(state.files_dir, ignore_errors=True)
        state.remove()
    return out


def clean(run_ids: list[str] | None = None) -> tuple[list[Cleaned], list[RunState]]:
    """Remove runs whose owner is gone (and, unless ``run_ids`` names runs, scratch namespaces whose owner
    is gone); returns (removed, left alone because alive)."""
    removed, alive = [], []
    for st in load_states():
        if run_ids and st.run_id not in run_ids:
            continue
        if st.alive():
            alive.append(st)
            continue
        removed.append(remove_run(st))
    if not run_ids and os.geteuid() == 0:
        for name in scratch.stale():
            problem = scratch.remove(name)
            removed.append(Cleaned(name, "scratch namespace (netem detection)", [name],
                                   problems=[problem] if problem else []))
    return removed, alive


def down(run_id: str, force: bool = False, timeout: float = 10.0) -> Cleaned:
    """Stop a run: ask its keeper (``lab up``) to tear down; clean up after it if it cannot."""
    st = load_state(run_id)
    if st is None:
        raise UsageError(f"no run {run_id!r} (see `lab ps`)")
    if st.alive():
        if not st.keeper and not force:
            raise UsageError(f"run {run_id} belongs to live process {st.owner_pid} (not started by `lab up`);"
                             " stop that process, or use --force")
        os.kill(st.owner_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(st.owner_pid, st.owner_start):
            time.sleep(0.02)
        if process_alive(st.owner_pid, st.owner_start):
            os.kill(st.owner_pid, signal.SIGKILL)
        left = load_state(run_id)
        if left is None:
            return Cleaned(run_id, st.topology, list(st.namespaces.values()))
        st = left
    result = remove_run(st)
    if result.problems:
        raise EmulationError(f"run {run_id}: {result.problems[0]}")
    return result
