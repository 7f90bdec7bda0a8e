"""Questions' answers, computed from the student's own capture: ``fn(packets, calls, **params) -> value``.

In the style of classic Wireshark coursework: the raw sequence number of the SYN, what the SYN-ACK
acknowledges, the UDP Length field, the TTL on each hop, the fragment offsets. Each function returns
the value a student should find (an int, a string or a list), or None when the capture does not
contain it (the lab then reports the question as unanswerable from this run).
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Callable
from typing import Any

from lab.identity import packet_identity
from lab.labs import evidence as ev
from lab.labs.routingchecks import ROUTING_QUESTIONS
from lab.records import CallRecord, PacketRecord

Packets = list[PacketRecord]
Calls = list[CallRecord]


def _syn(packets: Packets, port: int | None = None) -> PacketRecord | None:
    return ev.first(packets, lambda p: ev.is_syn(p) and (port is None or ev.tcp_port(p, "dport") == port))


def syn_seq_raw(packets: Packets, calls: Calls, port: int | None = None) -> int | None:
    """The raw (absolute) sequence number of the client's first SYN: its initial sequence number."""
    syn = _syn(packets, port)
    return ev.tcp_of(syn)["seq_raw"] if syn else None


def synack_ack_raw(packets: Packets, calls: Calls, port: int | None = None) -> int | None:
    """The raw acknowledgment number of the SYN-ACK: the client's ISN + 1 (a SYN counts as one byte)."""
    syn = _syn(packets, port)
    if syn is None:
        return None
    key = ev.conn_key(syn)
    sa = ev.first(packets, lambda p: ev.is_synack(p) and ev.conn_key(p) == key)
    return ev.tcp_of(sa)["ack_raw"] if sa else None


def rst_ack_raw(packets: Packets, calls: Calls, port: int | None = None) -> int | None:
    """The raw acknowledgment number of the RST that answered the first SYN (the SYN's seq + 1)."""
    syn = _syn(packets, port)
    if syn is None:
        return None
    key = ev.conn_key(syn)
    rst = ev.first(packets, lambda p: "RST" in ev.tcp_flags(p) and ev.conn_key(p) == key)
    return ev.tcp_of(rst)["ack_raw"] if rst else None


def client_port(packets: Packets, calls: Calls, port: int | None = None, index: int = 1) -> int | None:
    """The source port of the ``index``-th connection's SYN (the client's ephemeral or bound port)."""
    syns = [p for p in _first_copies(packets, ev.is_syn) if port is None or ev.tcp_port(p, "dport") == port]
    syns = [p for p in syns if not ev.is_retransmission(p)]
    return ev.tcp_of(syns[index - 1])["sport"] if len(syns) >= index else None


def mss(packets: Packets, calls: Calls, role: str = "syn") -> int | None:
    """The MSS option of the first packet of ``role`` (syn or syn-ack)."""
    p = ev.first(packets, lambda p: ev.role(p) == role)
    value = ev.tcp_mss(p) if p is not None else None
    return int(value) if value is not None else None


def udp_length(packets: Packets, calls: Calls, index: int = 1, port: int | None = None) -> int | None:
    """The UDP Length field (header + payload) of the ``index``-th datagram (to ``port``, if given)."""
    dgrams = _first_copies(
        packets, lambda p: p["udp"] is not None and (port is None or p["udp"]["dport"] == port)
    )
    return ev.udp_of(dgrams[index - 1])["length"] if len(dgrams) >= index else None


def call_errno(packets: Packets, calls: Calls, call: str = "connect_ex") -> int | None:
    """The errno number a failed call reported (e.g. connect_ex's return value, 111 on Linux)."""
    for c in ev.calls_named(calls, call, exact=True):
        name = ev.errno_name(c)
        if name:
            return int(getattr(_errno, name, 0)) or None
    return None


def call_return(packets: Packets, calls: Calls, call: str, index: int = 1) -> Any:
    """What the ``index``-th call named ``call`` returned (e.g. the byte count of a partial send())."""
    found = ev.calls_named(calls, call, exact=True)
    return found[index - 1]["ret"] if len(found) >= index else None


def count(
    packets: Packets,
    calls: Calls,
    role: str | None = None,
    analysis: str | None = None,
    port: int | None = None,
) -> int:
    """How many packets of a role (and/or analysis flag, port) one capture point saw."""
    return ev.max_count(packets, ev.packet_filter(role=role, analysis=analysis, port=port))[0]


def connections(packets: Packets, calls: Calls, port: int | None = None) -> int:
    """How many TCP connections were opened (distinct 4-tuples with a SYN)."""
    syns = ev.matching(packets, lambda p: ev.is_syn(p) and (port is None or ev.tcp_port(p, "dport") == port))
    return len({ev.conn_key(p) for p in syns})


def ttl(packets: Packets, calls: Calls, role: str = "syn") -> int | None:
    """The TTL (IPv4) or Hop Limit (IPv6) of the first packet of ``role``."""
    p = ev.first(packets, lambda p: ev.role(p) == role and p["ip"] is not None)
    return ev.ip_of(p)["ttl"] if p is not None else None


def syn_ttls(packets: Packets, calls: Calls) -> list[int] | None:
    """The TTL of the client's SYN on each link of its path, first link first."""
    syn = ev.first(packets, ev.is_syn)
    if syn is None:
        return None
    copies = ev.matching(packets, lambda p: packet_identity(p) == packet_identity(syn))
    return sorted({ev.ip_of(p)["ttl"] for p in copies}, reverse=True)


def fragment_offsets(packets: Packets, calls: Calls, node: str) -> list[int] | None:
    """The Fragment Offsets (in bytes) of the first fragmented datagram captured at ``node``."""
    from lab.labs.checks import first_fragmented

    frags = first_fragmented(packets, node)
    return sorted(ev.frag_of(p)["offset"] for p in frags) or None


def reply_datagrams(packets: Packets, calls: Calls, port: int) -> int | None:
    """How many datagrams the server sent from the port it answered a request to ``port`` from."""
    tid = reply_port(packets, calls, port)
    if tid is None:
        return None
    return ev.max_count(packets, lambda p: ev.udp_port(p, "sport") == tid)[0]


def reply_port(packets: Packets, calls: Calls, port: int) -> int | None:
    """The source port of the first reply to a request sent to ``port`` (TFTP's server TID)."""
    req = ev.first(packets, lambda p: ev.udp_port(p, "dport") == port)
    if req is None:
        return None
    client = ev.ends_of(req)[0]
    reply = ev.first(packets, lambda p: p["udp"] is not None and ev.ends_of(p)[1] == client)
    return ev.udp_of(reply)["sport"] if reply else None


def first_talker(packets: Packets, calls: Calls, port: int) -> str | None:
    """Who sends the first data on connections to ``port``: "server" or "client"."""
    data = ev.first(
        packets,
        lambda p: ev.payload_len(p) > 0 and port in (ev.tcp_port(p, "sport"), ev.tcp_port(p, "dport")),
    )
    if data is None:
        return None
    return "server" if ev.tcp_port(data, "sport") == port else "client"


def udp_port(packets: Packets, calls: Calls, index: int = 1, port: int | None = None) -> int | None:
    """The UDP source port of the ``index``-th datagram (to ``port``, if given)."""
    dgrams = _first_copies(
        packets, lambda p: p["udp"] is not None and (port is None or p["udp"]["dport"] == port)
    )
    return ev.udp_of(dgrams[index - 1])["sport"] if len(dgrams) >= index else None


def connects_before_first_accept(packets: Packets, calls: Calls) -> int | None:
    """How many connect() calls succeeded before the first accept() returned."""
    accepts = [c for c in ev.calls_named(calls, "accept") if ev.succeeded(c)]
    if not accepts:
        return None
    limit = accepts[0]["t_end_ns"]
    return sum(
        1
        for c in ev.calls_named(calls, "connect")
        if ev.succeeded(c)
        and (c["call"] != "connect_ex" or c["ret"] == 0)
        and c["t_end_ns"] < limit
    )


def calls_raising(packets: Packets, calls: Calls, exception: str) -> int:
    """How many calls raised ``exception``."""
    return sum(1 for c in calls if ev.raised(c, exception))


def syn_intervals(packets: Packets, calls: Calls, port: int) -> list[int] | None:
    """Seconds between successive SYNs to ``port`` (rounded): the retransmission backoff."""
    syns = _first_copies(packets, lambda p: ev.is_syn(p) and ev.tcp_port(p, "dport") == port)
    if len(syns) < 2:
        return None
    return [round((ev.ts(b) - ev.ts(a)) / 1e9) for a, b in zip(syns, syns[1:], strict=False)]


def data_segments(packets: Packets, calls: Calls, from_client: bool = True) -> int:
    """Data segments sent by the client (or server), retransmissions excluded, at one capture point."""
    return ev.max_count(
        packets,
        lambda p: (
            ev.payload_len(p) > 0
            and bool(ev.from_client(p)) == from_client
            and not ev.is_retransmission(p)
        ),
    )[0]


def loss_count(packets: Packets, calls: Calls, kind: str) -> int:
    """How many gaps / resent segments / duplicate ACKs the capture point with most of them shows."""
    return max((len(found[kind]) for found in ev.loss_evidence(packets).values()), default=0)


def server_port(packets: Packets, calls: Calls) -> int | None:
    """The destination port of the first SYN: the port the server bound."""
    syn = _syn(packets)
    return ev.tcp_of(syn)["dport"] if syn else None


def first_fin_port(packets: Packets, calls: Calls) -> int | None:
    """The TCP source port of the first FIN in the capture: which side closed first."""
    fin = ev.first(packets, lambda p: "FIN" in ev.tcp_flags(p))
    return ev.tcp_of(fin)["sport"] if fin else None


def rst_port(packets: Packets, calls: Calls) -> int | None:
    """The TCP source port of the first RST."""
    rst = ev.first(packets, lambda p: "RST" in ev.tcp_flags(p))
    return ev.tcp_of(rst)["sport"] if rst else None


def _first_copies(packets: Packets, pred: ev.Pred) -> Packets:
    """Matching packets at the capture point that saw the first of them: one copy of each packet."""
    first = ev.first(packets, pred)
    if first is None:
        return []
    iface = first["interface"]
    return [p for p in ev.matching(packets, pred) if p["interface"] == iface]


QUESTIONS: dict[str, Callable[..., Any]] = {
    "syn_seq_raw": syn_seq_raw,
    "synack_ack_raw": synack_ack_raw,
    "rst_ack_raw": rst_ack_raw,
    "client_port": client_port,
    "mss": mss,
    "udp_length": udp_length,
    "call_errno": call_errno,
    "call_return": call_return,
    "count": count,
    "connections": connections,
    "ttl": ttl,
    "syn_ttls": syn_ttls,
    "fragment_offsets": fragment_offsets,
    "reply_port": reply_port,
    "reply_datagrams": reply_datagrams,
    "first_talker": first_talker,
    "udp_port": udp_port,
    "connects_before_first_accept": connects_before_first_accept,
    "calls_raising": calls_raising,
    "syn_intervals": syn_intervals,
    "data_segments": data_segments,
    "server_port": server_port,
    "loss_count": loss_count,
    "first_fin_port": first_fin_port,
    "rst_port": rst_port,
}

# the protocol labs' answers live beside their checks
from lab.labs.protocol_checks import PROTOCOL_QUESTIONS  # noqa: E402

QUESTIONS.update(PROTOCOL_QUESTIONS)
QUESTIONS.update(ROUTING_QUESTIONS)  # OSPF/EIGRP labs: lab.labs.routingchecks

# The possible answers of a text question: a sentence naming one of them (and no other) is accepted.
CHOICES: dict[str, tuple[str, ...]] = {"first_talker": ("server", "client")}
