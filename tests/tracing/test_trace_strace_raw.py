"""Raw IPv4 sockets under strace (a routing daemon's OSPF socket): each datagram recorded with the hash of
its IP payload, the IP header's addresses and ID (sent with IP_HDRINCL, or received), and its peer."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lab.tracing.strace import parse_strace_file

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
