"""Interfaces, segments and addresses: the deterministic layout of a topology.

Division of labour: ``spec`` says what the user wrote, this module decides names and numbers, ``routing``
decides next hops, ``lab.emulation`` turns all of it into kernel objects.

Rules (documented once, relied on by tests and by the labs' expected observations):

* Interfaces are ``{node}-eth{i}``, numbered per node in link order; a switch's bridge is named ``{switch}``.
* A *segment* is one IP subnet: a point-to-point link between two non-switch nodes, or every link
  reachable through switches (switches joined to switches form one broadcast domain).
* Segments get subnets in order of their first link: a /24 (larger when more than 253 members) from
  198.18.0.0/15, the first free one; IPv6 gets the /64 ``fd00:0:0:N::/64`` where N is the /24's index in
  the /15 (198.18.1.0/24 <-> fd00:0:0:1::/64), so the two families read alike.
* Within a segment, hosts take addresses from the bottom (.1, .2, ... in node order) and routers from the
  top (.254, .253, ...); the IPv6 address uses the same host number. Fixed addresses are honoured and
  checked for duplicates and overlaps.
* MACs are ``02:00:00:NN:NN:II`` (node number, interface number) so captures are reproducible.
* Loopback topologies: each host gets 127.18.0.N (N = host number) unless it has a fixed 127.x address.
  A loopback *run* moves the unfixed ones to its own 127.A.B.N (A.B from the run id, see
  ``loopback_base``): parallel loopback runs then neither share ports nor see each other's packets
  through their capture filters on the shared ``lo``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import defaultdict
from typing import TYPE_CHECKING

import networkx as nx

from lab.errors import TopologyError
from lab.topology.layout import Iface, Layout, Route, Segment
from lab.topology.routing import compute_routes

if TYPE_CHECKING:
    from lab.topology.spec import Topology

__all__ = ["Iface", "Layout", "Route", "Segment", "loopback_addresses", "resolve"]  # types re-exported

LAB_V4 = ipaddress.ip_network("198.18.0.0/15")
LAB_V6 = ipaddress.ip_network("fd00::/8")
LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
LOOPBACK_BASE = ipaddress.ip_address("127.18.0.0")


def ifname(node: str, index: int) -> str:
    return f"{node}-eth{index}"


def mac_for(node_number: int, iface_index: int) -> str:
    return f"02:00:00:{node_number >> 8 & 0xFF:02x}:{node_number & 0xFF:02x}:{iface_index & 0xFF:02x}"


def resolve(topo: Topology) -> Layout:
    """Compute the layout; raises TopologyError for address conflicts or exhausted space."""
    if topo.loopback:
        return _loopback_layout(topo)
    numbers = {n.name: i for i, n in enumerate(topo.nodes, 1)}
    kinds = {n.name: n.kind for n in topo.nodes}

    # interfaces per node, in link order
    per_node: dict[str, list[tuple[int, str]]] = defaultdict(list)  # node -> [(link index, peer)]
    for link in topo.links:
        per_node[link.a].append((link.index, link.b))
        per_node[link.b].append((link.index, link.a))

    # segments: connected components of links joined through switches
    g = nx.Graph()
    for link in topo.links:
        g.add_node(("link", link.index))
        for end in (link.a, link.b):
            if kinds[end] == "switch":
                g.add_edge(("link", link.index), ("switch", end))
    comps = sorted(
        (sorted(x[1] for x in comp if x[0] == "link") for comp in nx.connected_components(g)
         if any(x[0] == "link" for x in comp)),
        key=lambda links: links[0],
    )
    seg_of_link = {li: k for k, links in enumerate(comps) for li in links}
    iface_names: dict[tuple[str, int], str] = {}
    for node, entries in per_node.items():
        for i, (li, _peer) in enumerate(entries):
            iface_names[(node, li)] = ifname(node, i)
    members: dict[int, list[tuple[str, str]]] = defaultdict(list)
    switches: dict[int, set[str]] = defaultdict(set)
    for link in topo.links:
        k = seg_of_link[link.index]
        for end in (link.a, link.b):
            if kinds[end] == "switch":
                switches[k].add(end)
            else:
                members[k].append((end, iface_names[(end, link.index)]))
    for k in members:
        members[k].sort(key=lambda m: (numbers[m[0]], m[1]))

    fixed4, fixed6 = _fixed(topo, per_node, seg_of_link, kinds)
    net4 = _subnets(topo, comps, members, fixed4, 4)
    net6 = _subnets(topo, comps, members, fixed6, 6, hint=net4)
    addr4 = _hosts(topo, members, net4, fixed4, kinds, 4)
    addr6 = _hosts(topo, members, net6, fixed6, kinds, 6, offsets=addr4, nets4=net4)

    interfaces: dict[str, tuple[Iface, ...]] = {}
    for n in topo.nodes:
        out = []
        for i, (li, peer) in enumerate(per_node.get(n.name, [])):
            name = iface_names[(n.name, li)]
            k = seg_of_link[li]
            key = (n.name, name)
            out.append(Iface(n.name, name, i, li, peer, k, addr4.get(key), addr6.get(key),
                             mac_for(numbers[n.name], i)))
        interfaces[n.name] = tuple(out)
    segments = tuple(
        Segment(k, tuple(links), tuple(sorted(switches[k], key=numbers.__getitem__)), tuple(members[k]),
                str(net4[k]) if k in net4 else None, str(net6[k]) if k in net6 else None)
        for k, links in enumerate(comps)
    )
    routes = compute_routes(topo, interfaces, segments)
    return Layout(interfaces, segments, routes)


def _fixed(topo, per_node, seg_of_link, kinds):
    """Fixed addresses by segment: {segment: [(node, ifname, ip_interface)]}, checked for duplicates."""
    out4: dict[int, list] = defaultdict(list)
    out6: dict[int, list] = defaultdict(list)
    seen: dict[ipaddress._BaseAddress, str] = {}
    for n in topo.nodes:
        for version, fixed, out, space in ((4, n.ipv4, out4, LAB_V4), (6, n.ipv6, out6, LAB_V6)):
            links = per_node.get(n.name, [])
            for i, text in enumerate(fixed):
                if text is None:
                    continue
                key = f"nodes.{n.name}.ipv{version}"
                if kinds[n.name] == "switch":
                    raise TopologyError(f"a switch has no addresses (fixed {text})", source=topo.source,
                                        key=key)
                if i >= len(links):
                    raise TopologyError(f"fixed IPv{version} address {text} is for interface {i} but the "
                                        f"node has {len(links)} link(s)", source=topo.source, key=key)
                iface = ipaddress.ip_interface(text)
                if iface.ip not in space or iface.network.prefixlen < space.prefixlen:
                    raise TopologyError(f"fixed address {text} is outside the lab space {space}",
                                        source=topo.source, key=key)
                if iface.network.num_addresses > 2 and iface.ip in (iface.network.network_address,
                                                                    iface.network.broadcast_address):
                    raise TopologyError(f"fixed address {text} is the subnet's network or broadcast address",
                                        source=topo.source, key=key)
                if iface.ip in seen:
                    raise TopologyError(f"duplicate address {iface.ip} (also on {seen[iface.ip]})",
                                        source=topo.source, key=key)
                seen[iface.ip] = n.name
                li = links[i][0]
                out[seg_of_link[li]].append((n.name, ifname(n.name, i), iface))
    return out4, out6


def _subnets(topo, comps, members, fixed, version, hint=None):
    """A subnet per addressed segment: from its fixed addresses, else the first free block."""
    space = LAB_V4 if version == 4 else LAB_V6
    nets: dict[int, ipaddress._BaseNetwork] = {}
    owner: dict[int, str] = {}
    for k in range(len(comps)):
        entries = fixed.get(k)
        if not entries:
            continue
        node0, _if0, first = entries[0]
        for node, _ifn, iface in entries[1:]:
            if iface.network != first.network:
                raise TopologyError(
                    f"fixed address {iface} is not in the subnet {first.network} that {node0!r} fixed for "
                    "the same segment", source=topo.source, key=f"nodes.{node}.ipv{version}")
        nets[k] = first.network
        owner[k] = node0
    fixed_keys = sorted(nets)
    for i, a in enumerate(fixed_keys):
        for b in fixed_keys[i + 1:]:
            if nets[a].overlaps(nets[b]):
                raise TopologyError(
                    f"subnet {nets[b]} overlaps {nets[a]} (fixed by {owner[a]!r}) on a different segment",
                    source=topo.source, key=f"nodes.{owner[b]}.ipv{version}")
    for k in range(len(comps)):
        if k in nets or not members.get(k):
            continue
        need = len(members[k]) + 2
        prefix = min(24, 32 - max(2, (need - 1).bit_length())) if version == 4 else 64
        nets[k] = _first_free(topo, space, prefix, nets.values(), _v6_hint(hint.get(k)) if hint else None)
    return nets


def _v6_hint(net4):
    if net4 is None or not net4.subnet_of(LAB_V4):
        return None
    return (int(net4.network_address) - int(LAB_V4.network_address)) >> 8


def _first_free(topo, space, prefix, used, hint=None):
    used = list(used)
    if space.version == 6:
        ids = ([hint] if hint is not None else []) + list(range(0, 1 << 16))
        for n in ids:
            cand = ipaddress.ip_network(f"fd00:0:0:{n:x}::/64")
            if not any(cand.overlaps(u) for u in used):
                return cand
    else:
        for cand in space.subnets(new_prefix=prefix):
            if not any(cand.overlaps(u) for u in used):
                return cand
    raise TopologyError(f"address space {space} exhausted", source=topo.source, key="nodes")


def _hosts(topo, members, nets, fixed, kinds, version, offsets=None, nets4=None):
    """Addresses per (node, ifname): fixed ones, then hosts bottom-up and routers top-down."""
    out: dict[tuple[str, str], str] = {}
    for k, mem in members.items():
        net = nets.get(k)
        if net is None:
            continue
        taken = {iface.ip for _n, _i, iface in fixed.get(k, [])}
        for node, ifn, iface in fixed.get(k, []):
            out[(node, ifn)] = str(iface)
        size = net.num_addresses
        low, high = 1, size - 2
        for node, ifn in mem:
            if (node, ifn) in out:
                continue
            addr = None
            if version == 6 and offsets and (node, ifn) in offsets and nets4 and k in nets4:
                off = int(ipaddress.ip_interface(offsets[(node, ifn)]).ip) - int(nets4[k].network_address)
                cand = net.network_address + off
                if 0 < off < size and cand not in taken:
                    addr = cand
            while addr is None:
                if low > high:
                    owner = fixed[k][0][0] if fixed.get(k) else node
                    raise TopologyError(f"segment {net}: too many nodes for the subnet",
                                        source=topo.source, key=f"nodes.{owner}.ipv{version}")
                if kinds[node] == "router":
                    cand, high = net.network_address + high, high - 1
                else:
                    cand, low = net.network_address + low, low + 1
                if cand not in taken:
                    addr = cand
            taken.add(addr)
            out[(node, ifn)] = f"{addr}/{net.prefixlen}"
    return out


def loopback_base(run_id: str | None = None) -> ipaddress.IPv4Address:
    """The /24 a loopback run's hosts are numbered in: 127.18.0.0 without a run, else 127.A.B.0 from the id.

    A is 19..254 (never 127.0.x: 127.0.0.1 is the source address the kernel gives an unbound socket on lo,
    and never the file's own 127.18.0.x), B is 0..255; two runs share a /24 with odds of 1 in 60,416.
    """
    if not run_id:
        return LOOPBACK_BASE
    h = int.from_bytes(hashlib.sha1(run_id.encode()).digest()[:2], "big")
    return ipaddress.ip_address(f"127.{19 + (h >> 8) % 236}.{h & 0xFF}.0")


def loopback_addresses(topo: Topology, run_id: str | None = None) -> dict[str, str]:
    """127.x address per host for the loopback realization: fixed 127.x addresses, else base + N.

    The base is ``loopback_base(run_id)``: 127.18.0.N for the topology itself (``lab topo show``), a
    per-run /24 for a run.
    """
    base = loopback_base(run_id)
    out: dict[str, str] = {}
    taken: set[str] = set()
    for n in topo.nodes:
        for text in n.ipv4:
            if text and ipaddress.ip_interface(text).ip in LOOPBACK_V4:
                out[n.name] = str(ipaddress.ip_interface(text).ip)
                taken.add(out[n.name])
                break
    num = 0
    for n in topo.nodes:
        if n.kind != "host" or n.name in out:
            continue
        while True:
            num += 1
            cand = str(base + num)
            if cand not in taken:
                break
        out[n.name] = cand
        taken.add(cand)
    return out


def _loopback_layout(topo: Topology) -> Layout:
    addrs = loopback_addresses(topo)
    interfaces = {
        n.name: ((Iface(n.name, "lo", 0, 0, None, None, f"{addrs[n.name]}/8", None, "00:00:00:00:00:00"),)
                 if n.name in addrs else ())
        for n in topo.nodes
    }
    return Layout(interfaces, (), {n.name: () for n in topo.nodes})
