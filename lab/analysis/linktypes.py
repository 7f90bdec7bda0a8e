"""LINKTYPE numbers the decoder understands, and names for the ones it does not (for error messages)."""

from __future__ import annotations

ETHERNET = 1
NULL = 0
LOOP = 108
PPP = 9
SLIP = 8  # BSD/libpcap SLIP: a 16-byte pseudo-header (direction, packet type, CSLIP header), then IP
PPP_HDLC = 50
RAW = 101
RAW_12 = 12
RAW_14 = 14
IPV4 = 228
IPV6 = 229
LINUX_SLL = 113
LINUX_SLL2 = 276
IEEE802_11 = 105
RADIOTAP = 127

SUPPORTED_LINKTYPES = frozenset({ETHERNET, NULL, LOOP, PPP, PPP_HDLC, SLIP, RAW, RAW_12, RAW_14, IPV4, IPV6,
                                 LINUX_SLL, LINUX_SLL2, IEEE802_11, RADIOTAP})

LINKTYPE_NAMES = {
    0: "BSD null/loopback", 1: "Ethernet", 6: "Token Ring", 8: "SLIP", 9: "PPP", 10: "FDDI",
    12: "raw IP", 14: "raw IP", 50: "PPP in HDLC framing", 51: "PPPoE", 101: "raw IP", 104: "Cisco HDLC",
    105: "IEEE 802.11", 108: "OpenBSD loopback", 113: "Linux cooked SLL", 117: "OpenBSD pflog",
    119: "Prism 802.11", 127: "802.11 radiotap", 143: "DOCSIS", 147: "user 0", 187: "Bluetooth HCI H4",
    189: "USB Linux", 195: "IEEE 802.15.4", 201: "Bluetooth HCI H4 with direction", 215: "NFC LLCP",
    220: "USB Linux mmapped", 228: "raw IPv4", 229: "raw IPv6", 249: "NetLink", 276: "Linux cooked SLL2",
    284: "DSA tag", 290: "Ethernet with 802.3br mPacket",
}
