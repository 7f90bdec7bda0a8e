"""Complete records for a test: the one place that knows what a whole packets.jsonl or calls.jsonl record
holds, and the headers inside a packet (Ethernet, IP, TCP, UDP, ICMP, ARP, the layers, the cause).

A reader of records reads the schema's required keys directly (``rec["ip"]``, ``call["error"]``), so a
fixture that leaves keys out tests a record no writer produces. ``packet`` and ``call`` start from a whole
record with quiet defaults (no headers, a kernel cause; a Python-traced TCP socket call), a test names only
what it is about, and every record is checked against the shipped schema as it is built
(``tests.helpers.records.assert_valid``, the one validator per record kind that the checks of real runs
use too).

Why a module of its own and not more of ``records``: ``records`` is the schema's check and the reading of
a run's outputs, which every live test needs and which needs no builder; building needs the check. So the
import goes one way, builders -> records, and each module has one job. The domain conventions stay with
their domains and build on these: the labs' ``Capture`` (``labrecords``: numbered frames on a shared
clock), the attribution's packet before it has a cause and ``CheckedAttributor`` (``attribution``), the
renderers' report.json nodes and documents (``renderrecords``).
"""

from __future__ import annotations

from typing import Any, Literal

from lab.records import (
    ARP,
    ICMP,
    IP,
    SCHEMA_VERSION,
    TCP,
    UDP,
    Address,
    CallRecord,
    Cause,
    Datagram,
    Ethernet,
    IPFragment,
    Layer,
    PacketRecord,
    Role,
)
from tests.helpers.records import assert_valid

Source = Literal["call", "kernel", "lab", "inferred", "unexplained"]  # Cause.source
TcpIpLayer = Literal["link", "internet", "transport", "application"]  # Layer.tcpip

T0 = 1_764_103_195_000_000_000
"""The capture clock's start: ``packet(n)`` is captured ``n`` microseconds after it, unless told."""

TCP_FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20}

LAYER_TABLE: dict[str, tuple[TcpIpLayer, int, int]] = {  # name: (TCP/IP layer, OSI layer, header length)
    "Ethernet": ("link", 2, 14), "IPv4": ("internet", 3, 20), "IPv6": ("internet", 3, 40),
    "ARP": ("link", 2, 28), "TCP": ("transport", 4, 20), "UDP": ("transport", 4, 8),
    "ICMP": ("internet", 3, 8), "ICMPv6": ("internet", 3, 8), "Data": ("application", 7, 5),
}

FROM_FLAGS: Literal["from flags"] = "from flags"
"""``tcp(flags_int=...)``'s default: the bits of ``flags``."""


def layer(name: str, tcpip: TcpIpLayer, osi: int, offset: int, length: int) -> Layer:
    """One header of a frame (``layers`` of a packet record), where it sits and how long it is."""
    return {"name": name, "tcpip": tcpip, "osi": osi, "offset": offset, "length": length}


def layers(*names: str) -> list[Layer]:
    """The headers of a frame, one after the other, their layers and lengths from ``LAYER_TABLE``."""
    out: list[Layer] = []
    offset = 0
    for name in names:
        tcpip, osi, length = LAYER_TABLE[name]
        out.append(layer(name, tcpip, osi, offset, length))
        offset += length
    return out


def eth(src: str, dst: str | None) -> Ethernet:
    """An Ethernet header (``eth``); ``dst`` None where the link has none to show."""
    return {"src": src, "dst": dst}


def ip(src: str, dst: str, proto: int = 6, *, ttl: int = 64, ip_id: int | None = 1,
       frag: IPFragment | None = None) -> IP:
    """An IP header (``ip``); the version follows the address (``:`` makes it IPv6)."""
    return {"version": 6 if ":" in src else 4, "src": src, "dst": dst, "ttl": ttl, "id": ip_id,
            "proto": proto, "frag": frag}


def tcp(sport: int, dport: int, flags: str, *, seq_raw: int = 1000, ack_raw: int = 0, seq: int | None = None,
        ack: int | None = None, length: int = 0, win: int = 500, mss: int | None = None, stream: int = 0,
        from_client: bool | None = None, flags_int: int | None | Literal["from flags"] = FROM_FLAGS) -> TCP:
    """A TCP header (``tcp``); ``flags`` as the decoder writes them (``PSH,ACK``), ``flags_int`` their bits
    unless given; relative ``seq``/``ack`` and the direction unknown unless given."""
    bits = sum(TCP_FLAG_BITS[f] for f in flags.split(",") if f) if flags_int == FROM_FLAGS else flags_int
    return {"sport": sport, "dport": dport, "flags": flags, "flags_int": bits, "seq_raw": seq_raw,
            "ack_raw": ack_raw, "seq": seq, "ack": ack, "len": length, "win": win, "mss": mss,
            "stream": stream, "from_client": from_client}


def udp(sport: int, dport: int, length: int, *, sha1: str | None = None, stream: int = 0) -> UDP:
    """A UDP header (``udp``; ``length`` counts its 8 bytes); ``sha1`` absent unless given, as when the
    snap length cut the payload."""
    out: UDP = {"sport": sport, "dport": dport, "length": length, "stream": stream}
    if sha1 is not None:
        out["sha1"] = sha1
    return out


def icmp(version: int, type_: int, name: str, *, code: int = 0, **extra: Any) -> ICMP:
    """An ICMP or ICMPv6 message (``icmp``); ``extra``: quoted, echo, mtu."""
    return {"version": version, "type": type_, "code": code, "name": name, **extra}  # type: ignore[typeddict-item]


def arp(op: int, sender_ip: str, target_ip: str, *, sender_mac: str = "02:00:00:00:00:01",
        target_mac: str = "00:00:00:00:00:00") -> ARP:
    """An ARP message (``arp``; op 1 a request, 2 a reply)."""
    return {"op": op, "sender_mac": sender_mac, "sender_ip": sender_ip, "target_mac": target_mac,
            "target_ip": target_ip}


def cause(source: Source = "kernel", rule: str = "unknown", text: str = "", *, calls: list[int] | None = None,
          **extra: Any) -> Cause:
    """A packet's cause; ``calls`` written only when given (the attribution writes it on most causes, a
    test says so); ``extra``: answers, related, copy_of, node..."""
    out: dict[str, Any] = {"source": source, "rule": rule, "text": text}
    if calls is not None:
        out["calls"] = list(calls)
    out.update(extra)
    return out  # type: ignore[return-value]


def datagram(peer: Address | None, n: int, sha1: str | None = None) -> Datagram:
    """What one datagram call moved (``dgram`` of a call record)."""
    return {"peer": peer, "len": n, "sha1": sha1}


def packet(number: int = 1, ts_ns: int | None = None, *, role: str | Role = "other",
           **fields: Any) -> PacketRecord:
    """One packets.jsonl record, complete and checked: frame ``number`` of 60 bytes captured at h1
    (h1-eth0) ``number`` microseconds after ``T0`` (``t`` from ``ts_ns``), no headers, no application, a
    kernel cause; ``fields`` replace the defaults and may add NotRequired keys (lost, routing...);
    ``role`` may be its code alone."""
    ts = T0 + number * 1000 if ts_ns is None else ts_ns
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "number": number, "ts_ns": ts, "t": (ts - T0) / 1e9,
        "interface": "h1-eth0", "node": "h1", "len": 60, "caplen": 60, "layers": [], "summary": "a frame",
        "eth": None, "ip": None, "tcp": None, "udp": None, "icmp": None, "arp": None, "app": None,
        "role": {"code": role, "text": role} if isinstance(role, str) else role,
        "analysis": [], "cause": cause(text="kernel"),
    }
    rec.update(fields)
    assert_valid("packet", rec, f"builders.packet({number})")
    return rec  # type: ignore[return-value]


def call(name: str, **fields: Any) -> CallRecord:
    """One calls.jsonl record, complete and checked: call ``name`` (id 1) of the Python tracer on fd 3 of
    an AF_INET SOCK_STREAM socket of h1 (pid 100), 1 ms long from time 0, returning None, with no address,
    byte counts or datagram; ``fields`` replace the defaults."""
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "id": 1, "tracer": "python", "node": "h1", "pid": 100, "tid": 100,
        "sock": "1:3:1", "fd": 3, "call": name, "args": {}, "ret": None, "error": None, "exception": None,
        "t_start_ns": 0, "t_end_ns": 1_000_000, "family": "AF_INET", "type": "SOCK_STREAM", "local": None,
        "peer": None, "nbytes": None, "sent_before": None, "sent_after": None, "recv_before": None,
        "recv_after": None, "dgram": None,
    }
    rec.update(fields)
    assert_valid("call", rec, f"builders.call({name!r})")
    return rec  # type: ignore[return-value]


def tracer_line(name: str, **fields: Any) -> dict[str, Any]:
    """One line of a tracer's own log (calls-NODE-PID.jsonl): a whole ``call`` (checked as one) without
    the schema version and the number, which the merge into calls.jsonl gives it."""
    whole = call(name, **fields)
    return {k: v for k, v in whole.items() if k not in ("schema_version", "id")}
