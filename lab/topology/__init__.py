"""The description of a network: spec over ``nx.Graph``, file formats, validation, addressing, routes.

Public API::

    from lab.topology import load_topology, Topology
    topo = load_topology("two-hosts")             # a name in topologies/ or a path
    topo = Topology.from_graph(g, source="<gen>")  # a networkx graph built in Python
    topo.layout.interfaces["h1"]                   # Iface(name="h1-eth0", ipv4="198.18.0.1/24", ...)
    topo.layout.routes["r1"]                       # static routes

This package imports nothing else of ``lab`` except ``lab.errors``.
"""

from lab.topology.addressing import Iface, Layout, Route, Segment, loopback_addresses
from lab.topology.io import available_topologies, load_topology, topology_from_yaml
from lab.topology.spec import Conditions, LinkSpec, NodeSpec, Topology

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
    "load_topology",
    "loopback_addresses",
    "topology_from_yaml",
]
