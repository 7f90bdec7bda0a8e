"""Showing a topology: a text table (nodes, interfaces, addresses, routes), a JSON view, and an SVG.

The SVG is drawn by hand (no plotting dependency): networkx computes a layout, and each node is a shape
(host: circle, router: diamond, switch: square) labelled with its name and addresses; each link is a line
labelled with its conditions.
"""

from __future__ import annotations

import html
import math

import networkx as nx

from lab.topology.spec import Topology


def as_dict(topo: Topology) -> dict:
    layout = topo.layout
    return {
        "name": topo.name,
        "source": topo.source,
        "description": topo.description,
        "loopback": topo.loopback,
        "routing": topo.routing,
        "nodes": [
            {"name": n.name, "kind": n.kind,
             "interfaces": [{"name": i.name, "ipv4": i.ipv4, "ipv6": i.ipv6, "mac": i.mac,
                             "peer": i.peer_node, "link": i.link, "segment": i.segment}
                            for i in layout.interfaces[n.name]],
             "routes": [{"version": r.version, "dest": r.dest, "via": r.via, "dev": r.dev}
                        for r in layout.routes[n.name]]}
            for n in topo.nodes
        ],
        "links": [{"index": li.index, "a": li.a, "b": li.b, "mtu": li.mtu,
                   "conditions": li.conditions.describe()} for li in topo.links],
        "segments": [{"index": s.index, "ipv4": s.ipv4, "ipv6": s.ipv6, "switches": list(s.switches),
                      "members": [f"{n}/{i}" for n, i in s.members]} for s in layout.segments],
    }


def table(topo: Topology) -> str:
    """A plain-text table: one row per interface, then routes and link conditions."""
    layout = topo.layout
    rows = [("NODE", "KIND", "INTERFACE", "IPV4", "IPV6", "MAC", "PEER")]
    for n in topo.nodes:
        ifaces = layout.interfaces[n.name]
        if not ifaces:
            rows.append((n.name, n.kind, "-", "-", "-", "-", "-"))
        for k, i in enumerate(ifaces):
            rows.append((n.name if k == 0 else "", n.kind if k == 0 else "", i.name, i.ipv4 or "-",
                         i.ipv6 or "-", i.mac, i.peer_node or "-"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = [f"topology {topo.name} ({topo.source})" + (f": {topo.description.strip()}" if topo.description
                                                         else "")]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    routed = [(n.name, r) for n in topo.nodes for r in layout.routes[n.name]]
    if routed or topo.routing != "static":
        lines.append("")
        lines.append("ROUTES")
        for node, r in routed:
            lines.append(f"  {node}: {r.describe()}")
        if topo.routing != "static" and topo.routers:
            lines.append(f"  {', '.join(topo.routers)}: learned at run time with {topo.routing.upper()} "
                         f"(FRR's {topo.routing}d; routing: {topo.routing}), no static routes")
    conds = [li for li in topo.links if li.mtu or not li.conditions.empty]
    if conds:
        lines.append("")
        lines.append("LINK CONDITIONS")
        for li in conds:
            extra = f", mtu {li.mtu}" if li.mtu else ""
            lines.append(f"  {li.label}: {li.conditions.describe()}{extra}")
    return "\n".join(lines) + "\n"


def layered_positions(topo: Topology) -> dict[str, tuple[float, float]]:
    """Columns by hop distance from the first node of each component (no numpy needed), rows in order."""
    return graph_positions(topo.graph(), [n.name for n in topo.nodes])


def graph_positions(g: nx.Graph, order_names: list[str]) -> dict[str, tuple[float, float]]:
    """:func:`layered_positions` for any graph: ``order_names`` says which node comes first."""
    order = {name: k for k, name in enumerate(order_names)}
    for extra in g.nodes:
        order.setdefault(extra, len(order))
    pos: dict[str, tuple[float, float]] = {}
    row_base = 0
    for comp in sorted(nx.connected_components(g), key=lambda c: min(order[x] for x in c)):
        start = min(comp, key=order.__getitem__)
        layers: dict[int, list[str]] = {}
        for node, dist in nx.single_source_shortest_path_length(g, start).items():
            layers.setdefault(dist, []).append(node)
        tallest = max(len(v) for v in layers.values())
        for col, nodes in layers.items():
            nodes.sort(key=order.__getitem__)
            for row, node in enumerate(nodes):
                pos[node] = (float(col), row_base + row + (tallest - len(nodes)) / 2)
        row_base += tallest
    return pos


def svg(topo: Topology, width: int = 900, height: int = 600) -> str:
    """An SVG picture of the graph with each node's addresses."""
    g = nx.Graph()
    for n in topo.nodes:
        addrs = [a for i in topo.layout.interfaces[n.name] for a in (i.ipv4, i.ipv6) if a]
        g.add_node(n.name, kind=n.kind, addresses=addrs)
    for li in topo.links:
        ifaces = {node: i.name for node in (li.a, li.b) for i in topo.layout.interfaces[node]
                  if i.link == li.index}
        g.add_edge(li.a, li.b, label=li.conditions.describe() if not li.conditions.empty else "",
                   ifaces=ifaces)
    return graph_svg(g, [n.name for n in topo.nodes], title=topo.name, width=width, height=height)


def graph_svg(
    g: nx.Graph,
    order_names: list[str],
    *,
    title: str = "",
    width: int = 900,
    height: int = 600,
    capture_ifaces: frozenset[str] = frozenset(),
    spacing: tuple[int, int, int] = (200, 100, 110),
) -> str:
    """Draw ``g``: node attributes ``kind`` (host: circle, router: diamond, switch: square, else a rounded
    box) and ``addresses``; edge attributes ``label`` (conditions) and ``ifaces`` ({node: interface}).

    Every link is a ``<g class="link" data-ifaces="...">`` and every node a ``<g class="node"
    data-node="...">``, so a page can highlight the link a packet was seen on; an interface in
    ``capture_ifaces`` gets a capture mark (a small filled circle) at its end of the link. ``spacing`` is
    (px per column, px per row, margin).
    """
    pos = graph_positions(g, order_names)
    if not pos:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40">'
                '<text x="10" y="20">no nodes</text></svg>\n')
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    col_w, row_h, margin = spacing
    height = max(height, int(row_h * (max(ys) - min(ys) + 1)) + 2 * margin)
    width = max(width, int(col_w * (max(xs) - min(xs) + 1)) + 2 * margin)

    def place(node: str) -> tuple[float, float]:
        x, y = pos[node]
        sx = (x - min(xs)) / ((max(xs) - min(xs)) or 1) if max(xs) > min(xs) else 0.5
        sy = (y - min(ys)) / ((max(ys) - min(ys)) or 1) if max(ys) > min(ys) else 0.5
        return margin + sx * (width - 2 * margin), margin + sy * (height - 2 * margin)

    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="18" font-size="14">{esc(title)}</text>']
    for a, b, attrs in g.edges(data=True):
        (x1, y1), (x2, y2) = place(a), place(b)
        ifaces = attrs.get("ifaces", {})  # every attribute is optional
        out.append(f'<g class="link" data-a="{esc(a)}" data-b="{esc(b)}" '
                   f'data-ifaces="{esc(" ".join(sorted(ifaces.values())))}">')
        out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#555" '
                   f'stroke-width="2"/>')
        label = attrs.get("label", "")
        if label:
            out.append(f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 4:.1f}" fill="#b00" '
                       f'text-anchor="middle">{esc(label)}</text>')
        for node, ifname in ifaces.items():
            if node not in pos:
                continue
            (nx1, ny1), (ox, oy) = place(node), place(b if node == a else a)
            length = math.hypot(ox - nx1, oy - ny1) or 1
            px, py = nx1 + (ox - nx1) * 34 / length, ny1 + (oy - ny1) * 34 / length
            cap = ifname in capture_ifaces
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{5 if cap else 3}" '
                       f'fill="{"#c00" if cap else "#fff"}" stroke="#333">'
                       f'<title>{esc(ifname)}{" (capture point)" if cap else ""}</title></circle>')
            out.append(f'<text x="{px:.1f}" y="{py + 16:.1f}" text-anchor="middle" fill="#555" '
                       f'font-size="9">{esc(ifname)}</text>')
        out.append("</g>")
    colors = {"host": "#cde", "router": "#fd9", "switch": "#cec"}
    for n in sorted(g.nodes, key=lambda x: order_names.index(x) if x in order_names else len(order_names)):
        x, y = place(n)
        kind = g.nodes[n].get("kind", "host")
        c = colors.get(kind, "#eee")
        out.append(f'<g class="node" data-node="{esc(n)}">')
        if kind == "host":
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="18" fill="{c}" stroke="#333"/>')
        elif kind == "router":
            pts = " ".join(f"{x + 22 * math.cos(a):.1f},{y + 22 * math.sin(a):.1f}"
                           for a in (0, math.pi / 2, math.pi, 3 * math.pi / 2))
            out.append(f'<polygon points="{pts}" fill="{c}" stroke="#333"/>')
        elif kind == "switch":
            out.append(f'<rect x="{x - 18:.1f}" y="{y - 18:.1f}" width="36" height="36" fill="{c}" '
                       'stroke="#333"/>')
        else:
            out.append(f'<rect x="{x - 60:.1f}" y="{y - 11:.1f}" width="120" height="22" rx="8" fill="{c}" '
                       'stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" font-weight="bold">'
                   f'{esc(n)}</text>')
        dy = 36
        for addr in g.nodes[n].get("addresses", []):
            out.append(f'<text x="{x:.1f}" y="{y + dy:.1f}" text-anchor="middle">{esc(addr)}</text>')
            dy += 12
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
