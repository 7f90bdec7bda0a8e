"""Validation and the one builder of a ``Topology``: every problem gets one message naming the source,
the node or link, and what is wrong.

Checks run before anything is created, in the order a user would fix them: names and kinds, links, link
parameters, interface-name lengths, addresses (by computing the layout), and finally reachability. The
layout computed on the way is the one the topology carries (``Topology.layout``).
"""

from __future__ import annotations

import dataclasses
import ipaddress

from lab.errors import TopologyError
from lab.topology.addressing import LOOPBACK_V4, resolve
from lab.topology.layout import Layout
from lab.topology.limits import (
    LINK_RANGES,
    MAX_BRIDGE_PORTS,
    MAX_LINKS,
    MAX_NODES,
    name_has_room,
    name_problem,
)
from lab.topology.routing import reachable_hosts
from lab.topology.spec import KINDS, ROUTING, LinkSpec, NodeSpec, Topology


def build_topology(
    *,
    name: str,
    source: str,
    nodes: list[NodeSpec],
    links: list[LinkSpec],
    loopback: bool = False,
    description: str = "",
    routing: str = "static",
) -> Topology:
    """Validate and return a topology with its layout; raises TopologyError naming ``source``, node/link
    and problem. Every reader (YAML, GraphML, GML, JSON, an ``nx.Graph``) builds through here."""
    topo = Topology(name, source, tuple(nodes), tuple(links), loopback, description, routing)
    return dataclasses.replace(topo, _layout=validate(topo))


def validate(topo: Topology) -> Layout:
    """Check ``topo``; returns its layout (computed on the way: address conflicts are found there)."""
    src = topo.source

    def fail(msg: str) -> None:
        raise TopologyError(msg, source=src)

    if len(topo.nodes) > MAX_NODES:
        fail(f"{len(topo.nodes)} nodes, more than the limit of {MAX_NODES}")
    if len(topo.links) > MAX_LINKS:
        fail(f"{len(topo.links)} links, more than the limit of {MAX_LINKS}")
    names: set[str] = set()
    for n in topo.nodes:
        if not n.name:
            fail("node with an empty name")
        problem = name_problem(n.name)
        if problem:
            fail(f"node {n.name!r}: {problem}")
        if n.name in names:
            fail(f"node {n.name!r}: duplicate node name")
        names.add(n.name)
        if n.kind not in KINDS:
            fail(f"node {n.name!r}: unknown kind {n.kind!r} (expected host, router or switch)")

    pairs: dict[frozenset[str], int] = {}
    degree: dict[str, int] = dict.fromkeys(names, 0)
    for link in topo.links:
        for end in (link.a, link.b):
            if end not in names:
                fail(f"{link.label}: unknown node {end!r}")
        if link.a == link.b:
            fail(f"{link.label}: self-loop (a link needs two different nodes)")
        key = frozenset((link.a, link.b))
        if key in pairs:
            fail(f"{link.label}: duplicate link (same nodes as link {pairs[key]})")
        pairs[key] = link.index
        degree[link.a] += 1
        degree[link.b] += 1
        _check_params(link, fail)

    for n in topo.nodes:
        problem = name_has_room(n.name, degree[n.name])
        if problem:
            fail(f"node {n.name!r}: {problem}")
        if n.kind == "switch" and degree[n.name] > MAX_BRIDGE_PORTS:
            fail(f"node {n.name!r}: switch with {degree[n.name]} links, more than the {MAX_BRIDGE_PORTS} "
                 "ports a Linux bridge can have (join several switches)")

    if topo.routing not in ROUTING:
        fail(f"routing {topo.routing!r}: expected one of {', '.join(ROUTING)}")
    if topo.routing != "static" and not topo.routers:
        fail(f"routing {topo.routing}: the topology has no routers to run it (add a node of kind router, "
             "or use routing: static)")

    if topo.loopback:
        _check_loopback(topo, fail)
        return resolve(topo)

    layout = resolve(topo)  # raises TopologyError on address conflicts
    hosts = topo.hosts
    if not hosts:
        fail("no hosts: a topology needs at least one node of kind host")
    for h in hosts:
        if degree[h] == 0 and len(hosts) > 1:
            fail(f"node {h!r}: host has no links (no path to other hosts)")
    if len(hosts) > 1:
        first = hosts[0]
        reach = reachable_hosts(topo, layout.interfaces, first)
        for h in hosts[1:]:
            if h not in reach:
                fail(f"node {h!r}: host has no path to {first!r} (add a link or a router between them)")
    return layout


def _check_params(link: LinkSpec, fail) -> None:
    """Every value against its rule in ``lab.topology.limits.LINK_RANGES``, then the rules between values."""
    c = link.conditions
    where = link.label
    for key, value in (("mtu", link.mtu), ("delay", c.delay_ms), ("jitter", c.jitter_ms),
                       ("loss", c.loss_pct), ("rate", c.rate_bit)):
        if value is not None:
            problem = LINK_RANGES[key].problem(value)
            if problem:
                fail(f"{where}: {problem}")
    if c.jitter_ms and not c.delay_ms:
        fail(f"{where}: jitter {c.jitter_ms:g}ms needs a delay")
    if c.jitter_ms and c.delay_ms and c.jitter_ms > c.delay_ms:
        fail(f"{where}: jitter {c.jitter_ms:g}ms larger than delay {c.delay_ms:g}ms")


def _check_loopback(topo: Topology, fail) -> None:
    for n in topo.nodes:
        if n.kind == "router":
            fail(f"node {n.name!r}: a loopback topology cannot have routers (they need namespaces)")
        if n.ipv6:
            fail(f"node {n.name!r}: a loopback topology has no per-host IPv6 addresses")
        for text in n.ipv4:
            if text and ipaddress.ip_interface(text).ip not in LOOPBACK_V4:
                fail(f"node {n.name!r}: fixed address {text} is not in 127.0.0.0/8 (loopback topology)")
    for link in topo.links:
        if link.mtu is not None or not link.conditions.empty:
            fail(f"{link.label}: link conditions and mtu need namespaces (not available in a loopback "
                 "topology)")
    addrs: dict[str, str] = {}
    for n in topo.nodes:
        for text in n.ipv4:
            if text:
                ip = str(ipaddress.ip_interface(text).ip)
                if ip in addrs:
                    fail(f"node {n.name!r}: duplicate address {ip} (also on {addrs[ip]!r})")
                addrs[ip] = n.name
