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
from typing import Any

from lab.analysis.attribution import norm_ip

# ICMPv6 types the kernel sends on its own: MLD (130-132, 143), router solicitation/advertisement
# (133, 134), neighbour solicitation/advertisement (135, 136), redirect (137)
BACKGROUND_ICMP6 = {130: "MLD", 131: "MLD", 132: "MLD", 143: "MLD", 133: "router solicitation",
                    134: "router advertisement", 135: "NDP", 136: "NDP", 137: "redirect"}
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


def link_ends_from(nodes_info: Mapping[str, Mapping[str, Any]]) -> dict[str, LinkEnds]:
    """interface name -> LinkEnds, from report.json's ``nodes`` block (what the run realized)."""
    out: dict[str, LinkEnds] = {}
    for node, info in nodes_info.items():
        ifaces = info.get("interfaces") or []
        macs = frozenset(str(i.get("mac") or "").lower() for i in ifaces if i.get("mac"))
        for iface in ifaces:
            name = iface.get("name")
            if name:
                out[str(name)] = LinkEnds(str(node), iface.get("peer") or None, macs)
    return out


def mac_nodes_from(nodes_info: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """MAC -> node for MACs that name one node only (loopback interfaces all share 00:00:00:00:00:00)."""
    owners: dict[str, set[str]] = {}
    for node, info in nodes_info.items():
        for iface in info.get("interfaces") or []:
            if iface.get("mac"):
                owners.setdefault(str(iface["mac"]).lower(), set()).add(str(node))
    return {mac: next(iter(n)) for mac, n in owners.items() if len(n) == 1 and mac.strip("0:")}


def ip_nodes_from(nodes_info: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """IP address -> node, from the interfaces' addresses."""
    out: dict[str, str] = {}
    for node, info in nodes_info.items():
        for iface in info.get("interfaces") or []:
            for key in ("ipv4", "ipv6"):
                if iface.get(key):
                    try:
                        out[str(ipaddress.ip_interface(iface[key]).ip)] = str(node)
                    except ValueError:
                        continue
    return out


def endpoint_nodes(calls: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], str]:
    """(IP, port) -> node, from the local addresses the traced sockets had."""
    out: dict[tuple[str, int], str] = {}
    for call in calls:
        local = call.get("local")
        if isinstance(local, list | tuple) and len(local) >= 2 and local[1]:
            out[(norm_ip(str(local[0])) or "", local[1])] = str(call.get("node"))
    return out


def group_destination(pkt: Mapping[str, Any]) -> tuple[str, str] | None:
    """``("multicast", "ff02::16")`` or ``("broadcast", "ff:ff:ff:ff:ff:ff")`` when the packet is addressed
    to a group rather than to one node (the IP destination decides first, then the Ethernet one); else None.
    A subnet's directed broadcast (198.18.0.255) is not recognised: the prefix is not in the record."""
    return _group(str((pkt.get("ip") or {}).get("dst") or ""), str((pkt.get("eth") or {}).get("dst") or ""))


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


def to_ip_group(pkt: Mapping[str, Any]) -> bool:
    """Sent to an IP multicast or broadcast address (an ARP request's target names its one receiver)."""
    return bool((pkt.get("ip") or {}).get("dst")) and _group(str(pkt["ip"]["dst"]), "") is not None


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
        self.links = links or {}
        self.mac_nodes = mac_nodes or {}
        self.ip_nodes = ip_nodes or {}
        self.ep_nodes = ep_nodes or {}

    def hop(self, pkt: Mapping[str, Any]) -> Hop:
        group = group_destination(pkt)
        group_text = f"{group[0]} {group[1]}" if group else None
        ends = self.links.get(str(pkt.get("interface") or ""))
        if ends is not None and ends.peer:
            src_mac = str((pkt.get("eth") or {}).get("src") or "").lower()
            owner = self.mac_nodes.get(src_mac)
            if src_mac in ends.macs or owner == ends.node:
                return Hop(ends.node, ends.peer, group_text)
            if owner == ends.peer or src_mac:
                return Hop(ends.peer, ends.node, group_text)
        src, dst = self._by_address(pkt)
        if to_ip_group(pkt):
            dst = None  # a socket bound to the group address is one member of several, not the receiver
        if dst is None and group is None:
            node = pkt.get("node")
            if node and node != src:
                dst = str(node)
        return Hop(src, dst, group_text)

    def _by_address(self, pkt: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """By socket endpoint (exact, even when every host shares 127.0.0.1 on a loopback topology), then
        by MAC (per link), then by IP address."""
        eth = pkt.get("eth") or {}
        ip = pkt.get("ip") or {}
        arp = pkt.get("arp") or {}
        l4 = pkt.get("tcp") or pkt.get("udp") or {}
        src = self.ep_nodes.get((ip.get("src"), l4.get("sport"))) if l4 else None
        dst = self.ep_nodes.get((ip.get("dst"), l4.get("dport"))) if l4 else None
        src = src or self.mac_nodes.get(str(eth.get("src", "")).lower())
        dst = dst or self.mac_nodes.get(str(eth.get("dst", "")).lower())
        src = src or self.ip_nodes.get(ip.get("src") or arp.get("sender_ip") or "")
        dst = dst or self.ip_nodes.get(ip.get("dst") or arp.get("target_ip") or "")
        return src, dst


def background_kind(pkt: Mapping[str, Any]) -> str | None:
    """"MLD", "NDP", "router solicitation"... when the packet is the kernel's own IPv6 housekeeping that no
    program's call caused (a neighbour solicitation triggered by a connect() is not background)."""
    icmp = pkt.get("icmp") or {}
    if icmp.get("version") != 6 or icmp.get("type") not in BACKGROUND_ICMP6:
        return None
    cause = pkt.get("cause") or {}
    if cause.get("calls") or cause.get("related"):
        return None
    return BACKGROUND_ICMP6[icmp["type"]]


def is_probe(pkt: Mapping[str, Any]) -> bool:
    return (pkt.get("role") or {}).get("code") == "lab-probe"


def program_caused(packets: Iterable[Mapping[str, Any]]) -> set[int]:
    """Frame numbers a traced program caused: named calls in their cause, or answering / copying a frame
    that such a call caused (the SYN-ACK answers connect()'s SYN; a forwarded copy is the same packet)."""
    mine: set[int] = set()
    for pkt in packets:  # in frame order: what a packet answers or copies came before it
        cause = pkt.get("cause") or {}
        linked = (cause.get("answers"), cause.get("copy_of"))
        if cause.get("calls") or cause.get("related") or any(n in mine for n in linked if n):
            mine.add(int(pkt.get("number", 0)))
    return mine


def protocol_of(pkt: Mapping[str, Any]) -> str:
    """The highest named layer, the one a filter by protocol means (TCP, UDP, ARP, ICMPv6, DNS...)."""
    names = [str(layer.get("name")) for layer in pkt.get("layers") or [] if layer.get("name")]
    names = [n for n in names if n not in ("Data", "Padding", "Trailer")]
    if pkt.get("app"):
        return str(pkt["app"]).upper()
    return names[-1] if names else "?"


def connection_of(pkt: Mapping[str, Any]) -> str | None:
    """``TCP 198.18.0.1:55564 <-> 198.18.0.2:5000``: one key per conversation, either direction."""
    ip = pkt.get("ip") or {}
    for proto in ("tcp", "udp"):
        l4 = pkt.get(proto)
        if l4 and ip.get("src") and ip.get("dst"):
            a = _ep(ip["src"], l4.get("sport"))
            b = _ep(ip["dst"], l4.get("dport"))
            lo, hi = sorted((a, b))
            return f"{proto.upper()} {lo} <-> {hi}"
    return None


def _ep(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
