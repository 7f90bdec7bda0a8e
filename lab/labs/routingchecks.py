"""Expected observations and answers of the dynamic routing labs (OSPF, EIGRP).

Checks have the contract of ``lab.labs.checks`` (``fn(packets, calls, **params) -> (ok, detail)``,
registered in ``CHECKS``); a check that also takes ``routes`` gets the run's route events
(``routes.jsonl``: what each router's kernel table gained or lost, and when) from ``lab.labs.evaluate``.
Answers have the contract of ``lab.labs.questions`` (registered in ``QUESTIONS``).

Packets and calls are the typed records of ``lab.records``; a routing message's decoded header
(``routing``: protocol, message, router id, neighbours, LSAs...) is an open block whose fields depend on
the protocol and message, so those are read with ``.get``. Route events (``routes.jsonl``) have no
schema yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lab.labs import evidence as ev
from lab.records import CallRecord, PacketRecord

Result = tuple[bool, str]
Packets = list[PacketRecord]
Calls = list[CallRecord]
Records = list[dict[str, Any]]  # routes.jsonl's events


def _routing(packets: Packets, protocol: str) -> Packets:
    """The packets carrying a message of routing ``protocol`` (OSPF, EIGRP)."""
    return [p for p in packets if _protocol(p) == protocol.upper()]


def _protocol(p: PacketRecord) -> str | None:
    routing = p.get("routing")
    return routing.get("protocol") if routing is not None else None


def _nodes(calls: Calls) -> dict[int, str | None]:
    """Which node made each call, by call id."""
    return {c["id"]: c["node"] for c in calls}


def _senders(p: PacketRecord, nodes: dict[int, str | None]) -> set[str | None]:
    """The nodes whose calls the packet's cause names (None for a call id not in the log)."""
    return {nodes.get(i) for i in p["cause"].get("calls", [])}


def routing_messages(packets: Packets, calls: Calls, protocol: str, messages: list[str],
                     min: int = 1) -> Result:
    """At least ``min`` messages of each kind (OSPF ``Hello``, ``Link State Update``...; EIGRP ``Hello``,
    ``Update``, ``Ack``...), each sent by a traced call of a routing daemon (cause source ``call``)."""
    seen = _routing(packets, protocol)
    if not seen:
        return False, f"no {protocol.upper()} packet in the capture"
    missing, parts = [], []
    for message in messages:
        mine = [p for p in seen if p["routing"].get("message") == message]
        if len(mine) < min:
            missing.append(f"{message} ({len(mine)})")
            continue
        by_call = [p for p in mine if p["cause"]["source"] == "call"]
        if len(by_call) != len(mine):
            missing.append(f"{message}: {len(mine) - len(by_call)} not attributed to a daemon's call")
            continue
        parts.append(f"{message} x{len(mine)} (first frame {mine[0]['number']})")
    if missing:
        return False, f"{protocol.upper()} messages missing or unexplained: {', '.join(missing)}"
    return True, "; ".join(parts)


def adjacency(packets: Packets, calls: Calls, protocol: str, routers: int) -> Result:
    """Each of ``routers`` routers took part in an adjacency: OSPF, its Hellos list a neighbour (two-way
    communication); EIGRP, it sent an Update or an Ack (reliable exchange only starts with a neighbour)."""
    seen = _routing(packets, protocol)
    nodes = _nodes(calls)
    kinds: tuple[str, ...]
    if protocol.upper() == "OSPF":
        kinds = ("Hello",)
        seen = [p for p in seen if p["routing"].get("neighbors")]
        what = "OSPF Hellos listing a neighbour"
    else:
        kinds = ("Update", "Ack")
        what = "EIGRP Updates or Acks"
    senders = sorted({n for p in seen if p["routing"].get("message") in kinds
                      for n in _senders(p, nodes) if n is not None})
    if len(senders) < routers:
        who = ", ".join(senders) or "none"
        return False, f"{what} sent by {len(senders)} router(s) ({who}), expected {routers}"
    return True, f"{what} sent by {', '.join(senders)}"


def _first_host_packet(packets: Packets, calls: Calls, node: str) -> PacketRecord | None:
    """The first TCP/UDP/ICMP packet that a call of ``node`` sent."""
    nodes = _nodes(calls)
    for p in packets:
        transport = p["tcp"] is not None or p["udp"] is not None or p["icmp"] is not None
        if transport and p["cause"]["source"] == "call" and node in _senders(p, nodes):
            return p
    return None


def routes_before_traffic(packets: Packets, calls: Calls, node: str, routes: Records | None = None,
                          min_routes: int = 1) -> Result:
    """``node``'s first packet (sent by a call) came after every router had installed at least
    ``min_routes`` route(s) learned by its routing protocol: the traffic waited for convergence."""
    if not routes:
        return False, "no route events recorded (routes.jsonl is empty: were routing daemons running?)"
    first = _first_host_packet(packets, calls, node)
    if first is None:
        return False, f"no packet sent by a call of {node}"
    added: dict[str, list[dict]] = {}
    for r in routes:
        if r.get("action") == "add" and r.get("proto") not in (None, "kernel"):
            added.setdefault(r["node"], []).append(r)
    routers = sorted({r["node"] for r in routes})
    if not added:
        return False, "no router installed a route learned by a routing protocol"
    late = [n for n in routers if len(added.get(n, [])) < min_routes
            or added[n][min_routes - 1]["ts_ns"] > first["ts_ns"]]
    if late:
        return False, (f"{node}'s first packet (frame {first['number']}) left before {', '.join(late)} had "
                       f"{min_routes} learned route(s)")
    last = max(added[n][min_routes - 1]["ts_ns"] for n in routers)
    gap = (first["ts_ns"] - last) / 1e6
    return True, (f"routes learned by {', '.join(routers)}; {node}'s first packet (frame {first['number']}) "
                  f"{gap:.0f} ms after the last of them")


ROUTING_CHECKS: dict[str, Callable[..., Result]] = {
    "routing_messages": routing_messages,
    "adjacency": adjacency,
    "routes_before_traffic": routes_before_traffic,
}


def routing_field(packets: Packets, calls: Calls, protocol: str, message: str, field: str,
                  node: str | None = None) -> Any:
    """A header field (``hello_interval``, ``router_id``, ``asn``...) of the first ``message`` of
    ``protocol`` (sent by ``node``'s daemon, when given)."""
    nodes = _nodes(calls)
    for p in _routing(packets, protocol):
        if p["routing"].get("message") != message:
            continue
        if node is not None and node not in _senders(p, nodes):
            continue
        return p["routing"].get(field)
    return None


def route_carrier(packets: Packets, calls: Calls, protocol: str) -> str | None:
    """The message that carried routing information first (OSPF: the one with LSAs; EIGRP: Update)."""
    for p in _routing(packets, protocol):
        info = p["routing"]
        if info.get("lsas") or (info.get("protocol") == "EIGRP" and info.get("message") == "Update"):
            return info.get("message")
    return None


def syn_path(packets: Packets, calls: Calls) -> list[str] | None:
    """The capture points (links) where the client's first SYN was seen, in time order: the chosen path."""
    first = next((p for p in packets if p["tcp"] is not None and p["tcp"]["flags"] == "SYN"), None)
    if first is None:
        return None
    seen = [first] + [p for p in packets if p["cause"].get("copy_of") == first["number"]]
    return [p["interface"] for p in sorted(seen, key=ev.ts)]


ROUTING_QUESTIONS: dict[str, Callable[..., Any]] = {
    "routing_field": routing_field,
    "route_carrier": route_carrier,
    "syn_path": syn_path,
}
