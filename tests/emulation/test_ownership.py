"""Ownership without races: the run id is claimed atomically, every kernel object can be cleaned, and an
interrupt at any moment of bring-up leaves nothing behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.emulation.clean import clean
from lab.emulation.names import ETC_NETNS, NETNS_DIR
from lab.emulation.scratch import owner
from lab.emulation.state import load_state, process_start
from tests.helpers.emulation import run_id

pytestmark = pytest.mark.root
LAB = Path(sys.executable).with_name("lab")

# Waits until a shared start time, then brings the network up: the contenders reach the claim together.
CONTENDER = """
import json, sys, time
from lab.emulation import Network
from lab.errors import LabError
from lab.topology import load_topology
topo = load_topology(sys.argv[1])
net = Network(topo, run_id=sys.argv[2])
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
try:
    net.start()
except LabError as err:
    print(json.dumps({"error": str(err)}), flush=True)
    sys.exit(2)
print(json.dumps({"up": sys.argv[2]}), flush=True)
sys.stdin.read()  # holds the network until the test closes stdin
net.stop()
"""

# Brings a network up and holds it; says "starting" right before, so the test can interrupt bring-up.
BRING_UP = """
import sys, time
from lab.emulation import Network
from lab.topology import load_topology
topo = load_topology(sys.argv[1])
print("starting", flush=True)
try:
    with Network(topo, run_id=sys.argv[2]):
        print("up", flush=True)
        time.sleep(30)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""

# Holds the netem detection's scratch namespace open (between its create and its delete) and says so.
PROBE_HOLD = """
import subprocess, sys, time
from lab.emulation import conditions
real = conditions._run
def held(argv):
    real(argv)
    if argv[:3] == ["ip", "netns", "add"]:
        print(argv[3], flush=True)
        time.sleep(300)
conditions._run = held
conditions.netem_available()
"""

BIG = """
name: big
nodes: [h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, {name: r1, kind: router}, {name: s1, kind: switch}]
links: [[h1, s1], [h2, s1], [h3, s1], [h4, s1], [h5, s1], [h6, s1], [h7, s1], [h8, s1], [r1, s1],
        {endpoints: [r1, h9], loss: 10%}, [r1, h10]]
"""


def _left(rid: str) -> list[str]:
    """Everything on the machine that carries run id ``rid``: namespaces, /etc/netns dirs, its record."""
    out = [p.name for p in NETNS_DIR.iterdir() if p.name.startswith(f"lab-{rid}-")]
    out += [str(p) for p in ETC_NETNS.glob(f"lab-{rid}-*")] if ETC_NETNS.exists() else []
    return out + (["state"] if load_state(rid) else [])


def _scratch_of(pid: int) -> list[str]:
    return [p.name for p in NETNS_DIR.iterdir() if (owner(p.name) or (0,))[0] == pid]


def test_two_runs_claiming_one_run_id_exactly_one_wins_and_the_winner_is_untouched():
    rounds = 12
    played = 0
    for _ in range(rounds):
        rid = run_id("r")
        at = time.time() + 1.0
        procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, "two-hosts", rid, str(at)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
        try:
            results = [json.loads(p.stdout.readline() or '{"error": "no answer"}') for p in procs]
            winners = [p for p, r in zip(procs, results, strict=True) if "up" in r]
            losers = [(p, r) for p, r in zip(procs, results, strict=True) if "error" in r]
            assert len(winners) == 1 and len(losers) == 2, results
            # the losers gave up before creating anything: the winner's network is whole and works
            assert sorted(_left(rid)) == sorted([f"lab-{rid}-h1", f"lab-{rid}-h2",
                                                 str(ETC_NETNS / f"lab-{rid}-h1"),
                                                 str(ETC_NETNS / f"lab-{rid}-h2"), "state"])
            assert load_state(rid).owner_pid == winners[0].pid
            ping = subprocess.run(["ip", "netns", "exec", f"lab-{rid}-h1", "ping", "-c1", "-W2", "h2"],
                                  capture_output=True, text=True, timeout=10)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            for p, r in losers:
                assert r["error"] == f"run id {rid} is in use by pid {winners[0].pid}"
                assert p.wait(timeout=10) == 2
                assert "Traceback" not in p.stderr.read()
            winners[0].stdin.close()
            assert winners[0].wait(timeout=20) == 0
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            clean([rid])
        assert _left(rid) == []
        played += 1
    assert played == rounds


def test_cli_up_with_a_run_id_in_use_says_who_holds_it():
    rid = run_id("c")
    first = subprocess.run([LAB, "up", "two-hosts", "--no-capture", "--run-id", rid, "--json"],
                           capture_output=True, text=True, timeout=30)
    assert first.returncode == 0, first.stderr
    try:
        keeper = json.loads(first.stdout)["owner_pid"]
        second = subprocess.run([LAB, "up", "two-hosts", "--no-capture", "--run-id", rid],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        assert second.stderr == f"lab: run id {rid} is in use by pid {keeper}\n"
        assert (NETNS_DIR / f"lab-{rid}-h1").exists() and load_state(rid).owner_pid == keeper
    finally:
        down = subprocess.run([LAB, "down", rid], capture_output=True, text=True, timeout=30)
    assert down.returncode == 0, down.stderr
    assert _left(rid) == []


def test_sigkill_while_the_netem_probe_namespace_exists_then_clean_removes_it():
    proc = subprocess.Popen([sys.executable, "-c", PROBE_HOLD], stdout=subprocess.PIPE, text=True)
    try:
        name = proc.stdout.readline().strip()
        assert owner(name) == (proc.pid, process_start(proc.pid)), name
        assert (NETNS_DIR / name).exists()
        # a live owner's scratch namespace is left alone by clean
        clean()
        assert (NETNS_DIR / name).exists()
    finally:
        proc.kill()
        proc.wait()
    assert (NETNS_DIR / name).exists(), "SIGKILL leaves it behind: that is what clean is for"
    removed, _alive = clean()
    assert name in [r.run_id for r in removed] and not (NETNS_DIR / name).exists()
    assert _scratch_of(proc.pid) == []


def _bring_up_seconds(topo: Path) -> float:
    """How long bringing ``topo`` up takes on this machine now (from "starting" to "up"), torn down after."""
    rid = run_id("m")
    proc = subprocess.Popen([sys.executable, "-c", BRING_UP, str(topo), rid], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "starting"
        started = time.monotonic()
        assert proc.stdout.readline().strip() == "up"
        took = time.monotonic() - started
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _left(rid) == []
    return took


@pytest.mark.parametrize("seed", range(3))
def test_interrupt_at_random_moments_of_bring_up_leaves_nothing(tmp_path, seed):
    topo = tmp_path / "big.yaml"
    topo.write_text(BIG)
    rng = random.Random(seed)
    bring_up_s = _bring_up_seconds(topo)  # measured here and now: a loaded or idle machine differs 2-3x
    outcomes = []
    for _ in range(10):
        rid = run_id("i")
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        delay = rng.uniform(0.0, 1.2 * bring_up_s)  # most land during bring-up, some just after it
        # its own process group, signalled as a whole: what Ctrl-C in a terminal (or `kill -- -PGID`) does,
        # so the helpers it starts (ip, nshelper) are interrupted too
        proc = subprocess.Popen([sys.executable, "-c", BRING_UP, str(topo), rid], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert proc.stdout.readline().strip() == "starting"
            time.sleep(delay)
            os.killpg(proc.pid, sig)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "Error" not in err and "Traceback" not in err, (sig, delay, err)
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], (sig, delay, out, err)
        assert _left(rid) == [], (sig, delay)
        assert _scratch_of(proc.pid) == []
        outcomes.append("up" in out)
    assert len(outcomes) == 10 and not all(outcomes), "every signal came after bring-up: nothing was tested"


# Brings a network up, gives h1 its private /tmp (as a lab program's start does), then waits to be killed.
TMP_OWNER = """
import sys, time
from lab.emulation import Network
from lab.topology import load_topology
with Network(load_topology("two-hosts"), run_id=sys.argv[1]) as net:
    (net.node_tmp("h1") / "left-by-a-program").write_text("x")
    print(net.node_tmp("h1"), flush=True)
    time.sleep(300)
"""


def test_sigkill_then_clean_removes_the_nodes_private_tmp_too():
    rid = run_id("p")
    proc = subprocess.Popen([sys.executable, "-c", TMP_OWNER, rid], stdout=subprocess.PIPE, text=True)
    try:
        tmp = Path(proc.stdout.readline().strip())
        assert (tmp / "left-by-a-program").is_file() and oct(tmp.stat().st_mode & 0o7777) == "0o1777"
    finally:
        proc.kill()
        proc.wait()
    assert tmp.exists(), "SIGKILL leaves it behind: that is what clean is for"
    removed, _alive = clean([rid])
    assert [r.run_id for r in removed] == [rid] and not removed[0].problems
    assert not tmp.exists() and not tmp.parent.parent.exists() and _left(rid) == []


def test_clean_removes_a_probe_namespace_leaked_by_an_earlier_version_once_its_pid_is_gone():
    gone = subprocess.Popen(["true"])
    gone.wait()
    legacy = f"lab-probe{gone.pid}"  # the name before it carried the start time (and was never cleaned)
    live = f"lab-probe{os.getpid()}"  # a live pid: maybe its owner, so left alone
    for name in (legacy, live):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert owner(legacy) == (gone.pid, None)
        removed, _alive = clean()
        assert legacy in [r.run_id for r in removed] and not (NETNS_DIR / legacy).exists()
        assert (NETNS_DIR / live).exists()
    finally:
        for name in (legacy, live):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
