"""The run's network as a picture: a networkx graph of what the run realized, drawn by the same drawer as
``lab topo show --svg`` (:func:`lab.topology.render.graph_svg`).

A lab run's graph comes from report.json's ``nodes`` (each interface names its peer); the capture points
are the interfaces summary.json lists. A ``lab analyze`` page has no topology: its graph is the busiest
addresses (the page's lanes) joined where packets went between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx

from lab.records import SummaryRecord
from lab.topology.render import graph_svg

if TYPE_CHECKING:
    from lab.records import NodeInfo


def run_graph(nodes_info: Mapping[str, NodeInfo]) -> nx.Graph:
    """Nodes with ``kind`` and ``addresses``, links with ``ifaces`` ({node: interface name})."""
    g = nx.Graph()
    for node, info in nodes_info.items():
        addrs = [a for iface in info["interfaces"] for a in (iface["ipv4"], iface["ipv6"]) if a]
        g.add_node(node, kind=info["kind"], addresses=addrs)
    for node, info in nodes_info.items():
        for iface in info["interfaces"]:
            peer = iface["peer"]
            if peer and peer in nodes_info:
                if not g.has_edge(node, peer):
                    g.add_edge(node, peer, ifaces={})
                g.edges[node, peer]["ifaces"][node] = iface["name"]
    return g


def _address_graph(lanes: list[str], packets: Mapping[str, list[Any]]) -> nx.Graph:
    g = nx.Graph()
    for lane in lanes:
        g.add_node(lane, kind="address", addresses=[])
    arrows = set(zip(packets["s"], packets["d"], strict=True))  # distinct (sender, receiver): few, found in C
    pairs = {(min(s, d), max(s, d)) for s, d in arrows if s >= 0 and d >= 0 and s != d}
    for a, b in sorted(pairs):
        if a < len(lanes) and b < len(lanes):
            g.add_edge(lanes[a], lanes[b], ifaces={})
    return g


def topology_svg(
    nodes_info: Mapping[str, NodeInfo],
    summary: SummaryRecord | None,
    *,
    lanes: list[str],
    packets: Mapping[str, list[Any]],
) -> str:
    """The SVG for the page's topology panel."""
    interfaces = summary["interfaces"] if summary is not None else []
    captured = frozenset(str(i["name"]) for i in interfaces)
    if nodes_info:
        return graph_svg(run_graph(nodes_info), list(nodes_info), title="network of this run",
                         width=440, height=150, capture_ifaces=captured, spacing=(110, 90, 50))
    return graph_svg(_address_graph(lanes, packets), lanes, title="busiest addresses in this capture",
                     width=440, height=150, spacing=(130, 60, 70))
