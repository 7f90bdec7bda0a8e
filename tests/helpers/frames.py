"""Capture files and frames built byte by byte, for analysis tests that need one exact edge case.

A recorded capture shows what a kernel happened to send; a built one shows precisely the case under test
(a retransmission on one link only, a reply on another interface, a truncated block). The frames run between
198.18.0.1 and 198.18.0.2 (the lab's address space) with fixed MAC addresses; the addresses follow the
ports, so a reply is the same call with the ports swapped. Checksums are left zero: the analysis does not
verify them, and tshark does not by default.
"""

from __future__ import annotations

import struct
from pathlib import Path

SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01  # TCP flag bits, for tcp_frame's ``flags``

LINKTYPE_ETHERNET = 1
CLIENT_PORT, SERVER_PORT = 40000, 5000

_CLIENT, _SERVER = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
_ETHERNET_IPV4 = bytes.fromhex("020000000002020000000001") + b"\x08\x00"


def pcap(linktype: int, frames: list[bytes], ts: int = 1_700_000_000) -> bytes:
    """A little-endian classic pcap file: one record per frame, one second apart from ``ts``."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", ts + i, 0, len(f), len(f)) + f
    return out


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    """One pcapng block: type, total length, the body padded to 32 bits, the length again. ``order`` is the
    section's byte order (``"<"`` or ``">"``), which the body's own fields must follow too."""
    body += b"\0" * ((-len(body)) & 3)
    return struct.pack(order + "II", btype, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def shb(order: str = "<") -> bytes:
    """A pcapng section header block (version 1.0, section length unknown) in byte order ``order``."""
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def idb(linktype: int, name: str | None = None, snaplen: int = 0, order: str = "<") -> bytes:
    """An interface description block (``snaplen`` 0: no limit), with an ``if_name`` option when ``name``
    is given."""
    opts = b""
    if name:
        raw = name.encode()
        opts = struct.pack(order + "HH", 2, len(raw)) + raw + b"\0" * ((-len(raw)) & 3) + b"\0\0\0\0"
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts, order)


def epb(iface: int, data: bytes, ts_us: int = 1_700_000_000_000_000, orig_len: int | None = None) -> bytes:
    """An enhanced packet block of ``data`` on interface number ``iface`` (microsecond timestamp);
    ``orig_len`` is the frame's length on the wire when ``data`` is only its first bytes (a snap length)."""
    wire = len(data) if orig_len is None else orig_len
    hdr = struct.pack("<IIIII", iface, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data), wire)
    return block(6, hdr + data)


def pcapng(tmp_path: Path, name: str, frames: list[tuple[int, bytes]], ifaces: int = 2) -> Path:
    """A pcapng file ``tmp_path/name`` with ``ifaces`` Ethernet interfaces (link0, link1, ...) and the
    (interface number, frame) packets in order, one microsecond apart."""
    blob = shb() + b"".join(idb(LINKTYPE_ETHERNET, f"link{i}") for i in range(ifaces))
    blob += b"".join(epb(i, f, 1_700_000_000_000_000 + k) for k, (i, f) in enumerate(frames))
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def udp_frame(sport: int = CLIENT_PORT, dport: int = SERVER_PORT, payload: bytes = b"hello") -> bytes:
    """An Ethernet/IPv4/UDP frame 198.18.0.1:40000 -> 198.18.0.2:5000; from port 5000 the addresses swap."""
    a, b = _CLIENT, _SERVER
    if sport == SERVER_PORT:
        a, b = b, a
    ulen = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 1, 0x4000, 64, 17, 0, a, b)
    return _ETHERNET_IPV4 + ip + struct.pack("!HHHH", sport, dport, ulen, 0) + payload


def tcp_frame(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    """An Ethernet/IPv4/TCP segment without options (window 64240); the port 40000 side is 198.18.0.1."""
    a, b = _CLIENT, _SERVER
    if sport != CLIENT_PORT:
        a, b = b, a
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0x4000, 64, 6, 0, a, b)
    return _ETHERNET_IPV4 + ip + struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 64240, 0,
                                             0) + payload
