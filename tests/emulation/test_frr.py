"""FRR configuration generated from a topology (no root): router IDs, networks, timers, interface roles."""

from __future__ import annotations

from lab.emulation import frr
from lab.emulation.daemons import parse_monitor_line
from lab.topology.io import topology_from_yaml

TOPO = """
name: t
routing: {routing}
nodes: [h1, {{name: r1, kind: router}}, {{name: r2, kind: router}}, {{name: r3, kind: router}},
        {{name: s1, kind: switch}}, h2]
links: [[h1, r1], [r1, r2], [r2, s1], [r3, s1], [r3, h2]]
"""


def _topo(routing: str = "ospf"):  # noqa: ANN202
    return topology_from_yaml(TOPO.format(routing=routing), source="t.yaml")


def test_interfaces_roles() -> None:
    topo = _topo()
    r1 = {i.name: i for i in frr.router_ifaces(topo, "r1")}
    assert r1["r1-eth0"].passive and not r1["r1-eth0"].point_to_point  # host LAN
    assert r1["r1-eth1"].neighbours == ("r2",) and r1["r1-eth1"].point_to_point  # router-router link
    r2 = {i.name: i for i in frr.router_ifaces(topo, "r2")}
    assert r2["r2-eth1"].neighbours == ("r3",) and not r2["r2-eth1"].point_to_point  # switched LAN


def test_ospfd_conf() -> None:
    topo = _topo()
    conf = frr.ospfd_conf(topo, "r1")
    lines = conf.splitlines()
    assert lines[0] == "hostname r1"
    assert f" ospf router-id {topo.layout.primary('r1')}" in lines
    for iface in topo.layout.interfaces["r1"]:
        network = next(s.ipv4 for s in topo.layout.segments if s.index == iface.segment)
        assert f" network {network} area 0" in lines
        assert f"interface {iface.name}" in lines
    assert lines.count(" ip ospf hello-interval 1") == 2 and lines.count(" ip ospf dead-interval 4") == 2
    assert lines.count(" ip ospf passive") == 1 and lines.count(" ip ospf network point-to-point") == 1
    assert lines.index("router ospf") > lines.index("interface r1-eth1")


def test_eigrpd_conf_instance_first() -> None:
    topo = _topo("eigrp")
    lines = frr.eigrpd_conf(topo, "r2").splitlines()
    assert lines[2] == "router eigrp 1" and lines[3] == f" eigrp router-id {topo.layout.primary('r2')}"
    assert sum(line.startswith(" network ") for line in lines) == 2
    assert lines.index("interface r2-eth0") > lines.index("router eigrp 1")  # FRR needs the instance first
    assert lines.count(" ip hello-interval eigrp 1") == 2
    assert not any("passive-interface" in line or "hold-time" in line for line in lines)  # FRR 8.4 rejects


def test_configs_per_protocol() -> None:
    assert set(frr.configs(_topo("ospf"), "r3")) == {"zebra.conf", "ospfd.conf"}
    assert set(frr.configs(_topo("eigrp"), "r3")) == {"zebra.conf", "eigrpd.conf"}
    assert frr.configs(_topo("static"), "r3") == {}


def test_monitor_lines() -> None:
    add = parse_monitor_line("[2026-12-04T21:21:43.965642] 198.18.4.0/24 nhid 24 via 198.18.3.253 "
                             "dev r1-eth2 proto ospf metric 20 ", "r1")
    assert add is not None
    assert (add.node, add.action, add.dest, add.via, add.dev, add.proto) == (
        "r1", "add", "198.18.4.0/24", "198.18.3.253", "r1-eth2", "ospf")
    assert add.ts_ns % 1000 == 0 and add.ts_ns > 1.7e18
    gone = parse_monitor_line("[2026-12-04T21:21:44.000001] Deleted 198.18.4.0/24 nhid 24 proto ospf "
                              "metric 20", "r1")
    assert gone is not None and gone.action == "delete" and gone.via is None
    assert gone.ts_ns - add.ts_ns == 34_359_000
    assert gone.describe() == "r1: route removed: 198.18.4.0/24 (ospf)"
    assert parse_monitor_line("Timestamp: something else", "r1") is None
    assert parse_monitor_line("[2026-12-04T21:21:44.000001] nexthop via 1.2.3.4 dev x", "r1") is None
