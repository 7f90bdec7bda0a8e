"""``lab.network()``: a topology brought up for a script, its programs traced, captures explained.

A lab file declares steps; a script does the same by hand::

    import lab

    with lab.network("two-hosts") as net:
        server = net["h2"].popen(["python3", "-m", "http.server", "8000"])
        net["h2"].wait_listening(8000)
        with net.capture() as cap:
            net["h1"].run(["curl", "-s", "http://h2:8000/"])
        print(cap.run.packet(1).cause)

Programs started through a node are traced (Python programs in-process, anything else under strace) for
the whole life of the network, into one traces directory: a capture started after the server began still
knows the server's socket(), bind() and listen() when it explains the SYN-ACK. Every capture is confirmed
live by probes before its body runs and drained by a final probe when it stops (``lab.capture``), then
explained as a lab run is (``lab.explain``). Leaving the ``with`` block stops what is still capturing,
kills the programs the network started, and tears the network down, also on errors and Ctrl-C.

Programs run as root in their namespace: a script is the user's own code (a lab file from elsewhere runs
under the runner's least-privilege rules instead).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.capture import Capture, CaptureStats, CaptureTarget
from lab.emulation import Network
from lab.errors import EmulationError, UsageError
from lab.explain import Explained, explain_capture, nodes_info
from lab.paths import RunPaths, default_out_dir
from lab.records import SCHEMA_VERSION
from lab.runs import Run
from lab.topology import Topology, load_topology, topology_from_graph
from lab.tracing import wrap_command

if TYPE_CHECKING:
    import networkx as nx


def _topology(topology: str | Path | Topology | nx.Graph) -> Topology:
    if isinstance(topology, Topology):
        return topology
    if isinstance(topology, str | Path):
        return load_topology(topology)
    return topology_from_graph(topology, source="<graph>")


class Node:
    """One node of a live network: run programs in it, traced unless ``trace=False``."""

    def __init__(self, session: Session, name: str) -> None:
        self.session = session
        self.name = name

    @property
    def ip(self) -> str:
        return self.session.net.ip(self.name)

    def _argv(self, argv: Sequence[str], trace: bool) -> tuple[list[str], dict[str, str]]:
        if isinstance(argv, str):
            raise UsageError("give the command as a list of arguments, e.g. ['curl', '-s', URL]")
        if not trace:
            return list(argv), {}
        return wrap_command(list(argv), self.session.traces_dir, self.name, python=sys.executable)

    def popen(self, argv: Sequence[str], *, trace: bool = True, **kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` in this node and return at once; killed when the network goes down."""
        argv2, env = self._argv(argv, trace)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = self.session.net.popen(self.name, argv2, env={**env, **kwargs.pop("env", {})}, **kwargs)
        self.session._procs.append(proc)
        return proc

    def run(self, argv: Sequence[str], *, trace: bool = True, timeout: float = 30,
            check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` in this node to completion (text output).

        Raises:
            EmulationError: it timed out, or exited non-zero and ``check``.
        """
        argv2, env = self._argv(argv, trace)
        return self.session.net.run(self.name, argv2, timeout=timeout, check=check, env=env, input=input)

    def wait_listening(self, port: int, proto: str = "tcp", timeout: float = 10) -> None:
        """Return once a socket listens on ``port`` in this node (``ss``), never by sleeping blindly."""
        flag = "-ltnH" if proto == "tcp" else "-lunH"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.session.net.run(self.name, ["ss", flag, f"sport = :{port}"], check=False).stdout
            if out.strip():
                return
            time.sleep(0.02)
        raise EmulationError(f"node {self.name!r}: nothing listens on {proto} port {port} after {timeout:g}s")

    def __repr__(self) -> str:
        return f"<Node {self.name} of run {self.session.net.run_id}>"


class LiveCapture:
    """A capture of every link of the network, started and stopped around a script's own code.

    ``stop()`` (or leaving the ``with`` block) drains it, explains every packet with the calls traced so
    far and returns the ``Run`` (also kept as ``.run``).
    """

    def __init__(self, session: Session, out: Path) -> None:
        self.session = session
        self.paths = RunPaths(out)
        self.run: Run | None = None
        self.explained: Explained | None = None
        self._capture: Capture | None = None

    def start(self) -> LiveCapture:
        net = self.session.net
        self.paths.make()
        points = net.capture_points()
        self._iface_nodes = {p.label: p.node for p in points}
        self._capture = Capture([CaptureTarget(p.namespace, p.ifname, p.label, p.bpf) for p in points],
                                self.paths.capture, self.paths.work_dir)
        self._capture.start()
        return self

    def stop(self) -> Run:
        if self._capture is None:
            raise UsageError("this capture was never started")
        if self.run is not None:
            return self.run
        self._capture.stop()
        stats = self._capture.stats or CaptureStats({})
        self._capture = None
        net = self.session.net
        info = nodes_info(net)
        # every call traced since the network came up: the server's listen() explains this capture's SYN-ACK
        traces = self.paths.traces_dir
        for log in self.session.traces_dir.iterdir():
            (traces / log.name).write_bytes(log.read_bytes())
        self.paths.topology.write_text(json.dumps(_node_link(net.topo), default=str) + "\n")
        self.explained = explain_capture(self.paths, info, self._iface_nodes,
                                         title=f"capture of {net.topo.name} (run {net.run_id})")
        lost = stats.problem()  # packets dumpcap dropped: the explanation covers an incomplete capture
        self.paths.report.write_text(json.dumps({
            "schema_version": SCHEMA_VERSION, "lab": None, "title": f"capture of {net.topo.name}",
            "run_id": net.run_id,
            "out": str(self.paths.root), "topology": net.topo.source, "nodes": info,
            "capture": stats.as_dict(), "packets": self.explained.analysis.packet_count,
            "calls": len(self.explained.calls),
            "coverage": {**self.explained.coverage, "capture_complete": stats.complete},
            "summary": self.explained.analysis.summary,
            "analysis_errors": list(self.explained.analysis.errors), "failures": [lost] if lost else [],
            "ok": lost is None,
        }, indent=2, default=str) + "\n")
        self.run = Run(self.paths.root)
        return self.run

    def __enter__(self) -> LiveCapture:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._capture is None:
            return
        if exc_type is None:
            self.stop()
        else:
            self._capture.stop(drain=False)  # keep the packets on disk; the body's error is the news
            self._capture = None


def _node_link(topo: Topology) -> dict[str, Any]:
    import networkx as nx

    return nx.node_link_data(topo.graph(), edges="links")


class Session:
    """A live network for a script; see the module docstring. Make one with ``lab.network()``."""

    def __init__(self, topology: str | Path | Topology | nx.Graph, *, loopback: bool = False,
                 out: str | Path | None = None) -> None:
        self.topology = _topology(topology)
        self.net = Network(self.topology, loopback=loopback)
        self._out_arg = Path(out) if out is not None else None
        self.out: Path | None = None
        self._procs: list[subprocess.Popen] = []
        self._captures: list[LiveCapture] = []

    @property
    def traces_dir(self) -> Path:
        assert self.out is not None, "the network is not up"
        return RunPaths(self.out).traces_dir

    def __enter__(self) -> Session:
        self.out = self._out_arg or default_out_dir(f"network-{self.topology.name}")
        self.traces_dir.mkdir(parents=True, exist_ok=True)
        self.net.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            for cap in self._captures:
                with contextlib.suppress(Exception):
                    cap.__exit__(exc_type)
            for proc in self._procs:
                if proc.poll() is None:
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        finally:
            self.net.stop()

    def __getitem__(self, node: str) -> Node:
        if node not in self.net.nodes:
            raise KeyError(f"no node {node!r} in {self.topology.name} (nodes: {', '.join(self.net.nodes)})")
        return Node(self, node)

    @property
    def nodes(self) -> list[str]:
        return list(self.net.nodes)

    def capture(self, out: str | Path | None = None) -> LiveCapture:
        """A capture of every link; start it with ``with`` (or ``.start()``), ``.stop()`` returns the Run.
        Captures go to ``<network dir>/capture-N`` unless ``out`` says otherwise."""
        assert self.out is not None, "the network is not up: use `with lab.network(...) as net`"
        target = Path(out) if out is not None else self.out / f"capture-{len(self._captures) + 1}"
        cap = LiveCapture(self, target)
        self._captures.append(cap)
        return cap


def network(topology: str | Path | Topology | nx.Graph, *, loopback: bool = False,
            out: str | Path | None = None) -> Session:
    """Bring ``topology`` (a catalogue name, a file, a ``Topology`` or a networkx graph) up for a ``with``
    block; see the module docstring. Needs root (namespaces), like ``lab up``."""
    return Session(topology, loopback=loopback, out=out)

