"""The malformations the fuzz test found, one crafted file each: ``lab analyze`` reads what it can, and the
annotated.pcapng it writes always opens in tshark."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture


def block(btype: int, body: bytes, trailer: int | None = None) -> bytes:
    body += b"\0" * ((-len(body)) & 3)
    blen = len(body) + 12
    return struct.pack("<II", btype, blen) + body + struct.pack("<I", blen if trailer is None else trailer)


def opt(code: int, value: bytes, length: int | None = None) -> bytes:
    head = struct.pack("<HH", code, len(value) if length is None else length)
    return head + value + b"\0" * ((-len(value)) & 3)


def shb(options: bytes = b"", minor: int = 0) -> bytes:
    return block(0x0A0D0D0A, b"\x4d\x3c\x2b\x1a" + struct.pack("<HHq", 1, minor, -1) + options)


def idb(options: bytes = b"") -> bytes:
    return block(1, struct.pack("<HHI", 1, 0, 0) + options)


FRAME = (b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"  # Ethernet, IPv4, UDP
         + bytes.fromhex("450000200001000040110000c6120001c6120002") + bytes.fromhex("c35013890008")
         + b"\0\0\0\0")


def epb(data: bytes = FRAME, options: bytes = b"", caplen: int | None = None) -> bytes:
    n = len(data) if caplen is None else caplen
    body = struct.pack("<IIIII", 0, 0, 1, n, len(data)) + data + b"\0" * ((-len(data)) & 3) + options
    return block(6, body)


END = opt(0, b"")
CASES = {
    "trailer-mismatch-nrb": shb() + idb() + epb() + block(4, b"\0\0\0\0", trailer=99) + epb(),
    "end-of-options-with-length": shb(opt(4, b"app") + opt(0, b"", length=128)) + idb() + epb(),
    "option-past-block": shb(opt(4, b"app") + struct.pack("<HH", 3, 200)) + idb() + epb(),
    "verdict-of-zero-bytes": shb() + idb() + epb(options=opt(7, b"") + END) + epb(),
    "flags-wrong-length": shb() + idb() + epb(options=opt(2, b"\1\0") + opt(1, b"kept") + END),
    "nrb-name-not-terminated": shb() + idb() + block(4, struct.pack("<HH", 1, 8) + b"\xc6\x12\0\1host"
                                                     + struct.pack("<HH", 0, 0)) + epb(),
    "journal-block-too-short": shb() + idb() + block(9, b"\0" * 8) + epb(),
    "isb-too-short": shb() + idb() + epb() + block(5, b"\0\0"),
    "shb-version-1.1": shb() + idb() + epb() + shb(minor=1) + idb() + epb(),
    "packet-over-262144": shb() + idb() + epb() + epb(data=bytes(300_000)),
    "simple-packet-over-262144": shb() + idb() + epb()
    + block(3, struct.pack("<I", 300_000) + bytes(300_000)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_malformed_input_still_gives_a_readable_annotation(tmp_path: Path, name: str) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed")
    src = tmp_path / f"{name}.pcapng"
    src.write_bytes(CASES[name])
    result = analyze_capture(src, tmp_path / "out", progress=False, render_process=False)
    assert result.packet_count >= 1
    read = subprocess.run([tshark, "-r", str(result.annotated_path)], capture_output=True, text=True,
                          timeout=60)
    assert read.returncode == 0, read.stderr
    assert len(read.stdout.strip().splitlines()) == result.packet_count
