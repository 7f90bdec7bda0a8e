"""One packet seen on two links: what makes two packet records (``lab.records.PacketRecord``) the same
packet.

A router forwards a packet with a lower TTL and new Ethernet addresses; everything else of its IP header
and of the transport header stays. Captured on every link of its path, one packet is several records:
the attribution marks the later ones ``cause.copy_of``, and the lab checks, questions and story follow a
SYN from link to link. They all ask ``packet_identity`` (a copy is never a retransmission: a
retransmission is new bytes in the IP ID (IPv4) or a new sighting on the same link).
"""

from __future__ import annotations

from typing import Any

from lab.records import PacketRecord

__all__ = ["norm_ip", "packet_identity"]


def norm_ip(ip: str | None) -> str | None:
    """``::ffff:198.18.0.1`` (a v4 peer of a dual-stack socket) is the same host as ``198.18.0.1``."""
    if ip and ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


def packet_identity(rec: PacketRecord) -> tuple[Any, ...] | None:
    """What stays the same when a router forwards a packet (not TTL, not MACs); None for a frame with no
    IP header. IPv4 adds the IP ID; IPv6 has none, so two records with the same key may also be one
    packet sent twice: the caller tells them apart by link and time (``attribution.Attributor``)."""
    ip = rec["ip"]
    if ip is None:
        return None
    frag = ip["frag"]
    key: tuple[Any, ...] = (
        ip["version"],
        norm_ip(ip["src"]),
        norm_ip(ip["dst"]),
        ip["id"] if ip["version"] == 4 else None,
        ip["proto"],
        frag["offset"] if frag is not None else None,
        frag["mf"] if frag is not None else None,
    )
    if (tcp := rec["tcp"]) is not None:
        return key + (tcp["sport"], tcp["dport"], tcp["seq_raw"], tcp["ack_raw"], tcp["flags_int"],
                      tcp["len"])
    if (udp := rec["udp"]) is not None:
        return key + (udp["sport"], udp["dport"], udp["length"], udp.get("sha1"))
    if (icmp := rec["icmp"]) is not None:
        return key + (icmp["type"], icmp["code"])
    return key
