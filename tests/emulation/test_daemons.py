"""Integration: FRR daemons belong to their run — stopped with the run, and found by `lab clean` after the
run's owner was SIGKILLed (they live in the run's namespaces); routes learned and recorded meanwhile."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.emulation import Network
from lab.emulation.clean import clean
from lab.emulation.daemons import FRR_DIR, FRR_STATE_DIR, RoutingDaemons
from lab.emulation.names import NETNS_DIR
from lab.labs.spec import LABS_DIR
from lab.topology import load_topology
from tests.helpers.emulation import run_id
from tests.helpers.processes import running

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not os.access(FRR_DIR / "ospfd", os.X_OK), reason="FRR not installed (make setup)"),
]
TOPO = LABS_DIR / "topologies" / "ospf-triangle.yaml"

# brings the OSPF network and its daemons up, waits for r1's route to h2's LAN, prints the daemon pids
OWNER = """
import json, sys, time
from pathlib import Path
from lab.emulation import Network
from lab.emulation.daemons import RoutingDaemons
from lab.topology import load_topology
work = Path(sys.argv[3])
with Network(load_topology(sys.argv[1]), run_id=sys.argv[2]) as net:
    with RoutingDaemons(net, work / "frr", work / "traces", work / "routes.jsonl", trace=False) as d:
        net.run("r1", [sys.executable, sys.argv[4], net.ip("h2"), "--timeout", "30"], timeout=40)
        print(json.dumps(d.daemon_pids), flush=True)
        time.sleep(300)
"""


def test_daemons_learn_routes_and_stop_with_the_run(tmp_path: Path) -> None:
    with Network(load_topology(TOPO), run_id=run_id("o")) as net:
        with RoutingDaemons(net, tmp_path / "frr", tmp_path / "traces", tmp_path / "routes.jsonl") as daemons:
            # every router has learnt a route before the daemons stop (r1 having one says nothing of r3's
            # SPF, which runs on its own throttle: waiting on r1 alone failed in a loaded CI run)
            for router, far in (("r1", "h2"), ("r2", "h2"), ("r2", "h1"), ("r3", "h1")):
                done = net.run(router, [sys.executable, str(LABS_DIR / "programs" / "route_wait.py"),
                                        net.ip(far), "--timeout", "30"], timeout=40)
                assert "route to" in done.stdout, (router, far, done.stdout)
            pids = list(daemons.daemon_pids.values())
            assert len(pids) == 2 * len(net.topo.routers) and all(running(pid) for pid in pids)
        assert not daemons.failures, daemons.failures
        assert not any(running(pid) for pid in pids)
        left = [d for d in FRR_STATE_DIR.glob("*.*") if d.suffix.lstrip(".") in {str(pid) for pid in pids}]
        assert not left, left
    events = [json.loads(line) for line in (tmp_path / "routes.jsonl").read_text().splitlines()]
    assert {e["node"] for e in events if e["action"] == "add" and e["proto"] == "ospf"} == {"r1", "r2", "r3"}
    assert any(e["action"] == "delete" for e in events)  # zebra withdrew its routes while we listened
    calls = [json.loads(line) for f in sorted((tmp_path / "traces").glob("calls-r*-ospfd.jsonl"))
             for line in f.read_text().splitlines()]
    assert calls and all(c["family"] in ("AF_INET", "AF_INET6") and c["program"] == "ospfd" for c in calls)
    assert any(c["call"] == "sendmsg" and (c.get("dgram") or {}).get("raw") for c in calls)


def test_sigkill_owner_then_clean_kills_the_daemons(tmp_path: Path) -> None:
    rid = run_id("q")
    wait = LABS_DIR / "programs" / "route_wait.py"
    argv = [sys.executable, "-c", OWNER, str(TOPO), rid, str(tmp_path), str(wait)]
    owner = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        pids = list(json.loads(owner.stdout.readline()).values())
        assert len(pids) == 6 and all(running(pid) for pid in pids)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert all(running(pid) for pid in pids), "SIGKILL leaves them behind: that is what clean is for"
        (removed,), _ = clean([rid])
        assert set(pids) <= set(removed.processes) and not removed.problems
        assert not any(running(pid) for pid in pids)
        assert not [p for p in NETNS_DIR.iterdir() if p.name.startswith(f"lab-{rid}-")]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        clean([rid])
        for pid in pids:  # FRR's empty per-process state directories: the one known leftover of a SIGKILL
            for d in FRR_STATE_DIR.glob(f"*.{pid}"):
                shutil.rmtree(d)


def test_lab_up_runs_the_daemons_for_the_session(tmp_path: Path) -> None:
    lab = Path(sys.executable).with_name("lab")
    rid = run_id("u")
    up = subprocess.run([str(lab), "up", str(TOPO), "--run-id", rid, "--out", str(tmp_path / "s")],
                        capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    try:
        wait = subprocess.run([str(lab), "exec", rid, "r1", sys.executable,
                               str(LABS_DIR / "programs" / "route_wait.py"), "198.18.4.1", "--timeout", "30"],
                              capture_output=True, text=True, timeout=60)
        assert wait.returncode == 0 and "via" in wait.stdout, wait.stderr
        pids = [int(p.read_text()) for p in (tmp_path / "s" / "frr").glob("*/*.pid")]
        assert len(pids) == 6 and all(running(pid) for pid in pids)
    finally:
        down = subprocess.run([str(lab), "down", rid], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not any(running(pid) for pid in pids)
    calls = list((tmp_path / "s" / "traces").glob("calls-r*-ospfd.jsonl"))
    assert len(calls) == 3  # traced in the session: lab down explained their packets
