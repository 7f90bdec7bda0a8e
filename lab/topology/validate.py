"""Validation and the one builder of a ``Topology``: every problem is one ``TopologyError`` naming the
source, the key of the node or link (``nodes.h2.kind``, ``links.3.loss``), and what is wrong.

Checks run before anything is created, in the order a user would fix them: names and kinds, links, link
parameters, interface-name lengths, addresses (by computing the layout), and finally reachability. The
layout computed on the way is the one the topology carries (``Topology.layout``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from typing import NoReturn

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
from lab.topology.spec import KINDS, ROUTING, LinkSpec, NodeSpec, Topology, node_key


def build_topology(
    *,
    name: str,
    source: str,
    nodes: list[NodeSpec],
    links: list[LinkSpec],
    loopback: bool = False,
    description: str = "",
    routing: str = "static",
    lines: Mapping[str, int] | None = None,
    no_line: str | None = None,
) -> Topology:
    """Validate and return a topology with its layout; raises TopologyError naming ``source``, the key and
    the problem. Every reader (YAML, GraphML, GML, JSON, an ``nx.Graph``) builds through here; ``lines``
    (key -> line) or ``no_line`` (why there are none) stay with the topology for later errors."""
    topo = Topology(name, source, tuple(nodes), tuple(links), loopback, description, routing,
                    lines=dict(lines or {}), no_line=no_line)
    return dataclasses.replace(topo, _layout=validate(topo))


def validate(topo: Topology) -> Layout:
    """Check ``topo``; returns its layout (computed on the way: address conflicts are found there).

    Each error names the key it is about (``nodes.h2.kind``, ``links.3.loss``, ``routing``); the reader of
    a file adds the line of that key.
    """
    src = topo.source

    def fail(msg: str, key: str) -> NoReturn:
        raise TopologyError(msg, source=src, key=key)

    if len(topo.nodes) > MAX_NODES:
        fail(f"{len(topo.nodes)} nodes, more than the limit of {MAX_NODES}", "nodes")
    if len(topo.links) > MAX_LINKS:
        fail(f"{len(topo.links)} links, more than the limit of {MAX_LINKS}", "links")
    names: set[str] = set()
    for i, n in enumerate(topo.nodes, 1):
        key = node_key(n.name, i)
        problem = name_problem(n.name)
        if problem:
            fail(problem if repr(n.name) in problem else f"{n.name!r}: {problem}", f"{key}.name")
        if n.name in names:
            fail(f"duplicate node name {n.name!r}", f"{key}.name")
        names.add(n.name)
        if n.kind not in KINDS:
            fail(f"unknown kind {n.kind!r} (expected one of {', '.join(KINDS)})", f"{key}.kind")

    pairs: dict[frozenset[str], int] = {}
    degree: dict[str, int] = dict.fromkeys(names, 0)
    for link in topo.links:
        key = f"links.{link.index}"
        for end in (link.a, link.b):
            if end not in names:
                fail(f"unknown node {end!r} in link {link.a} -- {link.b} (nodes: {_few(names)})",
                     f"{key}.endpoints")
        if link.a == link.b:
            fail(f"self-loop {link.a} -- {link.b} (a link needs two different nodes)", f"{key}.endpoints")
        ends = frozenset((link.a, link.b))
        if ends in pairs:
            fail(f"duplicate link {link.a} -- {link.b} (same nodes as link {pairs[ends]})", key)
        pairs[ends] = link.index
        degree[link.a] += 1
        degree[link.b] += 1
        _check_params(link, fail)

    for n in topo.nodes:
        key = f"nodes.{n.name}"
        problem = name_has_room(n.name, degree[n.name])
        if problem:
            fail(problem, f"{key}.name")
        if n.kind == "switch" and degree[n.name] > MAX_BRIDGE_PORTS:
            fail(f"switch with {degree[n.name]} links, more than the {MAX_BRIDGE_PORTS} ports a Linux bridge "
                 "can have (join several switches)", key)

    if topo.routing not in ROUTING:
        fail(f"{topo.routing!r}: expected one of {', '.join(ROUTING)}", "routing")
    if topo.routing != "static" and not topo.routers:
        fail(f"{topo.routing}: the topology has no routers to run it (add a node of kind router, or use "
             "routing: static)", "routing")

    if topo.loopback:
        _check_loopback(topo, fail)
        return resolve(topo)

    layout = resolve(topo)  # raises TopologyError on address conflicts
    hosts = topo.hosts
    if not hosts:
        fail("no hosts: a topology needs at least one node of kind host", "nodes")
    for h in hosts:
        if degree[h] == 0 and len(hosts) > 1:
            fail("host has no links (no path to other hosts)", f"nodes.{h}")
    if len(hosts) > 1:
        first = hosts[0]
        reach = reachable_hosts(topo, layout.interfaces, first)
        for h in hosts[1:]:
            if h not in reach:
                fail(f"host has no path to {first!r} (add a link or a router between them)", f"nodes.{h}")
    return layout


def _few(names: set[str], limit: int = 8) -> str:
    shown = sorted(names)[:limit]
    return ", ".join(shown) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _check_params(link: LinkSpec, fail: Callable[[str, str], NoReturn]) -> None:
    """Every value against its rule in ``lab.topology.limits.LINK_RANGES``, then the rules between values."""
    c = link.conditions
    key = f"links.{link.index}"
    ends = f"(link {link.a} -- {link.b})"
    for attr, value in (("mtu", link.mtu), ("delay", c.delay_ms), ("jitter", c.jitter_ms),
                        ("loss", c.loss_pct), ("rate", c.rate_bit)):
        if value is not None:
            problem = LINK_RANGES[attr].problem(value)
            if problem:
                fail(f"{problem} {ends}", f"{key}.{attr}")
    if c.jitter_ms and not c.delay_ms:
        fail(f"jitter {c.jitter_ms:g}ms needs a delay {ends}", f"{key}.jitter")
    if c.jitter_ms and c.delay_ms and c.jitter_ms > c.delay_ms:
        fail(f"jitter {c.jitter_ms:g}ms larger than delay {c.delay_ms:g}ms {ends}", f"{key}.jitter")


def _check_loopback(topo: Topology, fail: Callable[[str, str], NoReturn]) -> None:
    for n in topo.nodes:
        key = f"nodes.{n.name}"
        if n.kind == "router":
            fail("a loopback topology cannot have routers (they need namespaces)", f"{key}.kind")
        if n.ipv6:
            fail("a loopback topology has no per-host IPv6 addresses", f"{key}.ipv6")
        for text in n.ipv4:
            if text and ipaddress.ip_interface(text).ip not in LOOPBACK_V4:
                fail(f"fixed address {text} is not in 127.0.0.0/8 (loopback topology)", f"{key}.ipv4")
    for link in topo.links:
        if link.mtu is not None or not link.conditions.empty:
            fail(f"link conditions and mtu need namespaces (not available in a loopback topology; link "
                 f"{link.a} -- {link.b})", f"links.{link.index}")
    addrs: dict[str, str] = {}
    for n in topo.nodes:
        for text in n.ipv4:
            if text:
                ip = str(ipaddress.ip_interface(text).ip)
                if ip in addrs:
                    fail(f"duplicate address {ip} (also on {addrs[ip]!r})", f"nodes.{n.name}.ipv4")
                addrs[ip] = n.name
