"""What a short snap length costs, without root: frames cut after their headers, analyzed both ways.

TCP keeps everything attribution needs (sequence numbers, and lengths from the IP header); a UDP datagram
cut short keeps no payload hash, because a hash of part of a datagram would match no sendto() and leave it
unexplained: it is matched by addresses, length and time instead.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture
from tests.helpers.frames import epb, idb, shb

SNAP = 128


def _ip4(proto: int, payload: bytes, ident: int) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                      bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]))
    return hdr + payload


def _eth(ip: bytes) -> bytes:
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip


def udp_frame(size: int, ident: int) -> bytes:
    data = bytes(i % 251 for i in range(size))
    return _eth(_ip4(17, struct.pack("!HHHH", 40000, 5012, 8 + len(data), 0) + data, ident))


def tcp_frame(size: int, seq: int, ident: int) -> bytes:
    data = b"y" * size
    tcp = struct.pack("!HHIIBBHHH", 40001, 5013, seq, 1, 5 << 4, 0x18, 502, 0, 0)
    return _eth(_ip4(6, tcp + data, ident))


def _pcapng(frames: list[bytes], snaplen: int) -> bytes:
    kept = [frame[:snaplen] for frame in frames]
    return shb() + idb(1, snaplen=snaplen) + b"".join(
        epb(0, k, 1_000_000 + i, orig_len=len(f)) for i, (k, f) in enumerate(zip(kept, frames, strict=True)))


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_cut_datagram_has_no_hash_and_a_whole_one_keeps_it(tmp_path: Path, fast_path: bool) -> None:
    cap = tmp_path / "c.pcapng"
    cap.write_bytes(_pcapng([udp_frame(40, 1), udp_frame(1000, 2), tcp_frame(1400, 1000, 3)], SNAP))
    res = analyze_capture(cap, tmp_path / "out", fast_path=fast_path, render_process=False)
    whole, cut, seg = [json.loads(ln) for ln in res.packets_path.read_text().splitlines()]
    assert whole["caplen"] == whole["len"] and len(whole["udp"]["sha1"]) == 16
    assert cut["caplen"] == SNAP < cut["len"]
    assert "sha1" not in cut["udp"] and cut["udp"]["length"] == 1008  # the length is the datagram's own
    assert seg["caplen"] == SNAP and seg["tcp"]["len"] == 1400 and seg["tcp"]["seq_raw"] == 1000
