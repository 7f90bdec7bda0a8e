"""One packet seen on two links: what makes two packet records (``lab.records.PacketRecord``) the same
packet.

A router forwards a packet with a lower TTL and new Ethernet addresses; everything else of its IP header
and of the transport header stays. Captured on every link of its path, one packet is several records:
the attribution marks the later ones ``cause.copy_of``, and the lab checks, questions and story follow a
SYN from link to link. They all ask ``packet_identity`` (a copy is never a retransmission: a
retransmission is new bytes in the IP ID (IPv4) or a new sighting on the same link).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["norm_ip", "packet_identity"]


def norm_ip(ip: str | None) -> str | None:
    """``::ffff:198.18.0.1`` (a v4 peer of a dual-stack socket) is the same host as ``198.18.0.1``."""
    if ip and ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


def packet_identity(rec: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What stays the same when a router forwards a packet (not TTL, not MACs); None for a frame with no
    IP header. IPv4 adds the IP ID; IPv6 has none, so two records with the same key may also be one
    packet sent twice: the caller tells them apart by link and time (``attribution.Attributor``)."""
    ip = rec.get("ip")
    if not ip:
        return None
    frag = ip.get("frag") or {}
    key: tuple[Any, ...] = (
        ip.get("version"),
        norm_ip(ip.get("src")),
        norm_ip(ip.get("dst")),
        ip.get("id") if ip.get("version") == 4 else None,
        ip.get("proto"),
        frag.get("offset"),
        frag.get("mf"),
    )
    if tcp := rec.get("tcp"):
        return key + (
            tcp["sport"],
            tcp["dport"],
            tcp.get("seq_raw"),
            tcp.get("ack_raw"),
            tcp.get("flags_int"),
            tcp.get("len"),
        )
    if udp := rec.get("udp"):
        return key + (udp["sport"], udp["dport"], udp.get("length"), udp.get("sha1"))
    if icmp := rec.get("icmp"):
        return key + (icmp.get("type"), icmp.get("code"))
    return key
