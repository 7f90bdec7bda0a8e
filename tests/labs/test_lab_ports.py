"""Lab ports do not collide with Wireshark dissectors: a student opening a capture sees UDP/TCP and data,
not ``[Malformed Packet: CPFI]`` (udp-echo once used 5001, CPFI's port).

For every catalogued lab, every port it uses (a step's ``ready`` port, the value after ``--port`` or
``--bind-port``, a check's or question's ``port``) gets a crafted UDP datagram and a TCP segment, each
direction, with a payload that is no protocol's; tshark dissects them all in one run. Each must dissect as
plain data — unless the lab is about the protocol on that port (the dns lab's port 53 is DNS; the crafted
payload is no valid DNS message, so there "Malformed" is expected and not asked about).
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

from lab.labs.spec import LabSpec, list_labs

PAYLOADS = (b"hello, lab", b"one", bytes(range(32)))
PORT_FLAGS = ("--port", "--bind-port")
# the lab is about the protocol its name says; tshark names these dissectors so
ABOUT = {"http": {"http"}, "dns": {"dns"}, "tftp": {"tftp"}, "smtp": {"smtp"}, "snmp": {"snmp"},
         "ftp": {"ftp", "ftp-data"}, "telnet": {"telnet"}}


def lab_ports(spec: LabSpec) -> set[int]:
    ports: set[int] = set()
    for step in spec.steps:
        if step.ready is not None:
            ports.add(int(step.ready.port))
        for flag, value in zip(step.run, step.run[1:], strict=False):
            if flag in PORT_FLAGS and value.isdigit():
                ports.add(int(value))
    for item in (*spec.observations, *spec.questions):
        port = dict(item.params).get("port")
        if isinstance(port, int):
            ports.add(port)
    return ports


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _frame(proto: int, l4: bytes) -> bytes:
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, src, dst)
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + head + l4


def _frames(port: int, first_seq: int) -> list[tuple[str, bytes]]:
    out = []
    for i, payload in enumerate(PAYLOADS):
        for sport, dport in ((40000, port), (port, 40000)):
            udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
            seq = first_seq + 100_000 * (2 * i + (sport == port))  # no two segments look like a resend
            tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, seq + 7, 0x50, 0x18, 502, 0, 0) + payload
            out += [(f"udp {sport}->{dport}", _frame(17, udp)), (f"tcp {sport}->{dport}", _frame(6, tcp))]
    return out


def test_every_lab_port_dissects_as_plain_data(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("tshark")
    cases: list[tuple[str, int, str]] = []
    frames: list[bytes] = []
    for spec in list_labs():
        for port in sorted(lab_ports(spec)):
            for what, frame in _frames(port, 1000 + len(frames) * 1_000_000):
                cases.append((spec.name, port, what))
                frames.append(frame)
    assert len({name for name, _p, _w in cases}) >= 17, "every catalogued lab contributes its ports"
    pcap = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, frame in enumerate(frames):
        pcap += struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame
    (tmp_path / "ports.pcap").write_bytes(pcap)
    argv = ["tshark", "-r", str(tmp_path / "ports.pcap"), "-T", "fields", "-e", "frame.protocols", "-e",
            "_ws.col.Info"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout
    rows = out.splitlines()
    assert len(rows) == len(cases)
    wrong = []
    for (lab, port, what), row in zip(cases, rows, strict=True):
        protocols, info = (row.split("\t") + [""])[:2]
        stack = protocols.split(":")
        l4 = "udp" if what.startswith("udp") else "tcp"
        above = stack[stack.index(l4) + 1:] if l4 in stack else ["?"]
        if lab in ABOUT and (not above or above[0] in ABOUT[lab]):
            continue  # the lab's own protocol (the crafted payload is no valid message of it, or only a
            # part of one that its dissector waits to reassemble: no matter)
        if "Malformed" in info or above != ["data"]:
            wrong.append(f"{lab}: port {port} {what} dissected as {protocols} ({info[:60]})")
    assert not wrong, "\n".join(wrong)
