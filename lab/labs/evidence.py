"""Small, pure queries over a run's evidence: packets.jsonl and calls.jsonl records (plain dicts).

Checks, questions and the story all ask the same few questions of the records ("the SYNs", "the calls
named accept that succeeded", "the frame, as a student would find it in Wireshark"); they live here once.
A capture may see one packet at several points (both ends of a link, every link of a routed path), so
counting is done per capture point (``views``) and ordering by the capture clock (``ts_ns``).
"""

from __future__ import annotations

import errno as _errno
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

Record = dict[str, Any]
Pred = Callable[[Record], bool]

# Python socket methods and the syscalls strace shows for the same job: a check asking for "recv" also
# matches a traced C program's recvfrom.
CALL_FAMILIES: dict[str, frozenset[str]] = {
    "accept": frozenset({"accept", "accept4"}),
    "recv": frozenset({"recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "read", "makefile-read"}),
    "send": frozenset({"send", "sendto", "sendmsg", "write", "makefile-write"}),
    "connect": frozenset({"connect", "connect_ex"}),
}


# -- packets -----------------------------------------------------------------------------------------
def wire(packets: Iterable[Record]) -> list[Record]:
    """The lab's packets: everything but the capture stage's own readiness probes."""
    return [p for p in packets if role(p) != "lab-probe"]


def role(p: Record) -> str | None:
    r = p.get("role")
    return r.get("code") if isinstance(r, dict) else None


_role_of = role  # for functions whose parameter is called ``role``


def flags(p: Record) -> set[str]:
    return {f for f in (p.get("analysis") or []) if isinstance(f, str)}


def is_retransmission(p: Record) -> bool:
    return any("retransmission" in f for f in flags(p))


def views(packets: Iterable[Record]) -> dict[str, list[Record]]:
    """Packets grouped by capture point (interface), each group in capture order."""
    out: dict[str, list[Record]] = defaultdict(list)
    for p in wire(packets):
        out[str(p.get("interface"))].append(p)
    for group in out.values():
        group.sort(key=ts)
    return dict(out)


def max_count(packets: Iterable[Record], pred: Pred) -> tuple[int, str | None]:
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

    def pred(p: Record) -> bool:
        if role is not None and _role_of(p) != role:
            return False
        if wanted is not None and not any(w in f for w in wanted for f in flags(p)):
            return False
        if app is not None and str(p.get("app") or "").upper() != app.upper():
            return False
        if port is not None:
            ends = endpoints(p)
            if ends is None or port not in (ends[0][1], ends[1][1]):
                return False
        return True

    return pred


def matching(packets: Iterable[Record], pred: Pred) -> list[Record]:
    return sorted((p for p in wire(packets) if pred(p)), key=ts)


def first(packets: Iterable[Record], pred: Pred) -> Record | None:
    found = matching(packets, pred)
    return found[0] if found else None


def ts(p: Record) -> int:
    return int(p.get("ts_ns") or 0)


def t0_ns(packets: Iterable[Record]) -> int:
    """The capture's time origin: ``t`` of packets.jsonl counts from here; calls are placed on it too."""
    best = None
    for p in packets:
        origin = ts(p) - round(float(p.get("t") or 0.0) * 1e9)
        best = origin if best is None else min(best, origin)
    return best or 0


def frame(p: Record) -> str:
    """How a student finds a packet in Wireshark: frame number, time and capture point."""
    where = p.get("interface")
    return f"frame {p.get('number')} (t={float(p.get('t') or 0):.6f} s{', ' + str(where) if where else ''})"


def tcp(p: Record) -> Record | None:
    return p.get("tcp")


def tcp_flags(p: Record) -> set[str]:
    t = tcp(p)
    return set(str(t.get("flags") or "").split(",")) - {""} if t else set()


def endpoints(p: Record) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """(source, destination) as (ip, port) of a TCP or UDP packet."""
    ip, l4 = p.get("ip"), tcp(p) or p.get("udp")
    if not ip or not l4:
        return None
    return (ip["src"], int(l4["sport"])), (ip["dst"], int(l4["dport"]))


def conn_key(p: Record) -> tuple | None:
    """A direction-free connection id (the 4-tuple), stable across capture points."""
    ends = endpoints(p)
    if ends is None:
        return None
    proto = "tcp" if tcp(p) else "udp"
    return (proto, *sorted(ends))


def is_syn(p: Record) -> bool:
    return tcp_flags(p) == {"SYN"}


def is_synack(p: Record) -> bool:
    return tcp_flags(p) >= {"SYN", "ACK"}


def payload_len(p: Record) -> int:
    t = tcp(p)
    return int(t.get("len") or 0) if t else 0


# -- calls -------------------------------------------------------------------------------------------
def names_for(call: str) -> frozenset[str]:
    return CALL_FAMILIES.get(call, frozenset({call}))


def calls_named(
    calls: Iterable[Record], call: str, *, exact: bool = False, node: str | None = None
) -> list[Record]:
    """Calls named ``call`` (or its family: ``recv`` matches recv_into, recvfrom...), in time order."""
    names = frozenset({call}) if exact else names_for(call)
    found = [c for c in calls if c.get("call") in names and (node is None or c.get("node") == node)]
    return sorted(found, key=lambda c: c.get("t_start_ns") or 0)


def succeeded(c: Record) -> bool:
    return not c.get("error") and not c.get("exception")


def errno_name(c: Record) -> str | None:
    """The errno of a failed call, also for connect_ex, which returns it instead of raising."""
    if c.get("error"):
        return str(c["error"])
    ret = c.get("ret")
    if c.get("call") == "connect_ex" and isinstance(ret, int) and ret:
        return _errno.errorcode.get(ret, str(ret))
    return None


def raised(c: Record, exception: str) -> bool:
    """Whether the call raised ``exception``; ``TimeoutError`` and its old alias ``timeout`` are one."""
    got = c.get("exception")
    aliases = {"TimeoutError", "timeout"} if exception in ("TimeoutError", "timeout") else {exception}
    return got in aliases


def call_ref(c: Record, t0: int) -> str:
    """A call as the story names it: ``h2 accept() #5 at t=0.000812 s``."""
    return f"{c.get('node')} {c.get('call')}() #{c.get('id')} at t={rel(c.get('t_end_ns'), t0)} s"


def rel(t_ns: Any, t0: int) -> str:
    if not isinstance(t_ns, int):
        return "?"
    return f"{(t_ns - t0) / 1e9:.6f}"


def addr(value: Any) -> tuple[str, int] | None:
    if isinstance(value, list | tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


def caused_by(p: Record) -> list[int]:
    """Ids of the calls that *sent* this packet (cause source "call"). Kernel packets also list related
    calls (the listen() a SYN-ACK answers for, the recv() inside which an ACK left): those did not send it.
    """
    cause = p.get("cause") or {}
    if cause.get("source") != "call":
        return []
    return [int(i) for i in cause.get("calls") or []]


def related_calls(p: Record) -> list[int]:
    """Every call id the packet's cause names, whether the call sent it or the kernel acted for it."""
    cause = p.get("cause") or {}
    return [int(i) for i in cause.get("calls") or []]


# -- TCP loss evidence, per capture point ---------------------------------------------------------------
def loss_evidence(packets: Iterable[Record]) -> dict[str, dict[str, list[Record]]]:
    """Per capture point: data segments after a gap, data sent again, and duplicate ACKs.

    Computed from sequence numbers at each capture point separately: on a routed path one segment is
    captured once per link, and across links the second copy would look like a retransmission.
    """
    out: dict[str, dict[str, list[Record]]] = {}
    for iface, group in views(packets).items():
        high: dict[tuple, int] = {}
        last_ack: dict[tuple, tuple[int, int]] = {}
        found: dict[str, list[Record]] = {"gap": [], "resent": [], "dup_ack": []}
        for p in group:
            t, ends = tcp(p), endpoints(p)
            if not t or not ends or "RST" in tcp_flags(p) or "SYN" in tcp_flags(p):
                continue
            n = payload_len(p)
            if n:
                seq = int(t.get("seq") or 0)
                top = high.get(ends)
                if top is not None and seq > top:
                    found["gap"].append(p)
                if top is not None and seq < top:
                    found["resent"].append(p)
                high[ends] = max(top or 0, seq + n)
            elif tcp_flags(p) == {"ACK"}:
                key = (int(t.get("ack_raw") or 0), int(t.get("win") or 0))
                if last_ack.get(ends) == key:
                    found["dup_ack"].append(p)
                last_ack[ends] = key
        out[iface] = found
    return out
