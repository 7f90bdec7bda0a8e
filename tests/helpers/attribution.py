"""Complete packet and call records for the attribution's unit tests, checked against the shipped schema.

The attribution reads records by their schema (``lab.records``): Required keys by subscript, NotRequired
ones once with ``.get``. A partial fixture would hide a missing key, or make the rules trip over one a
real record always has, so every builder here returns a complete record (a packet as the pipeline hands
it to the attribution: every key of ``PacketRecord`` but ``cause``) and validates it as it is built, and
``CheckedAttributor`` validates what goes in and what comes out: every call, and every packet with the
cause it was given.
"""

from __future__ import annotations

from typing import Any

from lab.analysis.attribution import Attributor
from lab.records import (
    IP,
    SCHEMA_VERSION,
    TCP,
    UDP,
    CallRecord,
    IPFragment,
    Layer,
    PacketRecord,
)
from tests.helpers.labrecords import assert_valid

TCP_FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20}
UNDECIDED = {"source": "unexplained", "rule": "unknown", "text": "not attributed yet"}
"""A stand-in cause for validating a record before the attribution decides its cause."""


def assert_packet_valid(rec: PacketRecord | dict[str, Any]) -> None:
    """A packet record as the attribution gets it (no ``cause`` yet) is valid once it has one."""
    assert "cause" not in rec, "the attribution decides the cause: a fixture packet has none"
    assert_valid("packet", {**rec, "cause": UNDECIDED})


def layer(name: str, tcpip: str, osi: int, offset: int, length: int) -> Layer:
    return {"name": name, "tcpip": tcpip, "osi": osi, "offset": offset, "length": length}  # type: ignore[typeddict-item]


def ipv4(src: str, dst: str, proto: int, *, ip_id: int | None = 1, ttl: int = 64,
         frag: IPFragment | None = None) -> IP:
    """An IPv4 header (``ip`` of a packet record)."""
    return {"version": 4, "src": src, "dst": dst, "ttl": ttl, "id": ip_id, "proto": proto, "frag": frag}


def tcp_header(sport: int, dport: int, flags: str, seq_raw: int, ack_raw: int, length: int = 0, *,
               win: int = 500, seq: int | None = None) -> TCP:
    """A TCP header (``tcp`` of a packet record); ``flags`` as the decoder writes them (``PSH,ACK``)."""
    return {
        "sport": sport,
        "dport": dport,
        "flags": flags,
        "flags_int": sum(TCP_FLAG_BITS[f] for f in flags.split(",") if f),
        "seq_raw": seq_raw,
        "ack_raw": ack_raw,
        "seq": seq,
        "ack": None,
        "len": length,
        "win": win,
        "mss": None,
        "stream": 0,
        "from_client": None,
    }


def udp_header(sport: int, dport: int, length: int, sha1: str | None = None) -> UDP:
    """A UDP header (``udp`` of a packet record); ``sha1`` absent as when the snap length cut the payload."""
    udp: UDP = {"sport": sport, "dport": dport, "length": length, "stream": 0}
    if sha1 is not None:
        udp["sha1"] = sha1
    return udp


def packet_record(**fields: Any) -> PacketRecord:
    """A packet record as the pipeline hands it to the attribution: every key ``PacketRecord`` requires
    but ``cause``, neutral unless given (``role`` may be given as its code alone), validated."""
    role = fields.pop("role", "other")
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "number": 0, "ts_ns": 0, "t": None, "interface": "h1-eth0",
        "node": None, "len": 0, "caplen": 0, "layers": [], "summary": "", "eth": None, "ip": None,
        "tcp": None, "udp": None, "icmp": None, "arp": None, "app": None,
        "role": {"code": role, "text": role} if isinstance(role, str) else role, "analysis": [],
    }
    rec.update(fields)
    assert_packet_valid(rec)
    return rec  # type: ignore[return-value]


def call(i: int, node: str, sock: str | None, name: str, t: int, **kw: Any) -> CallRecord:
    """A calls.jsonl record as the Python tracer writes it (a TCP socket unless ``type`` says otherwise),
    validated."""
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": i,
        "tracer": "python",
        "node": node,
        "pid": 1 if node == "h1" else 2,
        "tid": 1 if node == "h1" else 2,
        "sock": sock,
        "fd": 3,
        "call": name,
        "args": {},
        "ret": 0,
        "error": None,
        "exception": None,
        "t_start_ns": t,
        "t_end_ns": t + 1000,
        "family": "AF_INET",
        "type": "SOCK_STREAM",
        "local": None,
        "peer": None,
        "nbytes": None,
        "sent_before": 0,
        "sent_after": 0,
        "recv_before": 0,
        "recv_after": 0,
        "dgram": None,
    }
    rec.update(kw)
    assert_valid("call", rec)
    return rec  # type: ignore[return-value]


class CheckedAttributor(Attributor):
    """The ``Attributor``, checking the records it is given and the ones it completes against the schema:
    every call, every packet before (no cause) and after (with its cause, and ``lost`` when it was)."""

    def __init__(self, calls: Any, **kw: Any) -> None:
        calls = list(calls)
        for c in calls:
            assert_valid("call", c)
        super().__init__(calls, **kw)
        self.checked = 0

    def cause(self, rec: PacketRecord, frame: bytes | None = None) -> dict[str, Any]:
        assert_packet_valid(rec)
        cause = super().cause(rec, frame)
        assert_valid("packet", {**rec, "cause": cause})
        self.checked += 1
        return cause
