"""The protocol catalogue: one table from a protocol's usual name to its TCP/IP layer, OSI layer and the
name tshark gives it in ``frame.protocols``.

The table is data, not code (scapy's ``bind_layers`` idea): the decoder only emits names; everything a
reader wants to know about a name is looked up here, and the corpus tests use the tshark column to check
that every protocol we name is one tshark names too.
"""

from __future__ import annotations

from typing import Any

# name: (TCP/IP model layer, OSI layer, tshark frame.protocols name)
PROTOCOLS: dict[str, tuple[str, int, str]] = {
    # link
    "Ethernet": ("link", 2, "eth"),
    "802.1Q": ("link", 2, "vlan"),
    "802.1ad": ("link", 2, "ieee8021ad"),
    "LLC": ("link", 2, "llc"),
    "CDP": ("link", 2, "cdp"),
    "STP": ("link", 2, "stp"),
    "Linux SLL": ("link", 2, "sll"),
    "Linux SLL2": ("link", 2, "sll"),
    "Null/Loopback": ("link", 2, "null"),
    "PPP": ("link", 2, "ppp"),
    "SLIP": ("link", 2, "slip"),
    "CSLIP": ("link", 2, "slip"),
    "VJ compressed TCP/IP": ("link", 2, "vj"),
    "VJ uncompressed TCP/IP": ("link", 2, "vj"),
    "PPPoE": ("link", 2, "pppoes"),
    "PPPoE Discovery": ("link", 2, "pppoed"),
    "LCP": ("link", 2, "lcp"),
    "IPCP": ("link", 2, "ipcp"),
    "IPv6CP": ("link", 2, "ipv6cp"),
    "PAP": ("link", 2, "pap"),
    "CHAP": ("link", 2, "chap"),
    "Radiotap": ("link", 1, "radiotap"),
    "802.11": ("link", 2, "wlan"),
    "ARP": ("link", 2, "arp"),
    "Lab probe": ("link", 2, "data"),
    # internet
    "IPv4": ("internet", 3, "ip"),
    "IPv6": ("internet", 3, "ipv6"),
    "IPv6 Hop-by-Hop": ("internet", 3, "ipv6.hopopts"),
    "IPv6 Routing": ("internet", 3, "ipv6.routing"),
    "IPv6 Fragment": ("internet", 3, "ipv6.fraghdr"),
    "IPv6 Destination Options": ("internet", 3, "ipv6.dstopts"),
    "ICMP": ("internet", 3, "icmp"),
    "ICMPv6": ("internet", 3, "icmpv6"),
    "IGMP": ("internet", 3, "igmp"),
    "OSPF": ("internet", 3, "ospf"),
    "EIGRP": ("internet", 3, "eigrp"),
    "GRE": ("internet", 3, "gre"),
    "ESP": ("internet", 3, "esp"),
    "AH": ("internet", 3, "ah"),
    "VRRP": ("internet", 3, "vrrp"),
    "PIM": ("internet", 3, "pim"),
    # transport
    "TCP": ("transport", 4, "tcp"),
    "UDP": ("transport", 4, "udp"),
    "SCTP": ("transport", 4, "sctp"),
    # application (TLS sits between transport and application: OSI 6, presentation)
    "TLS": ("application", 6, "tls"),
    "HTTP": ("application", 7, "http"),
    "DNS": ("application", 7, "dns"),
    "mDNS": ("application", 7, "mdns"),
    "TFTP": ("application", 7, "tftp"),
    "FTP": ("application", 7, "ftp"),
    "FTP-DATA": ("application", 7, "ftp-data"),
    "SMTP": ("application", 7, "smtp"),
    "Telnet": ("application", 7, "telnet"),
    "SNMP": ("application", 7, "snmp"),
    "DHCP": ("application", 7, "dhcp"),
    "DHCPv6": ("application", 7, "dhcpv6"),
    "Syslog": ("application", 7, "syslog"),
    "NTP": ("application", 7, "ntp"),
    "SSH": ("application", 7, "ssh"),
    "QUIC": ("application", 7, "quic"),
    "Data": ("application", 7, "data"),
}

# IP protocol number -> catalogue name (transport or internet-layer payloads of IP)
IP_PROTOCOLS: dict[int, str] = {
    1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6", 88: "EIGRP",
    89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP",
}

# Well-known ports -> application protocol. TCP and UDP separately: DNS is on both, TFTP on UDP only.
TCP_PORTS: dict[int, str] = {
    20: "FTP-DATA", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 53: "DNS", 80: "HTTP", 587: "SMTP",
    8080: "HTTP",
}
UDP_PORTS: dict[int, str] = {
    53: "DNS", 67: "DHCP", 68: "DHCP", 69: "TFTP", 123: "NTP", 161: "SNMP", 162: "SNMP", 514: "Syslog",
    546: "DHCPv6", 547: "DHCPv6", 5353: "mDNS", 443: "QUIC",
}

_LAYER_CACHE: dict[tuple, dict[str, Any]] = {}


def layer_dict(name: str, offset: int, length: int, note: str | None = None) -> dict[str, Any]:
    """The packets.jsonl dict of one layer; cached by shape, since a capture has few distinct ones.

    ``note`` is ``"quoted"`` for headers inside an ICMP error and ``"reassembled"`` for headers decoded
    from reassembled IP fragments (their offsets count from the start of the reassembled payload).
    The returned dict is shared: callers serialize it and never mutate it.
    """
    key = (name, offset, length, note)
    d = _LAYER_CACHE.get(key)
    if d is None:
        tcpip, osi, _ = PROTOCOLS.get(name, ("application", 7, "data"))
        d = {"name": name, "tcpip": tcpip, "osi": osi, "offset": offset, "length": length}
        if note:
            d["note"] = note
        if len(_LAYER_CACHE) > 50_000:
            _LAYER_CACHE.clear()
        _LAYER_CACHE[key] = d
    return d


def tshark_name(name: str) -> str:
    """tshark's frame.protocols name for a catalogue name (``data`` for names it lacks)."""
    return PROTOCOLS.get(name, ("", 0, "data"))[2]
