"""Capture statistics without root: dumpcap's interface statistics blocks and log lines, read and combined.

The pcapng files are written here block by block (both byte orders, several sections) so that every
branch of the reader is exercised; the real dumpcap's blocks are read by tests/capture/test_loss.py.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lab.capture.dumpcap import Capture, CaptureOptions, CaptureTarget, _Group, buffer_per_interface
from lab.capture.stats import CaptureStats, InterfaceCounts, combine, read_isb, read_log
from lab.errors import UsageError
from tests.helpers.frames import block, idb, shb

# dumpcap 4.0's closing lines, verbatim from a run that overflowed a 1 MiB buffer
LOG = (
    "Capturing on 'capxa' and 'Loopback: lo'\nFile: /tmp/x.pcapng\nPackets captured: 38579\n"
    "Packets received/dropped on interface 'capxa': 38579/99137 "
    "(pcap:99137/dumpcap:0/flushed:0/ps_ifdrop:0) (28.0%)\n"
    "Packets received/dropped on interface 'Loopback: lo': 6/0 "
    "(pcap:0/dumpcap:3/flushed:1/ps_ifdrop:0) (100.0%)\n"
)


def _section(endian: str, isbs: dict[int, dict[int, int]], n_ifaces: int) -> bytes:
    out = shb(endian)
    for _ in range(n_ifaces):
        out += idb(1, snaplen=262144, order=endian)
    for iid, opts in isbs.items():
        raw = struct.pack(endian + "HH", 1, 4) + b"note"  # a comment option, skipped by the reader
        for code, value in opts.items():
            raw += struct.pack(endian + "HH", code, 8) + struct.pack(endian + "Q", value)
        raw += struct.pack(endian + "HH", 0, 0)
        out += block(5, struct.pack(endian + "III", iid, 0, 0) + raw, endian)  # interface statistics
    return out


def test_statistics_blocks_of_both_byte_orders_and_several_sections(tmp_path: Path) -> None:
    path = tmp_path / "c.pcapng"
    path.write_bytes(
        _section("<", {0: {4: 100, 5: 7}, 1: {4: 5, 5: 0, 7: 2}}, 2) + _section(">", {0: {4: 9, 5: 1}}, 1)
    )
    assert read_isb(path) == {
        0: InterfaceCounts(100, 7),
        1: InterfaceCounts(5, 2),  # isb_osdrop counts as lost too
        2: InterfaceCounts(9, 1),  # the second section's interface 0 is the file's third
    }


def test_a_truncated_file_keeps_what_was_read_and_a_missing_one_has_none(tmp_path: Path) -> None:
    path = tmp_path / "c.pcapng"
    data = _section("<", {0: {4: 3, 5: 0}}, 1) + _section("<", {0: {4: 8, 5: 8}}, 1)
    path.write_bytes(data[:-10])
    assert read_isb(path) == {0: InterfaceCounts(3, 0)}
    assert read_isb(tmp_path / "absent.pcapng") == {}


def test_the_log_lines_count_dumpcaps_own_losses_and_keep_described_names() -> None:
    assert read_log(LOG) == {
        "capxa": InterfaceCounts(38579, 99137),
        "Loopback: lo": InterfaceCounts(6, 4),  # dumpcap:3 + flushed:1, though the headline says 0
    }
    assert read_log("Capturing on 'eth0'\n") == {}


def test_combine_takes_the_larger_loss_and_unknown_only_without_either_source() -> None:
    assert combine(InterfaceCounts(10, 0), InterfaceCounts(10, 2)) == InterfaceCounts(10, 2)
    assert combine(None, InterfaceCounts(4, 0)) == InterfaceCounts(4, 0)
    assert combine(InterfaceCounts(4, None), None) == InterfaceCounts(None, None)


def test_stats_say_what_was_lost_where_and_what_to_do() -> None:
    stats = CaptureStats({"h1-eth0": InterfaceCounts(90, 10), "s1": InterfaceCounts(50, 0)})
    assert not stats.complete and stats.dropped == 10
    problem = stats.problem()
    assert problem is not None
    assert "lost 10 packet(s) (10 of 100 on h1-eth0)" in problem
    assert "--capture-buffer" in problem and "--snaplen" in problem
    assert stats.header_line() == "capture: INCOMPLETE, 10 packets dropped (10 on h1-eth0)"
    assert stats.as_dict() == {
        "dropped": 10,
        "per_interface": {"h1-eth0": {"received": 90, "dropped": 10}, "s1": {"received": 50, "dropped": 0}},
        "complete": False,
        "unknown": [],
    }


def test_unknown_statistics_are_not_a_complete_capture() -> None:
    stats = CaptureStats({"h1-eth0": InterfaceCounts(None, None), "s1": InterfaceCounts(5, 0)})
    assert not stats.complete and stats.dropped == 0 and stats.unknown == ["h1-eth0"]
    assert "loss there is unknown" in (stats.problem() or "")
    assert not CaptureStats({}).complete  # no capture point at all: nothing says nothing was lost
    ok = CaptureStats({"h1-eth0": InterfaceCounts(12, 0)})
    assert ok.complete and ok.problem() is None
    assert ok.header_line() == "capture: complete (12 packets received, 0 dropped)"


def test_stop_reads_each_groups_blocks_and_log_by_target_order(tmp_path: Path) -> None:
    """Labels come from the targets in -i order; the log matches an interface by name or 'Descr: name'."""
    targets = [CaptureTarget("ns-a", "eth0", "h1-eth0"), CaptureTarget("ns-a", "lo", "h1-lo")]
    cap = Capture(targets, tmp_path / "c.pcapng", tmp_path)
    group = _Group("ns-a", targets, tmp_path / "cap-0.pcapng", tmp_path / "dumpcap-0.log")
    group.file.write_bytes(_section("<", {0: {4: 20, 5: 0}}, 2))  # no block for lo: its log line counts
    group.log.write_text(
        "Packets received/dropped on interface 'eth0': 20/5 (pcap:5/dumpcap:0/flushed:0/ps_ifdrop:0)\n"
        "Packets received/dropped on interface 'Loopback: lo': 3/0 (pcap:0/dumpcap:0/flushed:0/ps_ifdrop:0)\n"
    )
    cap._groups.append(group)
    stats = cap._read_stats()
    assert stats.per_interface == {"h1-eth0": InterfaceCounts(20, 5), "h1-lo": InterfaceCounts(3, 0)}


def test_buffer_budget_and_option_ranges() -> None:
    assert buffer_per_interface(1) == 64
    assert buffer_per_interface(16) == 32
    assert buffer_per_interface(1000) == 2  # never below dumpcap's own default
    with pytest.raises(UsageError, match="snap length 40"):
        CaptureOptions(snaplen=40)
    with pytest.raises(UsageError, match="capture buffer 0"):
        CaptureOptions(buffer_mib=0)
    assert CaptureOptions(buffer_mib=1, snaplen=128).snaplen == 128


def test_dumpcap_argv_carries_buffer_and_snap_length_per_interface() -> None:
    targets = [CaptureTarget(None, "eth0", "h1-eth0"), CaptureTarget(None, "lo", "h1-lo", "host 127.0.0.9")]
    cap = Capture(targets, Path("c.pcapng"), Path("w"), buffer_mib=3, snaplen=128)
    assert cap.dumpcap_argv("dumpcap", targets, Path("f.pcapng")) == [
        "dumpcap", "-q",
        "-i", "eth0", "-B", "3", "-s", "128",
        "-i", "lo", "-B", "3", "-s", "128", "-f", "(host 127.0.0.9) or ether proto 0x88b5",
        "-w", "f.pcapng",
    ]  # fmt: skip
    whole = Capture(targets * 4, Path("c"), Path("w"))
    assert whole.buffer_mib == 64 and "-s" not in whole.dumpcap_argv("dumpcap", targets, Path("f"))
