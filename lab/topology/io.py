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

Every error names the file, the key of the value at fault (``nodes.h2.kind``: a node by its name, or
``nodes.#3`` by its position when the name is what is wrong; ``links.3.loss``: links counted from 1) and,
for YAML, its line: the readers and the validator raise with the key, and the YAML reader looks the key's
line up in what the parsed document remembers (``lab.yamlfile``). networkx keeps no positions, so a graph
file's errors say that no line is known.
"""

from __future__ import annotations

import dataclasses
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
    node_key,
    parse_address_list,
    parse_loss_pct,
    parse_rate_bit,
    parse_time_ms,
)
from lab.topology.validate import build_topology
from lab.yamlfile import YamlFileError, line_for, line_of, parse_yaml, read_text_file

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
        TopologyError: the file is missing or invalid; its ``file``, ``line`` (YAML) and ``key`` say where.
    """
    path = find_topology(name_or_path)
    source = _display(path)
    try:  # a regular file, within the size limit, UTF-8: whatever its format
        text = read_text_file(path, source)
    except YamlFileError as err:
        raise TopologyError(err.problem, file=err.source, line=err.line) from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return topology_from_yaml(text, source=source, default_name=path.stem)
    if suffix not in SUFFIXES:
        raise TopologyError(f"unknown topology format {suffix!r} (use one of {', '.join(SUFFIXES)})",
                            source=source)
    graph = _parse_graph(text, suffix[1:], source)
    no_line = f"{suffix[1:]} read by networkx: no line numbers"
    try:
        topo = topology_from_graph(graph, source=source, name=path.stem)
    except TopologyError as err:  # networkx keeps no positions: say so rather than leave the line out
        raise err.locate(no_line=no_line) from None
    return dataclasses.replace(topo, no_line=no_line)


def _parse_graph(text: str, fmt: str, source: str) -> nx.Graph:
    """GraphML, GML or node-link JSON text as a graph; a syntax error names its line when the parser does."""
    try:
        if fmt == "graphml":
            return nx.parse_graphml(text)
        if fmt == "gml":
            return nx.parse_gml(text, label="label")
        data = json.loads(text)
        edges_key = "links" if isinstance(data, dict) and "links" in data else "edges"
        return nx.node_link_graph(data, edges=edges_key)
    except Exception as err:  # the readers raise many unrelated types for malformed input
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        line = getattr(err, "lineno", None) or (getattr(err, "position", None) or (None,))[0]
        raise TopologyError(f"invalid {fmt}: {first}", source=source, line=line if isinstance(line, int)
                            else None, no_line=f"{fmt} parser gave no line") from None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def topology_from_yaml(text: str, source: str = "<yaml>", default_name: str = "topology") -> Topology:
    """A topology from YAML text (read with ``lab.yamlfile``'s limits: no bombs, no deep nesting).

    Every error carries ``source``, the line and the key (``nodes.h2.kind``) it is about: the readers and
    the validator name keys, and the lines the document remembers are looked up here.
    """
    try:
        data = parse_yaml(text, source)
    except YamlFileError as err:
        raise TopologyError(err.problem, file=err.source, line=err.line) from None
    lines: dict[str, int] = {}  # by the keys errors name: nodes.h2.kind (a node by its name), links.3.loss
    try:
        return _from_yaml_data(data, source, default_name, lines)
    except TopologyError as err:
        raise err.locate(file=source, lines=lambda key: line_for(lines, key, line_of(data))) from None


def _remember(lines: dict[str, int], key: str, raw: Any, line: int | None) -> None:
    """Note the line of ``key`` and of each of its attributes (``key.ATTR``) when ``raw`` is a mapping."""
    if line is not None:
        lines[key] = line
    if isinstance(raw, dict):
        for attr in raw:
            attr_line = line_of(raw, attr)
            if attr_line is not None:
                lines[f"{key}.{attr}"] = attr_line


def _from_yaml_data(data: Any, source: str, default_name: str, lines: dict[str, int]) -> Topology:
    if not isinstance(data, dict):
        raise TopologyError("expected a mapping with 'nodes' and 'links'", source=source, key="",
                            line=line_of(data) or 1)
    lines.update({str(k): line for k in data if (line := line_of(data, k)) is not None})
    unknown = sorted(map(str, set(data) - {"name", "description", "nodes", "links", "loopback", "routing"}))
    if unknown:
        raise TopologyError(f"unknown top-level key(s): {', '.join(unknown)} (known: description, links, "
                            "loopback, name, nodes, routing)", key=unknown[0])
    raw_nodes = data.get("nodes")
    if isinstance(raw_nodes, dict):  # {h1: {kind: host}, ...}
        positions = [line_of(raw_nodes, k) for k in raw_nodes]
        raw_nodes = [{"name": k, **(v or {})} if isinstance(v, dict) or v is None else {"name": k, "kind": v}
                     for k, v in raw_nodes.items()]
        originals: list[Any] = list(data["nodes"].values())
    else:
        positions = [line_of(raw_nodes, i) for i in range(len(raw_nodes))] if isinstance(raw_nodes, list) \
            else []
        originals = list(raw_nodes) if isinstance(raw_nodes, list) else []
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise TopologyError("'nodes' must be a non-empty list", key="nodes")
    raw_links = data.get("links")
    if raw_links is None:  # "links:" with nothing under it: a topology of unlinked nodes
        raw_links = []
    if not isinstance(raw_links, list):
        raise TopologyError("'links' must be a list", key="links")
    nodes = []
    for i, raw in enumerate(raw_nodes, 1):
        key = f"nodes.#{i}"
        _remember(lines, key, originals[i - 1], positions[i - 1])
        if isinstance(raw, str):
            raw = {"name": raw}
        elif raw is None or isinstance(raw, int | float):
            _yaml_name(raw, key)
        if not isinstance(raw, dict) or "name" not in raw:
            raise TopologyError("a node is a name or a mapping with a 'name'", key=key)
        _yaml_name(raw["name"], f"{key}.name")
        key = node_key(raw["name"], i)
        _remember(lines, key, originals[i - 1], positions[i - 1])
        nodes.append(_node(raw, key, strict=True))
    links = []
    for i, raw in enumerate(raw_links, 1):
        key = f"links.{i}"
        _remember(lines, key, raw, line_of(raw_links, i - 1))
        if isinstance(raw, list):
            lines[f"{key}.endpoints"] = lines[key]
            raw = {"endpoints": raw}
        if not isinstance(raw, dict):
            raise TopologyError("a link is [a, b] or a mapping with 'endpoints'", key=key)
        ends = raw.get("endpoints")
        if not isinstance(ends, list) or len(ends) != 2:
            raise TopologyError("'endpoints' must be a list of two node names", key=f"{key}.endpoints")
        for end in ends:
            _yaml_name(end, f"{key}.endpoints")
        links.append(_link(i, str(ends[0]), str(ends[1]), raw, strict=True))
    loopback = data.get("loopback", False)
    if not isinstance(loopback, bool):
        raise TopologyError(f"must be true or false, not {loopback!r}", key="loopback")
    return build_topology(name=str(data.get("name") or default_name), source=source, nodes=nodes,
                          links=links, loopback=loopback, description=_description(data.get("description")),
                          routing=_routing(data.get("routing", "static")), lines=lines)


def _yaml_name(value: Any, key: str) -> None:
    """Names in YAML are strings: ``010`` would be the number 8, ``null`` None, ``1.0`` one point zero."""
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise TopologyError(f"name {value!r} is a YAML {kind}, not a string (names are letters, digits, '_' "
                            "and '-'; quote it)", key=key)


def topology_from_graph(graph: nx.Graph, source: str = "<graph>", name: str | None = None) -> Topology:
    """Convert an ``nx.Graph`` (node attrs kind/ipv4/ipv6, edge attrs mtu/rate/delay/jitter/loss).

    Errors name ``source`` and the key (``nodes.h2.kind``, ``links.3.loss``; edges counted from 1 in the
    graph's order); a graph keeps no lines.
    """
    try:
        return _from_graph(graph, source, name)
    except TopologyError as err:
        raise err.locate(file=source) from None


def _from_graph(graph: nx.Graph, source: str, name: str | None) -> Topology:
    if not isinstance(graph, nx.Graph):
        raise TopologyError(f"expected a networkx graph, got {type(graph).__name__}", key="")
    if graph.is_directed():
        graph = graph.to_undirected()
    if graph.is_multigraph():
        simple = nx.Graph()
        for i, (u, v) in enumerate(graph.edges(), 1):
            if simple.has_edge(u, v):
                raise TopologyError(f"duplicate link {u} -- {v}", key=f"links.{i}")
            simple.add_edge(u, v)
    nodes = [_node({"name": str(n), **attrs}, node_key(str(n), i), strict=False)
             for i, (n, attrs) in enumerate(graph.nodes(data=True), 1)]
    links = [_link(i, str(u), str(v), attrs, strict=False)
             for i, (u, v, attrs) in enumerate(graph.edges(data=True), 1)]
    loopback = bool(graph.graph.get("loopback", False))
    topo_name = name or str(graph.graph.get("name") or "generated")
    return build_topology(name=topo_name, source=source, nodes=nodes, links=links, loopback=loopback,
                          description=_description(graph.graph.get("description")),
                          routing=_routing(graph.graph.get("routing", "static")))


def _routing(value: Any) -> str:
    """The topology's ``routing`` (static, ospf or eigrp), exactly one of the names (full match)."""
    if not isinstance(value, str) or value not in ROUTING:
        raise TopologyError(f"must be one of {', '.join(ROUTING)}, not {value!r}", key="routing")
    return value


def _unknown(raw: dict[str, Any], known: set[str], strict: bool, key: str) -> None:
    unknown = sorted(map(str, set(raw) - known - (set() if strict else READER_NOISE)))
    if unknown:
        raise TopologyError(f"unknown attribute(s) {', '.join(unknown)} (known: "
                            f"{', '.join(sorted(known - {'name', 'endpoints'}))})", key=f"{key}.{unknown[0]}")


def _node(raw: dict[str, Any], key: str, strict: bool) -> NodeSpec:
    _unknown(raw, NODE_KEYS, strict, key)
    addresses = {}
    for version in (4, 6):
        attr = f"ipv{version}"
        try:
            addresses[version] = parse_address_list(raw.get(attr), version, attr)
        except ValueError as err:
            raise TopologyError(str(err), key=f"{key}.{attr}") from None
    return NodeSpec(name=str(raw["name"]), kind=str(raw.get("kind", "host")), ipv4=addresses[4],
                    ipv6=addresses[6])


def _link(index: int, a: str, b: str, raw: dict[str, Any], strict: bool) -> LinkSpec:
    key = f"links.{index}"
    _unknown(raw, LINK_KEYS, strict, key)
    values: dict[str, float | None] = {}
    for attr, parse in (("mtu", _mtu), ("delay", parse_time_ms), ("jitter", parse_time_ms),
                        ("loss", parse_loss_pct), ("rate", parse_rate_bit)):
        try:
            values[attr] = None if raw.get(attr) is None else parse(raw[attr], attr)
        except ValueError as err:
            raise TopologyError(f"{err} (link {a} -- {b})", key=f"{key}.{attr}") from None
    cond = Conditions(delay_ms=values["delay"], jitter_ms=values["jitter"], loss_pct=values["loss"],
                      rate_bit=values["rate"])
    mtu = values["mtu"]
    return LinkSpec(index=index, a=a, b=b, mtu=None if mtu is None else int(mtu), conditions=cond)


def _mtu(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str) or not str(value).isdigit():
        raise ValueError(f"{what} must be a whole number of bytes, not {value!r}")
    return int(value)


def _description(value: Any) -> str:
    """A topology's free-text description; absent or empty (``description:``) is no description."""
    return "" if value is None else str(value)
