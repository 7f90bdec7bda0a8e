"""Expected observations and answers of the dynamic routing labs (OSPF, EIGRP).

Checks have the contract of ``lab.labs.checks`` (``fn(packets, calls, **params) -> (ok, detail)``,
registered in ``CHECKS``); a check that also takes ``routes`` gets the run's route events
(``routes.jsonl``: what each router's kernel table gained or lost, and when) from ``lab.labs.evaluate``.
Answers have the contract of ``lab.labs.questions`` (registered in ``QUESTIONS``).
"""

from __future__ import annotations

from typing import Any

Result = tuple[bool, str]
Records = list[dict[str, Any]]


def _routing(packets: Records, protocol: str) -> Records:
    return [p for p in packets if (p.get("routing") or {}).get("protocol") == protocol.upper()]


def routing_messages(packets: Records, calls: Records, protocol: str, messages: list[str],
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
        by_call = [p for p in mine if (p.get("cause") or {}).get("source") == "call"]
        if len(by_call) != len(mine):
            missing.append(f"{message}: {len(mine) - len(by_call)} not attributed to a daemon's call")
            continue
        parts.append(f"{message} x{len(mine)} (first frame {mine[0]['number']})")
    if missing:
        return False, f"{protocol.upper()} messages missing or unexplained: {', '.join(missing)}"
    return True, "; ".join(parts)


def adjacency(packets: Records, calls: Records, protocol: str, routers: int) -> Result:
    """Each of ``routers`` routers took part in an adjacency: OSPF, its Hellos list a neighbour (two-way
    communication); EIGRP, it sent an Update or an Ack (reliable exchange only starts with a neighbour)."""
    seen = _routing(packets, protocol)
    nodes = {c.get("id"): c.get("node") for c in calls}
    if protocol.upper() == "OSPF":
        kinds = ("Hello",)
        seen = [p for p in seen if p["routing"].get("neighbors")]
        what = "OSPF Hellos listing a neighbour"
    else:
        kinds = ("Update", "Ack")
        what = "EIGRP Updates or Acks"
    senders = sorted({nodes.get(i) for p in seen if p["routing"].get("message") in kinds
                      for i in (p.get("cause") or {}).get("calls") or ()} - {None})
    if len(senders) < routers:
        who = ", ".join(senders) or "none"
        return False, f"{what} sent by {len(senders)} router(s) ({who}), expected {routers}"
    return True, f"{what} sent by {', '.join(senders)}"


def _first_host_packet(packets: Records, calls: Records, node: str) -> dict | None:
    """The first TCP/UDP/ICMP packet that a call of ``node`` sent."""
    nodes = {c.get("id"): c.get("node") for c in calls}
    for p in packets:
        cause = p.get("cause") or {}
        if (p.get("tcp") or p.get("udp") or p.get("icmp")) and cause.get("source") == "call" and any(
                nodes.get(i) == node for i in cause.get("calls") or ()):
            return p
    return None


def routes_before_traffic(packets: Records, calls: Records, node: str, routes: Records | None = None,
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


ROUTING_CHECKS = {
    "routing_messages": routing_messages,
    "adjacency": adjacency,
    "routes_before_traffic": routes_before_traffic,
}


def routing_field(packets: Records, calls: Records, protocol: str, message: str, field: str,
                  node: str | None = None) -> Any:
    """A header field (``hello_interval``, ``router_id``, ``asn``...) of the first ``message`` of
    ``protocol`` (sent by ``node``'s daemon, when given)."""
    nodes = {c.get("id"): c.get("node") for c in calls}
    for p in _routing(packets, protocol):
        if p["routing"].get("message") != message:
            continue
        senders = {nodes.get(i) for i in (p.get("cause") or {}).get("calls") or ()}
        if node is not None and node not in senders:
            continue
        return p["routing"].get(field)
    return None


def route_carrier(packets: Records, calls: Records, protocol: str) -> str | None:
    """The message that carried routing information first (OSPF: the one with LSAs; EIGRP: Update)."""
    for p in _routing(packets, protocol):
        info = p["routing"]
        if info.get("lsas") or (info.get("protocol") == "EIGRP" and info.get("message") == "Update"):
            return info.get("message")
    return None


def syn_path(packets: Records, calls: Records) -> list[str] | None:
    """The capture points (links) where the client's first SYN was seen, in time order: the chosen path."""
    first = next((p for p in packets if (p.get("tcp") or {}).get("flags") == "SYN"), None)
    if first is None:
        return None
    seen = [first] + [p for p in packets if (p.get("cause") or {}).get("copy_of") == first["number"]]
    return [str(p.get("interface")) for p in sorted(seen, key=lambda p: p["ts_ns"])]


ROUTING_QUESTIONS = {
    "routing_field": routing_field,
    "route_carrier": route_carrier,
    "syn_path": syn_path,
}
