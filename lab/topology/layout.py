"""The layout of a topology as data: interfaces, segments (subnets) and static routes.

The bottom of ``lab.topology`` with ``spec`` and ``limits``: types only. ``addressing`` computes a layout
(names, numbers, with ``routing`` for the routes); ``spec.Topology.layout`` carries the one its builder
(``validate.build_topology``) computed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Iface:
    """One interface of a node; addresses carry their prefix (``198.18.0.1/24``)."""

    node: str
    name: str
    index: int
    link: int  # 1-based link index in the topology
    peer_node: str | None
    segment: int | None
    ipv4: str | None
    ipv6: str | None
    mac: str


@dataclass(frozen=True)
class Segment:
    """One subnet: the links it spans, its switches and its addressed (non-switch) interfaces."""

    index: int
    links: tuple[int, ...]
    switches: tuple[str, ...]
    members: tuple[tuple[str, str], ...]  # (node, ifname)
    ipv4: str | None
    ipv6: str | None


@dataclass(frozen=True)
class Route:
    """A static route; ``dest`` is ``"default"`` or a network with prefix."""

    version: int
    dest: str
    via: str
    dev: str

    def describe(self) -> str:
        return f"{self.dest} via {self.via} dev {self.dev}"


@dataclass(frozen=True)
class Layout:
    interfaces: dict[str, tuple[Iface, ...]]
    segments: tuple[Segment, ...]
    routes: dict[str, tuple[Route, ...]]

    def iface(self, node: str, name: str) -> Iface:
        for i in self.interfaces[node]:
            if i.name == name:
                return i
        raise KeyError(f"{node}/{name}")

    def primary(self, node: str, version: int = 4) -> str | None:
        """The first address of the node (no prefix), in interface order."""
        for i in self.interfaces.get(node, ()):
            addr = i.ipv4 if version == 4 else i.ipv6
            if addr:
                return addr.split("/")[0]
        return None
