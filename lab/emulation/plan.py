"""Resolve, then deploy: a topology's layout turned into an ordered plan of kernel steps.

The plan is data (``--dry-run`` and unit tests read it; the backend executes it):

1. ``root_batch``: one ``ip -batch`` in the root namespace that creates every namespace, then every veth
   pair *directly inside* its two namespaces, and every bridge inside its switch's namespace, so nothing of
   ours ever appears in the root namespace.
2. ``jobs``: one per namespace: sysctls, offloads off, an ``ip -batch`` (addresses, MACs, MTU, up, bridge
   ports, routes), a ``tc -batch`` (rate) and an ``nft -f`` (loss).
3. ``etc_files``: ``/etc/netns/<ns>/hosts`` and ``resolv.conf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lab.emulation import conditions
from lab.emulation.names import ETC_NETNS, namespace
from lab.errors import EmulationError
from lab.topology import Topology

DEFAULT_MTU = 1500
FIRST_IFINDEX = 10
RESOLV_CONF = "# lab: nothing outside the lab resolves here\nnameserver 127.0.0.1\n"
# glibc prefers any IPv6 (even fd00::/8) over IPv4 by default; in the lab a name means its IPv4 address
# first (like net.ip(node)), and ``<node>.v6`` / ``<node>.v4`` name one family explicitly.
GAI_CONF = ("# lab: IPv4 first\nprecedence ::1/128 50\nprecedence ::/0 40\nprecedence 2002::/16 30\n"
            "precedence ::/96 20\nprecedence ::ffff:0:0/96 100\n")


@dataclass(frozen=True)
class NsJob:
    ns: str
    node: str
    sysctl: dict[str, str] = field(default_factory=dict)
    offload_off: tuple[str, ...] = ()
    ip: tuple[str, ...] = ()
    tc: tuple[str, ...] = ()
    nft: str = ""

    def to_json(self) -> dict:
        return {"ns": self.ns, "sysctl": self.sysctl, "offload_off": list(self.offload_off),
                "ip": "".join(f"{x}\n" for x in self.ip), "tc": "".join(f"{x}\n" for x in self.tc),
                "nft": self.nft}


@dataclass(frozen=True)
class Plan:
    run_id: str
    namespaces: dict[str, str]  # node -> ns
    root_batch: tuple[str, ...]
    jobs: tuple[NsJob, ...]
    etc_files: dict[str, str]  # path -> content
    conditions_report: tuple[str, ...]


def hosts_file(topo: Topology) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for n in topo.nodes:
        for i in topo.layout.interfaces[n.name]:
            for a, fam in ((i.ipv4, "v4"), (i.ipv6, "v6")):
                if a:
                    lines.append(f"{a.split('/')[0]}\t{n.name} {n.name}.{fam}")
    return "\n".join(lines) + "\n"


def build_plan(topo: Topology, run_id: str, netem: bool) -> Plan:
    """The ordered steps for ``topo``; raises EmulationError for conditions this kernel cannot emulate."""
    layout = topo.layout
    for link in topo.links:
        try:
            conditions.check_link(link, netem)
        except EmulationError as err:  # say which file and line, as topology errors do
            raise topo.locate(err) from None
    nss = {n.name: namespace(run_id, n.name) for n in topo.nodes}
    by_link: dict[int, list] = {}
    for n in topo.nodes:
        for i in layout.interfaces[n.name]:
            by_link.setdefault(i.link, []).append(i)

    # Interface indexes are unique across the run: if a veth and its peer had the same ifindex (each in
    # its own namespace, both would be 2), the kernel would treat their carrier change as non-urgent and
    # delay it by up to a second (linkwatch), leaving bridge ports disabled right after bring-up.
    root = [f"netns add {nss[n.name]}" for n in topo.nodes]
    index = FIRST_IFINDEX
    for link in topo.links:
        a = next(i for i in by_link[link.index] if i.node == link.a)
        b = next(i for i in by_link[link.index] if i.node == link.b)
        root.append(f"link add name {a.name} index {index} netns {nss[a.node]} type veth "
                    f"peer name {b.name} index {index + 1} netns {nss[b.node]}")
        index += 2
    for s in topo.switches:
        root.append(f"link add name {s} index {index} netns {nss[s]} type bridge")
        index += 1

    links = {link.index: link for link in topo.links}
    kinds = {n.name: n.kind for n in topo.nodes}
    drops: dict[str, list[tuple[str, str, float]]] = {n.name: [] for n in topo.nodes}
    for link in topo.links:
        a = next(i for i in by_link[link.index] if i.node == link.a)
        b = next(i for i in by_link[link.index] if i.node == link.b)
        where = conditions.loss_rules(link, kinds[a.node], a.name, kinds[b.node], b.name, netem)
        for side, iface in (("a", a), ("b", b)):
            drops[iface.node] += [(hook, dev, link.conditions.loss_pct or 0.0) for hook, dev in where[side]]
    jobs = []
    numbers = {n.name: k for k, n in enumerate(topo.nodes, 1)}
    for n in topo.nodes:
        ifaces = layout.interfaces[n.name]
        # lab programs run unprivileged (lab.emulation.privilege): in its own namespace a node's programs may
        # bind any port (a DNS server on 53, SMTP on 25) and send ICMP echo through ping sockets
        sysctl: dict[str, str] = {"net/ipv4/ip_unprivileged_port_start": "0",
                                  "net/ipv4/ping_group_range": "0 2147483647"}
        ip = ["link set dev lo up"]
        tc: list[str] = []
        if n.kind == "switch":
            sysctl["net/ipv6/conf/all/disable_ipv6"] = "1"
            sysctl["net/ipv6/conf/default/disable_ipv6"] = "1"
            ip.append(f"link set dev {n.name} address 02:00:00:{numbers[n.name] >> 8 & 255:02x}:"
                      f"{numbers[n.name] & 255:02x}:ff promisc on up")
        else:
            if n.kind == "router":
                sysctl["net/ipv4/ip_forward"] = "1"
                sysctl["net/ipv6/conf/all/forwarding"] = "1"
            for i in ifaces:
                # static addressing: no router solicitations, no SLAAC, no duplicate address detection
                sysctl[f"net/ipv6/conf/{i.name}/router_solicitations"] = "0"
                sysctl[f"net/ipv6/conf/{i.name}/accept_ra"] = "0"
                sysctl[f"net/ipv6/conf/{i.name}/accept_dad"] = "0"
        for i in ifaces:
            link = links[i.link]
            mtu = link.mtu or DEFAULT_MTU
            master = f" master {n.name}" if n.kind == "switch" else ""
            ip.append(f"link set dev {i.name} address {i.mac} mtu {mtu}{master} up")
            if i.ipv4:
                ip.append(f"addr add {i.ipv4} dev {i.name}")
            if i.ipv6:
                ip.append(f"addr add {i.ipv6} dev {i.name} nodad")
            tc += conditions.tc_lines(link, i.name, mtu, netem)
        for r in layout.routes[n.name]:
            dest = r.dest if r.dest != "default" else ("0.0.0.0/0" if r.version == 4 else "::/0")
            ip.append(f"route add {dest} via {r.via} dev {r.dev} onlink")
        nft = conditions.nft_ruleset(n.kind, drops[n.name])
        offload = tuple(i.name for i in ifaces)
        jobs.append(NsJob(nss[n.name], n.name, sysctl, offload, tuple(ip), tuple(tc), nft))

    etc: dict[str, str] = {}
    hosts = hosts_file(topo)
    for n in topo.nodes:
        if n.kind != "switch":
            etc[str(ETC_NETNS / nss[n.name] / "hosts")] = hosts
            etc[str(ETC_NETNS / nss[n.name] / "resolv.conf")] = RESOLV_CONF
            if Path("/etc/gai.conf").exists():  # ip netns exec bind-mounts only over existing files
                etc[str(ETC_NETNS / nss[n.name] / "gai.conf")] = GAI_CONF
    report = tuple(conditions.describe(link, netem) for link in topo.links)
    return Plan(run_id, nss, tuple(root), tuple(jobs), etc, report)
