"""Roles and inferred causes: what a packet is for, and which socket call (or kernel) most likely sent it.

A TCP segment's role code and the facts about it come from the flow table (``flows.TcpInfo``); its role
text is made here, by ``TCP_TEXTS``, a table keyed by role code (``tcp_text``), and its inferred cause by
``TCP_RULES``, an ordered table (first match wins) over the same facts (role, analysis flags, the frame
it answers). Every other packet is dispatched on its protocol by ``role_other``, one branch per protocol
because each reads different header fields. The rule names are ``lab.records.CAUSE_RULES``, the same as
the call-log attribution's; the texts follow the packets.jsonl contract. When a call log exists the
pipeline takes causes from ``attribution.Attributor`` instead (role texts still come from here); these
causes are the fallback that marks its guesses ``"source": "inferred"`` (a user program's call implied by
the packet) or ``"kernel"`` (the kernel sends it on its own: SYN-ACK, ACKs, ARP, NDP, ICMP errors,
retransmissions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from lab.analysis.cause import make_cause
from lab.analysis.decode import Pkt
from lab.analysis.flows import TcpInfo
from lab.analysis.routinghdr import describe as describe_routing


def ep(addr: str | None, port: int | None) -> str:
    if addr is not None and ":" in addr:
        return f"[{addr}]:{port}"
    return f"{addr}:{port}"


ARROW = {True: "client -> server", False: "server -> client"}  # by TcpInfo.from_client
SIDE = {True: "client", False: "server"}
PURE_ACK = {True: "pure ACK client -> server", False: "pure ACK server -> client"}


_DATA_TEXTS: dict[bool, dict[int, str]] = {True: {}, False: {}}  # by from_client, then payload length


def _data_text(from_client: bool, tlen: int) -> str:
    """``data: 100 bytes client -> server``, made once per direction and length (a capture has few
    lengths; this runs for every data segment)."""
    texts = _DATA_TEXTS[from_client]
    if len(texts) > 4096:
        texts.clear()
    text = texts[tlen] = f"data: {tlen} bytes {ARROW[from_client]}"
    return text


def _resent(i: TcpInfo, text: str) -> str:
    """``text``, and `` (retransmission)`` after it when the flow's analysis says the segment resends data
    (every row of ``TCP_TEXTS`` ends with this once the segment has analysis flags)."""
    an = i.analysis
    if "retransmission" in an or "fast_retransmission" in an:
        return text + " (retransmission)"
    return text


def _syn(i: TcpInfo) -> str:
    text = "handshake 1/3: SYN (again)" if i.again else "handshake 1/3: SYN"
    return _resent(i, text) if i.analysis else text


def _syn_ack(i: TcpInfo) -> str:
    return _resent(i, "handshake 2/3: SYN-ACK") if i.analysis else "handshake 2/3: SYN-ACK"


def _handshake_ack(i: TcpInfo) -> str:
    return _resent(i, "handshake 3/3: ACK") if i.analysis else "handshake 3/3: ACK"


def _data(i: TcpInfo) -> str:
    if not i.analysis:  # most data segments
        return _DATA_TEXTS[i.from_client].get(i.tlen) or _data_text(i.from_client, i.tlen)
    if "zero_window_probe" in i.analysis:
        return _resent(i, f"zero-window probe {ARROW[i.from_client]}: 1 byte while the receiver's window "
                          "is 0")
    return _resent(i, _DATA_TEXTS[i.from_client].get(i.tlen) or _data_text(i.from_client, i.tlen))


def _ack(i: TcpInfo) -> str:
    an = i.analysis
    if not an:  # most ACKs: nothing flagged
        return PURE_ACK[i.from_client]
    arrow = ARROW[i.from_client]
    if "window_update" in an:
        text = f"window update {arrow} (win={i.win})"
    elif "zero_window" in an:
        text = f"zero-window ACK {arrow}: receiver buffer full"
    elif "duplicate_ack" in an:
        text = f"duplicate ACK {arrow} (#{i.dupacks})"
    elif "keep_alive" in an:
        text = f"keep-alive {arrow}"
    elif "keep_alive_ack" in an:
        text = f"ACK of a keep-alive {arrow}"
    elif "zero_window_probe_ack" in an:
        text = f"ACK of a zero-window probe {arrow}"
    else:
        text = PURE_ACK[i.from_client]
    return _resent(i, text)


def _fin(i: TcpInfo) -> str:
    side = SIDE[i.from_client]
    why = "again" if i.again else "closes first" if i.closes_first else "answers the other side's FIN"
    text = f"FIN with data from {side}: {i.tlen} bytes ({why})" if i.tlen else f"FIN from {side} ({why})"
    return _resent(i, text) if i.analysis else text


def _rst(i: TcpInfo) -> str:
    if i.answers is not None:  # the flow table says a RST answers only the SYN it refuses
        text = "RST from server: connection refused (SYN answered by RST)"
    else:
        text = f"RST from {SIDE[i.from_client]}: connection aborted"
    if i.tlen:
        text += f" (RST with data, {i.tlen} bytes)"
    return _resent(i, text) if i.analysis else text


TCP_TEXTS: dict[str, Callable[[TcpInfo], str]] = {
    "syn": _syn,
    "syn-ack": _syn_ack,
    "handshake-ack": _handshake_ack,
    "data": _data,
    "ack": _ack,
    "fin": _fin,
    "rst": _rst,
}
"""The role text of a TCP segment, by its role code (``TcpInfo.role``), from the facts on its ``TcpInfo``;
a retransmission's text ends with `` (retransmission)`` whatever its role. The fast path calls a row itself
(``TCP_TEXTS[info.role](info)``: one call less per packet than ``tcp_text``)."""


def tcp_text(info: TcpInfo) -> str:
    """The role text of a TCP segment (its row of ``TCP_TEXTS``)."""
    return TCP_TEXTS[info.role](info)


class _Segment(NamedTuple):
    """The facts every TCP rule reads: the flow's view of the segment and who sent it from where."""

    info: TcpInfo
    who: str  # "client" or "server"
    me: str  # the sender's endpoint as text
    sport: int


class TcpRule(NamedTuple):
    """One row of ``TCP_RULES``: the cause rule it gives, when it applies, the cause it builds."""

    rule: str
    when: Callable[[_Segment], bool]
    cause: Callable[[_Segment], dict[str, Any]]


def _role(role: str, answered: bool | None = None) -> Callable[[_Segment], bool]:
    """The segment has this role (and answers a frame, or does not, when ``answered`` says)."""
    if answered is None:
        return lambda s: s.info.role == role
    return lambda s: s.info.role == role and (s.info.answers is not None) == answered


def _flagged(*flags: str) -> Callable[[_Segment], bool]:
    """The flow's analysis flagged the segment with one of ``flags`` (tshark's tcp.analysis names)."""
    return lambda s: bool(s.info.analysis) and any(f in s.info.analysis for f in flags)


def _data(s: _Segment) -> dict[str, Any]:
    if s.info.first_data:
        return make_cause("inferred", "tcp-data", f"send() by {s.who} {s.me} (first data on this connection)")
    return make_cause("inferred", "tcp-data", f"send()/write() by {s.who} {s.me}")


def _probe_ack(s: _Segment) -> dict[str, Any]:
    probe = "keep-alive" if "keep_alive_ack" in s.info.analysis else "zero-window probe"
    return make_cause("kernel", "probe-ack", f"kernel of {s.who} {s.me} answers the peer's {probe}")


TCP_RULES: tuple[TcpRule, ...] = (
    TcpRule("tcp-retransmit", _flagged("retransmission", "fast_retransmission"), lambda s: make_cause(
        "kernel", "tcp-retransmit", f"kernel of {s.who} {s.me} retransmits data not yet acknowledged")),
    TcpRule("syn-connect", _role("syn"), lambda s: make_cause(
        "inferred", "syn-connect", f"connect() by client {s.me}")),
    TcpRule("syn-ack", _role("syn-ack"), lambda s: make_cause(
        "kernel", "syn-ack",
        f"kernel of listening server {s.me} answers the SYN (listen() socket; accept() returns later)",
        answers=s.info.answers)),
    TcpRule("handshake-ack", _role("handshake-ack"), lambda s: make_cause(
        "kernel", "handshake-ack", f"kernel of client {s.me} completes the handshake; connect() returns",
        answers=s.info.answers)),
    TcpRule("tcp-data", _role("data"), _data),
    TcpRule("fin-close", _role("fin"), lambda s: make_cause(
        "inferred", "fin-close", f"close()/shutdown(SHUT_WR) by {s.who} {s.me}")),
    TcpRule("rst-refused", _role("rst", answered=True), lambda s: make_cause(
        "kernel", "rst-refused",
        f"kernel of {s.me}: no socket listening on port {s.sport}, connect() fails ECONNREFUSED",
        answers=s.info.answers)),
    TcpRule("rst", _role("rst"), lambda s: make_cause(
        "kernel", "rst", f"kernel of {s.who} {s.me} aborts the connection (close() with unread data, "
        f"SO_LINGER 0, or a segment for a closed socket)")),
    TcpRule("keepalive", _flagged("keep_alive"), lambda s: make_cause(
        "kernel", "keepalive", f"kernel of {s.who} {s.me}: keep-alive probe (SO_KEEPALIVE)")),
    TcpRule("window-update", _flagged("window_update"), lambda s: make_cause(
        "kernel", "window-update", f"kernel of {s.who} {s.me} announces a new receive window (larger: the "
        f"application read with recv(); smaller: data is waiting to be read)")),
    TcpRule("probe-ack", _flagged("keep_alive_ack", "zero_window_probe_ack"), _probe_ack),
    TcpRule("ack-fin", _role("ack", answered=True), lambda s: make_cause(
        "kernel", "ack-fin", f"kernel of {s.who} {s.me} acknowledges the peer's FIN (frame {s.info.answers})",
        answers=s.info.answers)),
    TcpRule("ack", lambda s: True, lambda s: make_cause(
        "kernel", "ack", f"kernel of {s.who} {s.me} acknowledges received data")),
)
"""Inferred TCP causes without a call log, in order: the first rule whose ``when`` holds gives the cause
(a retransmission is one whatever its role; the last rule takes every other pure ACK)."""


def cause_tcp(src: str, sport: int, info: TcpInfo) -> dict[str, Any]:
    """Inferred cause of a TCP segment (sent from ``src``:``sport``) from its role in the stream."""
    seg = _Segment(info, "client" if info.from_client else "server", ep(src, sport), sport)
    for rule in TCP_RULES:
        if rule.when(seg):
            return rule.cause(seg)
    raise AssertionError("the last TCP rule takes every segment")


def role_udp(me: str, app: str | None, ln: int, answers: int | None, fragments: int = 0
             ) -> tuple[str, str, dict[str, Any]]:
    """Role and inferred cause of a UDP datagram of ``ln`` payload bytes sent from ``me``."""
    a = f" {app}" if app else ""
    if fragments:
        text = f"UDP datagram{a}, {ln} bytes, reassembled from {fragments} fragments"
    else:
        text = f"UDP datagram{a}, {ln} bytes"
    if answers is not None:
        text += f" (response to frame {answers})"
        return "udp", text, make_cause("inferred", "udp-sendto",
                                   f"sendto() by {me} answering frame {answers}", answers=answers)
    return "udp", text, make_cause("inferred", "udp-sendto", f"sendto() by {me}")


NDP_ROLES = {133: ("ndp-rs", "NDP router solicitation"), 134: ("ndp-ra", "NDP router advertisement"),
             135: ("ndp-ns", "NDP neighbor solicitation"), 136: ("ndp-na", "NDP neighbor advertisement")}
PPP_CONTROL = frozenset({"LCP", "IPCP", "IPv6CP", "PAP", "CHAP", "PPPoE Discovery"})


def role_other(p: Pkt, answers: int | None, quoted_frame: int | None) -> tuple[str, str, dict[str, Any]]:
    """Role code, role text and inferred cause of a packet that is not a TCP segment."""
    l4 = p.l4
    src = p.src
    if p.probe:
        return "lab-probe", "lab capture probe", make_cause("lab", "lab-probe",
                                                        "lab capture stage: readiness probe frame")
    if l4 == "udp":
        ln = len(p.payload) if p.udplen is None else max(p.udplen - 8, 0)
        return role_udp(ep(src, p.sport), p.app, ln, answers, len(p.frag_done) if p.frag_done else 0)
    if l4 == "fragment":
        foff, mf, ident = p.frag or (0, False, 0)
        text = (f"IP fragment {p.frag_index} of datagram id 0x{ident:x} (offset {foff}, "
                + ("more follow)" if mf else "last by offset)"))
        return "ip-fragment", text, make_cause("kernel", "ip-fragment",
                                           f"kernel of {src} splits a datagram larger than the path MTU")
    if l4 == "arp":
        op, sha, spa, _tha, tpa = p.arp or (0, None, None, None, None)
        if op == 1:
            if spa == tpa:
                return "arp-request", f"ARP announcement (gratuitous) for {spa}", make_cause(
                    "kernel", "arp-gratuitous", f"kernel of {spa} announces its address")
            return "arp-request", f"ARP request: who has {tpa}? tell {spa}", make_cause(
                "kernel", "arp-request", f"kernel of {spa} resolves {tpa} before sending to it")
        if op == 2:
            return "arp-reply", f"ARP reply: {spa} is at {sha}", make_cause(
                "kernel", "arp-reply", f"kernel of {spa} answers an ARP request for its address",
                answers=answers)
        return "other", f"ARP opcode {op}", make_cause("kernel", "arp-other", "kernel ARP")
    if l4 in ("icmp", "icmpv6"):
        t = p.icmp_type
        name = p.icmp_name or ""
        v6 = l4 == "icmpv6"
        if (t == 8 and not v6) or (t == 128 and v6):
            return "icmp-echo-request", f"ICMP echo request (ping) to {p.dst}", make_cause(
                "inferred", "icmp-echo-request", f"ping on {src}: sendto() on an ICMP socket")
        if (t == 0 and not v6) or (t == 129 and v6):
            return "icmp-echo-reply", f"ICMP echo reply from {src}", make_cause(
                "kernel", "icmp-echo-reply", f"kernel of {src} answers the echo request", answers=answers)
        if (not v6 and t in (3, 4, 5, 11, 12)) or (v6 and t in (1, 2, 3, 4)):
            what = f" for frame {quoted_frame}" if quoted_frame is not None else ""
            q = p.quoted or {}
            about = (f" ({ep(q.get('src'), q.get('sport'))} -> {ep(q.get('dst'), q.get('dport'))})"
                     if q else "")
            return "icmp-error", f"ICMP error: {name}{what}{about}", make_cause(
                "kernel", "icmp-error", f"kernel of {src} reports {name}{what}", answers=quoted_frame)
        if v6 and t in NDP_ROLES:
            code, text = NDP_ROLES[t]
            return code, text, make_cause("kernel", code, f"kernel of {src}: IPv6 neighbor discovery")
        if v6 and t in (130, 131, 132, 143):
            return "other", f"MLD: {name}", make_cause("kernel", "mld",
                                                   f"kernel of {src}: multicast listener discovery")
        return "other", f"{'ICMPv6' if v6 else 'ICMP'} {name}", make_cause("kernel", "icmp-other",
                                                                       f"kernel of {src}")
    if l4 == "igmp":
        return "igmp", igmp_text(p.igmp), make_cause(
            "kernel", "igmp", f"kernel of {src}: multicast membership (IP_ADD_MEMBERSHIP or querier)")
    if l4 == "ospf" or l4 == "eigrp":
        name = "OSPF" if l4 == "ospf" else "EIGRP"
        text = describe_routing(p.routing) if p.routing else f"{name} routing message (header cut short)"
        return l4, text, make_cause("inferred", f"{l4}-send",
                                f"routing daemon on {src} (sendmsg() on a raw IP socket)")
    if p.l2 in PPP_CONTROL:
        return "other", f"PPP link control: {p.l2}", make_cause("inferred", "ppp-control",
                                                             "PPP daemon negotiating the link")
    if p.tcplen is None and l4 == "tcp":
        return "other", "TCP segment too short to decode", make_cause("unexplained", "unknown",
                                                                    "truncated or malformed TCP header")
    what = p.l2 or (p.malformed or "unknown payload")
    return "other", f"other: {what}", make_cause("unexplained", "unknown",
                                             f"no rule explains this packet ({what})")


_IGMP_MEANING = {(4, 0): "join", (3, 0): "leave"}  # (v3 record type, no sources) -> what it says


def igmp_text(igmp: dict[str, Any] | None) -> str:
    """An IGMP message as a student reads it: ``IGMP v3 membership report: CHANGE_TO_EXCLUDE_MODE
    239.1.2.3 (join)``."""
    if not igmp:
        return "IGMP message (cut short)"
    if igmp.get("records") is None:
        group = igmp.get("group")
        return f"IGMP {igmp['name']}" + (f" {group}" if group and group != "0.0.0.0" else "")
    parts = []
    for r in igmp["records"]:
        meaning = _IGMP_MEANING.get((r["type"], len(r["sources"])))
        parts.append(f"{r['name']} {r['group']}" + (f" ({meaning})" if meaning else ""))
    return f"IGMP {igmp['name']}: " + (", ".join(parts) or "no group records")
