"""Merged multi-interface captures and application names that follow the conversation.

A routed lab merges the captures of every link into one pcapng: the same segment appears once per link.
"Seen before?" (retransmission, duplicate ACK, "(again)", which frame a reply answers) must be judged per
capture interface, while a conversation keeps one stream id across interfaces. ``tests/data/routed`` is
a real ``lab run routed`` capture (h1 -> r1 -> r2 -> r3 -> h2, one TCP echo, no loss), cut to its ARP and
TCP frames with editcap; the other captures are built byte by byte here.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture
from tests.helpers.analysis import analyze_both_paths
from tests.helpers.frames import ACK, PSH, SYN, pcapng, tcp_frame, udp_frame
from tests.helpers.records import load_jsonl

ROUTED = Path(__file__).resolve().parent.parent / "data" / "routed" / "capture.pcapng"
LINKS = ["h1-eth0", "r1-eth1", "r2-eth1", "r3-eth1"]

def test_routed_capture_has_no_false_retransmissions(tmp_path: Path) -> None:
    recs = analyze_both_paths(ROUTED, tmp_path)
    tcp = [r for r in recs if r["tcp"]]
    assert Counter(r["interface"] for r in tcp) == {link: 10 for link in LINKS}
    assert [a for r in recs for a in r["analysis"]] == []
    assert not any("again" in r["role"]["text"] or "retransmission" in r["role"]["text"] for r in recs)
    assert {r["tcp"]["stream"] for r in tcp} == {0}  # one conversation across the four links
    by_code = Counter(r["role"]["code"] for r in tcp)
    assert by_code == {"syn": 4, "syn-ack": 4, "handshake-ack": 4, "data": 8, "ack": 12, "fin": 8}
    number_of = {r["number"]: r for r in recs}
    for r in tcp:  # a reply answers the frame it replies to on the same link
        if r["cause"]["answers"] is not None:
            assert number_of[r["cause"]["answers"]]["interface"] == r["interface"], r["number"]
    for r in recs:
        if r["role"]["code"] == "arp-reply":
            assert number_of[r["cause"]["answers"]]["interface"] == r["interface"]
    (conv,) = load_jsonl(tmp_path / "fast" / "conversations.jsonl")
    assert conv["handshake_complete"] and conv["teardown"] == "fin (client first)"
    # counted once, on the interface where the conversation was first seen (the client's link)
    assert (conv["payload_bytes_c2s"], conv["payload_bytes_s2c"]) == (20, 20)
    assert conv["syn_frame"] == tcp[0]["number"] and tcp[0]["interface"] == "h1-eth0"
    assert conv["analysis_counts"] == {}


def test_real_retransmission_still_found_per_interface(tmp_path: Path) -> None:
    c, s = 40000, 8000
    data = tcp_frame(c, s, 1001, 5001, PSH | ACK, b"hello")
    frames = [(0, tcp_frame(c, s, 1000, 0, SYN)), (1, tcp_frame(c, s, 1000, 0, SYN)),
              (0, tcp_frame(s, c, 5000, 1001, SYN | ACK)), (1, tcp_frame(s, c, 5000, 1001, SYN | ACK)),
              (0, tcp_frame(c, s, 1001, 5001, ACK)), (1, tcp_frame(c, s, 1001, 5001, ACK)),
              (0, data), (1, data), (0, data),  # the last one: the same bytes again on link0
              (0, tcp_frame(c, s, 1000, 0, SYN))]  # and a SYN seen again on link0
    recs = analyze_both_paths(pcapng(tmp_path, "retrans.pcapng", frames), tmp_path)
    assert [r["analysis"] for r in recs[6:9]] == [[], [], ["retransmission"]]
    assert recs[8]["role"]["text"].endswith("(retransmission)")
    assert [r["role"]["text"] for r in recs[:2]] == ["handshake 1/3: SYN"] * 2
    assert recs[9]["role"]["text"].startswith("handshake 1/3: SYN (again)")
    assert [r["cause"]["answers"] for r in recs[2:6]] == [1, 2, 3, 4]
    assert {r["tcp"]["stream"] for r in recs} == {0}
    assert [r["tcp"]["seq"] for r in recs[6:9]] == [1, 1, 1]


def test_udp_answers_on_the_same_interface(tmp_path: Path) -> None:
    req, resp = udp_frame(), udp_frame(5000, 40000, b"world!")
    frames = [(0, req), (1, req), (1, resp), (0, resp)]
    recs = analyze_both_paths(pcapng(tmp_path, "udp.pcapng", frames), tmp_path)
    assert [r["cause"]["answers"] for r in recs] == [None, None, 2, 1]
    assert {r["udp"]["stream"] for r in recs} == {0}
    (conv,) = load_jsonl(tmp_path / "fast" / "conversations.jsonl")
    assert conv["responses"] == 1 and conv["packets_from_first_sender"] == 1


def test_http_body_segment_named_http(tmp_path: Path) -> None:
    """http.server writes the headers and the body separately; the body segment is HTTP too."""
    c, s = 40000, 8000  # not a port our table knows: HTTP is recognized by content
    head = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n"
    frames = [(0, tcp_frame(c, s, 1000, 0, SYN)), (0, tcp_frame(s, c, 5000, 1001, SYN | ACK)),
              (0, tcp_frame(c, s, 1001, 5001, ACK)),
              (0, tcp_frame(c, s, 1001, 5001, PSH | ACK, b"GET / HTTP/1.0\r\n\r\n")),
              (0, tcp_frame(s, c, 5001, 1019, PSH | ACK, head)),
              (0, tcp_frame(s, c, 5001 + len(head), 1019, PSH | ACK, b"hello")),
              (0, tcp_frame(c, s, 1019, 5006 + len(head), ACK))]
    recs = analyze_both_paths(pcapng(tmp_path, "http.pcapng", frames, ifaces=1), tmp_path)
    assert [r["app"] for r in recs] == [None, None, None, "HTTP", "HTTP", "HTTP", None]
    assert [ly["name"] for ly in recs[5]["layers"]] == ["Ethernet", "IPv4", "TCP", "HTTP"]
    assert recs[5]["summary"].endswith(" HTTP")


@pytest.mark.parametrize("fast", [True, False])
def test_tftp_data_blocks_named_tftp(tmp_path: Path, fast: bool) -> None:
    rrq = udp_frame(40000, 69, b"\0\1hello.txt\0octet\0")
    data = udp_frame(5000, 40000, b"\0\3\0\1" + b"x" * 20)  # from the server's transfer port
    ack = udp_frame(40000, 5000, b"\0\4\0\1")
    res = analyze_capture(pcapng(tmp_path, "tftp.pcapng", [(0, rrq), (0, data), (0, ack)], ifaces=1),
                          tmp_path / "o", fast_path=fast)
    recs = load_jsonl(res.packets_path)
    assert [r["app"] for r in recs] == ["TFTP"] * 3
    assert all(r["role"]["text"].startswith("UDP datagram TFTP,") for r in recs)
    assert all(r["layers"][-1]["name"] == "TFTP" for r in recs)


def _ip_fragments(payload: bytes, split: int) -> list[bytes]:
    """A UDP datagram 198.18.0.1:40000 -> 198.18.0.2:5000 (``payload`` after the UDP header) cut into two
    IPv4 fragments at byte ``split`` (a multiple of 8) of the IP payload."""
    udp = struct.pack("!HHHH", 40000, 5000, 8 + len(payload), 0) + payload
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    a, b = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    out = []
    for off, chunk, mf in ((0, udp[:split], 0x2000), (split, udp[split:], 0)):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), 0x1525, mf | off // 8, 64, 17, 0, a, b)
        out.append(eth + ip + chunk)
    return out


def test_fragments_reassembled_per_interface(tmp_path: Path) -> None:
    """The same two fragments seen on two links, interleaved: each link reassembles its own pair."""
    f1, f2 = _ip_fragments(b"z" * 40, 24)
    recs = analyze_both_paths(pcapng(tmp_path, "frag.pcapng", [(0, f1), (1, f1), (1, f2), (0, f2)]), tmp_path)
    assert [r["role"]["code"] for r in recs] == ["ip-fragment", "ip-fragment", "udp", "udp"]
    assert all(r["role"]["text"].startswith("IP fragment 1 of datagram id 0x1525") for r in recs[:2])
    assert all(r["role"]["text"].endswith("reassembled from 2 fragments") for r in recs[2:])
    assert [r["udp"]["length"] for r in recs[2:]] == [48, 48]
