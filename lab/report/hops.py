"""Which hop a captured frame is: the link it was seen on and which end of that link sent it.

Every rendering of a run (the terminal ladder, the HTML sequence diagram) draws a packet as an arrow between
two nodes. On a routed topology the same packet is captured once per link, each copy with its own Ethernet
header and TTL: each copy is one *hop* (h1->r1, r1->r2, ...), never one h1->h2 arrow. The hop is decided by
the capture point: the interface that saw the frame belongs to one node, and its peer is the other end of
the link; the end that owns the frame's source MAC sent it (a switch forwards other nodes' frames, so a
source MAC that is not the capture node's means the frame came from the peer's side). A capture point
without a peer (loopback runs, ``lab analyze`` of a foreign file) falls back to addresses: socket endpoints,
then MACs, then IP addresses.

Also here, because both renderings need the same answer: which packets are *background* (the kernel's IPv6
housekeeping, folded away by default) and which ones the lab's programs caused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from lab.analysis.attribution import norm_ip
from lab.records import CallRecord, Cause, PacketRecord

if TYPE_CHECKING:  # lab.report.records imports the schema checks; this module is imported by the runner
    from lab.records import NodeInfo

# ICMPv6 types the kernel sends on its own: MLD (130-132, 143), router solicitation/advertisement
# (133, 134), neighbour solicitation/advertisement (135, 136), redirect (137)
BACKGROUND_ICMP6 = {130: "MLD", 131: "MLD", 132: "MLD", 143: "MLD", 133: "router solicitation",
                    134: "router advertisement", 135: "NDP", 136: "NDP", 137: "redirect"}
UNNAMED = ("Data", "Padding", "Trailer")  # layers that name no protocol
BACKGROUND_EXPLANATION = (
    "background: MLD reports, neighbour discovery (NDP) and router solicitations are the kernel's IPv6 "
    "housekeeping when an interface comes up (joining multicast groups, checking its addresses are unique); "
    "no program asked for them"
)


@dataclass(frozen=True)
class LinkEnds:
    """A capture point: the node whose interface saw the frames and the node at the other end (or None)."""

    node: str
    peer: str | None
    macs: frozenset[str]  # the capture node's MACs (lower case)


@dataclass(frozen=True)
class Hop:
    src: str | None
    dst: str | None
    group: str | None = None  # "multicast ff02::16" / "broadcast ff:ff:ff:ff:ff:ff" when sent to a group


def link_ends_from(nodes_info: Mapping[str, NodeInfo]) -> dict[str, LinkEnds]:
    """interface name -> LinkEnds, from report.json's ``nodes`` block (what the run realized)."""
    out: dict[str, LinkEnds] = {}
    for node, info in nodes_info.items():
        ifaces = info["interfaces"]
        macs = frozenset(i["mac"].lower() for i in ifaces if i["mac"])
        for iface in ifaces:
            if iface["name"]:
                out[iface["name"]] = LinkEnds(node, iface["peer"] or None, macs)
    return out


def mac_nodes_from(nodes_info: Mapping[str, NodeInfo]) -> dict[str, str]:
    """MAC -> node for MACs that name one node only (loopback interfaces all share 00:00:00:00:00:00)."""
    owners: dict[str, set[str]] = {}
    for node, info in nodes_info.items():
        for iface in info["interfaces"]:
            if iface["mac"]:
                owners.setdefault(iface["mac"].lower(), set()).add(node)
    return {mac: next(iter(n)) for mac, n in owners.items() if len(n) == 1 and mac.strip("0:")}


def ip_nodes_from(nodes_info: Mapping[str, NodeInfo]) -> dict[str, str]:
    """IP address -> node, from the interfaces' addresses."""
    out: dict[str, str] = {}
    for node, info in nodes_info.items():
        for iface in info["interfaces"]:
            for address in (iface["ipv4"], iface["ipv6"]):
                if address:
                    try:
                        out[str(ipaddress.ip_interface(address).ip)] = node
                    except ValueError:
                        continue
    return out


def endpoint_nodes(calls: Iterable[CallRecord]) -> dict[tuple[str, int], str]:
    """(IP, port) -> node, from the local addresses the traced sockets had."""
    out: dict[tuple[str, int], str] = {}
    for call in calls:
        local = call["local"]
        if isinstance(local, list) and len(local) >= 2 and isinstance(local[1], int) and local[1]:
            host = norm_ip(str(local[0]))
            out[(host if host is not None else "", local[1])] = str(call["node"])
    return out


def group_destination(pkt: PacketRecord) -> tuple[str, str] | None:
    """``("multicast", "ff02::16")`` or ``("broadcast", "ff:ff:ff:ff:ff:ff")`` when the packet is addressed
    to a group rather than to one node (the IP destination decides first, then the Ethernet one); else None.
    A subnet's directed broadcast (198.18.0.255) is not recognised: the prefix is not in the record."""
    ip, eth = pkt["ip"], pkt["eth"]
    dst_mac = eth["dst"] if eth is not None else None
    return _group(ip["dst"] if ip is not None else "", dst_mac if dst_mac is not None else "")


@lru_cache(maxsize=65536)  # a capture has few distinct destinations; parsing each address is slow
def _group(dst_ip: str, dst_mac: str) -> tuple[str, str] | None:
    if dst_ip:
        try:
            addr = ipaddress.ip_address(dst_ip)
        except ValueError:
            addr = None
        if addr is not None:
            if addr.version == 4 and addr == ipaddress.IPv4Address("255.255.255.255"):
                return "broadcast", dst_ip
            if addr.is_multicast:  # 224.0.0.0/4, ff00::/8
                return "multicast", dst_ip
    dst_mac = dst_mac.lower()
    if dst_mac:
        if dst_mac == "ff:ff:ff:ff:ff:ff":
            return "broadcast", dst_mac
        try:
            if int(dst_mac.split(":")[0], 16) & 1:  # the I/G bit: a group address
                return "multicast", dst_mac
        except ValueError:
            pass
    return None


def to_ip_group(pkt: PacketRecord) -> bool:
    """Sent to an IP multicast or broadcast address (an ARP request's target names its one receiver)."""
    ip = pkt["ip"]
    return ip is not None and bool(ip["dst"]) and _group(ip["dst"], "") is not None


class HopFinder:
    """Decides the hop of each frame; built once per run from what the run knows about its nodes."""

    def __init__(
        self,
        *,
        links: Mapping[str, LinkEnds] | None = None,
        mac_nodes: Mapping[str, str] | None = None,
        ip_nodes: Mapping[str, str] | None = None,
        ep_nodes: Mapping[tuple[str, int], str] | None = None,
    ) -> None:
        self.links = links if links is not None else {}
        self.mac_nodes = mac_nodes if mac_nodes is not None else {}
        self.ip_nodes = ip_nodes if ip_nodes is not None else {}
        self.ep_nodes = ep_nodes if ep_nodes is not None else {}

    def hop(self, pkt: PacketRecord) -> Hop:
        group = group_destination(pkt)
        group_text = f"{group[0]} {group[1]}" if group else None
        ends = self.links.get(pkt["interface"])
        if ends is not None and ends.peer:
            eth = pkt["eth"]
            src_mac = eth["src"].lower() if eth is not None else ""
            owner = self.mac_nodes.get(src_mac)
            if src_mac in ends.macs or owner == ends.node:
                return Hop(ends.node, ends.peer, group_text)
            if owner == ends.peer or src_mac:
                return Hop(ends.peer, ends.node, group_text)
        src, dst = self.by_address(pkt)
        if to_ip_group(pkt):
            dst = None  # a socket bound to the group address is one member of several, not the receiver
        if dst is None and group is None:
            node = pkt["node"]
            if node and node != src:
                dst = node
        return Hop(src, dst, group_text)

    def by_address(self, pkt: PacketRecord) -> tuple[str | None, str | None]:
        """Which nodes a packet goes between by its addresses alone: by socket endpoint (exact, even when
        every host shares 127.0.0.1 on a loopback topology), then by MAC (per link), then by IP address."""
        eth, ip, arp = pkt["eth"], pkt["ip"], pkt["arp"]
        tcp = pkt["tcp"]
        l4 = tcp if tcp is not None else pkt["udp"]
        src = dst = None
        if l4 is not None and ip is not None:
            src = self.ep_nodes.get((ip["src"], l4["sport"]))
            dst = self.ep_nodes.get((ip["dst"], l4["dport"]))
        if eth is not None:
            src = src or self.mac_nodes.get(eth["src"].lower())
            dst = dst or (self.mac_nodes.get(eth["dst"].lower()) if eth["dst"] is not None else None)
        if ip is not None:
            src_ip, dst_ip = ip["src"], ip["dst"]
        elif arp is not None:
            src_ip, dst_ip = arp["sender_ip"], arp["target_ip"]
        else:
            src_ip = dst_ip = ""
        src = src or self.ip_nodes.get(src_ip)
        dst = dst or self.ip_nodes.get(dst_ip)
        return src, dst


def background_kind(pkt: PacketRecord) -> str | None:
    """"MLD", "NDP", "router solicitation"... when the packet is the kernel's own IPv6 housekeeping that no
    program's call caused (a neighbour solicitation triggered by a connect() is not background)."""
    icmp = pkt["icmp"]
    if icmp is None or icmp["version"] != 6 or icmp["type"] not in BACKGROUND_ICMP6:
        return None
    if names_calls(pkt["cause"]):
        return None
    return BACKGROUND_ICMP6[icmp["type"]]


def names_calls(cause: Cause) -> bool:
    """Whether a cause names a program's call: its own (``calls``) or those the kernel acted for
    (``related``); both NotRequired, absent or empty when no call is named."""
    calls, related = cause.get("calls"), cause.get("related")
    return bool(calls) or bool(related)


def is_probe(pkt: PacketRecord) -> bool:
    return pkt["role"]["code"] == "lab-probe"


def caused_by_program(pkt: PacketRecord, mine: set[int]) -> bool:
    """Whether a traced program caused this packet: named calls in its cause, or answering / copying a
    frame in ``mine`` (the frames found so far, in frame order)."""
    cause = pkt["cause"]
    if names_calls(cause):
        return True
    answers, copy_of = cause.get("answers"), cause.get("copy_of")
    return (answers is not None and answers in mine) or (copy_of is not None and copy_of in mine)


def program_caused(packets: Iterable[PacketRecord]) -> set[int]:
    """Frame numbers a traced program caused: named calls in their cause, or answering / copying a frame
    that such a call caused (the SYN-ACK answers connect()'s SYN; a forwarded copy is the same packet)."""
    mine: set[int] = set()
    for pkt in packets:  # in frame order: what a packet answers or copies came before it
        if caused_by_program(pkt, mine):
            mine.add(pkt["number"])
    return mine


def protocol_of(pkt: PacketRecord) -> str:
    """The highest named layer, the one a filter by protocol means (TCP, UDP, ARP, ICMPv6, DNS...)."""
    if pkt["app"]:
        return pkt["app"].upper()
    names = [layer["name"] for layer in pkt["layers"] if layer["name"] and layer["name"] not in UNNAMED]
    return names[-1] if names else "?"


def connection_of(pkt: PacketRecord) -> str | None:
    """``TCP 198.18.0.1:55564 <-> 198.18.0.2:5000``: one key per conversation, either direction."""
    ip, tcp, udp = pkt["ip"], pkt["tcp"], pkt["udp"]
    if ip is None or not ip["src"] or not ip["dst"]:
        return None
    if tcp is not None:
        proto, sport, dport = "TCP", tcp["sport"], tcp["dport"]
    elif udp is not None:
        proto, sport, dport = "UDP", udp["sport"], udp["dport"]
    else:
        return None
    a, b = _ep(ip["src"], sport), _ep(ip["dst"], dport)
    lo, hi = sorted((a, b))
    return f"{proto} {lo} <-> {hi}"


def _ep(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
