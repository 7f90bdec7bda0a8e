"""The topology-level ``routing`` option: static (default), ospf or eigrp; dynamic means no router routes."""

from __future__ import annotations

import pytest

from lab.errors import TopologyError
from lab.topology import Topology, topology_from_graph
from lab.topology.io import topology_from_yaml

TRIANGLE = """
name: tri
{routing}
nodes: [h1, {{name: r1, kind: router}}, {{name: r2, kind: router}}, h2]
links: [[h1, r1], [r1, r2], [r2, h2]]
"""


def _topo(routing: str) -> Topology:
    return topology_from_yaml(TRIANGLE.format(routing=routing), source="t.yaml")


def test_default_is_static_with_router_routes() -> None:
    topo = _topo("")
    assert topo.routing == "static"
    assert topo.layout.routes["r1"] and topo.layout.routes["r2"]


@pytest.mark.parametrize("protocol", ["ospf", "eigrp"])
def test_dynamic_routing_leaves_routers_without_routes_and_hosts_with_their_gateway(protocol: str) -> None:
    topo = _topo(f"routing: {protocol}")
    assert topo.routing == protocol
    assert topo.layout.routes["r1"] == () and topo.layout.routes["r2"] == ()
    (v4,) = [r for r in topo.layout.routes["h1"] if r.version == 4]
    assert v4.dest == "default" and v4.via == topo.layout.primary("r1")
    again = topology_from_graph(topo.graph())  # the option survives the graph form
    assert again.routing == protocol


@pytest.mark.parametrize("value", ["OSPF", "rip", "ospf ", "", 1, True, None, ["ospf"]])
def test_bad_routing_value_is_one_line_naming_file(value: object) -> None:
    text = TRIANGLE.format(routing=f"routing: {value!r}" if value != "" else "routing: ''")
    with pytest.raises(TopologyError) as err:
        topology_from_yaml(text, source="t.yaml")
    msg = str(err.value)
    line = text.splitlines().index(text.split("\n")[2]) + 1  # the line that says routing
    assert msg.startswith(f"t.yaml:{line}: routing: must be one of static, ospf, eigrp, not "), msg
    assert "\n" not in msg


def test_dynamic_routing_needs_routers() -> None:
    text = "name: flat\nrouting: ospf\nnodes: [h1, h2]\nlinks: [[h1, h2]]\n"
    with pytest.raises(TopologyError, match=r"^flat.yaml:2: routing: ospf: the topology has no routers"):
        topology_from_yaml(text, source="flat.yaml")


def test_topo_show_says_how_routers_learn_routes() -> None:
    from lab.topology.render import table as render_table

    text = render_table(_topo("routing: eigrp"))
    assert "  r1, r2: learned at run time with EIGRP (FRR's eigrpd; routing: eigrp), no static routes" in text
    assert "learned at run time" not in render_table(_topo(""))
