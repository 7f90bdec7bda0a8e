"""Static routes from the graph's shortest paths.

Only routers forward. For every router and every subnet it is not attached to, the next hop is the first
router on a shortest path (counted in segments crossed) through routers only. Hosts get a default route
to a router on their first segment that has one; hosts on a segment without a router reach only their
segment (validation makes sure every host can reach every other one). Ties break by node order, so the
routes, like the addresses, are deterministic.

With dynamic routing (``Topology.routing`` ospf or eigrp) routers get none of these routes: their
daemons learn them. Hosts keep their default route (hosts run no routing protocol).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from lab.topology.layout import Iface, Route, Segment

if TYPE_CHECKING:
    from lab.topology.spec import Topology


def l3_graph(topo: Topology, interfaces: dict[str, tuple[Iface, ...]]) -> nx.Graph:
    """Bipartite graph of routers/hosts and segments (``("seg", k)``) they have addresses on."""
    g = nx.Graph()
    for n in topo.nodes:
        if n.kind == "switch":
            continue
        g.add_node(n.name)
        for i in interfaces[n.name]:
            if i.segment is not None and i.ipv4:
                g.add_edge(n.name, ("seg", i.segment))
    return g


def compute_routes(
    topo: Topology, interfaces: dict[str, tuple[Iface, ...]], segments: tuple[Segment, ...]
) -> dict[str, tuple[Route, ...]]:
    kinds = {n.name: n.kind for n in topo.nodes}
    order = {n.name: i for i, n in enumerate(topo.nodes)}
    full = l3_graph(topo, interfaces)
    # transit graph: routers and segments only (hosts never forward)
    transit = full.subgraph([x for x in full if isinstance(x, tuple) or kinds.get(x) == "router"]).copy()
    routes: dict[str, tuple[Route, ...]] = {n.name: () for n in topo.nodes}

    def addr_on(node: str, seg: int, version: int) -> str | None:
        for i in interfaces[node]:
            if i.segment == seg:
                a = i.ipv4 if version == 4 else i.ipv6
                return a.split("/")[0] if a else None
        return None

    def dev_on(node: str, seg: int) -> str:
        return next(i.name for i in interfaces[node] if i.segment == seg)

    for r in topo.routers:
        if r not in transit or topo.routing != "static":
            continue
        attached = {i.segment for i in interfaces[r]}
        lengths, paths = nx.single_source_dijkstra(transit, r)
        out: list[Route] = []
        for seg in segments:
            if seg.index in attached or ("seg", seg.index) not in paths or not seg.ipv4:
                continue
            path = _tiebreak(transit, r, ("seg", seg.index), order)
            first_seg, next_router = path[1], path[2]
            for version, dest in ((4, seg.ipv4), (6, seg.ipv6)):
                via = addr_on(next_router, first_seg[1], version)
                if dest and via:
                    out.append(Route(version, dest, via, dev_on(r, first_seg[1])))
        routes[r] = tuple(out)

    for h in topo.hosts:
        for i in interfaces[h]:
            gws = sorted((n for n in full.neighbors(("seg", i.segment)) if kinds.get(n) == "router"),
                         key=order.__getitem__) if ("seg", i.segment) in full else []
            if gws:
                out = []
                for version in (4, 6):
                    via = addr_on(gws[0], i.segment, version)
                    if via:
                        out.append(Route(version, "default", via, i.name))
                routes[h] = tuple(out)
                break
    return routes


def _tiebreak(g: nx.Graph, src: str, dst: tuple, order: dict[str, int]) -> list:
    """The shortest path whose router names come first in node order (deterministic)."""
    paths = nx.all_shortest_paths(g, src, dst)
    return min(paths, key=lambda p: [order.get(x, -1) if isinstance(x, str) else x[1] for x in p])


def reachable_hosts(topo: Topology, interfaces: dict[str, tuple[Iface, ...]], src: str) -> set[str]:
    """Hosts that ``src`` can reach: same segment, or through routers."""
    kinds = {n.name: n.kind for n in topo.nodes}
    g = l3_graph(topo, interfaces)
    if src not in g:
        return set()
    # a host may not forward: remove other hosts' ability to transit by walking only through routers
    seen = {src}
    frontier = [src]
    out: set[str] = set()
    while frontier:
        node = frontier.pop()
        for seg in g.neighbors(node):
            for other in g.neighbors(seg):
                if other in seen:
                    continue
                seen.add(other)
                if kinds[other] == "host":
                    out.add(other)
                elif kinds[other] == "router":
                    frontier.append(other)
    return out
