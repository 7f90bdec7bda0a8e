"""Complete records for the renderers' tests (ladder, hops, the page): packets, calls, report.json's nodes.

Every record built here has every key ``lab.records`` requires and is validated against the shipped
schema (``lab/schema``) as it is built, so a renderer is tested on what a run really writes, never on a
partial dict that would hide a missing key. A test names only what it is about; the rest is a quiet
default (no Ethernet, IP or transport block, a kernel cause).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema

from lab.records import (
    ARP,
    ICMP,
    IP,
    SCHEMA_VERSION,
    TCP,
    UDP,
    CallRecord,
    Cause,
    Ethernet,
    Layer,
    PacketRecord,
    shipped_schema,
)

T0 = 1_764_103_195_000_000_000
LAYER_TABLE = {  # name: (TCP/IP layer, OSI layer, header length)
    "Ethernet": ("link", 2, 14), "IPv4": ("internet", 3, 20), "IPv6": ("internet", 3, 40),
    "ARP": ("link", 2, 28), "TCP": ("transport", 4, 20), "UDP": ("transport", 4, 8),
    "ICMP": ("internet", 3, 8), "ICMPv6": ("internet", 3, 8), "Data": ("application", 7, 5),
}


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(shipped_schema(kind))


def assert_valid(kind: str, record: object) -> None:
    """Fail when ``record`` does not validate against the shipped schema of ``kind`` (packet, call...)."""
    errors = sorted(_validator(kind).iter_errors(record), key=str)
    assert not errors, f"a fixture {kind} record: {errors[0].json_path}: {errors[0].message}"


def layers(*names: str) -> list[Layer]:
    """The headers of a frame, one after the other (lengths from ``LAYER_TABLE``)."""
    out: list[Layer] = []
    offset = 0
    for name in names:
        tcpip, osi, length = LAYER_TABLE[name]
        out.append({"name": name, "tcpip": tcpip, "osi": osi, "offset": offset, "length": length})  # type: ignore[typeddict-item]
        offset += length
    return out


def eth(src: str, dst: str | None) -> Ethernet:
    return {"src": src, "dst": dst}


def ip(src: str, dst: str, *, ttl: int = 64, proto: int = 6) -> IP:
    """An IP header; the version follows the address."""
    return {"version": 6 if ":" in src else 4, "src": src, "dst": dst, "ttl": ttl, "id": 1, "proto": proto,
            "frag": None}


def tcp(sport: int, dport: int, flags: str, *, seq: int = 0, ack: int = 0, length: int = 0, win: int = 502,
        from_client: bool = True) -> TCP:
    return {"sport": sport, "dport": dport, "flags": flags, "flags_int": None, "seq_raw": 1000 + seq,
            "ack_raw": ack, "seq": seq, "ack": ack, "len": length, "win": win, "mss": None, "stream": 0,
            "from_client": from_client}


def udp(sport: int, dport: int, length: int) -> UDP:
    return {"sport": sport, "dport": dport, "length": length, "stream": 0}


def icmp(version: int, type_: int, name: str, *, code: int = 0) -> ICMP:
    return {"version": version, "type": type_, "code": code, "name": name}


def arp(op: int, sender_ip: str, target_ip: str) -> ARP:
    return {"op": op, "sender_mac": "02:00:00:00:00:01", "sender_ip": sender_ip,
            "target_mac": "00:00:00:00:00:00", "target_ip": target_ip}


def cause(source: str = "kernel", text: str = "kernel", *, rule: str = "unknown", **extra: Any) -> Cause:
    """A packet's cause; ``extra``: calls, answers, related, copy_of..."""
    return {"source": source, "rule": rule, "text": text, **extra}  # type: ignore[typeddict-item]


def packet(number: int, ts_ns: int | None = None, **fields: Any) -> PacketRecord:
    """One packets.jsonl record, complete; ``fields`` replace the defaults (``role`` may be a code alone)."""
    ts = T0 + number * 1000 if ts_ns is None else ts_ns
    role = fields.pop("role", "other")
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "number": number, "ts_ns": ts, "t": (ts - T0) / 1e9,
        "interface": "h1-eth0", "node": "h1", "len": 60, "caplen": 60, "layers": [], "summary": "a frame",
        "eth": None, "ip": None, "tcp": None, "udp": None, "icmp": None, "arp": None, "app": None,
        "role": {"code": role, "text": role} if isinstance(role, str) else role,
        "analysis": [], "cause": cause(),
    }
    rec.update(fields)
    assert_valid("packet", rec)
    return rec  # type: ignore[return-value]


def call(cid: int, node: str, name: str, start: int, end: int, **fields: Any) -> CallRecord:
    """One calls.jsonl record, complete (a TCP socket of the Python tracer unless ``fields`` say else)."""
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "id": cid, "tracer": "python", "node": node, "pid": 100,
        "tid": 100, "sock": "100:3:1", "fd": 3, "call": name, "args": {}, "ret": 0, "error": None,
        "exception": None, "t_start_ns": start, "t_end_ns": end, "family": "AF_INET", "type": "SOCK_STREAM",
        "local": None, "peer": None, "nbytes": None, "sent_before": None, "sent_after": None,
        "recv_before": None, "recv_after": None, "dgram": None,
    }
    rec.update(fields)
    assert_valid("call", rec)
    return rec  # type: ignore[return-value]


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
