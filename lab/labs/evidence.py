"""Small, pure queries over a run's evidence: packets.jsonl and calls.jsonl records (``lab.records``).

Checks, questions and the story all ask the same few questions of the records ("the SYNs", "the calls
named accept that succeeded", "the frame, as a student would find it in Wireshark"); they live here once.
A capture may see one packet at several points (both ends of a link, every link of a routed path), so
counting is done per capture point (``views``) and ordering by the capture clock (``ts_ns``).

The records are typed by ``lab.records`` (``PacketRecord``, ``CallRecord``): a key the schema requires is
read directly, a key it may leave out (``cause.calls``) or a value it allows to be null (``tcp`` of a UDP
packet, ``ts_ns`` of a frame without a time) is tested. Grading feeds these functions only records the
analysis has just written from the raw evidence, never the files a student can edit.
"""

from __future__ import annotations

import errno as _errno
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal, Protocol

from lab.records import IP, TCP, UDP, CallRecord, IPFragment, PacketRecord


class Pred(Protocol):
    """A test of one packet record. A Protocol rather than ``Callable[[PacketRecord], bool]`` so that a type
    checker follows a lambda that binds a loop variable as a default (``lambda p, peer=peer: ...``)."""

    def __call__(self, p: PacketRecord, /) -> bool: ...


End = Literal["sport", "dport"]
Endpoint = tuple[str, int]  # (IP address, port)

# Python socket methods and the syscalls strace shows for the same job: a check asking for "recv" also
# matches a traced C program's recvfrom.
CALL_FAMILIES: dict[str, frozenset[str]] = {
    "accept": frozenset({"accept", "accept4"}),
    "recv": frozenset({"recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "read", "makefile-read"}),
    "send": frozenset({"send", "sendto", "sendmsg", "write", "makefile-write"}),
    "connect": frozenset({"connect", "connect_ex"}),
}


# -- packets -----------------------------------------------------------------------------------------
def wire(packets: Iterable[PacketRecord]) -> list[PacketRecord]:
    """The lab's packets: everything but the capture stage's own readiness probes."""
    return [p for p in packets if role(p) != "lab-probe"]


def role(p: PacketRecord) -> str:
    return p["role"]["code"]


_role_of = role  # for functions whose parameter is called ``role``


def flags(p: PacketRecord) -> set[str]:
    return set(p["analysis"])


def is_retransmission(p: PacketRecord) -> bool:
    return any("retransmission" in f for f in flags(p))


def views(packets: Iterable[PacketRecord]) -> dict[str, list[PacketRecord]]:
    """Packets grouped by capture point (interface), each group in capture order."""
    out: dict[str, list[PacketRecord]] = defaultdict(list)
    for p in wire(packets):
        out[p["interface"]].append(p)
    for group in out.values():
        group.sort(key=ts)
    return dict(out)


def max_count(packets: Iterable[PacketRecord], pred: Pred) -> tuple[int, str | None]:
    """The most packets matching ``pred`` seen at any one capture point, and that point."""
    best, where = 0, None
    for iface, group in views(packets).items():
        n = sum(1 for p in group if pred(p))
        if n > best or where is None:
            best, where = n, iface
    return best, where


def packet_filter(
    role: str | None = None,
    analysis: str | list[str] | None = None,
    app: str | None = None,
    port: int | None = None,
) -> Pred:
    """A predicate: packets of ``role``, with an ``analysis`` flag (one of a list; ``retransmission``
    also matches ``fast_retransmission``), of application ``app``, on ``port``."""
    wanted = [analysis] if isinstance(analysis, str) else analysis

    def pred(p: PacketRecord) -> bool:
        if role is not None and _role_of(p) != role:
            return False
        if wanted is not None and not any(w in f for w in wanted for f in flags(p)):
            return False
        if app is not None and (p["app"] is None or p["app"].upper() != app.upper()):
            return False
        if port is not None:
            ends = endpoints(p)
            if ends is None or port not in (ends[0][1], ends[1][1]):
                return False
        return True

    return pred


def matching(packets: Iterable[PacketRecord], pred: Pred) -> list[PacketRecord]:
    return sorted((p for p in wire(packets) if pred(p)), key=ts)


def first(packets: Iterable[PacketRecord], pred: Pred) -> PacketRecord | None:
    found = matching(packets, pred)
    return found[0] if found else None


def ts(p: PacketRecord) -> int:
    return p["ts_ns"] or 0


def t0_ns(packets: Iterable[PacketRecord]) -> int:
    """The capture's time origin: ``t`` of packets.jsonl counts from here; calls are placed on it too."""
    best = None
    for p in packets:
        origin = ts(p) - round((p["t"] or 0.0) * 1e9)
        best = origin if best is None else min(best, origin)
    return best or 0


def frame(p: PacketRecord) -> str:
    """How a student finds a packet in Wireshark: frame number, time and capture point."""
    where = p["interface"]
    return f"frame {p['number']} (t={p['t'] or 0:.6f} s{', ' + where if where else ''})"


def tcp(p: PacketRecord) -> TCP | None:
    return p["tcp"]


def tcp_of(p: PacketRecord) -> TCP:
    """The TCP header of a packet a predicate chose as a segment (a SYN, a RST, data...); a record that
    has none contradicts that choice: a ValueError names its frame (``evaluate`` reports it)."""
    t = p["tcp"]
    if t is None:
        raise ValueError(f"frame {p['number']} has no TCP header")
    return t


def udp_of(p: PacketRecord) -> UDP:
    """The UDP header of a packet a predicate chose as a datagram (see ``tcp_of``)."""
    u = p["udp"]
    if u is None:
        raise ValueError(f"frame {p['number']} has no UDP header")
    return u


def ip_of(p: PacketRecord) -> IP:
    """The IP header of a packet a predicate chose as an IP packet (see ``tcp_of``)."""
    ip = p["ip"]
    if ip is None:
        raise ValueError(f"frame {p['number']} has no IP header")
    return ip


def frag_of(p: PacketRecord) -> IPFragment:
    """The fragment fields of a packet a predicate chose as an IP fragment (see ``tcp_of``)."""
    frag = ip_of(p)["frag"]
    if frag is None:
        raise ValueError(f"frame {p['number']} is not an IP fragment")
    return frag


def ends_of(p: PacketRecord) -> tuple[Endpoint, Endpoint]:
    """(source, destination) of a packet a predicate chose as TCP or UDP (see ``tcp_of``)."""
    ends = endpoints(p)
    if ends is None:
        raise ValueError(f"frame {p['number']} has no IP and TCP/UDP header")
    return ends


def tcp_flags(p: PacketRecord) -> set[str]:
    t = tcp(p)
    if t is None or t["flags"] is None:
        return set()
    return set(t["flags"].split(",")) - {""}


def tcp_port(p: PacketRecord, end: End) -> int | None:
    """The TCP source (``sport``) or destination (``dport``) port; None for a packet without TCP."""
    t = tcp(p)
    return None if t is None else t[end]


def udp_port(p: PacketRecord, end: End) -> int | None:
    """The UDP source (``sport``) or destination (``dport``) port; None for a packet without UDP."""
    u = p["udp"]
    return None if u is None else u[end]


def tcp_mss(p: PacketRecord) -> int | None:
    """The MSS option of a TCP segment (None: no TCP, or no MSS option)."""
    t = tcp(p)
    return None if t is None else t["mss"]


def from_client(p: PacketRecord) -> bool | None:
    """Whether a TCP segment goes from the client to the server (None: no TCP, or not known)."""
    t = tcp(p)
    return None if t is None else t["from_client"]


def ip_addr(p: PacketRecord, end: Literal["src", "dst"]) -> str | None:
    """The IP source or destination address; None for a frame without an IP header."""
    ip = p["ip"]
    return None if ip is None else ip[end]


def ip_frag(p: PacketRecord) -> IPFragment | None:
    """The fragment fields of an IP fragment; None for a whole datagram or a frame without IP."""
    ip = p["ip"]
    return None if ip is None else ip["frag"]


def eth_addrs(p: PacketRecord) -> tuple[str | None, str | None]:
    """(source, destination) MAC of the Ethernet header; (None, None) for a frame without one."""
    eth = p["eth"]
    return (None, None) if eth is None else (eth["src"], eth["dst"])


def endpoints(p: PacketRecord) -> tuple[Endpoint, Endpoint] | None:
    """(source, destination) as (ip, port) of a TCP or UDP packet."""
    ip, l4 = p["ip"], tcp(p) or p["udp"]
    if not ip or not l4:
        return None
    return (ip["src"], l4["sport"]), (ip["dst"], l4["dport"])


def source(p: PacketRecord) -> Endpoint | None:
    """The (ip, port) a TCP or UDP packet came from; None for any other frame."""
    ends = endpoints(p)
    return ends[0] if ends is not None else None


def conn_key(p: PacketRecord) -> tuple | None:
    """A direction-free connection id (the 4-tuple), stable across capture points."""
    ends = endpoints(p)
    if ends is None:
        return None
    proto = "tcp" if tcp(p) else "udp"
    return (proto, *sorted(ends))


def is_syn(p: PacketRecord) -> bool:
    return tcp_flags(p) == {"SYN"}


def is_synack(p: PacketRecord) -> bool:
    return tcp_flags(p) >= {"SYN", "ACK"}


def payload_len(p: PacketRecord) -> int:
    t = tcp(p)
    return (t["len"] or 0) if t else 0


# -- calls -------------------------------------------------------------------------------------------
def names_for(call: str) -> frozenset[str]:
    return CALL_FAMILIES.get(call, frozenset({call}))


def calls_named(
    calls: Iterable[CallRecord], call: str, *, exact: bool = False, node: str | None = None
) -> list[CallRecord]:
    """Calls named ``call`` (or its family: ``recv`` matches recv_into, recvfrom...), in time order."""
    names = frozenset({call}) if exact else names_for(call)
    found = [c for c in calls if c["call"] in names and (node is None or c["node"] == node)]
    return sorted(found, key=lambda c: c["t_start_ns"])


def succeeded(c: CallRecord) -> bool:
    return not c["error"] and not c["exception"]


def errno_name(c: CallRecord) -> str | None:
    """The errno of a failed call, also for connect_ex, which returns it instead of raising."""
    if c["error"]:
        return c["error"]
    ret = c["ret"]
    if c["call"] == "connect_ex" and isinstance(ret, int) and ret:
        return _errno.errorcode.get(ret, str(ret))
    return None


def raised(c: CallRecord, exception: str) -> bool:
    """Whether the call raised ``exception``; ``TimeoutError`` and its old alias ``timeout`` are one."""
    got = c["exception"]
    aliases = {"TimeoutError", "timeout"} if exception in ("TimeoutError", "timeout") else {exception}
    return got in aliases


def call_ref(c: CallRecord, t0: int) -> str:
    """A call as the story names it: ``h2 accept() #5 at t=0.000812 s``."""
    return f"{c['node']} {c['call']}() #{c['id']} at t={rel(c['t_end_ns'], t0)} s"


def rel(t_ns: Any, t0: int) -> str:
    if not isinstance(t_ns, int):
        return "?"
    return f"{(t_ns - t0) / 1e9:.6f}"


def addr(value: Any) -> Endpoint | None:
    if isinstance(value, list | tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


def accepted_peer(c: CallRecord) -> Endpoint | None:
    """The peer address an accept() call returned (its return value names it; None when it does not)."""
    ret = c["ret"]
    return addr(ret.get("peer")) if isinstance(ret, dict) else None


def caused_by(p: PacketRecord) -> list[int]:
    """Ids of the calls that *sent* this packet (cause source "call"). Kernel packets also list related
    calls (the listen() a SYN-ACK answers for, the recv() inside which an ACK left): those did not send it.
    """
    cause = p["cause"]
    if cause["source"] != "call":
        return []
    return list(cause.get("calls", []))


def related_calls(p: PacketRecord) -> list[int]:
    """Every call id the packet's cause names, whether the call sent it or the kernel acted for it."""
    return list(p["cause"].get("calls", []))


# -- TCP loss evidence, per capture point ---------------------------------------------------------------
def loss_evidence(packets: Iterable[PacketRecord]) -> dict[str, dict[str, list[PacketRecord]]]:
    """Per capture point: data segments after a gap, data sent again, and duplicate ACKs.

    Computed from sequence numbers at each capture point separately: on a routed path one segment is
    captured once per link, and across links the second copy would look like a retransmission.
    """
    out: dict[str, dict[str, list[PacketRecord]]] = {}
    for iface, group in views(packets).items():
        high: dict[tuple, int] = {}
        last_ack: dict[tuple, tuple[int, int]] = {}
        found: dict[str, list[PacketRecord]] = {"gap": [], "resent": [], "dup_ack": []}
        for p in group:
            t, ends = tcp(p), endpoints(p)
            if not t or not ends or "RST" in tcp_flags(p) or "SYN" in tcp_flags(p):
                continue
            n = payload_len(p)
            if n:
                seq = t["seq"] or 0
                top = high.get(ends)
                if top is not None and seq > top:
                    found["gap"].append(p)
                if top is not None and seq < top:
                    found["resent"].append(p)
                high[ends] = max(top or 0, seq + n)
            elif tcp_flags(p) == {"ACK"}:
                key = (t["ack_raw"] or 0, t["win"] or 0)
                if last_ack.get(ends) == key:
                    found["dup_ack"].append(p)
                last_ack[ends] = key
        out[iface] = found
    return out
