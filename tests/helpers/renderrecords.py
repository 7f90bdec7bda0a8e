"""report.json's parts for the renderers' tests (ladder, hops, the page): the nodes and their interfaces, the
summary and the whole report, complete and checked against the shipped schema as they are built.

The packets and calls the renderers draw are ``tests.helpers.builders``' (``packet``, ``call`` and the
headers); what is here is only what a report adds around them.
"""

from __future__ import annotations

from typing import Any

from lab.records import SCHEMA_VERSION
from tests.helpers.records import assert_valid

SEGMENT: dict[str, Any] = {"win": 502, "from_client": True, "flags_int": None}
"""The TCP header values the renderers' tests draw their segments with (``builders.tcp(..., **SEGMENT)``):
a window of 502, sent by the client, no flag bits (the renderers read the flag names)."""


def iface(name: str, mac: str | None, peer: str | None, ipv4: str | None = None,
          ipv6: str | None = None) -> dict[str, Any]:
    """One interface of report.json's ``nodes`` (as ``lab.explain.nodes_info`` writes it)."""
    return {"name": name, "ipv4": ipv4, "ipv6": ipv6, "mac": mac, "peer": peer}


def node(kind: str, *interfaces: dict[str, Any]) -> dict[str, Any]:
    """One node of report.json's ``nodes``."""
    return {"kind": kind, "namespace": f"lab-test-{kind}", "interfaces": list(interfaces)}


ROUTED_NODES = {  # h1 - r1 - h2, the small routed network the renderers' tests draw
    "h1": node("host", iface("h1-eth0", "02:00:00:00:01:00", "r1", "198.18.0.1/24")),
    "r1": node("router", iface("r1-eth0", "02:00:00:00:02:00", "h1", "198.18.0.254/24"),
               iface("r1-eth1", "02:00:00:00:02:01", "h2", "198.18.1.254/24")),
    "h2": node("host", iface("h2-eth0", "02:00:00:00:03:00", "r1", "198.18.1.1/24")),
}


def summary(**fields: Any) -> dict[str, Any]:
    """summary.json (or report.json's copy of it), complete."""
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "file": "capture.pcapng", "format": "pcapng",
        "interfaces": [{"index": 0, "name": "h1-eth0", "linktype": 1}], "packets": 0, "conversations": {},
        "handshakes": {}, "teardowns": {}, "udp_request_response_pairs": 0, "layers_seen": {}, "apps": {},
        "roles": {}, "cause_sources": {}, "coverage": 1.0, "described": 1.0, "errors": [], "outputs": {},
    }
    rec.update(fields)
    assert_valid("summary", rec)
    return rec


def report(nodes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """report.json of a lab run, complete; ``fields`` replace the defaults."""
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "lab": "demo", "title": "a demo", "run_id": "abc123",
        "out": "captures/demo", "topology": "topologies/demo.yaml", "nodes": nodes,
        "capture": {"dropped": 0, "per_interface": {}, "complete": True, "unknown": []}, "packets": 0,
        "calls": 0, "coverage": {"explained": 0, "total": 0, "ratio": 1.0, "by_rule": {}, "by_source": {}},
        "summary": summary(), "analysis_errors": [], "failures": [], "ok": True,
    }
    rec.update(fields)
    assert_valid("report", rec)
    return rec
