"""The dynamic routing labs (OSPF, EIGRP) run for real: FRR daemons in the router namespaces, traced.

Each lab must be green, explain every packet, attribute each routing message to its daemon's sendmsg()
(``ospfd on r1 sendmsg() #N: OSPF Hello to 224.0.0.5``), let host traffic start only after the routers
installed routes learned by the protocol, and leave nothing behind: no daemon process, no namespace.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from lab.emulation.daemons import FRR_DIR, FRR_STATE_DIR
from lab.emulation.names import NETNS_DIR
from lab.labs.grading import grade
from lab.labs.spec import load_lab
from lab.report.ladder import LadderFilter
from lab.report.terminal import run_ladder
from tests.helpers.processes import running
from tests.helpers.records import validate_dir

runner = pytest.importorskip("lab.runner", reason="runner not yet available")

HELLO_GROUP = {"ospf": "224.0.0.5", "eigrp": "224.0.0.10"}  # AllSPFRouters, the EIGRP routers' group


@pytest.mark.root
@pytest.mark.parametrize("protocol", ["ospf", "eigrp"])
def test_routing_lab(protocol: str, tmp_path: Path) -> None:
    daemon = FRR_DIR / f"{protocol}d"
    if not os.access(daemon, os.X_OK):
        pytest.skip(f"{daemon} not installed (Debian package frr; run make setup)")
    spec = load_lab(protocol)
    result = runner.run_lab(spec, tmp_path / protocol)
    report = result.report
    assert report["ok"], report["failures"]
    cov = report["coverage"]
    assert cov["total"] > 0 and cov["explained"] == cov["total"], report["failures"]
    graded = grade(result.out, {}, spec)  # the key, recomputed from the raw evidence as grading does
    assert graded.trusted, (graded.flags, graded.problems)
    assert all(m.expected is not None for m in graded.marks), graded.marks

    packets = [json.loads(line) for line in (result.out / "packets.jsonl").read_text().splitlines()]
    calls = {c["id"]: c for c in map(json.loads, (result.out / "calls.jsonl").read_text().splitlines())}
    routing = [p for p in packets if (p.get("routing") or {}).get("protocol") == protocol.upper()]
    hellos = [p for p in routing if p["routing"]["message"] == "Hello"]
    assert len(hellos) >= 3, f"{len(hellos)} hellos"
    assert {p["ip"]["dst"] for p in hellos} == {HELLO_GROUP[protocol]}
    for p in routing:  # every routing message is one daemon sendmsg() on a raw socket
        cause = p["cause"]
        assert cause["source"] == "call", (p["number"], cause)
        (call,) = (calls[i] for i in cause["calls"])
        assert call["call"] == "sendmsg" and call["type"] == "SOCK_RAW" and call["program"] == f"{protocol}d"
        assert re.fullmatch(r"r\d+", call["node"]), call["node"]
        # the cause as a student reads it: which daemon, which call, which message, to where
        said = (f"{protocol}d on {call['node']} sendmsg() #{call['id']}: {protocol.upper()} "
                f"{p['routing']['message']} to {p['ip']['dst']}")
        assert cause["text"].startswith(said), (cause["text"], said)
        assert call["dgram"]["sha1"] == p["routing"]["sha1"]
    assert any("received by" in p["cause"]["text"] for p in hellos)

    counts = validate_dir(result.out)  # the routing fields and the daemons' call records fit the schema
    assert counts["packet"] >= cov["total"]  # and the lab's probe frames
    assert counts["call"] == len(calls)

    # host traffic only after the first route the protocol installed
    routes = [r for r in report["routes"] if r["action"] == "add" and r["proto"] == protocol]
    assert routes, report["routes"]
    first_route = min(r["ts_ns"] for r in routes)
    host = [p for p in packets if p.get("tcp")]
    assert host and min(p["ts_ns"] for p in host) > first_route
    assert re.search(r"\+ .* r\d route installed: 198\.18\.", result.ladder)
    redrawn = run_ladder(result.out, LadderFilter(), None)  # lab show draws them from report.json
    assert redrawn.count("route installed") == result.ladder.count("route installed")

    # nothing left: namespaces gone, every daemon (pid files) gone, FRR's state directories removed
    namespaces = [info["namespace"] for info in report["nodes"].values()]
    assert namespaces and not any((NETNS_DIR / ns).exists() for ns in namespaces)
    pid_files = sorted((result.out / "work" / "frr").glob("*/*.pid"))
    assert len(pid_files) == 2 * len([n for n, i in report["nodes"].items() if i["kind"] == "router"])
    for pid_file in pid_files:
        pid = int(pid_file.read_text())
        assert not running(pid), f"{pid_file.parent.name}: {pid_file.stem} (pid {pid}) still runs"
        assert not (FRR_STATE_DIR / f"{pid_file.stem}.{pid}").exists()
