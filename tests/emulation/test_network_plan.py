"""Network lifecycle against the recording backend (no root): records, tears down, never leaks state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.emulation import Network
from lab.emulation.backend import RecordingBackend
from lab.errors import EmulationError, UsageError
from lab.topology import load_topology


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_lifecycle_records_then_removes_state(state_dir):
    backend = RecordingBackend()
    with Network(load_topology("routed"), run_id="unit1", backend=backend) as net:
        state = json.loads((state_dir / "unit1.json").read_text())
        assert state["status"] == "up" and state["namespaces"]["r1"] == "lab-unit1-r1"
        assert net.namespace("h1") == "lab-unit1-h1"
        assert net.command("h1", ["true"]) == ["ip", "netns", "exec", "lab-unit1-h1", "true"]
        assert net.ip("r1") == "198.18.0.254" and net.ip("h3", 6) == "fd00:0:0:1::1"
        assert [i.name for i in net.interfaces("r1")] == ["r1-eth0", "r1-eth1"]
        assert net.routes("h1") == ["default via 198.18.0.254 dev h1-eth0",
                                    "default via fd00::fe dev h1-eth0"]
        with pytest.raises(UsageError, match="no node 'h9'"):
            net.ip("h9")
    kinds = [c[0] for c in backend.calls]
    assert kinds == ["create", "destroy"]
    destroyed, etc_dirs = backend.calls[1][1]
    assert sorted(destroyed) == sorted(f"lab-unit1-{n}" for n in net.nodes)
    assert "/etc/netns/lab-unit1-h1" in etc_dirs
    assert not (state_dir / "unit1.json").exists()


def test_failed_create_tears_down(state_dir):
    backend = RecordingBackend(fail_on="link add")
    with pytest.raises(EmulationError, match="link add"), Network(load_topology("two-hosts"), run_id="unit2",
                                                                   backend=backend):
        pytest.fail("the body must not run when the network could not be built")
    assert [c[0] for c in backend.calls] == ["create", "destroy"]
    assert not (state_dir / "unit2.json").exists()


def test_exception_in_body_tears_down(state_dir):
    backend = RecordingBackend()
    with pytest.raises(KeyError), Network(load_topology("lan"), run_id="unit3", backend=backend):
        raise KeyError("boom")
    assert [c[0] for c in backend.calls] == ["create", "destroy"]


def test_loopback_refuses_routers_and_conditions():
    from lab.errors import TopologyError

    for name in ("routed", "dumbbell"):
        topo = load_topology(name)
        line = topo.lines["nodes.r1.kind"]
        row = Path(topo.source).read_text().splitlines()[line - 1]
        assert "r1" in row and "router" in row  # the line the message names is the one that says it
        with pytest.raises(TopologyError, match=rf"^{topo.source}:{line}: nodes\.r1\.kind: routers need "
                                                "network namespaces"):
            Network(topo, loopback=True)


def test_bad_run_id():
    with pytest.raises(UsageError, match="run id"):
        Network(load_topology("two-hosts"), run_id="Bad-ID!")
