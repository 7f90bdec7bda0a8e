"""Analysis units on recorded captures: API shape, call-log path, fast path = general path, file edge cases.

Captures come from the shared corpus (skipped when absent) or are built byte by byte here, so that each
edge case (gzip behind a misleading name, truncation, unsupported link type) is explicit.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.analysis.catalogue import PROTOCOLS
from lab.analysis.pipeline import analyze_capture
from lab.cli.main import main as lab_main
from lab.errors import PcapFormatError
from tests.helpers.frames import block, epb, idb, pcap, shb, udp_frame
from tests.helpers.records import load_jsonl

CONTRACT_KEYS = ["schema_version", "number", "ts_ns", "t", "interface", "node", "len", "caplen", "layers",
                 "summary", "eth", "ip", "tcp", "udp", "icmp", "arp", "app", "role", "analysis", "cause"]
ROLE_CODES = {"syn", "syn-ack", "handshake-ack", "data", "ack", "fin", "rst", "udp", "ip-fragment",
              "arp-request", "arp-reply", "ndp-ns", "ndp-na", "ndp-rs", "ndp-ra", "icmp-echo-request",
              "icmp-echo-reply", "icmp-error", "igmp", "ospf", "other", "lab-probe"}


def _probe_frame() -> bytes:
    return bytes.fromhex("ffffffffffff020000000001") + b"\x88\xb5" + b"LABPROBE run-1" + b"\0" * 32


class FakeAttributor:
    """Stands in for the lead's Attributor: records what it is given, answers with a 'call' cause."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def cause(self, rec: dict[str, Any]) -> dict[str, Any]:
        assert "cause" not in rec
        self.seen.append(json.loads(json.dumps(rec)))
        return {"source": "call", "rule": "fake", "text": f"fake call for #{rec['number']}", "calls": [7],
                "answers": None}


def test_record_shape_and_catalogue(tmp_path: Path) -> None:
    cap = tmp_path / "udp.pcap"
    cap.write_bytes(pcap(1, [udp_frame(), udp_frame(5000, 40000, b"world!"), _probe_frame()]))
    res = analyze_capture(cap, tmp_path / "out")
    recs = load_jsonl(res.packets_path)
    assert res.packet_count == len(recs) == 3 and res.errors == []
    for r in recs:
        assert list(r)[: len(CONTRACT_KEYS)] == CONTRACT_KEYS
        assert r["role"]["code"] in ROLE_CODES
        for ly in r["layers"]:
            assert (ly["tcpip"], ly["osi"]) == PROTOCOLS[ly["name"]][:2]
    a, b, probe = recs
    assert [ly["name"] for ly in a["layers"]] == ["Ethernet", "IPv4", "UDP", "Data"]
    assert [(ly["offset"], ly["length"]) for ly in a["layers"]] == [(0, 14), (14, 20), (34, 8), (42, 5)]
    assert a["udp"]["sha1"] == __import__("hashlib").sha1(b"hello").hexdigest()[:16]
    assert a["cause"]["source"] == "inferred" and "sendto()" in a["cause"]["text"]
    assert b["udp"]["stream"] == a["udp"]["stream"] and b["cause"]["answers"] == 1
    assert "response to frame 1" in b["role"]["text"]
    assert probe["role"]["code"] == "lab-probe" and probe["cause"]["source"] == "lab"
    assert res.summary["cause_sources"] == {"inferred": 2, "lab": 1}
    assert res.summary["coverage"] == round(1 / 3, 4) and res.summary["described"] == 1.0
    assert b["t"] == 1.0


def test_calls_path_uses_the_attributor_in_capture_order(tmp_path: Path, corpus_dir: Path) -> None:
    fake = FakeAttributor()
    res = analyze_capture(corpus_dir / "pcaps" / "tcpdump__dns_tcp.pcap", tmp_path / "o", attributor=fake)
    recs = load_jsonl(res.packets_path)
    assert [r["number"] for r in fake.seen] == list(range(1, res.packet_count + 1))
    assert all(r["cause"]["source"] == "call" and r["cause"]["calls"] == [7] for r in recs)
    assert res.summary["cause_sources"] == {"call": res.packet_count}
    # the record handed over is the final record minus "cause"
    assert [{k: v for k, v in r.items() if k != "cause"} for r in recs] == fake.seen


def test_calls_keyword_builds_the_leads_attributor(tmp_path: Path, corpus_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import lab.analysis.attribution as attribution

    made: list[Any] = []

    class Recording(FakeAttributor):
        def __init__(self, calls: list[dict]) -> None:
            super().__init__()
            made.append(calls)

    monkeypatch.setattr(attribution, "Attributor", Recording)
    calls = [{"id": 1, "call": "connect"}]
    res = analyze_capture(corpus_dir / "pcaps" / "tcpdump__dns_udp.pcap", tmp_path / "o", calls=calls)
    assert made == [calls] and res.summary["cause_sources"] == {"call": 2}


@pytest.mark.parametrize("name", ["zeek__smtp.pcap", "zeek__ftp_ipv4.pcap", "tcpdump__tftp.pcap",
                                  "pcapplusplus__ip4_fragments.pcap", "zeek__tcp_retransmit-fast009.pcap",
                                  "ndpi__telnet.pcap", "zeek__tcp_ctu-64702-888.pcap",
                                  "zeek__dhcp_dhcp.pcap"])
def test_fast_path_is_byte_identical(tmp_path: Path, corpus_dir: Path, name: str) -> None:
    """The fast path must write exactly what the general path writes."""
    src = corpus_dir / "pcaps" / name
    analyze_capture(src, tmp_path / "fast")
    analyze_capture(src, tmp_path / "slow", fast_path=False)
    for out in ("packets.jsonl", "annotated.pcapng", "conversations.jsonl"):
        assert (tmp_path / "fast" / out).read_bytes() == (tmp_path / "slow" / out).read_bytes(), out


@pytest.mark.parametrize(("name", "chunk"), [
    ("zeek__smtp.pcap", 7), ("zeek__smtp.pcap", 64), ("zeek__smtp.pcap", 100_000), ("zeek__smtp.pcap", 1),
    ("zeek__ftp_ipv4.pcap", 3), ("tcpdump__tftp.pcap", 2), ("zeek__tcp_retransmit-fast009.pcap", 16),
    ("zeek__pcapng-multi-interface.pcapng", 4), ("zeek__icmp_5-pings.pcap", 3),
    ("pcapplusplus__ip4_fragments.pcap", 2)])
def test_render_process_writes_the_same_files(tmp_path: Path, corpus_dir: Path, name: str, chunk: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The render process formats the lines of the entries the analysis sends and writes packets.jsonl and
    annotated.pcapng (small chunks here, so that a capture has many, with fast-path entries and
    general-path lines, FTP/TFTP data channels, retransmissions and several interfaces); the result is
    the one process' bytes."""
    import lab.analysis.renderproc as renderproc

    monkeypatch.setattr(renderproc, "CHUNK_PACKETS", chunk)
    src = corpus_dir / "pcaps" / name
    analyze_capture(src, tmp_path / "one", render_process=False)
    analyze_capture(src, tmp_path / "two", render_process=True)
    for out in ("packets.jsonl", "annotated.pcapng", "conversations.jsonl"):
        assert (tmp_path / "one" / out).read_bytes() == (tmp_path / "two" / out).read_bytes(), out
    one, two = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two"))
    assert one.pop("outputs") != two.pop("outputs")
    assert json.dumps(one) == json.dumps(two)  # in the same order, too


@pytest.mark.parametrize("chunk", [7, 100_000])
def test_render_process_failure_is_one_clear_error(tmp_path: Path, corpus_dir: Path, chunk: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A render process that dies, early (the analysis meets a closed pipe) or after the analysis sent
    everything (its exit code tells), is one PcapFormatError."""
    import os

    import lab.analysis.renderproc as renderproc
    from lab.errors import LabError

    def dies(*_args: Any) -> None:
        os._exit(3)

    monkeypatch.setattr(renderproc, "CHUNK_PACKETS", chunk)
    monkeypatch.setattr(renderproc, "_main", dies)
    with pytest.raises(LabError, match="render process failed"):
        analyze_capture(corpus_dir / "pcaps" / "zeek__smtp.pcap", tmp_path / "o", render_process=True)


@pytest.mark.parametrize("chunk", [7, 100_000])
def test_render_process_error_is_its_own_one_line(tmp_path: Path, corpus_dir: Path, chunk: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """When the render process meets an error (a full disk, say), the user reads that error, not a
    broken pipe, whether the analysis was still sending or had sent everything."""
    import lab.analysis.renderproc as renderproc
    from lab.analysis.fastpath import Renderer
    from lab.errors import LabError

    def full(*_args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(renderproc, "CHUNK_PACKETS", chunk)
    for method in ("tcp", "udp"):  # what the render process calls per entry; forked: it has the patch too
        monkeypatch.setattr(Renderer, method, full)
    with pytest.raises(LabError, match=r"writing the outputs failed: \[Errno 28\] No space left on device"):
        analyze_capture(corpus_dir / "pcaps" / "zeek__smtp.pcap", tmp_path / "o", render_process=True)


def test_gzip_is_sniffed_not_named(tmp_path: Path, corpus_dir: Path) -> None:
    raw = (corpus_dir / "pcaps" / "zeek__arp-who-has.pcap").read_bytes()
    hidden = tmp_path / "looks-plain.pcapng"
    hidden.write_bytes(gzip.compress(raw))
    res = analyze_capture(hidden, tmp_path / "o")
    assert res.packet_count == 2 and res.summary["format"] == "pcap (gzip)"
    assert res.summary["roles"] == {"arp-request": 1, "arp-reply": 1}


def test_truncated_file_gives_partial_results(tmp_path: Path, corpus_dir: Path) -> None:
    raw = (corpus_dir / "pcaps" / "zeek__icmp_5-pings.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[: len(raw) - 30])
    res = analyze_capture(cut, tmp_path / "o")
    assert res.packet_count == 9
    assert len(res.errors) == 1 and "cut short in the middle of packet 10" in res.errors[0]
    assert len(load_jsonl(res.packets_path)) == 9


def test_not_a_capture_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not a capture\n")
    with pytest.raises(PcapFormatError, match="not a pcap or pcapng file"):
        analyze_capture(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_link_type_named(tmp_path: Path) -> None:
    ng = tmp_path / "dsa.pcapng"
    ng.write_bytes(shb() + idb(284) + epb(0, b"\0" * 40))
    with pytest.raises(PcapFormatError, match=r"unsupported link type 284 \(DSA tag\)"):
        analyze_capture(ng, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pcapng_interfaces_and_nodes(tmp_path: Path) -> None:
    ng = tmp_path / "two.pcapng"
    ng.write_bytes(shb() + idb(1, "h1-eth0") + idb(1, "h2-eth0") + epb(0, udp_frame())
                   + epb(1, udp_frame(5000, 40000)))
    res = analyze_capture(ng, tmp_path / "o", iface_nodes={"h1-eth0": "h1", "h2-eth0": "h2"})
    recs = load_jsonl(res.packets_path)
    assert [(r["interface"], r["node"]) for r in recs] == [("h1-eth0", "h1"), ("h2-eth0", "h2")]
    assert recs[0]["ts_ns"] == 1_700_000_000_000_000_000


def test_cli_analyze_json_and_errors(tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture) -> None:
    src = corpus_dir / "pcaps" / "pcapplusplus__one_http_stream_fin.pcap"
    assert lab_main(["analyze", str(src), "--out", str(tmp_path / "a"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["handshakes"] == {"complete": 1, "tcp_streams": 1}
    assert summary["teardowns"] == {"fin": 1, "rst": 0}
    assert lab_main(["analyze", str(src), "--out", str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out
    assert "handshakes:    1 complete of 1 TCP streams" in text and "layers seen:" in text
    assert lab_main(["analyze", str(tmp_path / "missing.pcap")]) == 2
    assert "no such capture file" in capsys.readouterr().err
    calls = tmp_path / "calls.jsonl"
    calls.write_text("{not json\n")
    assert lab_main(["analyze", str(src), "--calls", str(calls), "--out", str(tmp_path / "c")]) == 9
    assert "line 1: not JSON" in capsys.readouterr().err


def test_deep_attaches_tsharks_dissection(tmp_path: Path, corpus_dir: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    res = analyze_capture(corpus_dir / "pcaps" / "pcapng-test-generator__le_test202.pcapng", tmp_path / "o",
                          deep=True)
    recs = load_jsonl(res.packets_path)
    assert recs[2]["deep"]["protocols"] == "null:ip:udp:db-lsp-disc:json"
    assert recs[2]["app"] == "DB-LSP-DISC"  # named by tshark, unknown to our port table
    assert recs[0]["deep"]["protocols"].endswith("udp:dhcp")


def test_annotated_comments_read_by_tshark(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed")
    cap = tmp_path / "u.pcap"
    cap.write_bytes(pcap(1, [udp_frame(), udp_frame(5000, 40000, b"world!")]))
    res = analyze_capture(cap, tmp_path / "o")
    out = subprocess.run([tshark, "-r", str(res.annotated_path), "-T", "fields", "-e", "frame.comment"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert out == ["UDP datagram, 5 bytes | sendto() by 198.18.0.1:40000 | Ethernet/IPv4/UDP/Data",
                   "UDP datagram, 6 bytes (response to frame 1) | sendto() by 198.18.0.2:5000 answering "
                   "frame 1 | Ethernet/IPv4/UDP/Data"]


def test_obsolete_packet_block_and_simple_packet_block(tmp_path: Path) -> None:
    """PB (type 2: 16-bit interface id + drops) and SPB (no timestamp) are read and annotated as EPBs."""
    frame = udp_frame()
    ts = 1_700_000_000_000_000
    pb = block(2, struct.pack("<HHIIII", 0, 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    spb = block(3, struct.pack("<I", len(frame)) + frame)
    ng = tmp_path / "old.pcapng"
    ng.write_bytes(shb() + idb(1) + pb + spb)
    res = analyze_capture(ng, tmp_path / "o")
    recs = load_jsonl(res.packets_path)
    assert [r["ts_ns"] for r in recs] == [ts * 1000, None]
    assert all(r["udp"]["sport"] == 40000 for r in recs)
    tshark = shutil.which("tshark")
    if tshark:
        out = subprocess.run([tshark, "-r", str(res.annotated_path), "-T", "fields", "-e", "frame.comment"],
                             capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
        assert len(out) == 2 and all(line.startswith("UDP datagram, 5 bytes") for line in out)


def test_zero_window_probe_and_keep_alives_like_tshark() -> None:
    """Flags the corpus has no example of: a one-byte probe at the next sequence number while the peer's
    window is 0 (it does not move that number); keep-alives of 0 and 1 byte one below it, which are not
    duplicate ACKs. (tests/analysis/test_tcp_flags_vs_tshark.py compares whole conversations with tshark.)"""
    from lab.analysis.flows import ACK, PSH, SYN, FlowTable
    from lab.analysis.roles import tcp_text

    flows = FlowTable()
    c, s = ("198.18.0.1", 40000), ("198.18.0.2", 80)
    ms = 1_000_000

    def seg(frm: tuple, to: tuple, fl: int, seq: int, ack: int, win: int, tlen: int, n: int) -> Any:
        return flows.tcp(frm[0], frm[1], to[0], to[1], fl, seq, ack, win, tlen, n, n * ms)

    seg(c, s, SYN, 100, 0, 1000, 0, 1)
    seg(s, c, SYN | ACK, 500, 101, 1000, 0, 2)
    seg(c, s, ACK, 101, 501, 1000, 0, 3)
    seg(c, s, ACK | PSH, 101, 501, 1000, 10, 4)
    assert seg(s, c, ACK, 501, 111, 0, 0, 5).analysis == ["zero_window"]
    probe = seg(c, s, ACK, 111, 501, 1000, 1, 6)
    assert probe.analysis == ["zero_window_probe"] and "zero-window probe" in tcp_text(probe)
    assert seg(s, c, ACK, 501, 111, 1000, 0, 7).analysis == ["window_update"]  # reopened, probe not acked
    # the probe did not move the next sequence number (111): keep-alives come one below it
    for n, tlen in ((8, 0), (9, 1)):
        alive = seg(c, s, ACK, 110, 501, 1000, tlen, n)
        assert alive.analysis == ["keep_alive"], (tlen, alive.analysis)
    assert seg(c, s, ACK, 111, 501, 1000, 0, 10).analysis == ["duplicate_ack"]


def test_packet_block_too_short_for_its_header(tmp_path: Path, corpus_dir: Path) -> None:
    """A 12-byte EPB at the end (a block header and nothing else): the packets before it, and one warning."""
    src = corpus_dir / "pcaps" / "zeek__pcapng-multi-interface.pcapng"
    bad = tmp_path / "short-epb.pcapng"
    bad.write_bytes(src.read_bytes() + struct.pack("<III", 6, 12, 12))
    whole = analyze_capture(src, tmp_path / "whole")
    res = analyze_capture(bad, tmp_path / "o")
    assert res.packet_count == whole.packet_count > 0
    assert len(res.errors) == 1 and "only 12 bytes, too short for its header" in res.errors[0]


def test_render_process_bug_keeps_its_traceback(tmp_path: Path, corpus_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the render process is not dressed up as a user error: its traceback reaches the user."""
    from lab.analysis.fastpath import Renderer

    def broken(*_args: Any) -> None:
        raise TypeError("an entry of the wrong shape")

    for method in ("tcp", "udp"):
        monkeypatch.setattr(Renderer, method, broken)
    with pytest.raises(RuntimeError, match=r"(?s)render process failed:.*Traceback.*TypeError: an entry"):
        analyze_capture(corpus_dir / "pcaps" / "zeek__smtp.pcap", tmp_path / "o", render_process=True)


def test_render_process_stops_where_the_analysis_stopped(tmp_path: Path, corpus_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture still being written: the render process, reading later, finds more packets than the
    analysis did. It writes the packets the analysis explained, and no more."""
    import lab.analysis.renderproc as renderproc
    from lab.analysis.reader import CaptureReader

    raw = (corpus_dir / "pcaps" / "zeek__smtp.pcap").read_bytes()
    offset, kept = 24, 0
    while kept < 20:  # the first 20 records of the pcap file
        offset += 16 + struct.unpack_from("<I", raw, offset + 8)[0]
        kept += 1
    short = tmp_path / "now.pcap"
    short.write_bytes(raw[:offset])
    later = tmp_path / "later.pcap"
    later.write_bytes(raw)
    analyze_capture(short, tmp_path / "one", render_process=False)
    monkeypatch.setattr(renderproc, "CaptureReader", lambda _path: CaptureReader(later))
    res = analyze_capture(short, tmp_path / "two", render_process=True)
    assert res.packet_count == 20
    for out in ("packets.jsonl", "annotated.pcapng"):
        assert (tmp_path / "one" / out).read_bytes() == (tmp_path / "two" / out).read_bytes(), out
