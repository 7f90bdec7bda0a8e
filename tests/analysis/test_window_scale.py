"""The window a segment announces: the header field scaled by the shift its handshake negotiated (RFC
7323), as tshark computes ``tcp.window_size``; "scale unknown" when the capture holds no handshake."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

from lab.analysis.decode import tcp_mss, tcp_syn_options, tcp_wscale, win_text
from tests.helpers.analysis import analyze_both_paths
from tests.helpers.frames import pcapng

SYN, ACK, PSH = 0x02, 0x10, 0x08


def _seg(sport: int, dport: int, seq: int, ack: int, flags: int, win: int, wscale: int | None = None,
         payload: bytes = b"") -> bytes:
    a, b = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    if sport != 40000:
        a, b = b, a
    opts = b"\x02\x04\x05\xb4" + (b"\x01\x03\x03" + bytes([wscale]) if wscale is not None else b"")
    opts += b"\x00" * (-len(opts) % 4)
    hl = 20 + len(opts)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + hl + len(payload), 1, 0x4000, 64, 6, 0, a, b)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hl // 4) << 4, flags, win, 0, 0) + opts
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + tcp + payload


def test_scaled_windows_equal_tsharks(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("tshark")
    frames = [
        _seg(40000, 5012, 100, 0, SYN, 64240, 7),
        _seg(5012, 40000, 900, 101, SYN | ACK, 65160, 10),
        _seg(40000, 5012, 101, 901, ACK, 502),
        _seg(40000, 5012, 101, 901, PSH | ACK, 502, payload=b"hello"),
        _seg(5012, 40000, 901, 106, ACK, 63),
        # another connection, seen mid-flow: no handshake, no scale to apply
        _seg(40001 - 1, 5013, 5000, 7000, ACK, 63),
    ]
    pcap = pcapng(tmp_path, "ws.pcapng", [(0, f) for f in frames], ifaces=1)
    recs = analyze_both_paths(pcap, tmp_path)
    assert len(recs) == 6
    summaries = [r["summary"] for r in recs]
    assert "win=64240 " in summaries[0] and "win=65160 " in summaries[1]  # a SYN's window is never scaled
    assert "win=64256 (502<<7) " in summaries[2] and "win=64256 (502<<7) " in summaries[3]
    assert "win=64512 (63<<10) " in summaries[4]
    assert "win=63 (scale unknown: no handshake captured) " in summaries[5]
    assert all(r["tcp"]["win"] == w for r, w in zip(recs, (64240, 65160, 502, 502, 63, 63), strict=True))
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "tcp.window_size"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    ours = [int(s.split("win=")[1].split()[0]) for s in summaries]
    assert ours[:5] == [int(x) for x in out[:5]]


def test_win_text() -> None:
    assert win_text(63, 10) == "64512 (63<<10)" and win_text(63, 0) == "63"
    assert win_text(63, None).startswith("63 (scale unknown")


LINUX_SYN_OPTIONS = bytes.fromhex("020405b40402080a07fee17e000000000103030a")  # MSS SACK-perm TS NOP WS


def test_syn_options_of_linuxs_layout() -> None:
    head = b"\x00" * 54
    assert tcp_syn_options(head + LINUX_SYN_OPTIONS, 54, 74) == (1460, 10)
    assert tcp_syn_options(head + LINUX_SYN_OPTIONS[:-1] + b"\x0f", 54, 74) == (1460, 14)  # at most 14


def test_syn_options_equal_the_two_walks_for_any_layout() -> None:
    """The Linux layout is recognized by its bytes: every layout one byte away from it (and shorter or
    longer ones) gives what the two option walks give."""
    head = b"\x00" * 54
    checked = 0
    for i in range(len(LINUX_SYN_OPTIONS)):
        for value in (0, 1, 2, 3, 4, 8, 10, 14, 15, 255):
            opts = LINUX_SYN_OPTIONS[:i] + bytes([value]) + LINUX_SYN_OPTIONS[i + 1:]
            for extra in (b"", b"\x01\x01\x01\x01", b"\x00\x00\x00\x00"):
                data = head + opts + extra
                for end in (len(data), len(data) - 1, len(data) - 4):
                    walked = (tcp_mss(data, 54, end), tcp_wscale(data, 54, end))
                    assert tcp_syn_options(data, 54, end) == walked, (i, value, extra, end)
                    checked += 1
    assert checked == len(LINUX_SYN_OPTIONS) * 10 * 3 * 3
