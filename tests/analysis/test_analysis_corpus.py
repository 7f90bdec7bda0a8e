"""The analysis against tshark 4.0 on 62 public captures (``../shared/corpus``, truth in ``truth/``).

Every capture is analyzed once per session (module fixture); the tests then compare per packet
(lengths, addresses, ports, flags, seq/ack, TCP/UDP lengths), per protocol name and per TCP stream
(handshake frames, FIN and RST senders). Deliberate disagreements with tshark are listed in
``tests.helpers.corpus.NOT_COMPARED`` and in ``APP_DISAGREEMENTS`` below, each with its reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture
from lab.errors import PcapFormatError
from tests.helpers.corpus import (
    check_packets,
    check_protocols,
    check_streams,
    corpus_captures,
    load_truth,
    truth_frames,
)
from tests.helpers.records import load_jsonl

CAPTURES = corpus_captures()  # parametrization happens at collection, before the corpus_dir fixture
UNREADABLE = {"tcpdump__dsa.pcap"}  # link type 284: tshark reads nothing either


@pytest.fixture(scope="module")
def analyzed(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """name -> AnalysisResult, or the PcapFormatError it raised."""
    base = tmp_path_factory.mktemp("corpus")
    out: dict[str, object] = {}
    for name in CAPTURES:
        try:
            out[name] = analyze_capture(corpus_dir / "pcaps" / name, base / name, progress=False)
        except PcapFormatError as err:
            out[name] = err
    return out


def _result(analyzed: dict, name: str):
    res = analyzed[name]
    if isinstance(res, PcapFormatError):
        pytest.fail(f"{name}: {res}")
    return res


def _app_disagreement(name: str, rec: dict, truth: dict, frame_index: int, bad: str) -> bool:
    """Is this protocol-name mismatch one of the documented, deliberate ones?"""
    frames = truth_frames(truth)
    t = frames[frame_index]
    layer = bad.split("we say ")[1].split(",")[0]
    tname = {"HTTP": "http", "SMTP": "smtp", "TLS": "tls", "Telnet": "telnet", "FTP": "ftp",
             "DNS": "dns"}.get(layer)
    # 1. tshark reassembles a message split over several segments and names the protocol on the segment
    #    that completes it; we name it on the segment where it starts.
    if tname and t.get("tcp.stream") is not None:
        later = [f for f in frames[frame_index + 1:] if f.get("tcp.stream") == t["tcp.stream"]
                 and f.get("tcp.srcport") == t.get("tcp.srcport")]
        if any(tname in (f.get("protocols") or "").split(":") for f in later):
            return True
    # 2. Once a stream's application is known we name it on every later payload segment of the stream (an
    #    HTTP body written after its headers, ...); tshark names it only on a segment that starts or
    #    completes a message it could reassemble (it gives up when the snap length cut the headers).
    if tname and t.get("tcp.stream") is not None:
        earlier = [f for f in frames[:frame_index] if f.get("tcp.stream") == t["tcp.stream"]]
        if any(tname in (f.get("protocols") or "").split(":") for f in earlier):
            return True
    # 3. tshark does not dissect the payload of a segment it flags as a retransmission.
    if "retransmission" in t.get("tcp_analysis", []):
        return True
    # 4. active-mode FTP (PORT) data channels: tshark 4.0 does not link them to the control channel
    #    (it says "data"); we follow the PORT command and say FTP-DATA.
    return layer == "FTP-DATA" and "data" in (t.get("protocols") or "").split(":")


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_read_like_tshark(analyzed: dict, corpus_dir: Path, name: str) -> None:
    truth = load_truth(corpus_dir, name)
    res = analyzed[name]
    if name in UNREADABLE:
        assert isinstance(res, PcapFormatError)
        assert "unsupported link type 284" in str(res)
        assert truth["tshark"]["frames_read"] == 0
        return
    res = _result(analyzed, name)
    assert res.packet_count == len(truth_frames(truth))
    if truth["readable"]:
        assert res.errors == []
    else:  # tshark stopped part-way with an error: so do we, with a message and what came before it
        assert res.errors, f"{name}: tshark failed ({truth['tshark']['error']}) but we report no problem"
        assert res.packet_count == truth["tshark"]["frames_read"]
        assert str(corpus_dir / "pcaps" / name) in res.errors[0]
    assert res.annotated_path.is_file() and res.packets_path.is_file()


@pytest.mark.parametrize("name", [c for c in CAPTURES if c not in UNREADABLE])
def test_packets_match_tshark(analyzed: dict, corpus_dir: Path, name: str) -> None:
    res = _result(analyzed, name)
    recs = load_jsonl(res.packets_path)
    truth = load_truth(corpus_dir, name)
    assert check_packets(name, recs, truth) == []


@pytest.mark.parametrize("name", [c for c in CAPTURES if c not in UNREADABLE])
def test_protocol_names_are_tsharks(analyzed: dict, corpus_dir: Path, name: str) -> None:
    res = _result(analyzed, name)
    recs = load_jsonl(res.packets_path)
    truth = load_truth(corpus_dir, name)
    frames = truth_frames(truth)
    index = {r["number"]: i for i, r in enumerate(recs)}
    remaining = []
    for bad in check_protocols(name, recs, truth):
        number = int(bad.split(" frame ")[1].split(":")[0])
        if not _app_disagreement(name, recs[index[number]], truth, index[number], bad):
            remaining.append(bad)
    assert remaining == []
    assert len(frames) == len(recs)


@pytest.mark.parametrize("name", [c for c in CAPTURES if c not in UNREADABLE])
def test_streams_match_truth(analyzed: dict, corpus_dir: Path, name: str) -> None:
    res = _result(analyzed, name)
    recs = load_jsonl(res.packets_path)
    convs = load_jsonl(res.conversations_path)
    truth = load_truth(corpus_dir, name)
    assert check_streams(name, recs, convs, truth) == []
    # every stream tshark sees is one of ours, and no more
    assert len({c["stream"] for c in convs if c["proto"] == "tcp"}) >= len(truth["tcp_streams"])


def test_app_protocols_recognized(analyzed: dict) -> None:
    """The application protocols the issue lists are each recognized in their capture."""
    want = {"zeek__smtp.pcap": "SMTP", "tcpdump__dns_udp.pcap": "DNS", "tcpdump__dns_tcp.pcap": "DNS",
            "zeek__dhcp_dhcp.pcap": "DHCP", "tcpdump__tftp.pcap": "TFTP",
            "zeek__snmp_snmpv1_get.pcap": "SNMP", "tcpdump__syslog_udp.pcap": "Syslog",
            "zeek__ftp_ipv4.pcap": "FTP", "ndpi__telnet.pcap": "Telnet",
            "pcapplusplus__one_http_stream_fin.pcap": "HTTP"}
    for name, app in want.items():
        assert app in _result(analyzed, name).summary["apps"], name
    ftp = load_jsonl(_result(analyzed, "zeek__ftp_ipv4.pcap").packets_path)
    assert any(r["app"] == "FTP-DATA" for r in ftp)
    tftp = load_jsonl(_result(analyzed, "tcpdump__tftp.pcap").packets_path)
    assert tftp and all(r["app"] == "TFTP" for r in tftp), "TFTP transfer ports follow the read request"


# tshark's tcp.analysis flags we compute (not: window_full, ack_lost_segment -- they need the sender's
# bytes in flight and the peer's window, which the fast path does not track)
FLAGS = {"retransmission", "fast_retransmission", "out_of_order", "lost_segment", "duplicate_ack",
         "zero_window", "zero_window_probe", "zero_window_probe_ack", "keep_alive", "keep_alive_ack",
         "window_update"}


@pytest.mark.parametrize("name", [c for c in CAPTURES if c not in UNREADABLE])
def test_analysis_flags_are_tsharks(analyzed: dict, corpus_dir: Path, name: str) -> None:
    """Per TCP packet, the analysis flags we set are exactly tshark's (keep-alives of 0 or 1 byte,
    duplicate ACKs only at the next sequence number with an open window, window updates both ways,
    out-of-order within the first round trip, fast retransmissions also flagged as retransmissions)."""
    recs = load_jsonl(_result(analyzed, name).packets_path)
    frames = truth_frames(load_truth(corpus_dir, name))
    bad = [(r["number"], sorted(r["analysis"]), sorted(set(t["tcp_analysis"]) & FLAGS))
           for r, t in zip(recs, frames, strict=True)
           if t.get("tcp.flags") is not None and set(r["analysis"]) != set(t["tcp_analysis"]) & FLAGS]
    assert bad == []


def test_analysis_flags_seen(analyzed: dict, corpus_dir: Path) -> None:
    """The comparison above is not vacuous: the corpus has each of these flags, and we find them."""
    seen: set[str] = set()
    for name in CAPTURES:
        if name not in UNREADABLE:
            seen.update(f for r in load_jsonl(_result(analyzed, name).packets_path) for f in r["analysis"])
    assert {"retransmission", "fast_retransmission", "out_of_order", "lost_segment", "duplicate_ack",
            "zero_window", "keep_alive", "window_update"} <= seen


def test_icmp_error_names_the_quoted_packet(analyzed: dict) -> None:
    recs = load_jsonl(_result(analyzed, "zeek__smtp.pcap").packets_path)
    errs = [r for r in recs if r["role"]["code"] == "icmp-error"]
    assert errs
    for r in errs:
        q = r["icmp"]["quoted"]
        assert q["proto"] == 6 and q["sport"] and q["dport"]
        assert [ly["name"] for ly in r["layers"] if ly.get("note") == "quoted"] == ["IPv4", "TCP"]


def test_fragments_reassembled(analyzed: dict) -> None:
    recs = load_jsonl(_result(analyzed, "zeek__ipv6-fragmented-dns.pcap").packets_path)
    done = [r for r in recs if r["app"] == "DNS" and r["ip"]["frag"]]
    assert len(done) == 1 and "reassembled from 3 fragments" in done[0]["role"]["text"]
    assert sum(r["role"]["code"] == "ip-fragment" for r in recs) == 3


def test_existing_comments_kept(analyzed: dict) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed")
    res = _result(analyzed, "pcapng-test-generator__le_test009.pcapng")
    out = subprocess.run([tshark, "-r", str(res.annotated_path), "-T", "fields", "-e", "frame.comment"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert out[0].startswith("test009-1,") and "DHCP" in out[0]
    recs = load_jsonl(res.packets_path)
    assert recs[0]["comments"] == ["test009-1"]


def test_annotated_readable_by_tshark(analyzed: dict, corpus_dir: Path) -> None:
    """tshark reads every annotated file back with one of our comments per packet, bytes unchanged."""
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed")
    for name in ("zeek__smtp.pcap", "pcapng-test-generator__le_test202.pcapng",
                 "pcapplusplus__pcapng-example.pcapng", "scapy__http_tcp_psh.pcap.gz",
                 "pcapplusplus__nanosecs_big_endian.pcap"):
        res = _result(analyzed, name)
        recs = load_jsonl(res.packets_path)
        assert recs, name
        rows = subprocess.run([tshark, "-r", str(res.annotated_path), "-T", "fields", "-e", "frame.comment",
                               "-e", "frame.len", "-e", "frame.time_epoch", "-e", "frame.encap_type"],
                              capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
        rows = [r.split("\t") for r in rows]
        rows = [r for r in rows if r[3]]  # custom blocks (test202) have no encapsulation
        assert len(rows) == len(recs), name
        truth = truth_frames(load_truth(corpus_dir, name))
        for rec, row, t in zip(recs, rows, truth, strict=True):
            assert rec["role"]["text"] in row[0], (name, rec["number"])
            assert int(row[1]) == rec["len"]
            if t.get("time_epoch") and name != "pcapng-test-generator__le_test202.pcapng":
                assert row[2] == t["time_epoch"], (name, rec["number"])
