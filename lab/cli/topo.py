"""Topology verbs: ``lab up/exec/down/clean/ps`` and ``lab topo show/check``.

Thin: parse flags, call ``lab.topology`` / ``lab.emulation``, print. ``lab up`` leaves the network to a
keeper process (``lab.emulation.keeper``) that owns it until ``lab down``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click

from lab.emulation import clean as cleaning
from lab.emulation.names import check_run_id, new_run_id
from lab.emulation.state import load_state, load_states
from lab.errors import LabError, PrivilegeError, UsageError
from lab.paths import CAPTURES_DIR, RunPaths
from lab.topology import load_topology
from lab.topology.render import as_dict, svg, table


def _print_summary(s: dict) -> None:
    click.echo(f"run {s['run_id']}: {s['topology']} ({s['mode']}), owner pid {s['owner_pid']}")
    for n in s["nodes"]:
        addrs = ", ".join(f"{i['name']} {i['ipv4'] or '-'} {i['ipv6'] or ''}".rstrip()
                          for i in n["interfaces"])
        click.echo(f"  {n['name']:<10} {n['kind']:<7} {addrs}")
    for line in s["conditions"]:
        if not line.endswith("no conditions"):
            click.echo(f"  {line}")
    click.echo(f"stop it with: lab down {s['run_id']}")


@click.command("up")
@click.argument("topology")
@click.option("--loopback", is_flag=True, help="hosts as 127.x addresses on lo (no namespaces, no root)")
@click.option("--run-id", default=None, help="name the run (1-12 of [a-z0-9]); random by default")
@click.option("--capture/--no-capture", default=True, show_default=True,
              help="capture every link from the start and trace what `lab exec` runs, so that `lab explain`"
                   " and `lab watch` can explain every packet (the session directory is printed)")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="the session directory (default captures/<topology>-live-<UTC time>)")
@click.option("--json", "as_json", is_flag=True, help="print the run as JSON")
def up(topology: str, loopback: bool, run_id: str | None, capture: bool, out: Path | None,
       as_json: bool) -> None:
    """Bring up TOPOLOGY (a name or file) and leave it running; prints run id, nodes and addresses.

    Capture is on by default: every link is captured from the start (confirmed by probes, as in `lab run`)
    and every command `lab exec` runs is traced, so `lab explain RUN` and `lab watch RUN` explain what you
    do by hand; `lab down RUN` explains the whole session on its way out.
    """
    topo = load_topology(topology)  # validate here: bad input fails before any process starts
    if not loopback and not topo.loopback and os.geteuid() != 0:
        raise PrivilegeError("network namespaces need root; run as root, or use --loopback")
    # the run id is chosen here, so that the session directory can carry it: two sessions never share
    # one, and nothing is created before the keeper has claimed the id and brought the network up
    run_id = check_run_id(run_id) if run_id else new_run_id()
    argv = [sys.executable, "-m", "lab.emulation.keeper", topology, "--run-id", run_id]
    if loopback:
        argv.append("--loopback")
    if capture:
        live = out if out is not None else CAPTURES_DIR / f"{topo.name}-live-{run_id}"
        argv += ["--live-dir", str(live.resolve())]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
    except KeyboardInterrupt:  # the keeper lives in its own session: stop it, or the network comes up anyway
        proc.terminate()
        proc.wait(timeout=30)
        raise
    if proc.stdout:
        proc.stdout.close()
    try:
        result = json.loads(line)
    except ValueError:
        proc.wait(timeout=10)
        raise LabError(f"lab up: the keeper process exited ({proc.returncode}) without reporting") from None
    if "error" in result:
        proc.wait(timeout=10)
        err = LabError(result["error"])
        err.exit_code = result.get("exit_code", 1)
        raise err
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        _print_summary(result)
        if result.get("live_dir"):
            click.echo(f"capturing every link into {result['live_dir']}; `lab exec` traces what it runs; "
                       f"`lab explain {result['run_id']}` or `lab watch {result['run_id']}` explain it")


@click.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--no-trace", is_flag=True, help="do not record the command's socket calls")
@click.argument("run_id")
@click.argument("node")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(no_trace: bool, run_id: str, node: str, argv: tuple[str, ...]) -> None:
    """Run a command inside NODE of run RUN_ID: lab exec RUN NODE -- CMD ARGS.

    On a run brought up with capture (the default), the command's socket calls are recorded into the
    session (Python programs in-process, anything else under strace) unless --no-trace; stdin, stdout and
    stderr are the command's own, so servers, shells and `nc` typed into work as usual. The command sees
    LAB_RUN, LAB_NODE and LAB_IP (the node's IPv4 address) in its environment: on a loopback run, where
    every node shares the machine's network, LAB_IP is the address to bind to.
    """
    st = load_state(run_id)
    if st is None:
        raise UsageError(f"no run {run_id!r} (see `lab ps`)")
    if node not in st.kinds:
        raise UsageError(f"run {run_id}: no node {node!r} (nodes: {', '.join(st.kinds)})")
    cmd = list(argv)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("lab exec: no command given (lab exec RUN NODE -- CMD ARGS)")
    if st.live_dir and not no_trace:
        from lab.live import LiveDir
        from lab.tracing import wrap_command

        cmd, trace_env = wrap_command(cmd, LiveDir(Path(st.live_dir)).paths.traces_dir, node,
                                      python=sys.executable)
        os.environ.update(trace_env)
    if st.mode == "netns":
        cmd = ["ip", "netns", "exec", st.namespaces[node], *cmd]
    address = st.addresses[node]["ipv4"] if node in st.addresses else None
    os.environ.update(LAB_RUN=st.run_id, LAB_NODE=node, LAB_IP=address if address is not None else "")
    sys.stdout.flush()
    try:
        os.execvp(cmd[0], cmd)
    except OSError as err:
        raise UsageError(f"lab exec: {cmd[0]}: {err.strerror}") from None


@click.command("down")
@click.argument("run_id")
@click.option("--force", is_flag=True, help="also stop a run owned by a live process other than `lab up`")
@click.option("--no-explain", is_flag=True, help="do not explain the captured session on the way out")
def down(run_id: str, force: bool, no_explain: bool) -> None:
    """Tear down run RUN_ID (brought up with `lab up`); a captured session is explained first."""
    st = load_state(run_id)
    live_dir = st.live_dir if st is not None else None
    result = cleaning.down(run_id, force=force)
    click.echo(f"run {result.run_id}: down ({len(result.namespaces)} namespaces removed)")
    if live_dir and not no_explain:
        from lab.live import LiveDir, explain_dir

        live = LiveDir(Path(live_dir))
        if live.session().get("stopped"):
            out, explained = explain_dir(live)
            cov = explained.coverage
            click.echo(f"explained {cov['total']} packets ({cov['explained']} by a call, the kernel or the "
                       f"lab) and {len(explained.calls)} calls: {out}/report.html, {out}/ladder.txt")
            report = json.loads(RunPaths(out).report.read_text())
            if report["failures"]:
                from lab.errors import CaptureError

                raise CaptureError(f"run {run_id}: {report['failures'][0]}")
        else:
            click.echo(f"the session in {live_dir} was not closed by its keeper: its capture may be cut "
                       "short; `lab analyze` its files by hand")


@click.command("clean")
@click.option("--json", "as_json", is_flag=True)
def clean(as_json: bool) -> None:
    """Remove every resource of runs whose owner process is gone (live runs are left alone)."""
    removed, alive = cleaning.clean()
    if as_json:
        click.echo(json.dumps({
            "removed": [{"run_id": r.run_id, "topology": r.topology, "namespaces": r.namespaces,
                         "processes": r.processes, "problems": r.problems} for r in removed],
            "alive": [s.run_id for s in alive]}, indent=1))
    else:
        for r in removed:
            extra = f", killed {len(r.processes)} processes" if r.processes else ""
            click.echo(f"removed run {r.run_id} ({r.topology}): {len(r.namespaces)} namespaces{extra}")
            for p in r.problems:
                click.echo(f"  problem: {p}")
        click.echo(f"{len(removed)} dead run(s) removed, {len(alive)} live run(s) left alone")
    if any(r.problems for r in removed):
        raise LabError("clean: some resources could not be removed (see above)")


@click.command("ps")
@click.option("--json", "as_json", is_flag=True)
def ps(as_json: bool) -> None:
    """List recorded runs: id, topology, mode, owner, alive."""
    rows = [{"run_id": s.run_id, "topology": s.topology, "mode": s.mode, "owner_pid": s.owner_pid,
             "alive": s.alive(), "status": s.status, "keeper": s.keeper, "nodes": len(s.kinds),
             "age_s": round(time.time() - s.created, 1)} for s in load_states()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no runs")
        return
    click.echo(f"{'RUN':<13}{'TOPOLOGY':<14}{'MODE':<9}{'OWNER':<9}{'STATE':<9}{'NODES':<7}AGE")
    for r in rows:
        state = r["status"] if r["alive"] else "dead"
        click.echo(f"{r['run_id']:<13}{r['topology']:<14}{r['mode']:<9}{r['owner_pid']:<9}{state:<9}"
                   f"{r['nodes']:<7}{r['age_s']:.0f}s")


@click.group("topo")
def topo() -> None:
    """Inspect topology files (no root, nothing created)."""


@topo.command("show")
@click.argument("topology")
@click.option("--json", "as_json", is_flag=True)
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False, path_type=Path), help="write a picture")
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG needs a rasterizer that is not installed: use --svg")
def show(topology: str, as_json: bool, svg_path: Path | None, png_path: Path | None) -> None:
    """Nodes, interfaces, addresses and routes of TOPOLOGY (a name or file)."""
    if png_path is not None:
        raise UsageError("--png: no rasterizer installed (matplotlib/cairosvg); use --svg PATH")
    t = load_topology(topology)
    if svg_path is not None:
        try:
            svg_path.write_text(svg(t))
        except OSError as err:
            raise UsageError(f"--svg {svg_path}: {err.strerror}") from None
    if as_json:
        click.echo(json.dumps(as_dict(t), indent=1))
    else:
        click.echo(table(t), nl=False)
        if svg_path is not None:
            click.echo(f"picture: {svg_path}")


@topo.command("plan")
@click.argument("topology")
@click.option("--run-id", default="RUN", show_default=True, help="run id to show in the names")
@click.option("--netem/--no-netem", default=None, help="plan as if the kernel had (or lacked) netem "
              "[default: detect, needs root; otherwise assume it lacks it]")
@click.option("--json", "as_json", is_flag=True)
def plan(topology: str, run_id: str, netem: bool | None, as_json: bool) -> None:
    """Show the kernel steps `lab up` would take for TOPOLOGY (a dry run: nothing is created)."""
    from lab.emulation.conditions import netem_available
    from lab.emulation.plan import build_plan

    t = load_topology(topology)
    if t.loopback:
        raise UsageError(f"{t.source}: a loopback topology creates nothing (hosts are 127.x addresses on lo)")
    if netem is None:
        netem = netem_available() if os.geteuid() == 0 else False
    if run_id != "RUN":
        check_run_id(run_id)
    p = build_plan(t, run_id, netem)
    if as_json:
        click.echo(json.dumps({"root_batch": list(p.root_batch),
                               "namespaces": {j.ns: j.to_json() for j in p.jobs},
                               "files": p.etc_files, "conditions": list(p.conditions_report)}, indent=1))
        return
    click.echo("# root namespace: ip -batch -")
    for line in p.root_batch:
        click.echo(f"  {line}")
    for j in p.jobs:
        click.echo(f"# namespace {j.ns}")
        for k, v in j.sysctl.items():
            click.echo(f"  sysctl {k.replace('/', '.')}={v}")
        if j.offload_off:
            click.echo(f"  offloads off (tso gso gro tx-checksum): {' '.join(j.offload_off)}")
        for line in j.ip:
            click.echo(f"  ip {line}")
        for line in j.tc:
            click.echo(f"  tc {line}")
        if j.nft:
            click.echo("  nft -f - <<'EOF'")
            for line in j.nft.splitlines():
                click.echo(f"    {line}")
            click.echo("  EOF")
    click.echo(f"# files: {len(p.etc_files)} under /etc/netns/ (hosts, resolv.conf, gai.conf)")
    for line in p.conditions_report:
        click.echo(f"# {line}")


@topo.command("check")
@click.argument("topology")
def check(topology: str) -> None:
    """Validate TOPOLOGY only; exit 0 and print a one-line summary when it is valid."""
    t = load_topology(topology)
    kinds = {k: sum(1 for n in t.nodes if n.kind == k) for k in ("host", "router", "switch")}
    click.echo(f"{t.source}: ok ({kinds['host']} hosts, {kinds['router']} routers, {kinds['switch']} "
               f"switches, {len(t.links)} links, {len(t.layout.segments)} subnets)")


COMMANDS = [up, exec_, down, clean, ps, topo]
