"""Frame decoding: link layer to application guess, into one flat ``Pkt`` per frame.

The decoder is the hot path (every frame of a multi-million-packet file goes through it), so it is a few
straight functions over ``bytes`` with precompiled ``struct`` formats and cached address strings, not an
object per header. It names headers with the catalogue names (``lab.analysis.catalogue``) and records
each header's byte range in ``Pkt.layers`` as ``(name, offset, length[, note])`` tuples, where ``note`` is
``"quoted"`` (inside an ICMP error) or ``"reassembled"`` (decoded from reassembled IP fragments).

State kept here is only what decoding itself needs: the IPv4/IPv6 fragment buffers. Flow state (streams,
sequence numbers, FTP data channels) lives in ``lab.analysis.flows``.
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict

from lab.analysis import linktypes as lt
from lab.analysis.appfields import ftp_fields, ppp_control_fields, snmp_fields, telnet_fields
from lab.analysis.apps import tcp_app, udp_app
from lab.analysis.catalogue import IP_PROTOCOLS
from lab.analysis.routinghdr import decode_eigrp, decode_ospf

_H = struct.Struct("!H").unpack_from
_HH = struct.Struct("!HH").unpack_from
_IP4 = struct.Struct("!BBHHHBBH4s4s").unpack_from
_IP6 = struct.Struct("!IHBB16s16s").unpack_from
_TCP = struct.Struct("!HHIIBBHHH").unpack_from
_UDP = struct.Struct("!HHHH").unpack_from
_ARP = struct.Struct("!HHBBH").unpack_from
_SLL = struct.Struct("!HHH8sH").unpack_from
_SLL2 = struct.Struct("!HHIHBB8s").unpack_from
_FRAG6 = struct.Struct("!BBHI").unpack_from
_I_LE = struct.Struct("<I").unpack_from
_I_BE = struct.Struct(">I").unpack_from

_ntoa = socket.inet_ntoa
_ntop = socket.inet_ntop
_AF6 = socket.AF_INET6

ETH_PROBE = 0x88B5
PROBE_MAGIC = b"LABPROBE"

ICMP_NAMES = {
    (0, None): "echo reply", (8, None): "echo request", (3, 0): "net unreachable",
    (3, 1): "host unreachable", (3, 2): "protocol unreachable", (3, 3): "port unreachable",
    (3, 4): "fragmentation needed", (3, 9): "network administratively prohibited",
    (3, 10): "host administratively prohibited", (3, 13): "communication administratively prohibited",
    (3, None): "destination unreachable", (4, None): "source quench", (5, None): "redirect",
    (11, 0): "TTL exceeded in transit", (11, 1): "fragment reassembly time exceeded",
    (11, None): "time exceeded", (12, None): "parameter problem", (13, None): "timestamp request",
    (14, None): "timestamp reply", (9, None): "router advertisement", (10, None): "router solicitation",
}
ICMP6_NAMES = {
    (1, 0): "no route to destination", (1, 1): "administratively prohibited", (1, 3): "address unreachable",
    (1, 4): "port unreachable", (1, None): "destination unreachable", (2, None): "packet too big",
    (3, 0): "hop limit exceeded", (3, None): "time exceeded", (4, None): "parameter problem",
    (128, None): "echo request", (129, None): "echo reply", (130, None): "multicast listener query",
    (131, None): "multicast listener report", (132, None): "multicast listener done",
    (133, None): "router solicitation", (134, None): "router advertisement",
    (135, None): "neighbor solicitation", (136, None): "neighbor advertisement", (137, None): "redirect",
    (143, None): "multicast listener report v2",
}
ICMP4_ERRORS = frozenset({3, 4, 5, 11, 12})
ICMP6_ERRORS = frozenset({1, 2, 3, 4})
# applications whose fields a packet record carries (under the key), decoded from the payload
FIELD_DECODERS = {
    "SNMP": lambda payload: ("snmp", snmp_fields(payload)),
    "Telnet": lambda payload: ("telnet", telnet_fields(payload)),
    "FTP": lambda payload: ("ftp", ftp_fields(payload)),
}
ICMP_ECHO_TYPES = frozenset({0, 8, 128, 129})  # echo reply/request, ICMPv4 and ICMPv6 (the same layout)

PPP_PROTOCOLS = {0x0021: "IPv4", 0x0057: "IPv6", 0xC021: "LCP", 0x8021: "IPCP", 0x8057: "IPv6CP",
                 0xC023: "PAP", 0xC223: "CHAP", 0x002D: "VJ compressed TCP/IP",
                 0x002F: "VJ uncompressed TCP/IP"}
SLIP_TYPES = {0x40: "IP", 0x70: "VJ uncompressed TCP"}  # libpcap's SLIP packet type byte (0x80+: compressed)
IP6_EXT = {0: "IPv6 Hop-by-Hop", 43: "IPv6 Routing", 60: "IPv6 Destination Options"}


class Pkt:
    """Everything decoding learned about one frame. Unset attributes keep the class defaults."""

    layers: list
    eth_src: str | None = None
    eth_dst: str | None = None
    ipv: int = 0
    src: str | None = None
    dst: str | None = None
    ttl: int | None = None
    ipid: int | None = None
    proto: int | None = None
    frag: tuple[int, bool, int] | None = None  # (offset in bytes, more fragments, id)
    frag_done: tuple[int, ...] | None = None  # fragment sizes when this frame completed a reassembly
    frag_index: int = 0  # this fragment is the n-th one seen of its datagram
    l4: str | None = None  # "tcp" "udp" "icmp" "icmpv6" "arp" "igmp" "ospf" "eigrp" "other-ip"
    sport: int | None = None
    dport: int | None = None
    flags: int | None = None
    seq: int = 0
    ack: int = 0
    win: int = 0
    tcplen: int | None = None
    mss: int | None = None
    wscale: int | None = None  # the window scale option (SYN and SYN-ACK only)
    udplen: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_name: str | None = None
    quoted: dict | None = None
    icmp_echo: tuple[int, int] | None = None  # (identifier, sequence) of an echo request or reply
    icmp_mtu: int | None = None  # next-hop MTU of an ICMPv4 "fragmentation needed"
    igmp: dict | None = None  # IGMP type, name, group and (v3 reports) group records
    app_fields: tuple[str, dict] | None = None  # (record key, fields): lab.analysis.appfields
    arp: tuple | None = None
    payload: bytes = b""
    app: str | None = None
    probe: bool = False
    malformed: str | None = None
    l2: str | None = None  # non-IP link-layer payload kind: "PPPoE Discovery", "LCP", "CDP", ...
    routing: dict | None = None  # an OSPF or EIGRP header (``lab.analysis.routinghdr``)

    def __init__(self) -> None:
        self.layers = []


class Decoder:
    """Decode frames of any supported link type; holds the fragment reassembly buffers (bounded)."""

    def __init__(self, max_frag_sets: int = 1024) -> None:
        self._frags: OrderedDict[tuple, dict] = OrderedDict()
        self._max_frag_sets = max_frag_sets
        self._a4: dict[bytes, str] = {}
        self._a6: dict[bytes, str] = {}
        self._mac: dict[bytes, str] = {}
        self._wire = 0
        self._ifx = 0  # capture interface of the frame being decoded

    # -- addresses (cached: a capture has few distinct ones, formatting is the costly part) -----------
    def _ip4s(self, b: bytes) -> str:
        s = self._a4.get(b)
        if s is None:
            if len(self._a4) > 100_000:
                self._a4.clear()
            s = self._a4[b] = _ntoa(b)
        return s

    def _ip6s(self, b: bytes) -> str:
        s = self._a6.get(b)
        if s is None:
            if len(self._a6) > 100_000:
                self._a6.clear()
            s = self._a6[b] = _ntop(_AF6, b)
        return s

    def _macs(self, b: bytes) -> str:
        s = self._mac.get(b)
        if s is None:
            if len(self._mac) > 100_000:
                self._mac.clear()
            s = self._mac[b] = b.hex(":")
        return s

    # -- entry ----------------------------------------------------------------------------------------
    def decode(self, linktype: int, data: bytes, wirelen: int | None = None, iface: int = 0) -> Pkt:
        """Decode one frame; ``wirelen`` (its length on the wire) bounds lengths that IP headers claim.
        ``iface`` is the capture interface: fragments are reassembled per interface, since a merged
        capture of several links holds each fragment once per link."""
        p = Pkt()
        n = len(data)
        self._ifx = iface
        self._wire = n if wirelen is None or wirelen < n else wirelen
        if linktype == lt.ETHERNET:
            if n < 14:
                p.layers.append(("Ethernet", 0, n))
                p.malformed = "frame shorter than an Ethernet header"
                return p
            p.eth_dst = self._macs(data[0:6])
            p.eth_src = self._macs(data[6:12])
            p.layers.append(("Ethernet", 0, 14))
            self._ethertype(p, data, 14, _H(data, 12)[0])
        elif linktype in (lt.RAW, lt.RAW_12, lt.RAW_14):
            if n:
                v = data[0] >> 4
                if v == 4:
                    self._ip4(p, data, 0)
                elif v == 6:
                    self._ip6(p, data, 0)
                else:
                    p.malformed = f"raw IP frame with IP version {v}"
        elif linktype == lt.IPV4:
            self._ip4(p, data, 0)
        elif linktype == lt.IPV6:
            self._ip6(p, data, 0)
        elif linktype == lt.LINUX_SLL:
            if n < 16:
                p.layers.append(("Linux SLL", 0, n))
                p.malformed = "frame shorter than a Linux SLL header"
                return p
            _ptype, hatype, halen, addr, proto = _SLL(data, 0)
            if halen == 6:
                p.eth_src = self._macs(addr[:6])
            p.layers.append(("Linux SLL", 0, 16))
            self._sll_proto(p, data, 16, proto)
        elif linktype == lt.LINUX_SLL2:
            if n < 20:
                p.layers.append(("Linux SLL2", 0, n))
                p.malformed = "frame shorter than a Linux SLL2 header"
                return p
            proto, _r, _ifx, _hat, _pt, halen, addr = _SLL2(data, 0)
            if halen == 6:
                p.eth_src = self._macs(addr[:6])
            p.layers.append(("Linux SLL2", 0, 20))
            self._sll_proto(p, data, 20, proto)
        elif linktype in (lt.NULL, lt.LOOP):
            if n < 4:
                p.layers.append(("Null/Loopback", 0, n))
                p.malformed = "frame shorter than a loopback header"
                return p
            p.layers.append(("Null/Loopback", 0, 4))
            fam = _I_BE(data, 0)[0] if linktype == lt.LOOP else _I_LE(data, 0)[0]
            if fam > 0xFFFF:  # written by a host of the other byte order
                fam = _I_BE(data, 0)[0]
            if fam > 1500:  # not an address family but an Ethertype (as Wireshark reads it)
                self._ethertype(p, data, 4, fam & 0xFFFF)
            elif fam == 2:
                self._ip4(p, data, 4)
            elif fam in (10, 24, 28, 30):
                self._ip6(p, data, 4)
            else:
                p.l2 = f"loopback address family {fam}"
        elif linktype in (lt.PPP, lt.PPP_HDLC):
            off = 2 if data[:2] == b"\xff\x03" else 0
            if n < off + 1:
                p.layers.append(("PPP", 0, n))
                p.malformed = "frame shorter than a PPP header"
                return p
            if data[off] & 1:  # protocol field compressed to one byte
                proto, plen = data[off], 1
            else:
                proto, plen = (_H(data, off)[0] if n >= off + 2 else 0), 2
            p.layers.append(("PPP", 0, off + plen))
            self._ppp(p, data, off + plen, proto)
        elif linktype == lt.SLIP:
            self._slip(p, data)
        elif linktype == lt.RADIOTAP:
            rlen = data[2] | (data[3] << 8) if n >= 4 else n
            p.layers.append(("Radiotap", 0, min(rlen, n)))
            if n > rlen:
                p.layers.append(("802.11", rlen, n - rlen))
            p.l2 = "802.11"
        elif linktype == lt.IEEE802_11:
            p.layers.append(("802.11", 0, n))
            p.l2 = "802.11"
        else:
            p.malformed = f"link type {linktype} not decoded"
        return p

    # -- link layer -----------------------------------------------------------------------------------
    def _ethertype(self, p: Pkt, data: bytes, off: int, etype: int) -> None:
        n = len(data)
        while etype in (0x8100, 0x88A8, 0x9100):
            if off + 4 > n:
                p.malformed = "VLAN tag cut short"
                return
            p.layers.append(("802.1ad" if etype == 0x88A8 else "802.1Q", off, 4))
            etype = _H(data, off + 2)[0]
            off += 4
        if etype == 0x0800:
            self._ip4(p, data, off)
        elif etype == 0x86DD:
            self._ip6(p, data, off)
        elif etype == 0x0806 or etype == 0x8035:  # ARP, RARP
            self._arp(p, data, off)
        elif etype == 0x8864:
            if off + 8 > n:
                p.malformed = "PPPoE header cut short"
                return
            p.layers.append(("PPPoE", off, 6))
            p.layers.append(("PPP", off + 6, 2))
            self._ppp(p, data, off + 8, _H(data, off + 6)[0])
        elif etype == 0x8863:
            p.layers.append(("PPPoE Discovery", off, n - off))
            p.l2 = "PPPoE Discovery"
        elif etype == ETH_PROBE:
            p.layers.append(("Lab probe", off, n - off))
            p.probe = data[off:off + 8] == PROBE_MAGIC
            p.l2 = "Lab probe"
        elif etype <= 1500:  # 802.3 length field: LLC follows
            p.layers.append(("LLC", off, 3 if data[off:off + 2] != b"\xaa\xaa" else 8))
            if data[off:off + 2] == b"\xaa\xaa" and data[off + 3:off + 8] == b"\x00\x00\x0c\x20\x00":
                p.layers.append(("CDP", off + 8, n - off - 8))
                p.l2 = "CDP"
            elif data[off:off + 2] == b"\x42\x42":
                p.layers.append(("STP", off + 3, n - off - 3))
                p.l2 = "STP"
            else:
                p.l2 = "LLC"
        else:
            p.l2 = f"ethertype 0x{etype:04x}"
            if off < n:
                p.layers.append(("Data", off, n - off))

    def _sll_proto(self, p: Pkt, data: bytes, off: int, proto: int) -> None:
        if proto in (1, 4):  # Novell 802.3 / 802.2 LLC frames
            p.layers.append(("LLC", off, len(data) - off))
            p.l2 = "LLC"
        else:
            self._ethertype(p, data, off, proto)

    def _slip(self, p: Pkt, data: bytes) -> None:
        """SLIP frames as libpcap stores them: direction, packet type, 14 bytes of (CSLIP) compressed
        header, then the IP datagram as it was before compression (SLIP itself carries bare IP)."""
        n = len(data)
        if n < 16:
            p.layers.append(("SLIP", 0, n))
            p.malformed = "frame shorter than a SLIP pseudo-header"
            return
        kind = SLIP_TYPES.get(data[1] & 0xF0) or ("VJ compressed TCP" if data[1] & 0x80 else None)
        p.layers.append(("SLIP" if kind in (None, "IP") else "CSLIP", 0, 16))
        p.app_fields = ("slip", {"direction": "sent" if data[0] else "received", "type": kind or
                                 f"type 0x{data[1]:02x}", "compressed_header": data[1:16].hex()})
        if n > 16:
            self._ip4(p, data, 16)

    def _ppp(self, p: Pkt, data: bytes, off: int, proto: int) -> None:
        name = PPP_PROTOCOLS.get(proto)
        if name == "IPv4":
            self._ip4(p, data, off)
        elif name == "IPv6":
            self._ip6(p, data, off)
        elif name is not None:
            p.layers.append((name, off, len(data) - off))
            p.l2 = name
            if name in ("LCP", "IPCP", "IPv6CP"):
                p.app_fields = ("ppp", ppp_control_fields(name, data, off))
        else:
            p.l2 = f"PPP protocol 0x{proto:04x}"

    def _arp(self, p: Pkt, data: bytes, off: int) -> None:
        n = len(data)
        if off + 8 > n:
            p.layers.append(("ARP", off, n - off))
            p.malformed = "ARP header cut short"
            p.l4 = "arp"
            return
        _ht, ptype, hlen, plen, op = _ARP(data, off)
        alen = 8 + 2 * (hlen + plen)
        p.layers.append(("ARP", off, min(alen, n - off)))
        p.l4 = "arp"
        if off + alen > n or hlen != 6 or plen != 4:
            if off + alen > n:
                p.malformed = "ARP packet cut short"
            p.arp = (op, None, None, None, None)
            return
        b = off + 8
        p.arp = (op, self._macs(data[b:b + 6]), self._ip4s(data[b + 6:b + 10]),
                 self._macs(data[b + 10:b + 16]), self._ip4s(data[b + 16:b + 20]))

    # -- internet layer -------------------------------------------------------------------------------
    def _ip4(self, p: Pkt, data: bytes, off: int) -> None:
        n = len(data)
        if off + 20 > n:
            p.layers.append(("IPv4", off, n - off))
            p.malformed = "IPv4 header cut short"
            return
        vihl, _tos, tot, ipid, fragw, ttl, proto, _ck, s, d = _IP4(data, off)
        ihl = (vihl & 15) * 4
        if vihl >> 4 != 4 or ihl < 20:
            p.layers.append(("IPv4", off, min(20, n - off)))
            p.malformed = (f"bogus IPv4 version {vihl >> 4}" if vihl >> 4 != 4
                           else f"bogus IPv4 header length {ihl}")
            return
        p.layers.append(("IPv4", off, min(ihl, n - off)))
        if p.ipv:  # tunnelled IP: keep the outermost addresses
            return
        p.ipv = 4
        p.src = self._ip4s(s)
        p.dst = self._ip4s(d)
        p.ttl = ttl
        p.ipid = ipid
        p.proto = proto
        start = off + ihl
        if start > n:
            p.malformed = "IPv4 options cut short"
            return
        if tot < ihl:
            p.malformed = f"bogus IPv4 total length {tot}"
            return
        end = min(off + tot, n)
        foff = (fragw & 0x1FFF) * 8
        mf = bool(fragw & 0x2000)
        if foff or mf:
            p.frag = (foff, mf, ipid)
            full = self._reassemble(p, (self._ifx, 4, s, d, ipid, proto), foff, mf, data[start:end])
            if full is None:
                p.layers.append(("Data", start, end - start))
                p.l4 = "fragment"
                return
            self._transport(p, proto, full, 0, len(full), len(full), "reassembled")
            return
        self._transport(p, proto, data, start, end, min(off + tot, self._wire), None)

    def _ip6(self, p: Pkt, data: bytes, off: int) -> None:
        n = len(data)
        if off + 40 > n:
            p.layers.append(("IPv6", off, n - off))
            p.malformed = "IPv6 header cut short"
            return
        vtf, plen, nh, hlim, s, d = _IP6(data, off)
        if vtf >> 28 != 6:
            p.layers.append(("IPv6", off, 40))
            p.malformed = f"bogus IPv6 version {vtf >> 28}"
            return
        p.layers.append(("IPv6", off, 40))
        if p.ipv:
            return
        p.ipv = 6
        p.src = self._ip6s(s)
        p.dst = self._ip6s(d)
        p.ttl = hlim
        p.proto = nh
        start = off + 40
        claimed = min(start + plen, self._wire) if plen else n
        end = min(claimed, n)
        while nh in IP6_EXT or nh == 44:
            if start + 8 > end:
                p.malformed = "IPv6 extension header cut short"
                return
            if nh == 44:
                nxt, _r, fo, ident = _FRAG6(data, start)
                p.layers.append(("IPv6 Fragment", start, 8))
                foff = fo & 0xFFF8
                mf = bool(fo & 1)
                p.proto = nxt
                p.frag = (foff, mf, ident)
                p.ipid = ident
                if not foff and not mf:  # atomic fragment
                    nh = nxt
                    start += 8
                    continue
                full = self._reassemble(p, (self._ifx, 6, s, d, ident), foff, mf, data[start + 8:end])
                if full is None:
                    p.layers.append(("Data", start + 8, end - start - 8))
                    p.l4 = "fragment"
                    return
                self._transport(p, nxt, full, 0, len(full), len(full), "reassembled")
                return
            hlen = (data[start + 1] + 1) * 8
            p.layers.append((IP6_EXT[nh], start, hlen))
            nh = data[start]
            start += hlen
        p.proto = nh
        self._transport(p, nh, data, start, end, claimed, None)

    def _reassemble(self, p: Pkt, key: tuple, foff: int, mf: bool, chunk: bytes) -> bytes | None:
        """Add a fragment; return the whole datagram payload once every byte of it is present."""
        frags = self._frags
        st = frags.get(key)
        if st is None:
            st = frags[key] = {"parts": [], "total": None}
            if len(frags) > self._max_frag_sets:
                frags.popitem(last=False)
        parts: list[tuple[int, bytes]] = st["parts"]
        parts.append((foff, chunk))
        p.frag_index = len(parts)
        if not mf:
            st["total"] = foff + len(chunk)
        total = st["total"]
        if total is None:
            return None
        have = 0
        for o, c in sorted(parts, key=lambda x: x[0]):
            if o > have:
                return None
            have = max(have, o + len(c))
        if have < total:
            return None
        buf = bytearray(total)
        # overlapping bytes: the first fragment that carried them wins (as in tshark)
        for o, c in reversed(parts):
            piece = c[: max(total - o, 0)]
            buf[o:o + len(piece)] = piece
        del frags[key]
        p.frag_done = tuple(len(c) for _o, c in parts)
        return bytes(buf)

    # -- transport and above --------------------------------------------------------------------------
    def _transport(self, p: Pkt, proto: int, data: bytes, off: int, end: int, claimed: int,
                   note: str | None) -> None:
        """Decode a transport header at ``data[off:end]``; ``claimed`` is where the IP header says the
        datagram ends (beyond ``end`` when the snap length cut the frame): lengths come from it."""
        avail = end - off
        if proto == 6:
            p.l4 = "tcp"
            if avail < 4:
                p.layers.append(_ly("TCP", off, max(avail, 0), note))
                p.malformed = "TCP header cut short"
                return
            if avail < 20:
                p.sport, p.dport = _HH(data, off)
                p.layers.append(_ly("TCP", off, avail, note))
                p.malformed = "TCP header cut short"
                return
            sport, dport, seq, ack, offb, fl, win, _ck, _urg = _TCP(data, off)
            p.sport, p.dport, p.seq, p.ack, p.win = sport, dport, seq, ack, win
            p.flags = fl | ((offb & 0x0F) << 8)
            hl = (offb >> 4) * 4
            if hl < 20:
                p.layers.append(_ly("TCP", off, 20, note))
                p.malformed = f"bogus TCP header length {hl}"
                p.tcplen = None
                return
            p.layers.append(_ly("TCP", off, min(hl, avail), note))
            if hl > 20 and avail >= 24:
                self._tcp_options(p, data, off + 20, off + min(hl, avail))
            # tcp.len comes from the IP lengths, also when the snap length cut the segment
            p.tcplen = max(claimed - off - hl, 0)
            plen = end - off - hl
            if plen > 0:
                p.payload = data[off + hl:end]
                app = tcp_app(sport, dport, p.payload)
                p.app = app
                p.layers.append(_ly(app or "Data", off + hl, plen, note))
                if app in FIELD_DECODERS:
                    p.app_fields = FIELD_DECODERS[app](p.payload)
        elif proto == 17:
            p.l4 = "udp"
            if avail < 8:
                p.layers.append(_ly("UDP", off, max(avail, 0), note))
                p.malformed = "UDP header cut short"
                if avail >= 4:
                    p.sport, p.dport = _HH(data, off)
                return
            sport, dport, ulen, _ck = _UDP(data, off)
            p.sport, p.dport, p.udplen = sport, dport, ulen
            p.layers.append(_ly("UDP", off, 8, note))
            pend = min(off + ulen, end) if ulen >= 8 else end
            if pend > off + 8:
                p.payload = data[off + 8:pend]
                app = udp_app(sport, dport, p.payload)
                p.app = app
                p.layers.append(_ly(app or "Data", off + 8, pend - off - 8, note))
                if app in FIELD_DECODERS:
                    p.app_fields = FIELD_DECODERS[app](p.payload)
        elif proto == 1 or proto == 58:
            name = "ICMP" if proto == 1 else "ICMPv6"
            p.l4 = "icmp" if proto == 1 else "icmpv6"
            if avail < 4:
                p.layers.append(_ly(name, off, max(avail, 0), note))
                p.malformed = f"{name} header cut short"
                return
            t, c = data[off], data[off + 1]
            p.icmp_type, p.icmp_code = t, c
            names = ICMP_NAMES if proto == 1 else ICMP6_NAMES
            p.icmp_name = names.get((t, c)) or names.get((t, None)) or f"type {t} code {c}"
            if avail >= 8:
                if t in ICMP_ECHO_TYPES:
                    p.icmp_echo = _HH(data, off + 4)
                elif proto == 1 and t == 3 and c == 4:
                    p.icmp_mtu = _H(data, off + 6)[0]
            errors = ICMP4_ERRORS if proto == 1 else ICMP6_ERRORS
            if t in errors and avail >= 8 + 20:
                p.layers.append(_ly(name, off, 8, note))
                self._quoted(p, data, off + 8, end)
            else:
                p.layers.append(_ly(name, off, avail, note))
        elif proto == 2:
            p.l4 = "igmp"
            p.layers.append(_ly("IGMP", off, avail, note))
            p.igmp = igmp_fields(data, off, end)
        elif proto == 89 or proto == 88:
            p.l4 = "ospf" if proto == 89 else "eigrp"
            p.layers.append(_ly("OSPF" if proto == 89 else "EIGRP", off, avail, note))
            if claimed <= end:  # a routing message is read whole or not at all (no snap-length guesses)
                p.routing = (decode_ospf if proto == 89 else decode_eigrp)(data, off, min(end, claimed))
        else:
            p.l4 = "other-ip"
            pname = IP_PROTOCOLS.get(proto)
            if avail > 0:
                p.layers.append(_ly(pname or "Data", off, avail, note))

    def _tcp_options(self, p: Pkt, data: bytes, o: int, end: int) -> None:
        if p.flags is not None and p.flags & 2:
            p.mss, p.wscale = tcp_syn_options(data, o, end)
        else:
            p.mss = tcp_mss(data, o, end)

    def _quoted(self, p: Pkt, data: bytes, off: int, end: int) -> None:
        """The header an ICMP error quotes: addresses, protocol and ports of the offending packet."""
        v = data[off] >> 4
        q: dict = {"src": None, "dst": None, "proto": None, "sport": None, "dport": None}
        if v == 4 and off + 20 <= end:
            vihl, _t, _tot, qid, _f, _ttl, proto, _c, s, d = _IP4(data, off)
            ihl = (vihl & 15) * 4
            q.update(src=self._ip4s(s), dst=self._ip4s(d), proto=proto, id=qid)
            p.layers.append(("IPv4", off, min(ihl, end - off), "quoted"))
            t = off + ihl
        elif v == 6 and off + 40 <= end:
            _vtf, _pl, nh, _h, s, d = _IP6(data, off)
            q.update(src=self._ip6s(s), dst=self._ip6s(d), proto=nh)
            p.layers.append(("IPv6", off, 40, "quoted"))
            proto = nh
            t = off + 40
        else:
            return
        if proto in (6, 17) and t + 4 <= end:
            q["sport"], q["dport"] = _HH(data, t)
            hl = 20 if proto == 6 else 8
            p.layers.append(("TCP" if proto == 6 else "UDP", t, min(end - t, hl), "quoted"))
        p.quoted = q


IGMP_TYPES = {0x11: "membership query", 0x12: "v1 membership report", 0x16: "v2 membership report",
              0x17: "v2 leave group", 0x22: "v3 membership report"}
IGMP_RECORDS = {1: "MODE_IS_INCLUDE", 2: "MODE_IS_EXCLUDE", 3: "CHANGE_TO_INCLUDE_MODE",
                4: "CHANGE_TO_EXCLUDE_MODE", 5: "ALLOW_NEW_SOURCES", 6: "BLOCK_OLD_SOURCES"}


def igmp_fields(data: bytes, off: int, end: int) -> dict | None:
    """An IGMP message's type and group; an IGMPv3 report's group records (RFC 3376 4.2), bounded by
    ``end``. A v3 record CHANGE_TO_EXCLUDE_MODE with no sources is a join, CHANGE_TO_INCLUDE_MODE with
    none a leave."""
    if end - off < 8:
        return None
    t = data[off]
    out: dict = {"type": t, "name": IGMP_TYPES.get(t, f"type 0x{t:02x}"), "group": None}
    if t != 0x22:
        out["group"] = _ntoa(data[off + 4:off + 8])
        if t == 0x11:
            out["version"] = 3 if end - off >= 12 else (2 if data[off + 1] else 1)
        return out
    records = []
    o = off + 8
    for _ in range(_H(data, off + 6)[0]):
        if o + 8 > end:
            break
        rtype, aux, nsrc = data[o], data[o + 1], _H(data, o + 2)[0]
        stop = o + 8 + 4 * nsrc
        if stop > end:
            break
        records.append({"type": rtype, "name": IGMP_RECORDS.get(rtype, f"record type {rtype}"),
                        "group": _ntoa(data[o + 4:o + 8]),
                        "sources": [_ntoa(data[i:i + 4]) for i in range(o + 8, stop, 4)]})
        o = stop + 4 * aux
    out["records"] = records
    return out


def win_text(win: int, shift: int | None) -> str:
    """``64512 (63<<10)``: the window a segment really announces, with the header field and the scale
    negotiated in the handshake; ``63 (scale unknown)`` when the capture has no handshake to tell."""
    if shift is None:
        return f"{win} (scale unknown: no handshake captured)"
    return f"{win << shift} ({win}<<{shift})" if shift else str(win)


def tcp_option(data: bytes, o: int, end: int, kind: int, olen: int) -> int | None:
    """Where the value of the TCP option ``kind`` (of total length ``olen``) starts among the options in
    ``data[o:end]``, or None: the one walk over the options, for every option the analysis reads."""
    while o < end:
        k = data[o]
        if k == 0:
            break
        if k == 1:
            o += 1
            continue
        if o + 1 >= end:
            break
        n = data[o + 1]
        if n < 2:
            break
        if k == kind and n == olen and o + olen <= end:
            return o + 2
        o += n
    return None


def tcp_mss(data: bytes, o: int, end: int) -> int | None:
    """The MSS option among the TCP options in ``data[o:end]``, if present."""
    at = tcp_option(data, o, end, 2, 4)
    return None if at is None else _H(data, at)[0]


def tcp_wscale(data: bytes, o: int, end: int) -> int | None:
    """The window scale option's shift count among the TCP options in ``data[o:end]``, if present (RFC 7323:
    only a SYN or SYN-ACK carries it; a shift above 14 is taken as 14)."""
    at = tcp_option(data, o, end, 3, 3)
    return None if at is None else min(data[at], 14)


# The options of a Linux SYN and SYN-ACK, in this order: MSS, SACK permitted, timestamps, NOP, window scale
_LINUX_SACK_TS = b"\x04\x02\x08\x0a"
_LINUX_NOP_WS = b"\x01\x03\x03"


def tcp_syn_options(data: bytes, o: int, end: int) -> tuple[int | None, int | None]:
    """``(tcp_mss, tcp_wscale)`` of a SYN's options ``data[o:end]``. Linux's layout (nearly every SYN of a
    lab's capture) is recognized by its fixed bytes, where the walk would find the same two values after
    five options; any other layout is walked."""
    if (end - o == 20 and data[o] == 2 and data[o + 1] == 4 and data.startswith(_LINUX_SACK_TS, o + 4)
            and data.startswith(_LINUX_NOP_WS, o + 16)):
        shift = data[o + 19]
        return _H(data, o + 2)[0], shift if shift < 14 else 14
    return tcp_mss(data, o, end), tcp_wscale(data, o, end)


def _ly(name: str, off: int, length: int, note: str | None) -> tuple:
    return (name, off, length) if note is None else (name, off, length, note)
