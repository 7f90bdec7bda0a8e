"""Run a lab end to end: realize its topology, capture, run its traced programs, explain every packet.

The order matters and is the point of this module:
1. the network is up (``lab.emulation.Network``) before anything runs, and is torn down whatever happens;
2. the capture is confirmed live by probes before the first program starts, and drained by a final probe
   after the last one ends, so no packet of the lab is missed;
3. background servers are awaited by checking that their socket listens (never by sleeping);
4. the capture and the call logs are analyzed even when a step failed, so a failure never loses evidence;
   the failure is reported afterwards (``RunResult.failures``), with the outputs already on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import networkx as nx

from lab.analysis.attribution import EXPLAINED, coverage
from lab.analysis.attribution.loss import LossRule, rules_from
from lab.analysis.pipeline import AnalysisResult
from lab.capture import Capture, CaptureOptions, CaptureStats, CaptureTarget
from lab.classroom.manifest import check_student, write_manifest
from lab.emulation import Network, counters
from lab.emulation.daemons import RoutingDaemons, load_route_events
from lab.emulation.privilege import describe as describe_privileges
from lab.emulation.privilege import lab_user, program_confinement, unreadable
from lab.errors import EmulationError, LabError, LabRunError, PrivilegeError, ToolMissingError, UsageError
from lab.explain import analyze_evidence, nodes_info
from lab.interrupts import signals_raise
from lab.labs.evaluate import evaluate
from lab.labs.spec import PROGRAMS_DIR, LabSpec, Step, check_programs, load_lab
from lab.labs.story import tell
from lab.paths import Phase, RunPaths, claim_run_dir, marked_partial, write_atomic
from lab.records import SCHEMA_VERSION
from lab.report.hops import link_ends_from, mac_nodes_from
from lab.report.html.page import write_report
from lab.report.ladder import Lane, ip_nodes_from, render_ladder, route_notes
from lab.topology import load_topology
from lab.tracing import is_python_command, wrap_command

READY_POLL_S = 0.02


@dataclass
class StepResult:
    name: str
    node: str | None
    argv: list[str]
    exit_code: int | None = None
    terminated: bool = False
    error: str | None = None
    started_ns: int = 0
    ended_ns: int = 0
    user: str | None = None  # "lab", "root" (the step declared root), None: the caller (a loopback run)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.node,
            "user": self.user,
            "argv": self.argv,
            "exit_code": self.exit_code,
            "terminated_by_lab": self.terminated,
            "error": self.error,
            "started_ns": self.started_ns,
            "ended_ns": self.ended_ns,
        }


FailureKind = Literal["capture", "step", "daemon", "observation", "question", "unexplained", "page"]
"""Which part of a run judged it: the capture lost packets; a step failed (exit status, timeout, never
ready); a routing daemon; an expected observation did not hold; a question found nothing to answer with;
packets no rule explains; the report page could not be written."""


@dataclass(frozen=True)
class Failure:
    """One reason a run did not pass, as data: callers decide by ``kind``, people read ``text``."""

    kind: FailureKind
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class RunResult:
    """What a run left: its directory, the report (also written as ``report.json``, whose ``failures`` are
    the texts of ``failures`` here) and the verdict: the run passed when ``failures`` is empty."""

    out: Path
    report: dict[str, Any]
    ladder: str = ""
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def failed(self, *kinds: FailureKind) -> list[Failure]:
        """The failures of these kinds (all of them when none is named)."""
        return [f for f in self.failures if not kinds or f.kind in kinds]

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.out)


def preflight(spec: LabSpec, loopback: bool) -> None:
    """Check privileges and tools once, at the edge, with messages that say what to do."""
    if loopback and not spec.loopback:
        raise UsageError(
            f"lab '{spec.name}' has no loopback variant (it needs network namespaces): run it as root "
            "without --loopback"
        )
    if not loopback and os.geteuid() != 0:
        hint = (
            f"; the loopback variant (lab run {spec.name} --loopback) needs no namespaces, but capturing "
            "still needs CAP_NET_RAW and CAP_NET_ADMIN"
            if spec.loopback
            else "; this lab has no loopback variant"
        )
        raise PrivilegeError(f"lab '{spec.name}' needs root to create network namespaces{hint}")
    if not _can_capture():
        raise PrivilegeError(
            "capturing packets needs root (or CAP_NET_RAW and CAP_NET_ADMIN): dumpcap opens the interface "
            "and the lab's probe frames that confirm the capture are raw frames; run it as root"
        )
    for tool, why in (("dumpcap", "to capture packets"), ("ip", "to run programs inside namespaces")):
        if shutil.which(tool) is None:
            raise ToolMissingError(tool, why)
    if (
        any(s.run and s.trace and not _is_python(s.run) for s in spec.steps)
        and shutil.which("strace") is None
    ):
        raise ToolMissingError("strace", "to trace the lab's non-Python programs")
    check_programs(spec)
    if os.geteuid() == 0 and any(s.run and not s.root for s in spec.steps):
        user = lab_user()  # the unprivileged user programs run as; missing: one line says how to add it
        uses_labdir = [s for s in spec.steps if not s.root and any("{labdir}" in a for a in s.run)]
        if uses_labdir and unreadable(spec.labdir, user):
            raise PrivilegeError(
                f"{spec.source}: step '{uses_labdir[0].name}' runs as user '{user.name}', which cannot read "
                f"{spec.labdir} (a private directory): make it readable (chmod o+rx), or move the lab"
            )


def _can_capture() -> bool:
    """Whether this process may open raw packet sockets (what the capture probes need)."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    except PermissionError:
        return False
    return True


def _is_python(argv: tuple[str, ...] | list[str]) -> bool:
    return Path(argv[0]).name.startswith("python") if argv else False


def run_lab(
    lab: LabSpec | str | Path,
    out_dir: Path | None = None,
    *,
    loopback: bool = False,
    python: str = sys.executable,
    log: TextIO | None = None,
    capture: CaptureOptions | None = None,
    student: str | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run one lab and write its outputs into ``out_dir`` (default ``captures/<lab>-<UTC stamp>/``).

    ``out_dir`` must be new or empty (``lab.paths.claim_run_dir``); it holds a PARTIAL marker until the
    run's last output is in place, and keeps it, with the reason, when a signal or an error ends the run.
    ``run_id`` names the run's kernel objects (random by default). ``capture`` sets dumpcap's buffer and
    snap length (default: an automatic buffer and whole packets). Packets dumpcap dropped make the run
    fail, whatever else held (``report["capture"]`` says where).

    A program that failed, an expected observation that did not hold or a packet left unexplained does
    not raise: it is listed in ``RunResult.failures`` (and the report's ``failures``), after every output
    is written, so callers decide (``lab run`` exits non-zero; ``lab labs run-all`` goes on).

    Raises:
        LabError: the run could not take place (privileges, tools, topology, capture never confirmed).
    """
    with signals_raise():  # SIGTERM unwinds like Ctrl-C at every moment, analysis included
        spec = lab if isinstance(lab, LabSpec) else load_lab(lab)
        if student is not None:
            check_student(student)
        preflight(spec, loopback)
        topo = load_topology(spec.topology_ref)
        paths = claim_run_dir(out_dir, spec.name)
        phase = Phase()
        with marked_partial(paths, phase):
            write_atomic(paths.lab_file, spec.source.read_bytes())
            graph = nx.node_link_data(topo.graph(), edges="links")
            write_atomic(paths.topology, json.dumps(graph, default=str) + "\n")
            say = (lambda msg: print(msg, file=log, flush=True)) if log else (lambda msg: None)
            say(describe_privileges([(s.name, s.node, s.root_reason) for s in spec.root_steps]))
            options = capture or CaptureOptions()
            executed = _execute(spec, topo, loopback, paths, python, say, options, phase, run_id)
            say(f"network {executed.run_id} down; analyzing")
            phase.now = "analysis"
            result = _explain(spec, executed, paths, loopback, phase)
            phase.now = "manifest"
            rules = [{"a": r.a, "b": r.b, "rule": r.rule} for r in executed.loss_rules]
            write_manifest(  # last: it hashes every output, so grading can tell what changed afterwards
                paths.root, lab=spec.name, lab_file=spec.source, nodes=executed.nodes_info,
                capture_points=executed.iface_nodes, run_id=executed.run_id, loopback=loopback,
                student=student, loss_rules=rules,
            )
            return result


@dataclass
class _Executed:
    """What the live part of a run leaves for its explanation: the network is gone by then."""

    run_id: str
    nodes_info: dict[str, dict[str, Any]]
    iface_nodes: dict[str, str]
    conditions: list[str]
    steps: list[StepResult]
    failures: list[Failure]
    kernel_counters: dict[str, dict[str, int]] = field(default_factory=dict)  # what the run's kernels dropped
    capture: CaptureStats | None = None  # what each capture point received and dropped
    loss_rules: list[LossRule] = field(default_factory=list)  # the topology's emulated loss, per link


def _execute(
    spec: LabSpec,
    topo: Any,
    loopback: bool,
    paths: RunPaths,
    python: str,
    say: Any,
    options: CaptureOptions,
    phase: Phase,
    run_id: str | None = None,
) -> _Executed:
    """Network up, capture confirmed, steps run, capture drained, network down — in that order, always."""
    steps: list[StepResult] = []
    phase.now = "bring-up"
    with Network(topo, loopback=loopback, run_id=run_id) as net:
        say(f"network {net.run_id} up: " + ", ".join(f"{n}={net.ip(n)}" for n in net.hosts))
        for line in net.conditions_report or []:
            if "no conditions" not in line:
                say(f"  {line}")
        points = net.capture_points()
        targets = [CaptureTarget(p.namespace, p.ifname, p.label, p.bpf) for p in points]
        executed = _Executed(
            net.run_id,
            nodes_info(net),
            {p.label: p.node for p in points},
            list(net.conditions_report or []),
            steps,
            [],
            loss_rules=[] if loopback else rules_from(topo.links, net.conditions_report or []),
        )
        capture = Capture(
            targets, paths.capture, paths.work_dir, python=python, buffer_mib=options.buffer_mib,
            snaplen=options.snaplen,
        )
        phase.now = "capture start"
        with capture:
            say(f"capturing on {', '.join(t.label for t in targets)} (confirmed by probe)")
            phase.now = "programs"
            # routing daemons (a topology with routing: ospf/eigrp) start after the capture is confirmed,
            # so their first hellos are captured, and stop before it is drained
            with RoutingDaemons(net, paths.frr_dir, paths.traces_dir, paths.routes) as daemons:
                if daemons.protocol != "static":
                    say(f"{daemons.protocol} daemons started on {', '.join(net.topo.routers)}")
                before = counters.snapshot(net, list(net.nodes))
                failed = _run_steps(spec, net, paths, python, steps, say)
                executed.failures += [Failure("step", text) for text in failed]
                executed.kernel_counters = counters.delta(before, counters.snapshot(net, list(net.nodes)))
            executed.failures += [Failure("daemon", t) for t in daemons.failures]
            phase.now = "capture stop"
        executed.capture = capture.stats
        phase.now = "teardown"
    return executed


def _explain(spec: LabSpec, executed: _Executed, paths: RunPaths, loopback: bool,
             phase: Phase | None = None) -> RunResult:
    """Attribute every packet, check the lab's expectations, draw the ladder, write the report."""
    failures = list(executed.failures)
    stage = paths.work_dir / "analysis"  # renamed into the run directory once complete
    stage.mkdir(parents=True, exist_ok=True)
    result, packets, calls = analyze_evidence(
        paths.capture, paths.traces_dir, stage, executed.nodes_info, executed.iface_nodes,
        executed.loss_rules,
    )
    summary = _publish_analysis(result, stage, paths)
    if phase is not None:
        phase.now = "report"  # the analysis outputs are whole and in place; what follows judges and draws
    ip_nodes, macs = ip_nodes_from(executed.nodes_info), mac_nodes_from(executed.nodes_info)
    routes = load_route_events(paths.routes)
    evaluation = evaluate(spec, packets, calls, routes, paths.root)
    wire = [p for p in packets if p["role"]["code"] != "lab-probe"]
    stats = executed.capture or CaptureStats({})
    # coverage says what it is over: explained packets of a capture that lost some are not "everything"
    cov = coverage(p["cause"] for p in wire)
    cov["capture_complete"] = stats.complete
    lost = stats.problem()
    if lost:
        failures.insert(0, Failure("capture", lost))  # first: every other verdict stands on this capture
    failures += [
        Failure("observation", f"expected observation failed: {o['check']}: {o['detail']}")
        for o in evaluation["observations"]
        if not o["ok"]
    ]
    failures += [Failure("question", f"question '{u['id']}': {u['reason']}")
                 for u in evaluation["unanswered"]]
    if cov["explained"] != cov["total"]:
        unexplained = [p["number"] for p in wire if p["cause"]["source"] not in EXPLAINED]
        failures.append(Failure("unexplained", f"{len(unexplained)} packet(s) not explained: "
                                               f"frames {unexplained[:10]}"))
    nodes_info = executed.nodes_info
    lanes = [Lane(n, info["kind"]) for n, info in nodes_info.items() if info["kind"] != "switch"]
    ladder = render_ladder(
        packets, calls, lanes, macs, ip_nodes=ip_nodes,
        title=f"{spec.name}: {spec.title}\n{stats.header_line()}",
        notes=route_notes(routes),
        links=link_ends_from(nodes_info),
    )
    write_atomic(paths.ladder, ladder)
    # the story again, with what the kernels counted (a dropped SYN's reason is a counter, not a packet)
    story = evaluation.get("story", "")
    if executed.kernel_counters:
        story = tell(packets, calls, spec.title, counters=executed.kernel_counters)
    write_atomic(paths.story, _under_title(story, stats.header_line()) + "\n")
    report = {
        "schema_version": SCHEMA_VERSION,
        "lab": spec.name,
        "title": spec.title,
        "run_id": executed.run_id,
        "out": str(paths.root),
        "topology": str(spec.topology),
        "loopback": loopback,
        "nodes": nodes_info,
        "conditions": executed.conditions,
        "kernel_counters": executed.kernel_counters,
        "routes": routes,
        "steps": [s.as_dict() for s in executed.steps],
        "capture": stats.as_dict(),
        "packets": result.packet_count,
        "calls": len(calls),
        "coverage": cov,
        "summary": summary,
        "analysis_errors": list(result.errors),
        "observations": evaluation["observations"],
        "questions": [{"id": q.id, "text": q.text} for q in spec.questions],  # never the answers
        "failures": [f.text for f in failures],
        "ok": not failures,
        "partial": False,  # true (with partial_reason) when the run was cut short after writing this
    }
    write_atomic(paths.report, json.dumps(report, indent=2, default=str) + "\n")
    try:
        write_report(paths.root, by_the_run=True)
    except LabError as err:  # the evidence is on disk already; a page that cannot be made is one failure
        failures.append(Failure("page", f"report.html not written: {err}"))
    return RunResult(paths.root, report, ladder, failures)


def _publish_analysis(result: AnalysisResult, stage: Path, paths: RunPaths) -> dict[str, Any]:
    """Rename the complete analysis outputs from ``stage`` into the run directory; returns the summary,
    which names them there (summary.json written last, atomically)."""
    staged = RunPaths(stage)
    for name in ("calls", "packets", "annotated", "conversations"):
        src = getattr(staged, name)
        if src.exists():
            src.replace(getattr(paths, name))
    outputs = {"packets": str(paths.packets), "annotated": str(paths.annotated),
               "conversations": str(paths.conversations)}
    summary = {**result.summary, "outputs": outputs}
    write_atomic(paths.summary, json.dumps(summary, indent=2) + "\n")
    staged.summary.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the staging directory, now empty
        stage.rmdir()
    return summary


def _under_title(text: str, line: str) -> str:
    """``line`` as the paragraph right under the text's first (title) line."""
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{line}\n{rest}" if rest else f"{title}\n\n{line}"


def _run_steps(
    spec: LabSpec, net: Network, paths: RunPaths, python: str, results: list[StepResult], say: Any
) -> list[str]:
    """Run the steps in order; returns failures (the capture goes on being drained by the caller)."""
    context = _placeholders(spec, net, paths, python)
    background: dict[str, tuple[subprocess.Popen[bytes], StepResult]] = {}
    started: list[tuple[subprocess.Popen[bytes], StepResult]] = []
    failures: list[str] = []
    try:
        for step in spec.steps:
            if step.is_wait:
                proc, res = background.pop(step.wait or "")
                _wait(proc, res, step.timeout)
                _judge(spec.steps, res, failures, paths)
                say(
                    f"  {res.name} ended: exit {res.exit_code}"
                    + (" (stopped by the lab)" if res.terminated else "")
                )
                continue
            try:
                argv = [arg.format_map(context) for arg in step.run]
            except (KeyError, IndexError, ValueError) as err:
                raise LabRunError(f"step '{step.name}': placeholder {err} has no value in this run") from None
            if _is_python(argv):
                argv[0] = python
            res = StepResult(step.name, step.node, argv)
            results.append(res)
            proc = _start(step, argv, net, paths, python, res, spec.labdir)
            started.append((proc, res))
            if step.background:
                background[step.name] = (proc, res)
                if step.ready:
                    _await_ready(net, step, proc, paths)
                say(
                    f"  {step.node}: {step.name} started"
                    + (f", {step.ready.proto}/{step.ready.port} ready" if step.ready else "")
                )
                continue
            _wait(proc, res, step.timeout)
            say(f"  {step.node}: {step.name} exit {res.exit_code}")
            problem = _judge(spec.steps, res, failures, paths)
            if problem:
                break
    except LabRunError as err:
        failures.append(str(err))
    finally:
        # servers still running when the lab ends (or is interrupted) are stopped, and that is recorded
        for proc, res in started:
            if proc.poll() is None:
                _wait(proc, res, 0.0)
    return failures


def _placeholders(spec: LabSpec, net: Network, paths: RunPaths, python: str) -> dict[str, Any]:
    ips = {n: net.ip(n, 4) for n in net.nodes if net.kind(n) != "switch"}
    ip6: dict[str, str] = {}
    for n in ips:
        try:
            ip6[n] = net.ip(n, 6)
        except EmulationError:  # a loopback topology has no IPv6 address per host
            continue
    return {
        "programs": str(PROGRAMS_DIR),
        "python": python,
        "ip": ips,
        "ip6": ip6,
        "out": str(_files_dir(paths)),
        "labdir": str(spec.labdir),
        "netns": {n: net.namespace(n) or "" for n in ips},
    }


def _start(
    step: Step, argv: list[str], net: Network, paths: RunPaths, python: str, res: StepResult,
    labdir: Path | None = None,
) -> subprocess.Popen[bytes]:
    # least privilege (lab.emulation.privilege): as user 'lab' unless the step declared root; it may write
    # only {out} (its cwd) and the traces; strace, when it traces the step, drops to the user itself
    # only {out} (files/) and the in-process tracer's traces/py/ are writable: strace's logs, the capture
    # and the reports are written by root where a lab program cannot plant a link
    files = _files_dir(paths)
    node = step.node or "local"
    traced_in_process = step.trace and is_python_command(argv)
    trace_dir = paths.traces_dir / "py" if traced_in_process else paths.traces_dir
    confinement = program_confinement(
        net.node_tmp(step.node or ""), root=step.root, strace=step.trace and not traced_in_process,
        readable=[labdir] if labdir else [], writable=[files, *([trace_dir] if traced_in_process else [])],
        mounted=[] if traced_in_process else [trace_dir], cwd=files,
    )
    user = confinement.user if confinement else None
    res.user = "root" if confinement and not user else (user.name if user else None)
    env: dict[str, str] = dict(user.env) if user else {}
    if step.trace:
        argv, trace_env = wrap_command(argv, trace_dir, node, python=python,
                                       strace_user=user.name if user else None)
        env.update(trace_env)
    out = (paths.logs_dir / f"{step.name}.out").open("wb")
    err = (paths.logs_dir / f"{step.name}.err").open("wb")
    res.started_ns = time.time_ns()
    try:
        return net.popen(step.node, argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                         confinement=confinement, cwd=None if confinement else files)
    finally:
        out.close()
        err.close()


def _files_dir(paths: RunPaths) -> Path:
    """``{out}``: where a lab's programs may write (and their working directory), ``files/`` of the run."""
    files = paths.root / "files"
    files.mkdir(exist_ok=True)
    return files


def _wait(proc: subprocess.Popen[bytes], res: StepResult, timeout: float) -> None:
    try:
        res.exit_code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        res.terminated = True
        proc.send_signal(signal.SIGTERM)
        try:
            res.exit_code = proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            res.exit_code = proc.wait(timeout=3)
        if timeout > 0:
            res.error = f"did not finish within {timeout:g}s; stopped by the lab"
    res.ended_ns = time.time_ns()


def _last_error_line(paths: RunPaths, step_name: str) -> str:
    """The program's own last word (stderr, else stdout): why it failed, in its terms."""
    for suffix in (".err", ".out"):
        try:
            lines = (paths.logs_dir / f"{step_name}{suffix}").read_text(errors="replace").strip().splitlines()
        except OSError:
            continue
        if lines:
            return lines[-1].strip()[:200]
    return ""


def _judge(steps: tuple[Step, ...], res: StepResult, failures: list[str], paths: RunPaths) -> str | None:
    step = next(s for s in steps if s.name == res.name)
    problem = None
    if res.error and not step.background:
        problem = f"step '{res.name}' on {res.node}: {res.error}"
    elif (
        step.expect_exit is not None
        and res.exit_code != step.expect_exit
        and not (res.terminated and step.background)
    ):
        problem = f"step '{res.name}' on {res.node} exited {res.exit_code}, expected {step.expect_exit}"
        said = _last_error_line(paths, res.name)
        if said:
            problem += f" ({said})"
    if problem:
        failures.append(problem)
    return problem


def _await_ready(net: Network, step: Step, proc: subprocess.Popen[bytes], paths: RunPaths) -> None:
    """Poll the node's sockets until the server listens (TCP) or is bound (UDP): checked, not slept for."""
    assert step.ready is not None
    flag = "-Hltn" if step.ready.proto == "tcp" else "-Hlun"
    # on a loopback run every node shares the host's sockets: only a socket on the node's own address counts
    node_ip = net.ip(step.node or "") if net.namespace(step.node or "") is None else None
    port = step.ready.port
    where = (
        ["(", "src", f"{node_ip}:{port}", "or", "src", f"0.0.0.0:{port}", "or", "src", f"[::]:{port}", ")"]
        if node_ip
        else [f"sport = :{port}"]
    )
    argv = ["ss", flag, *where]
    deadline = time.monotonic() + step.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = _last_error_line(paths, step.name)
            raise LabRunError(
                f"step '{step.name}' on {step.node} exited {proc.returncode} before it was ready"
                + (f": {said}" if said else "")
            )
        try:
            done = net.run(step.node, argv, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            raise LabRunError(f"step '{step.name}' on {step.node}: the readiness check (ss) hung") from None
        if done.stdout.strip():
            return
        time.sleep(READY_POLL_S)
    raise LabRunError(
        f"step '{step.name}' on {step.node}: {step.ready.proto} port {step.ready.port} not ready "
        f"after {step.timeout:g}s"
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]
