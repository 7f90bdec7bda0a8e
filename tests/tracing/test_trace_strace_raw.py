"""Raw IPv4 sockets under strace (a routing daemon's OSPF socket): each datagram recorded with the hash of
its IP payload, the IP header's addresses and ID (sent with IP_HDRINCL, or received), and its peer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.tracing import merge_traces, wrap_command
from lab.tracing.strace import parse_strace_file
from tests.helpers.records import validate_dir

DATA = Path(__file__).parent / "data" / "ospfd_raw.strace"  # recorded from FRR 8.4's ospfd on this project


def test_raw_send_and_receive() -> None:
    recs = parse_strace_file(DATA, node="r1")
    sock = [r for r in recs if r["call"] == "socket"]
    assert sock and sock[0]["type"] == "SOCK_RAW" and sock[0]["family"] == "AF_INET"
    assert sock[0]["args"]["proto"] == "89"  # strace: 0x59 /* IPPROTO_??? */
    send = next(r for r in recs if r["call"] == "sendmsg")
    recv = next(r for r in recs if r["call"] == "recvmsg")
    # the OSPF Hello bytes of the second iovec (the first is the IP header ospfd wrote itself)
    hello = bytes.fromhex(
        "0201002c 01010101 00000000 f9cd0000 00000000 00000000"  # header: Hello, router ID 1.1.1.1
        "fffffffc 0001 02 01 00000004 00000000 00000000"  # mask, hello 1 s, options, prio, dead 4 s, DR, BDR
    )
    assert len(hello) == 44
    digest = hashlib.sha1(hello).hexdigest()[:16]
    assert send["dgram"] == {"peer": ["224.0.0.5", 0], "len": 44, "sha1": digest, "raw": True,
                             "ip": {"src": "198.18.200.1", "dst": "224.0.0.5", "id": 0x2E15, "proto": 89}}
    assert send["nbytes"] == 64  # the call moved the IP header too
    assert recv["dgram"]["peer"] == ["198.18.200.2", 0] and recv["dgram"]["len"] == 44
    assert recv["dgram"]["ip"]["src"] == "198.18.200.2" and recv["dgram"]["ip"]["id"] == 0x2E16


def test_raw_send_without_hdrincl_hashes_the_whole_payload(tmp_path: Path) -> None:
    lines = [line for line in DATA.read_text().splitlines() if "IP_HDRINCL" not in line]
    path = tmp_path / "no-hdrincl.strace"
    path.write_text("\n".join(lines) + "\n")
    recs = parse_strace_file(path, node="r1")
    send = next(r for r in recs if r["call"] == "sendmsg")
    assert send["dgram"]["ip"] is None and send["dgram"]["len"] == 64  # no header known: all 64 bytes


@pytest.mark.root
def test_packet_sockets_under_strace_record_their_frames_by_hash(tmp_path: Path) -> None:
    """A program strace traces (not Python's tracer) writes a frame on an AF_PACKET socket: -yy names no
    protocol for it (``socket:[N]``), yet every call is recorded, the frame hashed whole as the Python
    tracer hashes it, and each read copy with its packet type (4: the outgoing copy)."""
    prog = Path(__file__).parent / "programs" / "raw_sockets.py"
    argv, env = wrap_command(["sh", "-c", f'exec "{sys.executable}" "{prog}"'], tmp_path / "traces", "h1")
    assert argv[0].endswith("strace")
    proc = subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv],
                          env={**os.environ, **env}, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    facts = json.loads(proc.stdout)
    recs = merge_traces(tmp_path / "traces", tmp_path / "calls.jsonl")
    digest = hashlib.sha1(bytes.fromhex(facts["frame"])).hexdigest()[:16]
    packet = [r for r in recs if r["family"] == "AF_PACKET"]
    (send,) = [r for r in packet if r["call"] == "sendto"]
    assert send["nbytes"] == facts["sent"] and send["sock"] is not None
    assert send["dgram"] == {"raw": True, "level": "link", "peer": None, "len": facts["sent"], "sha1": digest}
    reads = [r for r in packet if r["call"] == "recvmsg" and r["dgram"]["sha1"] == digest]
    assert sorted(r["dgram"]["pkttype"] for r in reads) == sorted(facts["pkttypes"]) == [0, 4]
    assert validate_dir(tmp_path)["call"] == len(recs)
