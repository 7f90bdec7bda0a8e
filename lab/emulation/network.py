"""``Network``: a topology realized for the duration of a ``with`` block, and always torn down.

Lifecycle: ``__enter__`` claims the run id by creating its record exclusively (``lab.emulation.state``:
of two runs with one id exactly one gets it, before anything exists), builds the network through the
backend, and installs SIGINT/SIGTERM handlers (main thread only) that unwind the ``with`` block; ``__exit__``
removes everything and restores the handlers, on normal exit, exceptions and those signals alike. From the
claim until the namespaces exist, and during every teardown, those signals are held and delivered after
(``lab.emulation.deferred``), so an interrupt at any moment leaves nothing. After a SIGKILL the state file
remains and ``lab clean`` removes the run's resources (see ``lab.emulation.clean``), including the nodes'
private /tmp directories (``node_tmp``) that lab programs get (``lab.emulation.privilege``).

Two realizations share this API:

* namespaces (default, root): one namespace per node, veths, bridges, routes, conditions;
* loopback (``loopback=True``, or a topology marked ``loopback: true``): each host is a 127.x address on
  ``lo`` in the current namespace (a per-run 127.A.B.0/24, see ``lab.topology.addressing``); nothing is
  created, commands run directly, capture on ``lo`` with a BPF filter for the run's addresses. A client
  that does not bind() sends from 127.0.0.1 (the kernel's source address on ``lo``); its packets are still
  captured because the other end is a run address. Routers, link conditions and IPv6 per-host addresses
  are refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lab.emulation import conditions
from lab.emulation.backend import Backend, KernelBackend, kill_all, pids_of_run
from lab.emulation.deferred import signals_deferred
from lab.emulation.names import NETNS_DIR, check_run_id, namespace, new_run_id
from lab.emulation.plan import Plan, build_plan
from lab.emulation.privilege import Confinement
from lab.emulation.state import RunState, load_states, process_start
from lab.errors import EmulationError, PrivilegeError, TopologyError, UsageError
from lab.interrupts import install_unraisable_rescue, raise_terminated
from lab.topology import Iface, Topology, loopback_addresses


@dataclass(frozen=True)
class CapturePoint:
    """Where to capture one link or switched segment so that each packet crossing it is captured once.

    ``namespace`` None means the current (root) namespace; ``bpf`` restricts a shared interface (``lo``) to
    the run's addresses.
    """

    namespace: str | None
    ifname: str
    node: str
    label: str
    bpf: str | None = None


PROBE = Path(__file__).with_name("probe.py")


class Network:
    """A realized topology. Use as a context manager; see the module docstring.

    Args:
        topo: a validated Topology.
        loopback: realize on the loopback interface instead of namespaces.
        run_id: names this run's resources; random 6 hex characters by default.
        backend: the kernel seam (tests pass a RecordingBackend).
        keeper: recorded in the state file: the run belongs to a `lab up` keeper process.
        live_dir: recorded in the state file: where a `lab up` session captures and traces (lab.live).
    """

    def __init__(
        self,
        topo: Topology,
        loopback: bool = False,
        run_id: str | None = None,
        backend: Backend | None = None,
        keeper: bool = False,
        live_dir: str | None = None,
    ) -> None:
        self.topo = topo
        self._live_dir = live_dir
        self.loopback = loopback or topo.loopback
        self.run_id = check_run_id(run_id) if run_id else new_run_id()
        self._backend = backend
        self._keeper = keeper
        self._state: RunState | None = None
        self._plan: Plan | None = None
        self._old_handlers: dict[int, Any] = {}
        self._up = False
        self._lo_addr: dict[str, str] = {}
        self._unrecorded = False  # a loopback run whose record could not be written: nothing to remove
        self.conditions_report: list[str] = []
        if self.loopback:
            self._check_loopback()

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Network:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Realize the topology; on any failure (or signal) everything created so far is removed."""
        if self._up:
            raise UsageError(f"run {self.run_id} is already up")
        self._install_handlers()
        try:
            if self.loopback:
                self._start_loopback()
            else:
                self._start_netns()
        except BaseException:
            # the signal that interrupted bring-up may reach us again (a process-group Ctrl-C kills our `ip`
            # child first, and its failure brings us here before the signal itself): held until done
            try:
                with signals_deferred():
                    self._teardown()
            finally:
                self._restore_handlers()
            raise
        self._up = True

    def stop(self) -> None:
        """Tear down (idempotent). Signals arriving meanwhile are held until the teardown is done."""
        if self._state is None:
            self._restore_handlers()
            return
        try:
            with signals_deferred():
                self._teardown()
        finally:
            self._up = False
            self._restore_handlers()

    def _start_netns(self) -> None:
        if self._backend is None and os.geteuid() != 0:
            raise PrivilegeError("network namespaces need root; use --loopback (loopback=True) for a "
                                 "loopback topology, or run as root")
        backend = self._backend or KernelBackend()
        netem = conditions.netem_available() if any(not li.conditions.empty for li in self.topo.links) \
            else False
        plan = build_plan(self.topo, self.run_id, netem)  # raises before anything exists
        # The record is the claim on the run id (an exclusive create, see lab.emulation.state): a loser
        # raises here, before it owns anything, so its teardown can never touch the winner's namespaces.
        state = self._new_state("netns")
        state.namespaces = dict(plan.namespaces)
        state.etc_dirs = sorted({os.path.dirname(p) for p in plan.etc_files})
        # Signals are held from the claim until the kernel objects are made (or their making failed): a
        # child forked an instant before a signal (`ip -batch`) runs to its end even if we give up on it,
        # and would create namespaces after our teardown. Ctrl-C also kills those children, so bring-up
        # fails at once and the held signal then unwinds through the teardown.
        with signals_deferred():
            state.claim()
            # a namespace of ours that exists without a record (made by hand, or by a run recorded under
            # another LAB_STATE_DIR) is not ours to remove: give the claim back and refuse
            taken = [ns for ns in plan.namespaces.values() if (NETNS_DIR / ns).exists()]
            if taken:
                state.remove()
                raise UsageError(f"run id {self.run_id} is in use (namespace {taken[0]} exists without a "
                                 "record of this machine's runs); choose another run id")
            self._state = state
            self._plan = plan
            self._backend = backend
            self.conditions_report = list(plan.conditions_report)
            backend.create(plan)
        self._state.status = "up"
        self._state.save()

    def _start_loopback(self) -> None:
        self._lo_addr = loopback_addresses(self.topo, self.run_id)
        self._check_loopback_addresses_free()
        self.conditions_report = [f"{li.label}: no conditions (loopback)" for li in self.topo.links]
        state = self._new_state("loopback")
        state.status = "up"
        try:
            state.claim()  # RunIdInUse if another run holds the id (its programs carry LAB_RUN=<id> too)
        except OSError:  # an unwritable state directory: a loopback run creates nothing that needs a record
            self._unrecorded = True
        self._state = state

    def _check_loopback_addresses_free(self) -> None:
        """Refuse addresses a live loopback run holds: both runs' captures would see both runs' packets."""
        mine = set(self._lo_addr.values())
        for st in load_states():
            if st.mode != "loopback" or not st.alive():
                continue
            shared = sorted(mine & {a.get("ipv4") for a in st.addresses.values()} - {None})
            if shared:
                raise UsageError(f"loopback address {shared[0]} is used by live run {st.run_id} "
                                 f"({st.topology}); wait for it to end, or fix other 127.x addresses")

    def _new_state(self, mode: str) -> RunState:
        st = RunState(run_id=self.run_id, owner_pid=os.getpid(), owner_start=process_start(os.getpid()),
                      topology=self.topo.name, source=self.topo.source, mode=mode, keeper=self._keeper,
                      live_dir=self._live_dir)
        st.kinds = {n.name: n.kind for n in self.topo.nodes}
        st.addresses = {n.name: {"ipv4": self._ip_or_none(n.name, 4), "ipv6": self._ip_or_none(n.name, 6)}
                        for n in self.topo.nodes}
        return st

    def _teardown(self) -> None:
        st = self._state
        if st is None:
            return
        if st.mode == "loopback":  # programs left running (`lab exec` on a `lab up` run, a crashed runner's)
            survivors = kill_all(pids_of_run(self.run_id))
            if survivors:
                raise EmulationError(f"run {self.run_id}: teardown incomplete: processes survived SIGKILL: "
                                     f"{survivors}")
        if st.mode == "netns" and self._backend is not None:
            st.status = "stopping"
            with contextlib.suppress(OSError):
                st.save()
            problems = self._backend.destroy(list(st.namespaces.values()), st.etc_dirs)
            if problems:
                # keep the record so that `lab clean` can finish the job, and say so
                raise EmulationError(f"run {self.run_id}: teardown incomplete: {problems[0]}")
        shutil.rmtree(st.files_dir, ignore_errors=True)  # the nodes' /tmp: their programs are gone now
        if not self._unrecorded:
            st.remove()
        self._state = None

    # -- signals -----------------------------------------------------------------------------------
    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        install_unraisable_rescue()
        self._old_handlers = {signal.SIGINT: signal.getsignal(signal.SIGINT),
                              signal.SIGTERM: signal.getsignal(signal.SIGTERM)}
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, raise_terminated)

    def _restore_handlers(self) -> None:
        if not self._old_handlers or threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._old_handlers = {}

    # -- queries -----------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.topo.nodes]

    @property
    def hosts(self) -> list[str]:
        return self.topo.hosts

    def kind(self, node: str) -> str:
        self._check_node(node)
        return self.topo.kind(node)

    def ip(self, node: str, version: int = 4) -> str:
        """Primary address of a host or router, without prefix."""
        self._check_node(node)
        addr = self._ip_or_none(node, version)
        if addr is None:
            if self.loopback and version == 6:
                raise EmulationError(f"node {node!r}: no per-host IPv6 address in a loopback topology")
            raise EmulationError(f"node {node!r}: has no IPv{version} address ({self.topo.kind(node)})")
        return addr

    def _ip_or_none(self, node: str, version: int) -> str | None:
        if self.loopback:
            if version == 6:
                return None
            return (self._lo_addr or loopback_addresses(self.topo, self.run_id)).get(node)
        return self.topo.layout.primary(node, version)

    def interfaces(self, node: str) -> list[Iface]:
        """Interfaces with ``.name .ipv4 .ipv6 .mac .peer_node`` (addresses with prefix)."""
        self._check_node(node)
        if self.loopback:
            addr = self._ip_or_none(node, 4)
            if not addr:
                return []
            return [Iface(node, "lo", 0, 0, None, None, f"{addr}/8", None, "00:00:00:00:00:00")]
        return list(self.topo.layout.interfaces[node])

    def namespace(self, node: str) -> str | None:
        self._check_node(node)
        return None if self.loopback else namespace(self.run_id, node)

    def routes(self, node: str) -> list[str]:
        self._check_node(node)
        return [] if self.loopback else [r.describe() for r in self.topo.layout.routes[node]]

    def capture_points(self) -> list[CapturePoint]:
        """One point per point-to-point link (its first endpoint) and one per switch (its bridge).

        A bridge is set promiscuous, so it sees every frame it forwards between its ports, once. Where
        switches are chained into one segment, a frame that crosses two switches is seen on both bridges
        (two points, two labels): each switch is a place on the wire.
        """
        if self.loopback:
            addrs = [self._ip_or_none(h, 4) for h in self.hosts]
            bpf = " or ".join(f"host {a}" for a in addrs if a)
            return [CapturePoint(None, "lo", self.hosts[0] if self.hosts else "lo", "lo", bpf or None)]
        points = []
        layout = self.topo.layout
        kinds = {n.name: n.kind for n in self.topo.nodes}
        for link in self.topo.links:
            if kinds[link.a] == "switch" or kinds[link.b] == "switch":
                continue
            iface = next(i for i in layout.interfaces[link.a] if i.link == link.index)
            points.append(CapturePoint(namespace(self.run_id, link.a), iface.name, link.a, iface.name))
        for s in self.topo.switches:
            points.append(CapturePoint(namespace(self.run_id, s), s, s, s))
        return points

    # -- running programs --------------------------------------------------------------------------
    def marks(self, node: str) -> dict[str, str]:
        """Environment every program of the run gets: LAB_RUN, LAB_NODE, LAB_IP (as ``lab exec`` gives).

        LAB_RUN also marks the processes of a loopback run, which no namespace holds: teardown and
        ``lab clean`` find them by it (``backend.pids_of_run``).
        """
        return {"LAB_RUN": self.run_id, "LAB_NODE": node, "LAB_IP": self._ip_or_none(node, 4) or ""}

    def node_tmp(self, node: str) -> Path:
        """The node's private /tmp for this run (created on first use, removed with the run; mode 1777 like
        /tmp). It lives beside the run's record, so ``lab clean`` removes it too."""
        self._check_node(node)
        if self._state is None:
            raise UsageError(f"run {self.run_id} is not up")
        d = self._state.files_dir / "tmp" / node
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o1777)
        return d

    def command(self, node: str, argv: Sequence[str]) -> list[str]:
        """The argv that runs ``argv`` inside ``node`` (``ip netns exec NS ...``, or as is on loopback)."""
        self._check_node(node)
        if not argv:
            raise UsageError("empty command")
        if self.loopback:
            return list(argv)
        return ["ip", "netns", "exec", namespace(self.run_id, node), *argv]

    def popen(
        self,
        node: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        confinement: Confinement | None = None,
        **kwargs: Any,
    ) -> subprocess.Popen:
        """Start ``argv`` inside the node's namespace; ``env`` is merged over ``os.environ`` and ``marks``.

        ``confinement`` starts it with least privilege (``lab.emulation.privilege``): what a lab file's
        programs get. Without it the command runs as the caller (``lab exec``, tests: the operator's own).
        """
        full_env = {**os.environ, **self.marks(node), **(env or {})}
        if confinement is not None:
            argv = confinement.argv(argv)
        return subprocess.Popen(self.command(node, argv), env=full_env, cwd=cwd, stdin=stdin, stdout=stdout,
                                stderr=stderr, **kwargs)

    def run(self, node: str, argv: Sequence[str], timeout: float = 30, check: bool = True,
            env: Mapping[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` in the node to completion (text output); EmulationError if it fails and ``check``."""
        full_env = {**os.environ, **self.marks(node), **(env or {})}
        try:
            proc = subprocess.run(self.command(node, argv), env=full_env, capture_output=True, text=True,
                                  timeout=timeout, input=input)
        except subprocess.TimeoutExpired:
            raise EmulationError(f"node {node!r}: {' '.join(argv)} timed out after {timeout:g}s") from None
        except FileNotFoundError:
            raise EmulationError(f"node {node!r}: {argv[0]}: command not found") from None
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise EmulationError(f"node {node!r}: {' '.join(argv)} exited {proc.returncode}"
                                 + (f": {detail[-1]}" if detail else ""))
        return proc

    def reachable(
        self, pairs: Sequence[tuple[str, str] | tuple[str, str, str]], version: int = 4, timeout: float = 3.0,
        port: int = 7,
    ) -> list[tuple[str, str, str]]:
        """Check reachability with a real UDP echo per pair, all pairs at once; returns the failed ones.

        A pair is ``(src, dst)`` (dst's primary address) or ``(src, dst, address)``, e.g. a gateway's
        address on the src's segment. Runs ``probe.py`` (one process for all pairs).
        """
        servers: set[tuple[str | None, str, int]] = set()
        clients = []
        resolved = []
        for k, pair in enumerate(pairs):
            src, dst = pair[0], pair[1]
            addr = pair[2] if len(pair) == 3 else self.ip(dst, version)  # type: ignore[misc]
            fam = 6 if ":" in addr else 4
            servers.add((self.namespace(dst), addr, port))
            clients.append([k, self.namespace(src), self.ip(src, fam), addr, port])
            resolved.append((src, dst, addr))
        spec = {"servers": sorted(servers, key=str), "clients": clients, "timeout": timeout}
        proc = subprocess.run([sys.executable, "-I", "-S", str(PROBE)], input=json.dumps(spec),
                              capture_output=True, text=True, timeout=timeout + 30)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise EmulationError(f"run {self.run_id}: reachability probe failed: {last[0]}")
        return [resolved[k] for k in json.loads(proc.stdout)["failed"]]

    # -- checks ------------------------------------------------------------------------------------
    def _check_node(self, node: str) -> None:
        if node not in {n.name for n in self.topo.nodes}:
            raise UsageError(f"run {self.run_id}: no node {node!r} (nodes: {', '.join(self.nodes)})")

    def _check_loopback(self) -> None:
        for n in self.topo.nodes:
            if n.kind == "router":
                raise self.topo.locate(TopologyError(
                    "routers need network namespaces (root); not available in loopback mode",
                    key=f"nodes.{n.name}.kind"))
        for link in self.topo.links:
            if not link.conditions.empty or link.mtu is not None:
                raise self.topo.locate(TopologyError(
                    f"link conditions/mtu need network namespaces (root); not available in loopback mode "
                    f"(link {link.a} -- {link.b})", key=f"links.{link.index}"))
