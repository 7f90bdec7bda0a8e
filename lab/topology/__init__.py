"""The description of a network: spec over ``nx.Graph``, file formats, validation, addressing, routes.

Public API::

    from lab.topology import load_topology, Topology
    topo = load_topology("two-hosts")             # a name in topologies/ or a path
    topo = topology_from_graph(g, source="<gen>")  # a networkx graph built in Python
    topo.layout.interfaces["h1"]                   # Iface(name="h1-eth0", ipv4="198.18.0.1/24", ...)
    topo.layout.routes["r1"]                       # static routes

Read bottom-up, each module importing only those above it in this list (no import cycle):
``limits`` (names, value ranges), ``layout`` (Iface, Segment, Route, Layout: data), ``spec`` (nodes,
links, Topology: data, and the parsing of attribute values); ``routing`` (next hops), ``addressing``
(names and numbers, calling ``routing``); ``validate`` (the checks and ``build_topology``, the one
builder), ``io`` (file formats and networkx graphs); ``render`` and ``generate`` beside them.

This package imports nothing else of ``lab`` except ``lab.errors`` and ``lab.yamlfile``.
"""

from lab.topology.addressing import loopback_addresses
from lab.topology.io import available_topologies, load_topology, topology_from_graph, topology_from_yaml
from lab.topology.layout import Iface, Layout, Route, Segment
from lab.topology.spec import Conditions, LinkSpec, NodeSpec, Topology
from lab.topology.validate import build_topology

__all__ = [
    "Conditions",
    "Iface",
    "Layout",
    "LinkSpec",
    "NodeSpec",
    "Route",
    "Segment",
    "Topology",
    "available_topologies",
    "build_topology",
    "load_topology",
    "loopback_addresses",
    "topology_from_graph",
    "topology_from_yaml",
]
