"""Reading topologies: YAML (the lab's own format), GraphML, GML, node-link JSON, or an ``nx.Graph``.

Every format goes through the same attribute parsing (``lab.topology.spec``) and the same validation, so a
topology means the same thing whichever way it was written. The YAML format::

    name: routed
    description: two LANs joined by a router
    nodes:
      - {name: h1}                      # kind defaults to host
      - {name: r1, kind: router}
      - {name: s1, kind: switch}
      - {name: h9, ipv4: 198.18.9.10/24} # fixed address for the node's first interface
    links:
      - [h1, s1]                         # or {endpoints: [h1, s1], mtu: 1500, rate: 10mbit,
      - {endpoints: [s1, r1], loss: 1%}  #     delay: 10ms, jitter: 2ms, loss: 1%}

Graph formats use node attributes ``kind``, ``ipv4``, ``ipv6`` (comma-separated lists) and edge attributes
``mtu``, ``rate``, ``delay``, ``jitter``, ``loss``; a graph attribute ``loopback`` marks a loopback topology.
A top-level (graph) ``routing: static | ospf | eigrp`` chooses how routers learn routes (default static).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from lab.errors import TopologyError
from lab.topology.spec import (
    LINK_KEYS,
    NODE_KEYS,
    READER_NOISE,
    ROUTING,
    Conditions,
    LinkSpec,
    NodeSpec,
    Topology,
    parse_address_list,
    parse_loss_pct,
    parse_rate_bit,
    parse_time_ms,
)
from lab.topology.validate import build_topology
from lab.yamlfile import YamlFileError, parse_yaml, read_text_file

SUFFIXES = (".yaml", ".yml", ".graphml", ".gml", ".json")


def topology_dirs() -> list[Path]:
    """Where topology names are looked up: ``./topologies`` then the repository's ``topologies/``."""
    here = Path(__file__).resolve().parent.parent.parent / "topologies"
    dirs = [Path.cwd() / "topologies", here]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def available_topologies() -> list[str]:
    names: set[str] = set()
    for d in topology_dirs():
        names.update(p.stem for p in d.iterdir() if p.suffix in SUFFIXES)
    return sorted(names)


def find_topology(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else ``<name>.<suffix>`` in a topology directory."""
    path = Path(name_or_path)
    if path.is_file() or (path.exists() and (not path.is_dir() or "/" in str(name_or_path))):
        return path  # a FIFO, a device or a directory given as a path: refused when read, saying which
    if path.suffix == "" and path.name == str(name_or_path):
        for d in topology_dirs():
            for suffix in SUFFIXES:
                candidate = d / f"{path.name}{suffix}"
                if candidate.is_file():
                    return candidate
    known = ", ".join(available_topologies()) or "none"
    raise TopologyError(f"no such topology file or name (known names: {known})", source=str(name_or_path))


def load_topology(name_or_path: str | Path) -> Topology:
    """Load and validate a topology by name (``"two-hosts"``) or path (.yaml/.yml/.graphml/.gml/.json).

    Raises:
        TopologyError: the file is missing or invalid; the message names the file, node/link and problem.
    """
    path = find_topology(name_or_path)
    source = _display(path)
    try:  # a regular file, within the size limit, UTF-8: whatever its format
        text = read_text_file(path, source)
    except YamlFileError as err:
        raise TopologyError(str(err)) from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return topology_from_yaml(text, source=source, default_name=path.stem)
    try:
        if suffix == ".graphml":
            graph = nx.parse_graphml(text)
        elif suffix == ".gml":
            graph = nx.parse_gml(text, label="label")
        elif suffix == ".json":
            data = json.loads(text)
            edges_key = "links" if isinstance(data, dict) and "links" in data else "edges"
            graph = nx.node_link_graph(data, edges=edges_key)
        else:
            raise TopologyError(f"unknown topology format {suffix!r} (use one of {', '.join(SUFFIXES)})",
                                source=source)
    except TopologyError:
        raise
    except Exception as err:  # the readers raise many unrelated types for malformed input
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TopologyError(f"invalid {suffix[1:]}: {first}", source=source) from None
    return topology_from_graph(graph, source=source, name=path.stem)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def topology_from_yaml(text: str, source: str = "<yaml>", default_name: str = "topology") -> Topology:
    """A topology from YAML text (read with ``lab.yamlfile``'s limits: no bombs, no deep nesting)."""
    try:
        data = parse_yaml(text, source)
    except YamlFileError as err:
        raise TopologyError(str(err)) from None
    if not isinstance(data, dict):
        raise TopologyError("expected a mapping with 'nodes' and 'links'", source=source)
    unknown = set(data) - {"name", "description", "nodes", "links", "loopback", "routing"}
    if unknown:
        keys = ", ".join(sorted(map(str, unknown)))
        raise TopologyError(f"unknown top-level key(s): {keys}", source=source)
    raw_nodes = data.get("nodes")
    if isinstance(raw_nodes, dict):  # {h1: {kind: host}, ...}
        raw_nodes = [{"name": k, **(v or {})} if isinstance(v, dict) or v is None else {"name": k, "kind": v}
                     for k, v in raw_nodes.items()]
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise TopologyError("'nodes' must be a non-empty list", source=source)
    raw_links = data.get("links") or []
    if not isinstance(raw_links, list):
        raise TopologyError("'links' must be a list", source=source)
    nodes = []
    for i, raw in enumerate(raw_nodes, 1):
        if isinstance(raw, str):
            raw = {"name": raw}
        elif raw is None or isinstance(raw, int | float):
            _yaml_name(raw, f"node {i}", source)
        if not isinstance(raw, dict) or "name" not in raw:
            raise TopologyError(f"node {i}: expected a mapping with a 'name'", source=source)
        _yaml_name(raw["name"], f"node {i}", source)
        nodes.append(_node(raw, source, strict=True))
    links = []
    for i, raw in enumerate(raw_links, 1):
        if isinstance(raw, list):
            raw = {"endpoints": raw}
        if not isinstance(raw, dict):
            raise TopologyError(f"link {i}: expected [a, b] or a mapping with 'endpoints'", source=source)
        ends = raw.get("endpoints")
        if not isinstance(ends, list) or len(ends) != 2:
            raise TopologyError(f"link {i}: 'endpoints' must be a list of two node names", source=source)
        for end in ends:
            _yaml_name(end, f"link {i}", source)
        links.append(_link(i, str(ends[0]), str(ends[1]), raw, source, strict=True))
    loopback = data.get("loopback", False)
    if not isinstance(loopback, bool):
        raise TopologyError("'loopback' must be true or false", source=source)
    return build_topology(name=str(data.get("name") or default_name), source=source, nodes=nodes,
                          links=links, loopback=loopback, description=str(data.get("description") or ""),
                          routing=_routing(data.get("routing", "static"), source))


def _yaml_name(value: Any, where: str, source: str) -> None:
    """Names in YAML are strings: ``010`` would be the number 8, ``null`` None, ``1.0`` one point zero."""
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise TopologyError(f"{where}: name {value!r} is a YAML {kind}, not a string (names are letters, "
                            "digits, '_' and '-'; quote it)", source=source)


def topology_from_graph(graph: nx.Graph, source: str = "<graph>", name: str | None = None) -> Topology:
    """Convert an ``nx.Graph`` (node attrs kind/ipv4/ipv6, edge attrs mtu/rate/delay/jitter/loss)."""
    if not isinstance(graph, nx.Graph):
        raise TopologyError(f"expected a networkx graph, got {type(graph).__name__}", source=source)
    if graph.is_directed():
        graph = graph.to_undirected()
    if graph.is_multigraph():
        simple = nx.Graph()
        for u, v in graph.edges():
            if simple.has_edge(u, v):
                raise TopologyError(f"link ({u} -- {v}): duplicate link", source=source)
            simple.add_edge(u, v)
    nodes = [_node({"name": str(n), **attrs}, source, strict=False) for n, attrs in graph.nodes(data=True)]
    links = [_link(i, str(u), str(v), attrs, source, strict=False)
             for i, (u, v, attrs) in enumerate(graph.edges(data=True), 1)]
    loopback = bool(graph.graph.get("loopback", False))
    topo_name = name or str(graph.graph.get("name") or "generated")
    return build_topology(name=topo_name, source=source, nodes=nodes, links=links, loopback=loopback,
                          description=str(graph.graph.get("description") or ""),
                          routing=_routing(graph.graph.get("routing", "static"), source))


def _routing(value: Any, source: str) -> str:
    """The topology's ``routing`` (static, ospf or eigrp), exactly one of the names (full match)."""
    if not isinstance(value, str) or value not in ROUTING:
        raise TopologyError(f"'routing' must be one of {', '.join(ROUTING)}, not {value!r}", source=source)
    return value


def _node(raw: dict[str, Any], source: str, strict: bool) -> NodeSpec:
    name = str(raw["name"])
    where = f"node {name!r}"
    unknown = set(raw) - NODE_KEYS - (set() if strict else READER_NOISE)
    if unknown:
        raise TopologyError(f"{where}: unknown attribute(s) {', '.join(sorted(map(str, unknown)))}"
                            f" (known: {', '.join(sorted(NODE_KEYS - {'name'}))})", source=source)
    kind = raw.get("kind", "host")
    try:
        ipv4 = parse_address_list(raw.get("ipv4"), 4, where)
        ipv6 = parse_address_list(raw.get("ipv6"), 6, where)
    except ValueError as err:
        raise TopologyError(str(err), source=source) from None
    return NodeSpec(name=name, kind=str(kind), ipv4=ipv4, ipv6=ipv6)


def _link(index: int, a: str, b: str, raw: dict[str, Any], source: str, strict: bool) -> LinkSpec:
    where = f"link {index} ({a} -- {b})"
    unknown = set(raw) - LINK_KEYS - (set() if strict else READER_NOISE)
    if unknown:
        raise TopologyError(f"{where}: unknown attribute(s) {', '.join(sorted(map(str, unknown)))}"
                            f" (known: {', '.join(sorted(LINK_KEYS - {'endpoints'}))})", source=source)
    try:
        mtu = raw.get("mtu")
        if mtu is not None:
            if isinstance(mtu, bool) or not isinstance(mtu, int | float | str) or not str(mtu).isdigit():
                raise ValueError(f"mtu must be a whole number of bytes, not {mtu!r}")
            mtu = int(mtu)
        cond = Conditions(
            delay_ms=None if raw.get("delay") is None else parse_time_ms(raw["delay"], "delay"),
            jitter_ms=None if raw.get("jitter") is None else parse_time_ms(raw["jitter"], "jitter"),
            loss_pct=None if raw.get("loss") is None else parse_loss_pct(raw["loss"], "loss"),
            rate_bit=None if raw.get("rate") is None else parse_rate_bit(raw["rate"], "rate"),
        )
    except ValueError as err:
        raise TopologyError(f"{where}: {err}", source=source) from None
    return LinkSpec(index=index, a=a, b=b, mtu=mtu, conditions=cond)
