"""Crafted packets (lab.analysis.attribution.crafted) through the real analysis pipeline, without root: a
capture written with scapy, call records shaped as the tracer writes them for an AF_PACKET raw socket."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from scapy.all import ARP, IP, TCP, Ether, wrpcap

from lab.analysis.pipeline import analyze_capture
from lab.records import CallRecord, PacketRecord
from tests.helpers.attribution import CheckedAttributor as Attributor
from tests.helpers.builders import call

H1, H2 = "198.18.0.1", "198.18.0.2"
MAC1, MAC2 = "02:00:00:00:01:00", "02:00:00:00:02:00"
T0 = 1_800_000_000_000_000_000


def _frames() -> list[Any]:
    out, back = Ether(src=MAC1, dst=MAC2) / IP(src=H1, dst=H2), Ether(src=MAC2, dst=MAC1) / IP(src=H2, dst=H1)
    frames = [
        Ether(src=MAC1, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=H1, hwsrc=MAC1, pdst=H2),
        out / TCP(sport=41001, dport=5012, flags="S", seq=1000),
        back / TCP(sport=5012, dport=41001, flags="SA", seq=7, ack=1001),
        out / TCP(sport=41001, dport=5012, flags="R", seq=1001),
    ]
    for i, frame in enumerate(frames):
        frame.time = (T0 + (i + 1) * 10_000_000) / 1e9
    return frames


def _call(cid: int, node: str, name: str, t: int, **fields: Any) -> CallRecord:
    """A call of ``node``'s program (pid 10 on h1, 11 on h2), 1000 ns long, of no known socket unless
    ``fields`` say which."""
    own = {"id": cid, "node": node, "pid": 10 + (node == "h2"), "tid": 1, "sock": None, "t_start_ns": t,
           "t_end_ns": t + 1000, "family": None, "type": None}
    return call(name, **{**own, **fields})


def _calls(frames: list[Any], *, tamper: bool = False) -> list[CallRecord]:
    listener = {"sock": "11:3:1", "family": "AF_INET", "type": "SOCK_STREAM", "local": [H2, 5012]}
    calls = [_call(1, "h2", "socket", T0, **{**listener, "local": None}),
             _call(2, "h2", "bind", T0 + 1, **listener), _call(3, "h2", "listen", T0 + 2, **listener)]
    raw = {"sock": "10:3:1", "family": "AF_PACKET", "type": "SOCK_RAW", "local": ["h1-eth0", 3]}
    for cid, frame in ((4, frames[0]), (5, frames[1])):
        data = bytes(frame) + (b"x" if tamper else b"")
        digest = hashlib.sha1(data).hexdigest()[:16]
        calls.append(_call(cid, "h1", "send", int(frame.time * 1e9) - 50_000, **raw, nbytes=len(data),
                           dgram={"raw": True, "level": "link", "peer": None, "len": len(bytes(frame)),
                                  "sha1": digest}))
    synack, arrived = bytes(frames[2]), int(frames[2].time * 1e9)
    # a blocking read: it began before the SYN-ACK came and returned it just after
    read = {"raw": True, "level": "link", "peer": ["h1-eth0", 2048], "len": len(synack),
            "sha1": hashlib.sha1(synack).hexdigest()[:16], "pkttype": 0}
    calls.append(_call(6, "h1", "recvmsg", arrived - 5_000_000, **raw, t_end_ns=arrived + 50_000,
                       nbytes=len(synack), dgram=read))
    return calls


def _analyze(tmp: Path, calls: list[CallRecord]) -> list[PacketRecord]:
    pcap = tmp / "crafted.pcap"
    wrpcap(str(pcap), _frames())
    out = tmp / "out"
    attributor = Attributor(calls, ip_nodes={H1: "h1", H2: "h2"})
    analyze_capture(pcap, out, attributor=attributor)
    assert attributor.checked == len(_frames())  # every record in and out validated
    return [json.loads(line) for line in (out / "packets.jsonl").read_text().splitlines()]


def test_crafted_frames_are_their_raw_sends_and_the_kernel_resets(tmp_path: Path) -> None:
    arp, syn, synack, rst = (p["cause"] for p in _analyze(tmp_path, _calls(_frames())))
    assert (arp["source"], arp["rule"], arp["calls"]) == ("call", "raw-send", [4])
    assert arp["text"].startswith("h1 send() #4 on a raw socket (AF_PACKET SOCK_RAW) wrote ARP request for "
                                  f"{H2}: the whole frame")
    assert (syn["source"], syn["rule"], syn["calls"]) == ("call", "raw-send", [5])
    assert f"wrote TCP SYN {H1}:41001 -> {H2}:5012" in syn["text"] and "its TCP never saw it" in syn["text"]
    assert (synack["source"], synack["rule"], synack["node"]) == ("kernel", "syn-ack", "h2")
    assert synack["answers"] == 2 and synack["related"] == [3]  # h2's listen()
    assert synack["consumed_by"] == [6] and "a copy read by h1 recvmsg() #6 (raw socket)" in synack["text"]
    assert (rst["source"], rst["rule"], rst["node"], rst["answers"], rst["related"]) == (
        "kernel", "rst-no-socket", "h1", 3, [5])
    assert rst["text"].startswith(f"kernel (h1) resets: no socket of h1 owns {H1}:41001 <-> {H2}:5012 — the "
                                  "SYN was crafted on a raw socket, the kernel never saw it (SYN frame 2 by "
                                  "h1 send() #5; answers frame 3)")


def test_only_the_same_bytes_match(tmp_path: Path) -> None:
    """A raw send whose bytes differ by one from the frame's is not its cause: the SYN stays inferred (no
    traced socket sent it), the ARP request falls back to the kernel's, the RST to a plain kernel reset."""
    arp, syn, _synack, rst = (p["cause"] for p in _analyze(tmp_path, _calls(_frames(), tamper=True)))
    assert syn["source"] == "inferred" and syn["rule"] == "syn-connect"
    assert arp["rule"] != "raw-send" and not arp["calls"]
    assert rst["rule"] == "rst"


def test_no_raw_calls_no_frames_asked(tmp_path: Path) -> None:
    """Without raw calls the attributor asks for no bytes (the pipeline hashes nothing) and the analysis is
    what it was before raw sockets were known."""
    calls = [c for c in _calls(_frames()) if c["family"] != "AF_PACKET"]
    assert Attributor(calls).wants_frames is False
    assert Attributor(_calls(_frames())).wants_frames is True
    causes = [p["cause"] for p in _analyze(tmp_path, calls)]
    assert [c["rule"] for c in causes] == ["arp-request", "syn-connect", "syn-ack", "rst"]
