"""A network brought up by hand (``lab up``), captured and traced while it lives, explained on demand.

Division of labour:

* the **keeper** (``lab.emulation.keeper``, the process that owns a ``lab up`` network) runs a ``Recorder``:
  dumpcap on every capture point from the start, confirmed by probes as in ``lab run``; it writes the
  session's description (``session.json``: nodes, interfaces, which interface belongs to which node) and,
  when asked with SIGUSR1, a snapshot of everything captured so far (``Capture.snapshot``), and the final
  capture with dumpcap's statistics when the network goes down;
* ``lab exec`` traces what it runs into the session's ``traces/`` (``wrap_command``: Python programs
  in-process, anything else under strace), so calls land beside the packets they make;
* ``explain()`` (``lab explain``, and ``lab down`` on its way out) asks for a snapshot and explains it with
  every call recorded so far, through ``lab.explain`` -- the same sentences a lab run or ``lab.network()``
  script gets;
* ``lab.watch`` follows the same files as they grow.

The session directory is recorded in the run's state (``RunState.live_dir``), so every verb finds it by run
id. Its layout is a run directory (``lab.paths.RunPaths``) plus ``session.json`` and ``.snapshot``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.analysis.attribution.loss import LossRule, rules_from
from lab.capture import Capture, CaptureTarget
from lab.capture.stats import CaptureStats, InterfaceCounts
from lab.emulation.state import load_state, process_alive
from lab.errors import CaptureError, LabError, ToolMissingError, UsageError
from lab.paths import RunPaths
from lab.records import SCHEMA_VERSION

SESSION_FILE = "session.json"
SNAPSHOT_MARK = ".snapshot"
SNAPSHOT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class LiveDir:
    """A live session's directory: a run directory plus the session's description."""

    root: Path

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.root)

    @property
    def session_file(self) -> Path:
        return self.root / SESSION_FILE

    def session(self) -> dict[str, Any]:
        try:
            return json.loads(self.session_file.read_text())
        except (OSError, ValueError) as err:
            raise UsageError(f"{self.session_file}: not a live session ({err})") from None

    def write_session(self, data: dict[str, Any]) -> None:
        tmp = self.session_file.with_name(f".{SESSION_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, self.session_file)

    def snapshot_seq(self) -> int:
        try:
            return int((self.root / SNAPSHOT_MARK).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0


class Recorder:
    """The keeper's part: capture every link of ``net`` into ``root`` for the network's whole life."""

    def __init__(self, net: Any, root: Path, *, capture: bool = True) -> None:
        self.net = net
        self.live = LiveDir(root)
        self.capture_on = capture
        self._capture: Capture | None = None
        self._seq = 0
        self._wanted = False

    def start(self) -> None:
        from lab.explain import nodes_info

        signal.signal(signal.SIGUSR1, self._on_usr1)  # before session.json names this process to clients
        paths = self.live.paths.make()
        points = self.net.capture_points()
        session = {
            "run_id": self.net.run_id, "topology": self.net.topo.name, "source": self.net.topo.source,
            "keeper_pid": os.getpid(), "started_ns": time.time_ns(), "capture": self.capture_on,
            "nodes": nodes_info(self.net), "iface_nodes": {p.label: p.node for p in points},
            "loss_rules": [] if self.net.loopback else [
                {"a": r.a, "b": r.b, "rule": r.rule}
                for r in rules_from(self.net.topo.links, self.net.conditions_report or [])],
            "stopped": False,
        }
        import networkx as nx

        paths.topology.write_text(json.dumps(nx.node_link_data(self.net.topo.graph(), edges="links"),
                                             default=str) + "\n")
        self.live.write_session(session)
        if self.capture_on:
            targets = [CaptureTarget(p.namespace, p.ifname, p.label, p.bpf) for p in points]
            self._capture = Capture(targets, paths.capture, paths.work_dir)
            self._capture.start()

    def _on_usr1(self, _signum: int, _frame: object) -> None:
        self._wanted = True  # the snapshot itself runs in the keeper's loop, not inside a signal handler

    def serve_once(self) -> None:
        """Do what was asked since the last call (a snapshot); the keeper calls this after each wake-up."""
        if not self._wanted:
            return
        self._wanted = False
        self._seq += 1
        status = "ok"
        try:
            if self._capture is not None:
                self._capture.snapshot(self.live.paths.capture)
            else:
                status = "no-capture"
        except LabError as err:
            status = f"error: {err}"
        (self.live.root / SNAPSHOT_MARK).write_text(f"{self._seq} {status}\n")

    def stop(self) -> None:
        """Stop capturing (the final file, with dumpcap's statistics) and mark the session stopped."""
        stats = None
        try:
            if self._capture is not None:
                self._capture.stop()
                stats = self._capture.stats
        finally:
            self._capture = None
            data = self.live.session()
            data["capture_stats"] = stats.as_dict() if stats is not None else None
            data["stopped"] = True
            data["stopped_ns"] = time.time_ns()
            self.live.write_session(data)


# -- the clients' side -----------------------------------------------------------------------------------
def live_dir_of(run_id: str) -> LiveDir:
    """The session directory of a live ``lab up`` run.

    Raises:
        UsageError: no such run, or it was brought up without capture.
    """
    st = load_state(run_id)
    if st is None:
        raise UsageError(f"no run {run_id!r} (see `lab ps`)")
    if not st.live_dir:
        raise UsageError(f"run {run_id} was brought up without capture (lab up --no-capture): nothing to "
                         "explain or watch")
    return LiveDir(Path(st.live_dir))


def request_snapshot(live: LiveDir, timeout: float = SNAPSHOT_TIMEOUT_S) -> None:
    """Ask the keeper for a snapshot of the capture so far and wait until it is written."""
    session = live.session()
    if session.get("stopped"):
        return  # the final capture is on disk already
    pid = session["keeper_pid"]
    before = live.snapshot_seq()
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        raise UsageError(f"run {session['run_id']}: its keeper (pid {pid}) is gone; `lab clean`") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.snapshot_seq() > before:
            status = (live.root / SNAPSHOT_MARK).read_text().split(" ", 1)[1].strip()
            if status.startswith("error"):
                raise CaptureError(f"run {session['run_id']}: snapshot failed: {status[7:]}")
            return
        if not process_alive(pid, None):
            raise UsageError(f"run {session['run_id']}: its keeper (pid {pid}) exited")
        time.sleep(0.02)
    raise CaptureError(f"run {session['run_id']}: the keeper did not write a snapshot within {timeout:g}s")


def parse_window(since: str | None, last: str | None, started_ns: int) -> int | None:
    """The window's start as epoch ns: ``--since`` seconds after the session began (``12``, ``12.5``) or an
    epoch time (``1796418939.1``); ``--last`` a duration back from now (``30s``, ``2m``, ``500ms``)."""
    if since is not None and last is not None:
        raise UsageError("give --since or --last, not both")
    if last is not None:
        units = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
        for unit in sorted(units, key=len, reverse=True):
            if last.endswith(unit) and _is_number(last[: -len(unit)]):
                return time.time_ns() - int(float(last[: -len(unit)]) * units[unit] * 1e9)
        if _is_number(last):
            return time.time_ns() - int(float(last) * 1e9)
        raise UsageError(f"--last {last!r}: a duration like 30s, 2m or 500ms")
    if since is not None:
        if not _is_number(since):
            raise UsageError(f"--since {since!r}: seconds since the session began (e.g. 12.5) or an epoch "
                             "time")
        value = float(since)
        return int(value * 1e9) if value > 1e9 else started_ns + int(value * 1e9)
    return None


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value >= 0 and value == value and value != float("inf")


def explain(run_id: str, *, since: str | None = None, last: str | None = None,
            out: Path | None = None) -> tuple[Path, Any]:
    """Explain a live session now (or after it stopped): every packet captured so far, or those of a window.

    Writes the run's outputs (annotated.pcapng, packets.jsonl, calls.jsonl, ladder.txt, report.json,
    report.html) into the session directory -- a window's into ``window-<UTC stamp>/`` inside it, or
    ``out`` -- and returns that directory and the ``lab.explain.Explained``.
    """
    return explain_dir(live_dir_of(run_id), since=since, last=last, out=out)


def explain_dir(live: LiveDir, *, since: str | None = None, last: str | None = None,
                out: Path | None = None) -> tuple[Path, Any]:
    from lab.explain import explain_capture
    from lab.paths import utc_stamp
    from lab.report.html.page import write_report

    session = live.session()
    if not session.get("capture"):
        raise UsageError(f"run {session['run_id']} was brought up without capture: nothing to explain")
    request_snapshot(live)
    start_ns = parse_window(since, last, session["started_ns"])
    target = RunPaths(out or (live.root / f"window-{utc_stamp()}" if start_ns is not None else live.root))
    target.make()
    if target.root != live.root:
        _copy_window(live.paths.capture, target.capture, start_ns)
        for log in live.paths.traces_dir.iterdir():
            shutil.copyfile(log, target.traces_dir / log.name)
        shutil.copyfile(live.paths.topology, target.topology)
    stats = session.get("capture_stats")
    if stats is None:
        capture: dict[str, Any] = {"complete": None, "note": "dumpcap's drop counts are known once the "
                                   "capture stops (lab down); a snapshot cannot say what was lost yet"}
        failures: list[str] = []
    else:
        counts = CaptureStats({label: InterfaceCounts(c["received"], c["dropped"])
                               for label, c in stats["per_interface"].items()})
        capture, problem = counts.as_dict(), counts.problem()
        failures = [problem] if problem else []
    explained = explain_capture(target, session["nodes"], session["iface_nodes"],
                                title=f"{session['topology']} (run {session['run_id']}, explored by hand)",
                                loss_rules=[LossRule(**r) for r in session.get("loss_rules", [])])
    report = {
        "schema_version": SCHEMA_VERSION, "lab": None, "title": f"{session['topology']}, explored by hand",
        "run_id": session["run_id"],
        "out": str(target.root), "topology": session["source"], "nodes": session["nodes"],
        "window_start_ns": start_ns, "live": not session.get("stopped"),
        "packets": explained.analysis.packet_count, "calls": len(explained.calls),
        "coverage": explained.coverage, "summary": explained.analysis.summary,
        "analysis_errors": list(explained.analysis.errors), "capture": capture,
        "failures": failures, "ok": not failures,
    }
    tmp = target.report.with_name(".report.json.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    os.replace(tmp, target.report)
    write_report(target.root)
    return target.root, explained


def _copy_window(src: Path, dest: Path, start_ns: int | None) -> None:
    if start_ns is None:
        shutil.copyfile(src, dest)
        return
    editcap = shutil.which("editcap")
    if editcap is None:
        raise ToolMissingError("editcap", "to cut a time window out of the capture")
    done = subprocess.run([editcap, "-A", f"{start_ns / 1e9:.9f}", str(src), str(dest)],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise CaptureError(f"editcap could not cut the window: {done.stderr.strip()[-200:]}")
