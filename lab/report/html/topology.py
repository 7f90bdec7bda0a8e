"""The run's network as a picture: a networkx graph of what the run realized, drawn by the same drawer as
``lab topo show --svg`` (:func:`lab.topology.render.graph_svg`).

A lab run's graph comes from report.json's ``nodes`` (each interface names its peer); the capture points
are the interfaces summary.json lists. A ``lab analyze`` page has no topology: its graph is the busiest
addresses (the page's lanes) joined where packets went between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from lab.topology.render import graph_svg


def run_graph(nodes_info: Mapping[str, Mapping[str, Any]]) -> nx.Graph:
    """Nodes with ``kind`` and ``addresses``, links with ``ifaces`` ({node: interface name})."""
    g = nx.Graph()
    for node, info in nodes_info.items():
        addrs = []
        for iface in info.get("interfaces") or []:
            for key in ("ipv4", "ipv6"):
                if iface.get(key):
                    addrs.append(str(iface[key]))
        g.add_node(node, kind=str(info.get("kind", "host")), addresses=addrs)
    for node, info in nodes_info.items():
        for iface in info.get("interfaces") or []:
            peer = iface.get("peer")
            if peer and peer in nodes_info:
                if not g.has_edge(node, peer):
                    g.add_edge(node, peer, ifaces={})
                g.edges[node, peer]["ifaces"][node] = str(iface.get("name"))
    return g


def _address_graph(lanes: list[str], packets: Mapping[str, list[Any]]) -> nx.Graph:
    g = nx.Graph()
    for lane in lanes:
        g.add_node(lane, kind="address", addresses=[])
    pairs = set()
    for s, d in zip(packets.get("s", []), packets.get("d", []), strict=False):
        if s >= 0 and d >= 0 and s != d:
            pairs.add((min(s, d), max(s, d)))
    for a, b in sorted(pairs):
        if a < len(lanes) and b < len(lanes):
            g.add_edge(lanes[a], lanes[b], ifaces={})
    return g


def topology_svg(
    nodes_info: Mapping[str, Mapping[str, Any]],
    summary: Mapping[str, Any],
    *,
    lanes: list[str],
    packets: Mapping[str, list[Any]],
) -> str:
    """The SVG for the page's topology panel."""
    captured = frozenset(str(i.get("name")) for i in summary.get("interfaces") or [] if isinstance(i, dict))
    if nodes_info:
        return graph_svg(run_graph(nodes_info), list(nodes_info), title="network of this run",
                         width=440, height=150, capture_ifaces=captured, spacing=(110, 90, 50))
    return graph_svg(_address_graph(lanes, packets), lanes, title="busiest addresses in this capture",
                     width=440, height=150, spacing=(130, 60, 70))
