"""FRR configuration for a router of a dynamically routed topology: plain text, computed from the layout.

Division of labour: this module writes what each daemon is told (pure functions of the topology, unit
tested without root); ``lab.emulation.daemons`` starts and stops the daemons with these files.

Choices, each for the lab's sake:
* the router ID is the router's first IPv4 address (what a student finds in the capture);
* every IPv4 segment of the router is announced (OSPF: area 0; EIGRP: AS 1);
* a segment where no other router is (a host LAN) is passive for OSPF: announced, but no hellos sent
  there — routing protocols talk only where a neighbour may be (eigrpd cannot, see ``eigrpd_conf``);
* a link between exactly two routers is OSPF point-to-point: no designated-router election, so the
  adjacency forms at the first hellos instead of after the wait timer;
* timers are short (OSPF hello 1 s, dead 4 s, SPF and LSA throttling in tens of ms; EIGRP hello 1 s) so
  a lab converges in seconds; real networks use 10/40 s (OSPF) and 5/15 s (EIGRP).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.topology import Topology

DAEMONS = {"ospf": "ospfd", "eigrp": "eigrpd"}
OSPF_HELLO_S, OSPF_DEAD_S = 1, 4
OSPF_SPF_THROTTLE_MS = (0, 50, 500)  # SPF delay, initial and maximum hold (FRR: 0, 50, 5000)
OSPF_LSA_INTERVAL_MS = 100  # least time between two originations (and arrivals) of one LSA (FRR: 5000, 1000)
EIGRP_HELLO_S = 1
EIGRP_AS = 1


@dataclass(frozen=True)
class RouterIface:
    """One addressed interface of a router, as the routing protocol sees it."""

    name: str
    network: str  # the segment's IPv4 prefix, e.g. 198.18.0.0/30
    neighbours: tuple[str, ...]  # other routers on the segment
    point_to_point: bool  # a link between exactly two routers (no switch, no host)

    @property
    def passive(self) -> bool:
        return not self.neighbours


def router_ifaces(topo: Topology, router: str) -> list[RouterIface]:
    """The router's IPv4 interfaces with their segments' other routers, in interface order."""
    kinds = {n.name: n.kind for n in topo.nodes}
    segments = {s.index: s for s in topo.layout.segments}
    out = []
    for iface in topo.layout.interfaces[router]:
        seg = segments.get(iface.segment) if iface.segment is not None else None
        if seg is None or not iface.ipv4 or not seg.ipv4:
            continue
        others = tuple(node for node, _ in seg.members if node != router)
        routers = tuple(node for node in others if kinds.get(node) == "router")
        p2p = not seg.switches and len(others) == 1 and len(routers) == 1
        out.append(RouterIface(iface.name, seg.ipv4, routers, p2p))
    return out


def router_id(topo: Topology, router: str) -> str:
    rid = topo.layout.primary(router, 4)
    if rid is None:
        raise ValueError(f"router {router!r} has no IPv4 address for a router ID")
    return rid


def zebra_conf(router: str) -> str:
    return f"hostname {router}\n"


def ospfd_conf(topo: Topology, router: str) -> str:
    """ospfd.conf: interface timers (and network type), then the router's networks in area 0."""
    lines = [f"hostname {router}", "!"]
    ifaces = router_ifaces(topo, router)
    for i in ifaces:
        lines.append(f"interface {i.name}")
        lines.append(f" ip ospf hello-interval {OSPF_HELLO_S}")
        lines.append(f" ip ospf dead-interval {OSPF_DEAD_S}")
        if i.point_to_point:
            lines.append(" ip ospf network point-to-point")
        if i.passive:
            lines.append(" ip ospf passive")
        lines.append("!")
    lines.append("router ospf")
    lines.append(f" ospf router-id {router_id(topo, router)}")
    lines += [f" timers throttle spf {' '.join(map(str, OSPF_SPF_THROTTLE_MS))}",
              f" timers throttle lsa all {OSPF_LSA_INTERVAL_MS}",
              f" timers lsa min-arrival {OSPF_LSA_INTERVAL_MS}"]
    for network in dict.fromkeys(i.network for i in ifaces):
        lines.append(f" network {network} area 0")
    lines.append("!")
    return "\n".join(lines) + "\n"


def eigrpd_conf(topo: Topology, router: str) -> str:
    """eigrpd.conf: the EIGRP instance with all the router's networks, then the hello interval.

    FRR 8.4's eigrpd refuses ``passive-interface`` and ``ip hold-time eigrp`` ("Error type: validation",
    FRR issue #11301), so EIGRP also says hello on host LANs, where no router answers, and keeps its
    default hold time (15 s): neither changes how the routes are learned here.
    """
    ifaces = router_ifaces(topo, router)
    lines = [f"hostname {router}", "!", f"router eigrp {EIGRP_AS}",
             f" eigrp router-id {router_id(topo, router)}"]
    for network in dict.fromkeys(i.network for i in ifaces):
        lines.append(f" network {network}")
    lines.append("!")
    for i in ifaces:
        lines += [f"interface {i.name}", f" ip hello-interval eigrp {EIGRP_HELLO_S}", "!"]
    return "\n".join(lines) + "\n"


def configs(topo: Topology, router: str) -> dict[str, str]:
    """File name -> content of every config file ``router`` needs for the topology's routing protocol."""
    if topo.routing not in DAEMONS:
        return {}
    daemon = DAEMONS[topo.routing]
    conf = ospfd_conf(topo, router) if topo.routing == "ospf" else eigrpd_conf(topo, router)
    return {"zebra.conf": zebra_conf(router), f"{daemon}.conf": conf}
