"""The handshake-by-hand lab, run for real once: scapy writes frames on an AF_PACKET raw socket in h1, h2's
kernel answers, h1's kernel resets — and every packet is explained, the crafted ones by the raw send whose
bytes they are (the hash of the captured frame itself, recomputed here, equals the call's)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lab
from lab.labs.grading import grade
from lab.labs.spec import load_lab
from tests.helpers.records import load_jsonl, validate_dir

runner = pytest.importorskip("lab.runner")

H1, H2, PORT = "198.18.0.1", "198.18.0.2", 5012


class Evidence:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.result = runner.run_lab(load_lab("handshake-by-hand"), out)
        self.packets = load_jsonl(out / "packets.jsonl")
        self.calls = {c["id"]: c for c in load_jsonl(out / "calls.jsonl")}
        self.run = lab.open(out)

    def frame_sha1(self, number: int) -> str:
        return hashlib.sha1(self.run.packet(number).raw).hexdigest()[:16]

    def tcp(self, sport: int, dport: int, flags: str) -> list[dict[str, Any]]:
        def fits(tcp: dict[str, Any] | None) -> bool:
            return tcp is not None and (tcp["sport"], tcp["dport"], tcp["flags"]) == (sport, dport, flags)

        return [p for p in self.packets if fits(p["tcp"])]


@pytest.fixture(scope="module")
def hs(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    return Evidence(tmp_path_factory.mktemp("handshake") / "run")


@pytest.mark.root
def test_green_every_packet_explained_and_records_valid(hs: Evidence) -> None:
    assert hs.result.failures == [], hs.result.failures
    cov = hs.result.report["coverage"]
    assert cov["total"] > 0 and cov["explained"] == cov["total"], cov
    assert all(p["cause"]["source"] in ("call", "kernel", "lab") for p in hs.packets)
    graded = grade(hs.out, {}, load_lab("handshake-by-hand"))  # the key, from the raw evidence alone
    assert graded.trusted, (graded.flags, graded.problems)
    key = {m.id: m.expected for m in graded.marks if m.status != "manual"}
    assert key == {"syn-seq": 1000, "synack-ack": 1001, "rst-port": 41001}
    counts = validate_dir(hs.out)
    assert counts["packet"] == len(hs.packets) and counts["call"] == len(hs.calls) > 0


@pytest.mark.root
def test_each_crafted_frame_is_its_raw_send_by_the_bytes(hs: Evidence) -> None:
    sends = [c for c in hs.calls.values() if c["call"] == "send" and c["family"] == "AF_PACKET"]
    assert len(sends) == 6  # per run of the program: ARP request and SYN; the second adds ACK and RST
    crafted = [p for p in hs.packets if p["cause"]["rule"] == "raw-send"]
    assert sorted(p["cause"]["calls"][0] for p in crafted) == sorted(c["id"] for c in sends)
    for packet in crafted:
        call = hs.calls[packet["cause"]["calls"][0]]
        assert call["node"] == "h1" and call["type"] == "SOCK_RAW" and call["nbytes"] == packet["len"]
        assert call["dgram"]["raw"] is True and call["dgram"]["level"] == "link"
        assert call["dgram"]["sha1"] == hs.frame_sha1(packet["number"])  # the captured frame's own bytes
        assert packet["cause"]["source"] == "call"
        assert "raw socket (AF_PACKET SOCK_RAW)" in packet["cause"]["text"]
    kinds = sorted((p["tcp"] or {}).get("flags") or "ARP" for p in crafted)
    assert kinds == ["ACK", "ARP", "ARP", "RST", "SYN", "SYN"]


@pytest.mark.root
def test_synack_is_h2s_kernel_answering_the_crafted_syn_and_read_on_the_raw_socket(hs: Evidence) -> None:
    for sport in (41001, 41002):
        (syn,) = hs.tcp(sport, PORT, "SYN")
        (synack,) = hs.tcp(PORT, sport, "SYN,ACK")
        cause = synack["cause"]
        assert (cause["source"], cause["rule"], cause["node"]) == ("kernel", "syn-ack", "h2")
        assert cause["answers"] == syn["number"] and synack["tcp"]["ack_raw"] == syn["tcp"]["seq_raw"] + 1
        listen = hs.calls[cause["related"][0]]
        assert listen["call"] == "listen" and listen["node"] == "h2"
        (read,) = [hs.calls[i] for i in cause["consumed_by"]]
        assert read["call"] == "recvmsg" and read["family"] == "AF_PACKET" and read["node"] == "h1"
        assert read["dgram"]["sha1"] == hs.frame_sha1(synack["number"]) and read["dgram"]["pkttype"] != 4


@pytest.mark.root
def test_the_rst_is_h1s_kernel_because_no_socket_owns_the_connection(hs: Evidence) -> None:
    (syn,) = hs.tcp(41001, PORT, "SYN")
    (synack,) = hs.tcp(PORT, 41001, "SYN,ACK")
    (rst,) = hs.tcp(41001, PORT, "RST")
    cause = rst["cause"]
    assert (cause["source"], cause["rule"], cause["node"]) == ("kernel", "rst-no-socket", "h1")
    assert cause["text"].startswith(
        f"kernel (h1) resets: no socket of h1 owns {H1}:41001 <-> {H2}:{PORT} — the SYN was crafted on a raw "
        "socket, the kernel never saw it")
    assert cause["answers"] == synack["number"]
    assert cause["related"] == syn["cause"]["calls"]  # the raw send that crafted the SYN
    assert not any(c["call"] == "connect" for c in hs.calls.values())  # no socket of h1 ever asked for it
    # the ARP exchange just before it is h1's kernel resolving h2 for its RST: scapy's did not fill its table
    arp = [p for p in hs.packets if p["arp"] and syn["number"] < p["number"] < rst["number"]]
    assert [p["cause"]["source"] for p in arp if p["arp"]["op"] == 1] == ["kernel"]


@pytest.mark.root
def test_with_its_rsts_dropped_the_handshake_completes_by_hand(hs: Evidence) -> None:
    (ack,) = hs.tcp(41002, PORT, "ACK")
    (rst,) = hs.tcp(41002, PORT, "RST")  # the program's abort; the kernel's RST was dropped by nft
    assert ack["role"]["code"] == "handshake-ack" and ack["cause"]["rule"] == "raw-send"
    assert rst["cause"]["rule"] == "raw-send" and rst["number"] > ack["number"]
    accept = next(c for c in hs.calls.values() if c["call"] == "accept")
    assert accept["error"] is None and accept["ret"]["peer"] == [H1, 41002]
    recv = next(c for c in hs.calls.values() if c["call"] == "recv" and c["node"] == "h2")
    assert recv["exception"] == "ConnectionResetError" and recv["t_end_ns"] >= accept["t_end_ns"]


@pytest.mark.root
def test_lab_analyze_with_the_call_log_explains_it_the_same_way(hs: Evidence, tmp_path: Path) -> None:
    """``lab analyze --calls`` (no topology: nodes known only from the call log) accepts the run's call log
    — scapy's netlink sockets included — and gives every frame the rule the run gave it."""
    out = tmp_path / "analyze"
    proc = subprocess.run([sys.executable, "-m", "lab", "analyze", str(hs.out / "capture.pcapng"), "--calls",
                           str(hs.out / "calls.jsonl"), "--out", str(out)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    again = {p["number"]: p["cause"] for p in load_jsonl(out / "packets.jsonl")}
    assert {n: c["rule"] for n, c in again.items()} == {p["number"]: p["cause"]["rule"] for p in hs.packets}
    (rst,) = hs.tcp(41001, PORT, "RST")
    assert again[rst["number"]]["node"] == "h1" and again[rst["number"]]["rule"] == "rst-no-socket"
    assert any(c["family"] == "AF_NETLINK" for c in hs.calls.values())
