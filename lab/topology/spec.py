"""The description of a topology as plain, frozen data.

A topology is nodes (host, router or switch) and links between them; links may carry conditions
(mtu, rate, delay, jitter, loss). Nothing here touches the kernel: ``lab.emulation`` consumes these specs.
Parsing raw attribute values (``"10ms"``, ``"1%"``, ``"10mbit"``) also lives here, so that every input format
(YAML, GraphML, GML, node-link JSON, an ``nx.Graph``) shares one interpretation of the same attribute names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from lab.errors import LabError, TopologyError
from lab.topology.layout import Layout
from lab.topology.limits import IFNAMSIZ, LINK_RANGES, NAME_RE, format_rate  # noqa: F401 - re-exported
from lab.yamlfile import line_for

KINDS = ("host", "router", "switch")
# How routers learn routes: ``static`` (computed from shortest paths and installed with the links), or a
# routing protocol whose daemons (FRR) the lab runs in every router namespace (``lab.emulation.daemons``).
ROUTING = ("static", "ospf", "eigrp")

NODE_KEYS = {"name", "kind", "ipv4", "ipv6"}
LINK_KEYS = {"endpoints", "mtu", "rate", "delay", "jitter", "loss"}
# Keys that networkx readers add on their own (GML labels, GraphML ids): accepted and ignored.
READER_NOISE = {"id", "label", "key"}



def node_key(name: str, position: int) -> str:
    """The key that names a node in error messages: ``nodes.h2``; ``nodes.#3`` (its position, counted
    from 1) when the name itself cannot be shown (not a valid name: a newline, a slash, empty)."""
    return f"nodes.{name}" if NAME_RE.fullmatch(name) else f"nodes.#{position}"


MAX_DELAY_MS = LINK_RANGES["delay"].high
MAX_RATE_BIT = LINK_RANGES["rate"].high
MIN_RATE_BIT = LINK_RANGES["rate"].low
MIN_MTU, MAX_MTU = int(LINK_RANGES["mtu"].low), int(LINK_RANGES["mtu"].high)


@dataclass(frozen=True)
class Conditions:
    """What a link does to packets. ``None`` means "not set"; all values are per direction."""

    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    rate_bit: float | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.delay_ms, self.jitter_ms, self.loss_pct, self.rate_bit))

    def describe(self) -> str:
        parts = []
        if self.delay_ms is not None:
            parts.append(f"delay {_num(self.delay_ms)}ms")
        if self.jitter_ms is not None:
            parts.append(f"jitter {_num(self.jitter_ms)}ms")
        if self.loss_pct is not None:
            parts.append(f"loss {_num(self.loss_pct)}%")
        if self.rate_bit is not None:
            parts.append(f"rate {format_rate(self.rate_bit)}")
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class NodeSpec:
    """One node. ``ipv4``/``ipv6`` are fixed addresses, the i-th one for the node's i-th interface."""

    name: str
    kind: str = "host"
    ipv4: tuple[str | None, ...] = ()
    ipv6: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class LinkSpec:
    """One link between two nodes, in file order (its ``index`` is 1-based, as users count)."""

    index: int
    a: str
    b: str
    mtu: int | None = None
    conditions: Conditions = field(default_factory=Conditions)

    @property
    def label(self) -> str:
        return f"link {self.index} ({self.a} -- {self.b})"


@dataclass(frozen=True)
class Topology:
    """A validated topology: build one with ``lab.topology.load_topology``, ``topology_from_graph`` or
    ``build_topology`` (they validate it and compute its ``layout``; this class only holds data).

    ``loopback`` marks a topology meant for the loopback realization (hosts on 127.0.0.0/8). ``routing``
    is one of ``ROUTING``: with ``ospf``/``eigrp`` routers get no static routes (hosts keep their default
    route to their gateway) and learn the rest from the routing daemons.
    """

    name: str
    source: str
    nodes: tuple[NodeSpec, ...]
    links: tuple[LinkSpec, ...]
    loopback: bool = False
    description: str = ""
    routing: str = "static"
    _layout: Layout | None = field(default=None, compare=False, repr=False)
    # where each key was written (``nodes.h2.kind`` -> line), from a YAML file; else why no line is known
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    no_line: str | None = field(default=None, compare=False, repr=False)

    def locate(self, err: LabError) -> LabError:
        """``err`` (naming a key of this topology, ``links.3.delay``) with the file and the key's line: for
        a problem found after loading, by the realization (a condition this kernel cannot emulate)."""
        return err.locate(file=self.source, lines=lambda key: line_for(dict(self.lines), key),
                          no_line=self.no_line)

    # -- derived views ------------------------------------------------------------------------------
    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def kind(self, name: str) -> str:
        return self.node(name).kind

    @property
    def hosts(self) -> list[str]:
        return [n.name for n in self.nodes if n.kind == "host"]

    @property
    def routers(self) -> list[str]:
        return [n.name for n in self.nodes if n.kind == "router"]

    @property
    def switches(self) -> list[str]:
        return [n.name for n in self.nodes if n.kind == "switch"]

    def graph(self) -> nx.Graph:
        """The topology as an ``nx.Graph`` with the same attribute names the readers accept."""
        g = nx.Graph(name=self.name, loopback=self.loopback)
        if self.routing != "static":
            g.graph["routing"] = self.routing
        for n in self.nodes:
            attrs: dict[str, Any] = {"kind": n.kind}
            if n.ipv4:
                attrs["ipv4"] = ",".join(a or "" for a in n.ipv4)
            if n.ipv6:
                attrs["ipv6"] = ",".join(a or "" for a in n.ipv6)
            g.add_node(n.name, **attrs)
        for link in self.links:
            attrs = {}
            if link.mtu is not None:
                attrs["mtu"] = link.mtu
            c = link.conditions
            if c.delay_ms is not None:
                attrs["delay"] = f"{_num(c.delay_ms)}ms"
            if c.jitter_ms is not None:
                attrs["jitter"] = f"{_num(c.jitter_ms)}ms"
            if c.loss_pct is not None:
                attrs["loss"] = f"{_num(c.loss_pct)}%"
            if c.rate_bit is not None:
                attrs["rate"] = format_rate(c.rate_bit)
            g.add_edge(link.a, link.b, **attrs)
        return g

    @property
    def layout(self) -> Layout:
        """Interfaces, segments, addresses and routes: deterministic for a given topology, computed once
        by the builder (``lab.topology.build_topology``, which every reader uses) as it validates."""
        if self._layout is None:
            raise TopologyError("this topology was not built by lab.topology.build_topology (no layout)",
                                source=self.source)
        return self._layout


# -- attribute parsing (shared by every reader) -------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "": 1.0}
_UNIT_BIT = {"": 1e6, "bit": 1.0, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bps": 8.0, "kbps": 8e3,
             "mbps": 8e6, "gbps": 8e9}
_NUM = r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*"


def _num(x: float) -> str:
    return f"{x:g}"


def parse_time_ms(value: Any, what: str) -> float:
    """``10`` (ms), ``"10ms"``, ``"0.5s"``, ``"200us"`` -> milliseconds."""
    return _parse(value, what, _UNIT_MS, "a time like 10ms")


def parse_rate_bit(value: Any, what: str) -> float:
    """``10`` (Mbit/s), ``"10mbit"``, ``"500kbit"``, ``"1gbit"``, ``"1mbps"`` -> bits per second."""
    return _parse(value, what, _UNIT_BIT, "a rate like 10mbit")


def parse_loss_pct(value: Any, what: str) -> float:
    """``1`` or ``"1%"`` -> percent."""
    return _parse(value, what, {"%": 1.0, "": 1.0}, "a percentage like 1%")


def _parse(value: Any, what: str, units: dict[str, float], example: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be {example}, not {value!r}")
    if isinstance(value, int | float):
        try:
            return float(value) * units[""]
        except OverflowError:  # an integer beyond any float: out of every range
            raise ValueError(f"{what} {value} is out of range (too large)") from None
    if isinstance(value, str):
        m = re.fullmatch(_NUM + r"([A-Za-z%]*)\s*", value)
        if m and m.group(2).lower() in units:
            return float(m.group(1)) * units[m.group(2).lower()]
    raise ValueError(f"{what} must be {example}, not {value!r}")


def parse_address_list(value: Any, version: int, what: str) -> tuple[str | None, ...]:
    """Fixed addresses: one string, a comma-separated string, or a list (``null`` skips an interface).
    ``what`` names the value in a message about its form (an item's message names the item).

    An address without a prefix gets /24 (IPv4) or /64 (IPv6). Returns normalized ``addr/prefix`` strings.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items: list[Any] = [v.strip() or None for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError(f"{what} must be an address or a list of addresses, not {value!r}")
    out: list[str | None] = []
    for item in items:
        if item is None:
            out.append(None)
            continue
        text = str(item)
        if "/" not in text:
            text += "/24" if version == 4 else "/64"
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            raise ValueError(f"{item!r} is not an IPv{version} address") from None
        if iface.version != version:
            raise ValueError(f"{item!r} is not an IPv{version} address")
        out.append(str(iface))
    return tuple(out)
