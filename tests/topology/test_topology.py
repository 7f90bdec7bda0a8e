"""Unit tests (no root): formats, validation messages, addressing, routes, rendering."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from lab.errors import TopologyError
from lab.topology import load_topology, topology_from_graph, topology_from_yaml
from lab.topology.render import as_dict, svg, table

SHIPPED = ["two-hosts", "lan", "routed", "chain", "dumbbell", "loopback"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_topologies_load_and_are_deterministic(name):
    a, b = load_topology(name), load_topology(name)
    assert a.layout == b.layout
    assert a.hosts, name


def test_two_hosts_addresses():
    t = load_topology("two-hosts")
    h1 = t.layout.interfaces["h1"][0]
    assert (h1.name, h1.ipv4, h1.ipv6, h1.peer_node) == ("h1-eth0", "198.18.0.1/24", "fd00::1/64", "h2")
    assert t.layout.primary("h2") == "198.18.0.2"
    assert t.layout.primary("h2", 6) == "fd00::2"


def test_routes_follow_shortest_paths_in_chain():
    t = load_topology("chain")
    r1 = {r.dest: r.via for r in t.layout.routes["r1"]}
    assert r1["198.18.3.0/24"] == "198.18.1.253"  # via r2, the only next router
    assert r1["fd00:0:0:3::/64"] == "fd00:0:0:1::fd"
    h1 = t.layout.routes["h1"]
    assert [(r.version, r.dest, r.via) for r in h1] == [(4, "default", "198.18.0.254"),
                                                        (6, "default", "fd00::fe")]


def test_routes_pick_the_shorter_of_two_paths():
    g = nx.Graph()
    g.add_nodes_from(["h1", "h2"])
    g.add_nodes_from(["r1", "r2", "r3", "r4"], kind="router")
    g.add_edges_from([("h1", "r1"), ("r1", "r2"), ("r2", "h2"), ("r1", "r3"), ("r3", "r4"), ("r4", "r2")])
    t = topology_from_graph(g, source="<test>")
    to_h2 = next(r for r in t.layout.routes["r1"] if r.version == 4 and r.dest.startswith(
        t.layout.interfaces["h2"][0].ipv4.rsplit(".", 1)[0]))
    r2_addr = next(i.ipv4.split("/")[0] for i in t.layout.interfaces["r2"] if i.peer_node == "r1")
    assert to_h2.via == r2_addr


def test_formats_agree(tmp_path):
    t = load_topology("dumbbell")
    g = t.graph()
    nx.write_graphml(g, tmp_path / "d.graphml")
    nx.write_gml(g, tmp_path / "d.gml")
    (tmp_path / "d.json").write_text(json.dumps(nx.node_link_data(g, edges="links")))
    # a graph's link order is its edge order, so compare with the same graph read from Python
    ref = topology_from_graph(g)
    conds = {frozenset((li.a, li.b)): li.conditions for li in t.links}
    for suffix in ("graphml", "gml", "json"):
        other = load_topology(tmp_path / f"d.{suffix}")
        assert other.layout == ref.layout, suffix
        assert {frozenset((li.a, li.b)): li.conditions for li in other.links} == conds, suffix
        assert other.layout.primary("h1") == t.layout.primary("h1")


def test_fixed_addresses_are_honoured():
    t = topology_from_yaml("""
nodes: [{name: a, ipv4: 198.18.7.10/24, ipv6: "fd00:0:0:7::a"}, {name: b}]
links: [[a, b]]
""")
    assert t.layout.interfaces["a"][0].ipv4 == "198.18.7.10/24"
    assert t.layout.interfaces["a"][0].ipv6 == "fd00:0:0:7::a/64"
    assert t.layout.interfaces["b"][0].ipv4 == "198.18.7.1/24"


BAD = [
    ("nodes: [h1\nlinks: [", ["bad.yaml:2: invalid YAML"]),
    ("nodes: [{name: h1, kind: hub}, {name: h2}]\nlinks: [[h1, h2]]",
     ["bad.yaml:1: nodes.h1.kind: unknown kind 'hub'"]),
    ("nodes: [h1, h2]\nlinks: [[h1, h9]]", ["links.1.endpoints: unknown node 'h9' in link h1 -- h9"]),
    ("nodes: [h1, h2, h1]\nlinks: [[h1, h2]]", ["nodes.h1.name: duplicate node name 'h1'"]),
    ("nodes: [h1, h2]\nlinks: [[h1, h2], [h1, h1]]", ["links.2.endpoints: self-loop h1 -- h1"]),
    ("nodes: [h1, h2]\nlinks: [[h1, h2], [h2, h1]]",
     ["links.2: duplicate link h2 -- h1 (same nodes as link 1)"]),
    ("nodes: [{name: h1, ipv4: 198.18.0.5}, {name: h2, ipv4: 198.18.0.5}]\nlinks: [[h1, h2]]",
     ["nodes.h2.ipv4: duplicate address 198.18.0.5"]),
    ("nodes: [{name: h1, ipv4: 198.18.0.5/24}, {name: h2, ipv4: 198.18.1.5/24}]\nlinks: [[h1, h2]]",
     ["nodes.h2.ipv4: fixed address 198.18.1.5/24 is not in the subnet 198.18.0.0/24"]),
    ("nodes: [{name: h1, ipv4: 198.18.0.1/16}, {name: r1, kind: router}, {name: h2, ipv4: 198.18.3.1/24}]\n"
     "links: [[h1, r1], [r1, h2]]", ["nodes.h2.ipv4: subnet 198.18.3.0/24 overlaps 198.18.0.0/16"]),
    ("nodes: [{name: h1, ipv4: 10.0.0.1}, h2]\nlinks: [[h1, h2]]",
     ["nodes.h1.ipv4: fixed address 10.0.0.1/24 is outside the lab space"]),
    ("nodes: [averyverylonghostname, h2]\nlinks: [[averyverylonghostname, h2]]",
     ["nodes.averyverylonghostname.name: interface name", "longer than 15 bytes"]),
    ("nodes: [h.1, h2]\nlinks: [[h.1, h2]]", ["nodes.#1.name: 'h.1': name may contain only letters, digits"]),
    ("nodes: [h1, h2, h3]\nlinks: [[h1, h2]]", ["nodes.h3: host has no links"]),
    ("nodes: [h1, h2, h3, h4]\nlinks: [[h1, h2], [h3, h4]]", ["nodes.h3: host has no path to 'h1'"]),
    ("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], loss: -3%}]",
     ["links.1.loss: loss -3% out of range", "(link h1 -- h2)"]),
    ("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], delay: -5ms}]",
     ["links.1.delay: delay -5ms out of range"]),
    ("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], delay: 99999s}]",
     ["links.1.delay: delay 9.9999e+07ms out of range"]),
    ("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], rate: 0}]", ["links.1.rate: rate 0bit out of range"]),
    ("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], rate: fast}]", ["links.1.rate: rate must be"]),
    ("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], mtu: 100}]", ["links.1.mtu: mtu 100 out of range"]),
    ("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], latency: 5ms}]",
     ["links.1.latency: unknown attribute(s) latency"]),
    ("nodes: [h1, {name: r1, kind: router}]\nloopback: true\nlinks: [[h1, r1]]",
     ["nodes.r1.kind: a loopback topology cannot have routers"]),
]


@pytest.mark.parametrize(("text", "needles"), BAD, ids=[n[-1] for _t, n in BAD])
def test_bad_input_names_file_node_and_problem(tmp_path, text, needles):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "bad.yaml" in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_bad_graph_inputs(tmp_path):
    (tmp_path / "x.graphml").write_text("<graphml><broken")
    with pytest.raises(TopologyError, match=r"x\.graphml:1: invalid graphml: unclosed token"):
        load_topology(tmp_path / "x.graphml")
    with pytest.raises(TopologyError, match="no such topology"):
        load_topology("no-such-topology")
    g = nx.Graph()
    g.add_edge("h1", "h2", loss="lots")
    with pytest.raises(TopologyError, match=r"^<gen>: links\.1\.loss: loss must be a percentage like 1%, "
                                             r"not 'lots' \(link h1 -- h2\)$"):
        topology_from_graph(g, source="<gen>")


def test_render():
    t = load_topology("routed")
    text = table(t)
    assert "r1-eth1" in text and "198.18.1.254/24" in text and "default via 198.18.0.254" in text
    picture = svg(t)
    assert picture.startswith("<svg") and "198.18.1.254/24" in picture and picture.count("<line") == 6
    assert as_dict(t)["nodes"][0]["interfaces"][0]["ipv4"] == "198.18.0.1/24"


def test_loopback_addresses_per_run():
    from lab.topology import loopback_addresses

    topo = load_topology("loopback")
    assert list(loopback_addresses(topo).values()) == ["127.18.0.1", "127.18.0.2", "127.18.0.3"]
    a, b = loopback_addresses(topo, "run1"), loopback_addresses(topo, "run2")
    assert a == loopback_addresses(topo, "run1")  # deterministic per run id
    assert not set(a.values()) & set(b.values())
    for addrs in (a, b):
        assert all(v.startswith("127.") and not v.startswith(("127.0.", "127.18.")) for v in addrs.values())
    fixed = topology_from_yaml("loopback: true\nnodes: [{name: h1, ipv4: 127.9.9.9}, h2]\nlinks: []\n")
    assert loopback_addresses(fixed, "run1")["h1"] == "127.9.9.9"  # fixed addresses are honoured
