"""Integration: teardown on every kind of exit, `lab clean` after SIGKILL, conditions, and the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.emulation import Network
from lab.emulation.clean import clean
from lab.emulation.names import ETC_NETNS, NETNS_DIR
from lab.emulation.state import load_state
from lab.errors import EmulationError, UsageError
from lab.topology import load_topology, topology_from_yaml
from tests.helpers.emulation import run_id

pytestmark = pytest.mark.root
LAB = Path(sys.executable).with_name("lab")

# brings a network up with a process sleeping inside h2, prints the run id, then waits to be killed
OWNER = """
import sys, time
from lab.emulation import Network
from lab.topology import load_topology
with Network(load_topology(sys.argv[1]), run_id=sys.argv[2]) as net:
    net.popen("h2", ["sleep", "300"])
    print("up", flush=True)
    time.sleep(300)
"""


def _ours(rid: str) -> dict[str, list[str]]:
    """Everything on the machine that carries this run id."""
    root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {
        "netns": sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(f"lab-{rid}-"))
        if NETNS_DIR.exists() else [],
        "etc": sorted(p.name for p in ETC_NETNS.iterdir() if rid in p.name) if ETC_NETNS.exists() else [],
        "root_links": [line for line in root_links.splitlines() if rid in line or "-eth" in line],
        "state": [rid] if load_state(rid) else [],
    }


def _root_snapshot() -> tuple[str, str]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return ("\n".join(sorted(x.split("@")[0].split(":")[1] for x in links.splitlines())), nft)


def _start_owner(rid: str, topology: str = "routed") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, topology, rid], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    return proc


def _sleepers(rid: str, wait: float = 0.0) -> list[int]:
    """The run's `sleep` in h2. ``wait``: `ip netns exec` enters the namespace only after Popen returns,
    so right after start-up the process may still be in the root namespace for a moment."""
    from lab.emulation.backend import pids_in_namespaces

    deadline = time.monotonic() + wait
    while True:
        pids = pids_in_namespaces([f"lab-{rid}-h2"])
        if pids or time.monotonic() >= deadline:
            return pids
        time.sleep(0.02)


def test_sigkill_then_clean_restores_machine():
    before = _root_snapshot()
    rid = run_id("k")
    live = Network(load_topology("two-hosts"), run_id=run_id("l"))
    with live:
        proc = _start_owner(rid)
        try:
            assert _ours(rid)["netns"] and _sleepers(rid, wait=5.0)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert _ours(rid)["netns"], "SIGKILL leaves the run behind: that is what clean is for"
            removed, alive = clean()
            assert rid in [r.run_id for r in removed]
            assert live.run_id in [s.run_id for s in alive]  # a live run is never touched
            assert (NETNS_DIR / live.namespace("h1")).exists()
            live.run("h1", ["ping", "-c1", "-W2", live.ip("h2")])
        finally:  # a failed assertion must not leave the owner and its network behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                clean([rid])
    assert _ours(rid) == {"netns": [], "etc": [], "root_links": [], "state": []}
    assert _sleepers(rid) == []
    assert _root_snapshot() == before


def test_loopback_run_sigkill_then_clean_kills_its_programs():
    """A loopback run has no namespace to find its programs by: LAB_RUN in their environment does."""
    from lab.emulation.backend import pids_of_run

    rid = run_id("m")
    proc = _start_owner(rid, "loopback")
    sleepers = pids_of_run(rid)
    assert len(sleepers) == 1 and "LAB_NODE=h2" in Path(f"/proc/{sleepers[0]}/environ").read_text()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert pids_of_run(rid) == sleepers, "SIGKILL leaves the program behind: that is what clean is for"
    (removed,), _ = clean([rid])
    assert removed.processes == sleepers and not removed.problems
    assert pids_of_run(rid) == [] and load_state(rid) is None


def test_loopback_teardown_stops_programs_left_running():
    from lab.emulation.backend import pids_of_run

    with Network(load_topology("loopback"), run_id=run_id("n")) as net:
        left = net.popen("h1", ["sleep", "300"])  # e.g. started with `lab exec` on a `lab up` run
        assert pids_of_run(net.run_id) == [left.pid]
    assert left.wait(timeout=5) == -signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_tears_down(sig):
    rid = run_id("s")
    proc = _start_owner(rid, "two-hosts")
    assert _ours(rid)["netns"]
    proc.send_signal(sig)
    proc.wait(timeout=10)
    # SIGTERM: SystemExit(143); SIGINT: KeyboardInterrupt, then Python dies by SIGINT as a shell expects
    assert proc.returncode == (143 if sig == signal.SIGTERM else -signal.SIGINT)
    assert _ours(rid) == {"netns": [], "etc": [], "root_links": [], "state": []}


def test_run_id_in_use_is_refused_and_nothing_is_touched():
    rid = run_id("u")
    ns = f"lab-{rid}-h2"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with pytest.raises(UsageError, match=f"run id {rid} is in use"), \
                Network(load_topology("two-hosts"), run_id=rid):
            pytest.fail("must not come up")
        assert (NETNS_DIR / ns).exists()  # not ours: left alone
        assert not (NETNS_DIR / f"lab-{rid}-h1").exists()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


def test_exception_tears_down():
    rid = run_id("e")
    with pytest.raises(RuntimeError), Network(load_topology("lan"), run_id=rid):
        assert _ours(rid)["netns"]
        raise RuntimeError("boom")
    assert _ours(rid) == {"netns": [], "etc": [], "root_links": [], "state": []}


def test_loss_via_nftables_drops_packets():
    topo = topology_from_yaml("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], loss: 30%, rate: 50mbit}]",
                              source="loss.yaml")
    with Network(topo, run_id=run_id()) as net:
        assert "via nftables" in net.conditions_report[0] and "via tbf" in net.conditions_report[0]
        out = net.run("h1", ["ping", "-q", "-c", "300", "-i", "0.002", "-W", "1", net.ip("h2")],
                      check=False, timeout=60).stdout
        received = int(out.split(" received")[0].rsplit(",", 1)[1])
        # each echo survives two 30% drops: expect ~49% of 300 back (binomial sd ~9)
        assert 90 <= received <= 210, out
        rules = [r for node in ("h1", "h2")
                 for r in json.loads(net.run(node, ["nft", "-j", "list", "ruleset"]).stdout)["nftables"]]
        dropped = sum(e["counter"]["packets"] for r in rules if "rule" in r for e in r["rule"]["expr"]
                      if "counter" in e)
        assert 100 <= dropped <= 210  # 300 * 0.3 requests + ~210 * 0.3 replies = ~153 (sd ~10)
        qdisc = net.run("h1", ["tc", "qdisc", "show", "dev", "h1-eth0"]).stdout
        assert "tbf" in qdisc and "50Mbit" in qdisc
        # loss is silent to the sender, as on a wire: every sendto() succeeds, ~30% never arrive
        sink = net.popen("h2", [sys.executable, "-c", UDP_SINK, net.ip("h2")], stdout=subprocess.PIPE,
                         text=True)
        assert sink.stdout.readline().strip() == "ready"
        errors = net.run("h1", [sys.executable, "-c", UDP_SOURCE, net.ip("h2")], timeout=30).stdout.strip()
        got = int(sink.communicate(timeout=10)[0].strip())
        assert errors == "0"
        assert 150 <= got <= 270, got  # 300 sent, 30% loss: ~210 (sd ~8)


UDP_SINK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 9999)); s.settimeout(1.0)
print('ready', flush=True)
n = 0
try:
    while True:
        s.recv(100); n += 1
except TimeoutError:
    print(n)
"""
UDP_SOURCE = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
errors = 0
for i in range(300):
    try:
        s.sendto(b'x' * 10, (sys.argv[1], 9999))
    except OSError:
        errors += 1
    time.sleep(0.001)
print(errors)
"""


def test_delay_is_refused_clearly_and_nothing_is_created():
    from lab.emulation.conditions import netem_available

    if netem_available():
        pytest.skip("this kernel has netem: delay is emulated, not refused")
    text = "nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], delay: 20ms}]"
    topo = topology_from_yaml(text, source="d.yaml")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "delay:" in row)
    rid = run_id()
    refused = rf"^d.yaml:{line}: links\.1\.delay: delay cannot be emulated.*sch_netem"
    with pytest.raises(EmulationError, match=refused), \
            Network(topo, run_id=rid):
        pass
    assert _ours(rid) == {"netns": [], "etc": [], "root_links": [], "state": []}


def test_cli_up_exec_down():
    rid = run_id("c")
    up = subprocess.run([LAB, "up", "chain", "--no-capture", "--run-id", rid, "--json"], capture_output=True,
                        text=True, timeout=30)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    try:
        assert info["run_id"] == rid and [n["name"] for n in info["nodes"]][:2] == ["h1", "r1"]
        # the keeper owns it: clean must leave it alone
        subprocess.run([LAB, "clean"], capture_output=True, text=True, timeout=30, check=True)
        ex = subprocess.run([LAB, "exec", rid, "h1", "--", "ping", "-c1", "-W2", "h2"], capture_output=True,
                            text=True, timeout=30)
        assert ex.returncode == 0 and "ttl=61" in ex.stdout
        env = subprocess.run([LAB, "exec", rid, "h2", "--", "sh", "-c", "echo $LAB_RUN $LAB_NODE $LAB_IP"],
                             capture_output=True, text=True, timeout=30)
        assert env.stdout.split() == [rid, "h2", "198.18.3.1"]
        ps = json.loads(subprocess.run([LAB, "ps", "--json"], capture_output=True, text=True).stdout)
        assert any(r["run_id"] == rid and r["alive"] and r["keeper"] for r in ps)
        bad = subprocess.run([LAB, "exec", rid, "h9", "--", "true"], capture_output=True, text=True)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no node 'h9'" in bad.stderr
    finally:
        down = subprocess.run([LAB, "down", rid], capture_output=True, text=True, timeout=30)
    assert down.returncode == 0, down.stderr
    assert _ours(rid) == {"netns": [], "etc": [], "root_links": [], "state": []}


def test_cli_loopback_up_exec_tells_the_node_its_address():
    rid = run_id("l")
    up = subprocess.run([LAB, "up", "two-hosts", "--loopback", "--no-capture", "--run-id", rid, "--json"],
                        capture_output=True, text=True, timeout=30)
    assert up.returncode == 0, up.stderr
    try:
        addr = json.loads(up.stdout)["nodes"][1]["interfaces"][0]["ipv4"].split("/")[0]
        assert addr.startswith("127.") and not addr.startswith("127.0.")
        env = subprocess.run([LAB, "exec", rid, "h2", "--", "sh", "-c", "echo $LAB_NODE $LAB_IP"],
                             capture_output=True, text=True, timeout=30)
        assert env.stdout.split() == ["h2", addr]
    finally:
        down = subprocess.run([LAB, "down", rid], capture_output=True, text=True, timeout=30)
    assert down.returncode == 0, down.stderr


def test_cli_up_bad_input_creates_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = "nodes: [h1, h2]\nlinks: [[h1, h1]]\n"
    bad.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "[h1, h1]" in row)
    rid = run_id()  # other runs on this machine may create namespaces meanwhile: look for this one's only
    r = subprocess.run([LAB, "up", str(bad), "--run-id", rid], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and r.stderr.startswith(f"lab: {bad}:{line}: links.1.endpoints: self-loop")
    assert r.stderr.count("\n") == 1
    time.sleep(0.1)
    left = _ours(rid)
    assert (left["netns"], left["etc"], left["state"]) == ([], [], [])  # root links: other runs make veths
