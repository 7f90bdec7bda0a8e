"""Routing daemons (FRR) in the router namespaces of a dynamically routed run, and the routes they install.

With ``routing: ospf`` or ``eigrp`` a topology's routers get no static routes (``lab.topology.routing``):
``RoutingDaemons`` starts, in every router namespace, a route monitor (``ip -ts monitor route``), FRR's
``zebra`` (it installs the routes the protocol computes, over netlink) and the protocol daemon (``ospfd``
or ``eigrpd``), and stops them in reverse order. FRR runs per namespace without systemd: each daemon gets
its own zebra socket (``-z``), pid file, vty socket directory and config file in the run's work directory;
no TCP vty (``-P 0``). The daemons run as root (``-u root``; ``-g frrvty`` because FRR insists that its
user belongs to its vty group): FRR's own user could not reach a run directory under a private (0700)
parent, and the namespaces are the run's alone.

Tracing: the protocol daemon runs under strace, whose records of its raw IP sockets (the OSPF or EIGRP
messages it sends and receives) go into the run's call log with ``program`` set (``ospfd``); its other
calls (the unix socket to zebra) and zebra itself never touch the wire and are not part of the call log
(their raw strace files stay in the work directory).

Ownership: every process started here lives in a namespace of the run, so the network's teardown kills
what is left and ``lab clean`` finds it after a SIGKILL (``backend.pids_in_namespaces``). Each is also
stopped here first, SIGTERM then SIGKILL, so zebra withdraws its routes while the capture still runs,
and the state directory each FRR daemon makes (``/var/tmp/frr/<program>.<pid>``, which a daemon running
as root cannot remove itself) is removed. After a SIGKILL of the run's owner those empty directories
are the one thing left outside the run (in a temporary directory).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from lab.emulation import frr
from lab.errors import EmulationError, ToolMissingError

FRR_DIR = Path("/usr/lib/frr")
FRR_STATE_DIR = Path("/var/tmp/frr")  # each daemon makes <program>.<pid> here; as root it cannot remove it
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
FRR_VTY_GROUP = "frrvty"
IP_FAMILIES = ("AF_INET", "AF_INET6")

# "[2026-12-04T21:21:43.965642] 198.18.4.0/24 nhid 12 via 198.18.3.2 dev r1-eth2 proto ospf metric 20"
_MONITOR = re.compile(r"\[(?P<ts>[0-9T:.-]+)\] (?P<deleted>Deleted )?(?P<route>.*)")
_ROUTE_DEST = re.compile(r"(?:(?:unicast|local|broadcast|multicast) )?(?P<dest>default|[0-9a-f.:]+(?:/\d+)?)")


@dataclass(frozen=True)
class RouteEvent:
    """A route that appeared in (or left) a router's table, at the kernel's notification time."""

    ts_ns: int
    node: str
    action: str  # "add" or "delete"
    dest: str
    via: str | None
    dev: str | None
    proto: str | None
    text: str

    def describe(self) -> str:
        how = f" via {self.via}" if self.via else ""
        dev = f" dev {self.dev}" if self.dev else ""
        by = f" ({self.proto})" if self.proto else ""
        verb = "route installed" if self.action == "add" else "route removed"
        return f"{self.node}: {verb}: {self.dest}{how}{dev}{by}"


def parse_monitor_line(line: str, node: str) -> RouteEvent | None:
    """One line of ``ip -ts monitor route`` (local time, microseconds) -> RouteEvent; None if not a route."""
    m = _MONITOR.fullmatch(line.strip())
    if not m:
        return None
    route = m["route"].strip()
    d = _ROUTE_DEST.match(route)
    if not d:
        return None
    try:
        ts = _dt.datetime.fromisoformat(m["ts"]).timestamp()  # naive: local time, as ip prints it
    except ValueError:
        return None
    words = route.split()

    def after(key: str) -> str | None:
        return words[words.index(key) + 1] if key in words[:-1] else None

    return RouteEvent(int(round(ts * 1e6)) * 1000, node, "delete" if m["deleted"] else "add", d["dest"],
                      after("via"), after("dev"), after("proto"), route)


def load_route_events(path: Path) -> list[dict[str, Any]]:
    """The route events of a run (``routes.jsonl``), or [] when the run had none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class _Proc:
    node: str
    program: str
    popen: subprocess.Popen
    pid_file: Path | None = None
    log: IO[bytes] | None = None
    daemon_pid: int | None = None  # the daemon itself (under strace, the Popen is strace)


@dataclass
class RoutingDaemons:
    """Start the routing daemons of ``net``'s topology for the duration of a ``with`` block.

    A static topology starts nothing. ``events`` (after the block) are the route events of every router
    in time order; ``failures`` say what went wrong without raising (a daemon that died, say), so a lab
    run keeps its evidence.

    Args:
        net: the live Network (namespaces up).
        workdir: where configs, sockets, pid files, logs and raw strace files go (one dir per router).
        trace_dir: the run's trace directory; the protocol daemons' IP socket calls are written there.
        routes_path: ``routes.jsonl`` of the run.
        trace: run the protocol daemons under strace.
    """

    net: Any
    workdir: Path
    trace_dir: Path
    routes_path: Path
    trace: bool = True
    events: list[RouteEvent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _procs: list[_Proc] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        return self.net.topo.routing

    @property
    def daemon_pids(self) -> dict[str, int]:
        """``"r1/ospfd" -> pid`` of every FRR daemon running now (started and not yet stopped)."""
        return {f"{p.node}/{p.program}": p.daemon_pid for p in self._procs if p.daemon_pid}

    def __enter__(self) -> RoutingDaemons:
        if self.protocol == "static":
            return self
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.protocol != "static":
            self._stop()
            self._collect()

    # -- start ------------------------------------------------------------------------------------------
    def _start(self) -> None:
        daemon = frr.DAEMONS[self.protocol]
        for program in ("zebra", daemon):
            if not os.access(FRR_DIR / program, os.X_OK):
                raise ToolMissingError(str(FRR_DIR / program), f"to run {self.protocol} (Debian package frr)")
        routers = self.net.topo.routers
        dirs = {}
        for router in routers:
            d = self.workdir / router
            d.mkdir(parents=True, exist_ok=True)
            for name, text in frr.configs(self.net.topo, router).items():
                (d / name).write_text(text)
            dirs[router] = d
        for router in routers:  # monitors first: no route appears before they listen
            out = (dirs[router] / "routes.txt").open("wb")
            self._procs.append(_Proc(router, "ip-monitor", self.net.popen(
                router, ["ip", "-ts", "monitor", "route"], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT), log=out))
        for router in routers:
            self._daemon(router, "zebra", dirs[router], traced=False)
        for router in routers:
            self._wait_for(dirs[router] / "zserv.api", router, "zebra")
        for router in routers:
            self._daemon(router, daemon, dirs[router], traced=self.trace)
        for router in routers:
            self._wait_for(dirs[router] / f"{daemon}.pid", router, daemon)

    def _daemon(self, router: str, program: str, d: Path, *, traced: bool) -> None:
        argv = [str(FRR_DIR / program), "-u", "root", "-g", FRR_VTY_GROUP, "-P", "0",
                "-z", str(d / "zserv.api"), "-i", str(d / f"{program}.pid"), "--vty_socket", str(d),
                "-f", str(d / f"{program}.conf"), "--log", f"file:{d / program}.log"]
        if traced:
            from lab.tracing.wrap import strace_argv

            argv = strace_argv(argv, d / f"strace-{program}.txt")
        log = (d / f"{program}.out").open("wb")
        proc = self.net.popen(router, argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._procs.append(_Proc(router, program, proc, d / f"{program}.pid", log))

    def _wait_for(self, path: Path, router: str, program: str) -> None:
        """Poll (bounded) until the daemon made ``path``: its socket or pid file, i.e. it runs."""
        proc = next(p for p in self._procs if p.node == router and p.program == program)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not path.exists() or (proc.pid_file is not None and _read_pid(proc.pid_file) is None):
            if proc.popen.poll() is not None:
                raise EmulationError(f"node {router!r}: {program} exited {proc.popen.returncode} at start"
                                     f"{_last_line(self.workdir / router / f'{program}.out')}")
            if time.monotonic() > deadline:
                raise EmulationError(f"node {router!r}: {program} did not start within {START_TIMEOUT_S:g}s")
            time.sleep(0.02)
        proc.daemon_pid = _read_pid(proc.pid_file) if proc.pid_file else None

    # -- stop -------------------------------------------------------------------------------------------
    def _stop(self) -> None:
        """Protocol daemons, then zebra (it withdraws the routes), then the monitors; each SIGTERM first."""
        order = {"ip-monitor": 2, "zebra": 1}
        for tier in (0, 1, 2):
            procs = [p for p in self._procs if order.get(p.program, 0) == tier]
            for p in procs:
                if p.popen.poll() is not None and p.program != "ip-monitor":
                    said = _last_line(self.workdir / p.node / f"{p.program}.out")
                    self.failures.append(f"node {p.node!r}: {p.program} exited {p.popen.returncode} before "
                                         f"the lab stopped it{said}")
                else:
                    self._signal(p, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            for p in procs:
                try:
                    p.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    self._signal(p, signal.SIGKILL)
                    p.popen.wait(timeout=STOP_TIMEOUT_S)
                if p.log is not None:
                    p.log.close()
                if p.daemon_pid:  # FRR's per-process state directory, left behind by a root daemon
                    shutil.rmtree(FRR_STATE_DIR / f"{p.program}.{p.daemon_pid}", ignore_errors=True)
            if tier == 1:
                time.sleep(0.2)  # the last route deletions reach the monitors
        self._procs.clear()

    def _signal(self, p: _Proc, sig: int) -> None:
        """The daemon itself (its pid file: under strace the Popen is strace), else the Popen."""
        pid = p.daemon_pid or (_read_pid(p.pid_file) if p.pid_file else None)
        for target in ([pid] if pid else []) + [p.popen.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)
            if sig == signal.SIGTERM:
                break

    # -- results ----------------------------------------------------------------------------------------
    def _collect(self) -> None:
        """Route events into ``routes.jsonl``; the protocol daemons' IP socket calls into the trace dir."""
        events = []
        for router in self.net.topo.routers:
            path = self.workdir / router / "routes.txt"
            if path.exists():
                for line in path.read_text(errors="replace").splitlines():
                    ev = parse_monitor_line(line, router)
                    if ev is not None:
                        events.append(ev)
        self.events = sorted(events, key=lambda e: e.ts_ns)
        with self.routes_path.open("w") as fh:
            for ev in self.events:
                fh.write(json.dumps(asdict(ev)) + "\n")
        if not self.trace:
            return
        from lab.tracing.strace import parse_strace_file

        daemon = frr.DAEMONS[self.protocol]
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        for router in self.net.topo.routers:
            raw = self.workdir / router / f"strace-{daemon}.txt"
            if not raw.exists():
                self.failures.append(f"{router}: no strace record of {daemon}")
                continue
            with (self.trace_dir / f"calls-{router}-{daemon}.jsonl").open("w") as fh:
                for rec in parse_strace_file(raw, node=router):
                    if rec.get("family") in IP_FAMILIES:
                        fh.write(json.dumps({**rec, "program": daemon}) + "\n")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f": {lines[-1][:200]}" if lines else ""


@dataclass
class KeptDaemons:
    """The daemons of a ``lab up`` session (``lab.emulation.keeper``), kept until ``stop``.

    In a session directory (``workdir`` = ``<session>/frr``) the protocol daemons are traced and their
    calls land in ``<session>/traces`` when they stop, so that ``lab down`` explains their packets; without
    one they run untraced in a temporary directory.
    """

    daemons: RoutingDaemons
    scratch: Path | None  # a temporary work directory, removed at the end

    @classmethod
    def start(cls, net: Any, workdir: Path | None) -> KeptDaemons:
        scratch = None
        if workdir is None:
            import tempfile

            scratch = workdir = Path(tempfile.mkdtemp(prefix=f"lab-{net.run_id}-frr-"))
        traces = workdir.parent / "traces" if scratch is None else workdir / "traces"
        daemons = RoutingDaemons(net, workdir, traces, workdir / "routes.jsonl", trace=scratch is None)
        try:
            daemons.__enter__()
        except BaseException:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        return cls(daemons, scratch)

    def stop(self) -> None:
        try:
            self.daemons.__exit__(None, None, None)
        finally:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
