"""The ladder drawn from hand-made packets.jsonl / calls.jsonl records: row order and what each row draws.

Rows are ``{t:9.3f}  {columns}  {text}``; the columns part starts at character 11 and node ``i`` of the
lanes sits at ``11 + i * LANE_GAP``. Also ``lab show DIR | head -1``: a reader that stops early is a normal
end for the CLI (exit 0, nothing on stderr).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab.records import CallRecord, PacketRecord
from lab.report.ladder import LANE_GAP, Lane, group_destination, render_ladder
from tests.helpers.builders import T0, arp, eth, icmp, ip, tcp, udp
from tests.helpers.builders import call as make_call
from tests.helpers.builders import packet as record
from tests.helpers.renderrecords import SEGMENT

US = 1_000
MS = 1_000_000
LANES = [Lane("h1"), Lane("h2")]
MACS = {"02:00:00:00:00:01": "h1", "02:00:00:00:00:02": "h2"}
IPS = {"198.18.0.1": "h1", "198.18.0.2": "h2", "fd00::1": "h1", "fd00::2": "h2"}
COL = {"h1": 11, "h2": 11 + LANE_GAP}


def packet(number: int, ts_ns: int, **fields: Any) -> PacketRecord:
    """A complete record of frame ``number`` (captured at h1 unless ``node`` says else)."""
    if isinstance(fields.get("role"), dict):
        fields["role"] = dict(fields["role"])
    return record(number, ts_ns, **fields)


def tcp_packet(number: int, ts_ns: int, src: int, dst: int, flags: str, *, length: int = 0) -> PacketRecord:
    """A TCP segment from h<src> to h<dst> (ports 40312 <-> 5000, h1 the client)."""
    sport, dport = (40312, 5000) if src == 1 else (5000, 40312)
    code = "fin" if "FIN" in flags else ("data" if length else "ack")
    return packet(
        number, ts_ns,
        eth=eth(f"02:00:00:00:00:0{src}", f"02:00:00:00:00:0{dst}"),
        ip=ip(f"198.18.0.{src}", f"198.18.0.{dst}"),
        tcp=tcp(sport, dport, flags, seq_raw=1001, ack_raw=1, seq=1, ack=1, length=length, **SEGMENT),
        role={"code": code, "text": code},
    )


def call(cid: int, node: str, name: str, start: int, end: int, **fields: Any) -> CallRecord:
    """Call ``cid`` of ``node`` from ``start`` to ``end`` (ns) on socket 100:3:1, returning 0 unless told."""
    own = {"id": cid, "node": node, "t_start_ns": start, "t_end_ns": end, "sock": "100:3:1", "ret": 0}
    return make_call(name, **{**own, **fields})


def rows(ladder: str) -> list[str]:
    """The event rows (those that start with a time), in order."""
    return [ln for ln in ladder.splitlines() if ln[:9].strip().replace(".", "", 1).isdigit()]


def index_of(lines: list[str], needle: str) -> int:
    found = [i for i, ln in enumerate(lines) if needle in ln]
    assert len(found) == 1, f"{needle!r} in {len(found)} rows:\n" + "\n".join(lines)
    return found[0]


def columns(row: str) -> str:
    return row[11 : 11 + LANE_GAP + 1]


def test_a_short_recv_returns_after_the_fin_that_ended_it() -> None:
    """recv() blocked only 20 us, but the FIN arrived inside it: the outcome row must follow the FIN."""
    calls = [call(5, "h1", "recv", T0 + 10 * US, T0 + 30 * US, nbytes=0, ret=0)]
    packets = [tcp_packet(7, T0 + 20 * US, 2, 1, "FIN,ACK")]
    lines = rows(render_ladder(packets, calls, LANES, MACS, ip_nodes=IPS))
    assert len(lines) == 3
    start, fin, ret = index_of(lines, "recv() #5 ..."), index_of(lines, "#7 FIN"), index_of(lines, "returns")
    assert start < fin < ret
    assert lines[start][COL["h1"]] == "*"
    assert lines[ret][COL["h1"]] == "<" and "recv() -> b'' (0 B: the peer closed its side)" in lines[ret]
    assert "returns after 0.020 ms" in lines[ret]
    # the FIN goes right to left, from h2's column to h1's
    assert lines[fin][COL["h1"] + 1] == "<" and lines[fin][COL["h2"]] == "|"


def test_a_call_with_nothing_inside_is_one_row_at_its_start_however_long() -> None:
    """5 ms blocked, but no other event inside (the packet comes exactly at its end): one row."""
    calls = [call(3, "h2", "accept", T0, T0 + 5 * MS, ret={"fd": 4, "peer": ["198.18.0.1", 40312]})]
    packets = [tcp_packet(1, T0 + 5 * MS, 1, 2, "ACK")]
    lines = rows(render_ladder(packets, calls, LANES, MACS, ip_nodes=IPS))
    assert len(lines) == 2
    assert "accept() -> (<socket fd 4>, ('198.18.0.1', 40312))  [call #3]" in lines[0]
    assert lines[0][COL["h2"]] == "*" and lines[0].startswith("    0.000")
    assert "returns" not in "".join(lines)
    assert "#1 ACK" in lines[1] and lines[1][COL["h2"] - 1] == ">"


def test_another_calls_start_inside_a_call_splits_it() -> None:
    calls = [
        call(1, "h2", "accept", T0, T0 + 50 * US, ret={"fd": 4, "peer": ["198.18.0.1", 40312]}),
        call(2, "h1", "connect", T0 + 10 * US, T0 + 40 * US, args={"address": ["198.18.0.2", 5000]}),
    ]
    lines = rows(render_ladder([], calls, LANES, MACS, ip_nodes=IPS))
    connect = "connect(('198.18.0.2', 5000))  [call #2, step 6]"
    order = [index_of(lines, s) for s in ("accept() #1 ...", connect, "returns")]
    assert order == [0, 1, 2]
    assert lines[1][COL["h1"]] == "*" and lines[2][COL["h2"]] == "<"


def test_simultaneous_events_do_not_split_a_call() -> None:
    """Strictly inside: a packet at the very nanosecond a call starts is not 'while it ran'."""
    calls = [call(1, "h1", "send", T0, T0 + 10 * US, nbytes=5, ret=5)]
    packets = [tcp_packet(2, T0, 1, 2, "PSH,ACK", length=5)]
    lines = rows(render_ladder(packets, calls, LANES, MACS, ip_nodes=IPS))
    assert len(lines) == 2
    assert "send(<5 B>) -> 5" in lines[0] and "#2 PSH,ACK" in lines[1]


def test_many_calls_keep_time_order() -> None:
    """Alternating short calls and packets: every row is in time order and each call's outcome follows
    every event that happened while it ran."""
    calls, packets = [], []
    for i in range(200):
        base = T0 + i * 100 * US
        calls.append(call(i + 1, "h1", "recv", base, base + 30 * US, nbytes=1, ret=1))
        packets.append(tcp_packet(i + 1, base + 15 * US, 2, 1, "PSH,ACK", length=1))
    lines = rows(render_ladder(packets, calls, LANES, MACS, ip_nodes=IPS))
    assert len(lines) == 600
    times = [float(ln[:9]) for ln in lines]
    assert times == sorted(times)
    for i in range(200):
        assert f"recv() #{i + 1} ..." in lines[3 * i]
        assert f"#{i + 1} PSH,ACK" in lines[3 * i + 1]
        assert f"[call #{i + 1}]  returns" in lines[3 * i + 2]


def test_multicast_is_a_star_at_the_sender_not_an_arrow() -> None:
    """An MLD report to ff02::16 has no receiving column: '*' in h1's column, h2's column untouched."""
    mld = packet(
        1, T0,
        eth=eth("02:00:00:00:00:01", "33:33:00:00:00:16"),
        ip=ip("fe80::1", "ff02::16", proto=0),
        role={"code": "other", "text": "MLDv2 report"},
    )
    lines = rows(render_ladder([mld], [], LANES, MACS, ip_nodes=IPS))
    assert len(lines) == 1
    assert columns(lines[0]) == "*" + " " * (LANE_GAP - 1) + "|"
    assert "multicast to ff02::16" in lines[0]


def test_broadcast_is_a_star_at_the_sender() -> None:
    dhcp = packet(
        1, T0,
        eth=eth("02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"),
        ip=ip("198.18.0.2", "255.255.255.255", proto=17),
        udp=udp(68, 67, 308),
        role={"code": "udp", "text": "UDP datagram"}, node="h2",
    )
    lines = rows(render_ladder([dhcp], [], LANES, MACS, ip_nodes=IPS))
    assert columns(lines[0]) == "|" + " " * (LANE_GAP - 1) + "*"
    assert "broadcast to 255.255.255.255" in lines[0]


def test_arp_request_for_a_known_node_stays_an_arrow() -> None:
    """The target address names the node the request is for, so the arrow is true."""
    request = packet(
        1, T0,
        eth=eth("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff"),
        arp=arp(1, "198.18.0.1", "198.18.0.2"),
        role={"code": "arp-request", "text": "ARP request"},
    )
    lines = rows(render_ladder([request], [], LANES, MACS, ip_nodes=IPS))
    assert lines[0][COL["h2"] - 1] == ">" and "[1]" in lines[0]
    assert "broadcast" not in lines[0]


def test_unicast_to_an_unknown_address_is_not_drawn_to_a_neighbour() -> None:
    """Captured at its sender and addressed to no node of the ladder: '*' at the sender, saying so.
    Captured at another node's interface: that node received it, so an arrow to it is true."""
    stray = dict(
        eth=eth("02:00:00:00:00:01", "02:00:00:00:00:99"),
        ip=ip("198.18.0.1", "198.18.5.5", proto=1),
        icmp=icmp(4, 8, "echo request"),
    )
    at_sender = rows(render_ladder([packet(1, T0, node="h1", **stray)], [], LANES, MACS, ip_nodes=IPS))
    assert columns(at_sender[0]) == "*" + " " * (LANE_GAP - 1) + "|"
    assert "to 198.18.5.5 (no node of this ladder)" in at_sender[0]
    at_h2 = rows(render_ladder([packet(1, T0, node="h2", **stray)], [], LANES, MACS, ip_nodes=IPS))
    assert at_h2[0][COL["h2"] - 1] == ">"


def test_a_v4_mapped_local_address_names_the_column() -> None:
    """A dual-stack socket reports ``::ffff:198.18.0.1``; the packet says 198.18.0.1. No MAC or IP maps
    are given, so only the call's local endpoint can name the columns."""
    calls = [
        call(1, "h1", "connect", T0, T0 + 1 * US, local=["::ffff:198.18.0.1", 40312]),
        call(2, "h2", "accept", T0, T0 + 1 * US, local=["198.18.0.2", 5000]),
    ]
    lines = rows(render_ladder([tcp_packet(1, T0 + 2 * US, 1, 2, "SYN")], calls, LANES))
    row = lines[index_of(lines, "#1 SYN")]
    assert row[COL["h2"] - 1] == ">" and row[COL["h1"]] == "|"


def test_lab_probes_are_left_out() -> None:
    probe = packet(1, T0, role={"code": "lab-probe", "text": "lab capture probe"})
    ladder = render_ladder([probe, tcp_packet(2, T0 + 1, 1, 2, "SYN")], [], LANES, MACS, ip_nodes=IPS)
    assert "#1 " not in ladder and len(rows(ladder)) == 1


@pytest.mark.parametrize(
    ("eth_dst", "ip_dst", "expected"),
    [
        ("33:33:00:00:00:16", "ff02::16", ("multicast", "ff02::16")),
        ("33:33:ff:00:00:02", "ff02::1:ff00:2", ("multicast", "ff02::1:ff00:2")),
        ("01:00:5e:00:00:fb", "224.0.0.251", ("multicast", "224.0.0.251")),
        ("ff:ff:ff:ff:ff:ff", "255.255.255.255", ("broadcast", "255.255.255.255")),
        ("ff:ff:ff:ff:ff:ff", None, ("broadcast", "ff:ff:ff:ff:ff:ff")),
        ("01:80:C2:00:00:0E", None, ("multicast", "01:80:c2:00:00:0e")),
        ("02:00:00:00:00:02", "198.18.0.2", None),
        ("02:00:00:00:00:02", "fd00::2", None),
        ("02:00:00:00:00:02", "239.255.255.250", ("multicast", "239.255.255.250")),
        (None, "223.255.255.255", None),
    ],
)
def test_group_destination(eth_dst: str | None, ip_dst: str | None, expected: tuple[str, str] | None) -> None:
    pkt = packet(
        1, T0,
        eth=eth("02:00:00:00:00:01", eth_dst) if eth_dst else None,
        ip=ip("fd00::9" if ":" in ip_dst else "198.18.0.9", ip_dst) if ip_dst else None,
    )
    assert group_destination(pkt) == expected


# -- lab show DIR | head -1 -------------------------------------------------------------------------------
@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished run's directory with a ladder far larger than a pipe's buffer (64 KiB)."""
    body = "".join(f"{i * 0.001:9.3f}  *{' ' * 21}|  h1 recv(1 B) = 1  [call #{i}]\n" for i in range(20000))
    (tmp_path / "ladder.txt").write_text("title\n" + body)
    return tmp_path


LAB = [sys.executable, "-m", "lab.cli.main"]


def test_lab_show_into_head_exits_zero_quietly(run_dir: Path) -> None:
    """head exits after one line while lab is still writing; lab's EPIPE is a normal end."""
    for _ in range(5):
        lab = subprocess.Popen([*LAB, "show", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        head = subprocess.run(["head", "-1"], stdin=lab.stdout, capture_output=True, timeout=30, check=True)
        assert lab.stdout is not None
        lab.stdout.close()
        err = lab.stderr.read() if lab.stderr else b""
        assert lab.wait(timeout=30) == 0, err
        assert err == b""
        assert head.stdout == b"title\n"


def test_lab_show_into_an_already_closed_pipe_exits_zero_quietly(run_dir: Path) -> None:
    """The deterministic form of the race above: the reader is gone before lab writes a byte."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        for argv in (["show", str(run_dir)], ["--help"]):
            done = subprocess.run([*LAB, *argv], stdout=write_end, stderr=subprocess.PIPE, timeout=30)
            assert (done.returncode, done.stderr) == (0, b""), argv
    finally:
        os.close(write_end)


def test_lab_show_errors_still_fail_with_a_closed_stdout(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [*LAB, "show", str(tmp_path / "missing")], stdout=write_end, stderr=subprocess.PIPE, timeout=30
        )
    finally:
        os.close(write_end)
    assert done.returncode == 2
    assert done.stderr.decode().startswith("lab: no run directory at ")
