"""Checks and answers for the protocol labs (ICMP, IGMP, FTP, SNMP, Telnet, PPP/SLIP), by attribution.

The socket-flow checks (``checks.py``) count roles and flags; the protocol labs instead ask *who* put a
packet on the wire: a call of a given name (``attributed(rule=..., call=sendto)``), the kernel of a given
node (``node: r1``), and who heard of it (``consumed_by: recv``). They read the causes the attribution
wrote into packets.jsonl, one packet once: a forwarded copy (``cause.copy_of``) is the same packet.

Registered into ``CHECKS`` and ``QUESTIONS`` at the end of those modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lab.labs import evidence as ev

Result = tuple[bool, str]
Records = list[dict[str, Any]]


def _cause(p: dict[str, Any]) -> dict[str, Any]:
    c = p.get("cause")
    return c if isinstance(c, dict) else {}


def _originals(packets: Records) -> Records:
    """Each packet once: the first sighting, not the forwarded copies."""
    return sorted((p for p in ev.wire(packets) if _cause(p).get("copy_of") is None), key=ev.ts)


def _calls_named(calls: Records, ids: list[int], name: str) -> list[dict[str, Any]]:
    wanted = ev.names_for(name)
    by_id = {c.get("id"): c for c in calls}
    return [by_id[i] for i in ids if i in by_id and by_id[i].get("call") in wanted]


def _attributed(
    packets: Records, calls: Records, rule: str, call: str | None, node: str | None, consumed_by: str | None
) -> Records:
    out = []
    for p in _originals(packets):
        cause = _cause(p)
        if cause.get("rule") != rule:
            continue
        if call is not None and not _calls_named(calls, list(cause.get("calls") or []), call):
            continue
        if node is not None and cause.get("node") != node:
            continue
        if consumed_by is not None and not _calls_named(
            calls, list(cause.get("consumed_by") or []), consumed_by
        ):
            continue
        out.append(p)
    return out


def attributed(
    packets: Records,
    calls: Records,
    rule: str,
    call: str | None = None,
    node: str | None = None,
    consumed_by: str | None = None,
    min: int = 1,
    count: int | None = None,
) -> Result:
    """Packets explained by attribution rule ``rule`` (each packet once, forwarded copies aside), sent
    by a call named ``call`` or by the kernel of ``node``, and read (or reported) by a call named
    ``consumed_by`` — at least ``min`` of them, or exactly ``count``."""
    found = _attributed(packets, calls, rule, call, node, consumed_by)
    who = " ".join(
        x
        for x in (
            f"sent by {call}()" if call else "",
            f"from {node}" if node else "",
            f"heard by {consumed_by}()" if consumed_by else "",
        )
        if x
    )
    ok = len(found) == count if count is not None else len(found) >= min
    want = f"exactly {count}" if count is not None else f">= {min}"
    frames = ", ".join(str(p.get("number")) for p in found[:8])
    detail = f"{len(found)} packets explained as {rule}{' ' + who if who else ''} (expected {want})"
    if found:
        detail += f"; frames {frames}: {_cause(found[0]).get('text', '')[:160]}"
    return ok, detail


def icmp_echo_id(packets: Records, calls: Records) -> int | None:
    """The identifier of the first ICMP echo request: chosen by the kernel for a ping socket."""
    req = ev.first(packets, lambda p: (p.get("icmp") or {}).get("type") == 8)
    echo = ((req or {}).get("icmp") or {}).get("echo") or {}
    return echo.get("id")


def icmp_error_senders(packets: Records, calls: Records, type: int, code: int | None = None) -> list[str]:
    """The nodes whose kernels sent ICMP errors of ``type`` (and ``code``), in capture order, each
    packet once."""
    out = []
    for p in _originals(packets):
        icmp = p.get("icmp") or {}
        if icmp.get("type") == type and (code is None or icmp.get("code") == code):
            out.append(str(_cause(p).get("node") or (p.get("ip") or {}).get("src")))
    return out


def icmp_next_mtu(packets: Records, calls: Records) -> int | None:
    """The next-hop MTU announced by the first "fragmentation needed" (ICMP type 3, code 4)."""
    msg = ev.first(packets, lambda p: (p.get("icmp") or {}).get("type") == 3 and p["icmp"].get("code") == 4)
    return ((msg or {}).get("icmp") or {}).get("mtu")


PROTOCOL_CHECKS: dict[str, Callable[..., Result]] = {
    "attributed": attributed,
}

PROTOCOL_QUESTIONS: dict[str, Callable[..., Any]] = {
    "icmp_echo_id": icmp_echo_id,
    "icmp_error_senders": icmp_error_senders,
    "icmp_next_mtu": icmp_next_mtu,
}
