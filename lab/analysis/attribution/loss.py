"""Copies lost on an emulated lossy link: seen on one link of their path, never on the next captured one.

A run that captures several links sees a forwarded packet once per link (the attribution marks the later
sightings ``copy_of`` the first). A packet whose destination lies beyond the link it was last seen on, and
which never shows up on the next *captured* link of its path, did not get there; when a link of the rest
of its path (or the link itself: a receiver's ingress drops after the capture saw it) carries an emulated
loss rule, that rule dropped it. Such a packet gets, on its last sighting, the ``lost`` record of the
packets.jsonl contract::

    "lost": {"link": "r1-h2", "seen_last_on": "h1-eth0", "rule": "...", "carried_by": 79}

``carried_by`` is the first later segment of the same direction, on the same capture point, that carries
all of the lost segment's sequence space and did arrive (a retransmission, or a SYN sent again); None when
nothing did (a lost pure ACK is never resent: a later ACK covers it).

Only IPv4 is judged: IPv6 has no IP ID, so a forwarded copy is not recognised and absence proves nothing.
Lost packets need the whole capture, so the runner finds them after a first analysis (``find_lost``) and
analyzes again with them known (``Attributor(lost=...)``), which rewrites their causes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lab.records import TCP, Lost, PacketRecord

if TYPE_CHECKING:
    import networkx as nx


Record = PacketRecord  # packets.jsonl records of a first analysis: every key, ``cause`` included


@dataclass(frozen=True)
class LossRule:
    """An emulated loss condition on the link between nodes ``a`` and ``b`` (``rule`` says what it is)."""

    a: str
    b: str
    rule: str

    @property
    def link(self) -> str:
        return f"{self.a}-{self.b}"


def _graph(nodes_info: Mapping[str, Mapping[str, Any]]) -> tuple[nx.Graph, dict[str, tuple[str, str]],
                                                                   dict[str, str]]:
    """The node graph, each capture interface's link (its node, its peer) and each address's node."""
    import networkx as nx  # here, not at import: every analysis imports this module, few have lost copies

    graph: nx.Graph = nx.Graph()
    iface_link: dict[str, tuple[str, str]] = {}
    addr_node: dict[str, str] = {}
    for node, info in nodes_info.items():
        graph.add_node(node)
        for iface in info.get("interfaces", []):
            peer = iface.get("peer")
            if peer:
                graph.add_edge(node, peer)
                iface_link[str(iface.get("name"))] = (node, str(peer))
            for key in ("ipv4", "ipv6"):
                if iface.get(key):
                    addr_node[str(iface[key]).split("/")[0]] = node
    return graph, iface_link, addr_node


def _rest_of_path(graph: nx.Graph, link: tuple[str, str], dst: str) -> list[tuple[str, str]] | None:
    """The links a packet seen on ``link`` still has to cross to reach ``dst`` (empty: it is there)."""
    a, b = link
    if dst in link:
        return []
    try:
        import networkx as nx

        la, lb = nx.shortest_path(graph, a, dst), nx.shortest_path(graph, b, dst)
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return None
    path = lb if len(lb) <= len(la) else la
    return list(zip(path, path[1:], strict=False))


def _same_link(x: tuple[str, str], y: tuple[str, str]) -> bool:
    return {x[0], x[1]} == {y[0], y[1]}


def _span(tcp: TCP) -> int:
    """The sequence space a segment takes: its bytes, one for a SYN, one for a FIN (a header the capture
    cut short has neither bytes nor flags: null)."""
    length, flags = tcp["len"], tcp["flags"]
    data = length if length is not None else 0
    return data + (("SYN" in flags) + ("FIN" in flags) if flags is not None else 0)


def _covers(later: Record, lost: Record) -> bool:
    """``later`` goes the same way on the same 4-tuple and carries all of ``lost``'s sequence space."""
    a, b, ip_a, ip_b = later["tcp"], lost["tcp"], later["ip"], lost["ip"]
    if a is None or b is None or ip_a is None or ip_b is None or ip_a["src"] != ip_b["src"]:
        return False
    if (a["sport"], a["dport"]) != (b["sport"], b["dport"]):
        return False
    span_a, span_b = _span(a), _span(b)
    seq_a, seq_b = a["seq"], b["seq"]
    if not span_b or seq_a is None or seq_b is None:
        return False
    return seq_a <= seq_b and seq_a + span_a >= seq_b + span_b


def find_lost(packets: Iterable[Record], nodes_info: Mapping[str, Mapping[str, Any]],
              rules: Iterable[LossRule]) -> dict[int, Lost]:
    """Frame number of each lost copy's last sighting -> its ``lost`` record (see the module docstring)."""
    rules = list(rules)
    if not rules:
        return {}
    packets = [p for p in packets if (ip := p["ip"]) is not None and ip["version"] == 4]
    graph, iface_link, addr_node = _graph(nodes_info)
    captured = {frozenset(link) for iface, link in iface_link.items()
                if any(p["interface"] == iface for p in packets)}
    sightings: dict[int, list[Record]] = {}  # first sighting's frame -> every sighting, in capture order
    for p in packets:
        copy_of = p["cause"].get("copy_of")  # only a forwarded copy has it
        first = copy_of if copy_of is not None else p["number"]
        sightings.setdefault(int(first), []).append(p)
    lost: dict[int, Lost] = {}
    lost_frames: set[int] = set()
    for seen in sightings.values():
        last = seen[-1]
        link, ip = iface_link.get(last["interface"]), last["ip"]
        dst = addr_node.get(ip["dst"]) if ip is not None else None
        if link is None or dst is None:
            continue
        rest = _rest_of_path(graph, link, dst)
        if not rest or not any(frozenset(hop) in captured for hop in rest):
            continue  # it arrived, or no capture point further on could have seen it
        rule = next((r for hop in [link, *rest] for r in rules if _same_link(hop, (r.a, r.b))), None)
        if rule is None:
            continue  # missing without a loss rule to blame: say nothing rather than guess
        lost[last["number"]] = {"link": rule.link, "seen_last_on": last["interface"],
                                "rule": rule.rule, "carried_by": None}
        lost_frames.update(p["number"] for p in seen)
    for number, rec in lost.items():
        lost_pkt = next(p for p in packets if p["number"] == number)
        for p in packets:
            if (p["number"] > number and p["interface"] == rec["seen_last_on"]
                    and p["number"] not in lost_frames and _covers(p, lost_pkt)):
                rec["carried_by"] = p["number"]
                break
    return lost


def rules_from(links: Iterable[Any], report: Iterable[str]) -> list[LossRule]:
    """The loss rules of a topology's links (``LinkSpec``), each with the run's own words for it."""
    lines = list(report)
    out = []
    for link in links:
        if not getattr(link.conditions, "loss_pct", 0):
            continue
        said = next((ln for ln in lines if ln.startswith(f"{link.label}: ")), "")
        how = re.search(r"via (\w+)", said)
        where = f" ({how.group(1)})" if how else ""
        pct = link.conditions.loss_pct
        out.append(LossRule(link.a, link.b, f"loss {pct:g}% on link {link.a}-{link.b}{where}"))
    return out


def lost_text(lost: Lost, node: str | None) -> str:
    """What a lost copy's cause adds: where it was lost, by which rule, and what carried its bytes."""
    text = (f"this copy was lost on link {lost['link']}: dropped by the emulated {lost['rule']}, last seen "
            f"on {lost['seen_last_on']}")
    if lost["carried_by"] is not None:
        text += f"; retransmission frame {lost['carried_by']} carried its bytes"
        if node:
            text += f" to {node}"
    return text
