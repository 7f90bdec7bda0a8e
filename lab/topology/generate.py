"""Ready-made graphs for generated topologies (benchmarks, coursework, scale tests).

Each function returns an ``nx.Graph`` using the same attribute names as the files; wrap it with
``lab.topology.topology_from_graph``.
"""

from __future__ import annotations

import networkx as nx


def campus(hosts: int = 100, switches: int = 10, routers: int = 5) -> nx.Graph:
    """``hosts`` spread evenly over ``switches`` LANs, the LANs spread over a chain of ``routers``.

    Host ``h{i}`` sits on switch ``s{(i-1) % switches + 1}``; switch ``s{k}`` hangs off router
    ``r{(k-1) % routers + 1}``; routers form the chain r1 - r2 - ... .
    """
    if min(hosts, switches, routers) < 1:
        raise ValueError("campus() needs at least one host, switch and router")
    g = nx.Graph(name=f"campus-{hosts}")
    for i in range(1, hosts + 1):
        g.add_node(f"h{i}", kind="host")
    for k in range(1, switches + 1):
        g.add_node(f"s{k}", kind="switch")
    for r in range(1, routers + 1):
        g.add_node(f"r{r}", kind="router")
    for i in range(1, hosts + 1):
        g.add_edge(f"h{i}", f"s{(i - 1) % switches + 1}")
    for k in range(1, switches + 1):
        g.add_edge(f"s{k}", f"r{(k - 1) % routers + 1}")
    for r in range(1, routers):
        g.add_edge(f"r{r}", f"r{r + 1}")
    return g
