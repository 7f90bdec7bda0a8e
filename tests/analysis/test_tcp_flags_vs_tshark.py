"""TCP analysis flags on crafted conversations the public corpus lacks, compared with tshark run here.

Each scenario is a list of segments (time step, sender, flags, seq, ack, window, payload length); the test
writes them as a pcap, analyzes it both ways (one process and with the render process) and asks tshark for
its ``tcp.analysis.*`` flags per frame.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture
from tests.helpers.records import load_jsonl

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (make setup)")

FLAGS = ["retransmission", "fast_retransmission", "out_of_order", "lost_segment", "duplicate_ack",
         "zero_window", "zero_window_probe", "zero_window_probe_ack", "keep_alive", "keep_alive_ack",
         "window_update"]
C, S = "10.0.0.1", "10.0.0.2"
M32 = 0xFFFFFFFF
F, SYN, R, P, A = 0x01, 0x02, 0x04, 0x08, 0x10
Segment = tuple[float, str, int, int, int, int, int]


def _frame(src: str, fl: int, seq: int, ack: int, win: int, n: int) -> bytes:
    c, s = (40000, 80) if src == C else (80, 40000)
    dst = S if src == C else C
    tcp = struct.pack("!HHIIBBHHH", c, s, seq & M32, ack & M32, 5 << 4, fl, win, 0, 0) + b"x" * n
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp


def _write(path: Path, segments: list[Segment]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    t = 1_000_000.0
    for dt, src, fl, seq, ack, win, n in segments:
        t += dt
        frame = _frame(src, fl, seq, ack, win, n)
        out.append(struct.pack("<IIII", int(t), round((t % 1) * 1e6), len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def _handshake(ci: int, si: int) -> list[Segment]:
    return [(0, C, SYN, ci, 0, 65535, 0), (0.01, S, SYN | A, si, ci + 1, 65535, 0),
            (0.01, C, A, ci + 1, si + 1, 65535, 0)]


CI, SI = M32 - 1000, 5000  # the client's sequence numbers cross 2^32
c, s = CI + 1, SI + 1
SCENARIOS: dict[str, list[Segment]] = {
    "wraparound-retransmission-gap-keepalive": _handshake(CI, SI) + [
        (0.1, C, P | A, c, s, 65535, 600), (0.001, C, P | A, c + 600, s, 65535, 600),
        (0.01, S, A, s, c + 1200, 65535, 0),
        (0.5, C, P | A, c + 600, s, 65535, 600),  # a retransmission across 2^32
        (0.1, C, P | A, c + 1800, s, 65535, 600),  # a gap
        (0.001, C, P | A, c + 1200, s, 65535, 600),  # fills it: out of order
        (0.01, S, A, s, c + 2400, 65535, 0),
        (0.01, S, A, s, c + 2400, 65535, 0),  # duplicate ACK
        (0.01, S, A, s, c + 2400, 4000, 0),  # the window shrinks: a window update too
        (0.5, C, A, c + 2399, s, 65535, 0),  # keep-alive of no byte
        (0.001, S, A, s, c + 2400, 4000, 0),  # its ACK
        (0.5, C, A, c + 2399, s, 65535, 1),  # keep-alive of one byte
        (0.001, S, A, s, c + 2400, 4000, 0),
    ],
    "zero-window-probes": _handshake(100, 500) + [
        (0.1, C, P | A, 101, 501, 65535, 1000),
        (0.01, S, A, 501, 1101, 0, 0),  # window full
        (0.2, C, A, 1101, 501, 65535, 1),  # probe
        (0.001, S, A, 501, 1101, 0, 0),  # its ACK, still closed
        (0.4, C, A, 1101, 501, 65535, 1),  # the same probe again
        (0.001, S, A, 501, 1101, 0, 0),
        (0.3, S, A, 501, 1101, 8000, 0),  # the window opens
        (0.001, C, P | A, 1101, 501, 65535, 500),  # the data: no retransmission
        (0.01, S, A, 501, 1601, 8000, 0),
    ],
    "fast-and-late-retransmissions": _handshake(100, 500) + [
        (0.1, C, P | A, 101, 501, 65535, 100), (0.001, C, P | A, 201, 501, 65535, 100),
        (0.001, C, P | A, 301, 501, 65535, 100),
        (0.01, S, A, 501, 201, 65535, 0), (0.001, S, A, 501, 201, 65535, 0),
        (0.001, S, A, 501, 201, 65535, 0),
        (0.005, C, P | A, 201, 501, 65535, 100),  # within 20 ms of the duplicate ACKs: fast
        (0.01, S, A, 501, 401, 65535, 0),
        (0.001, C, P | A, 401, 501, 65535, 100), (0.001, C, P | A, 501, 501, 65535, 100),
        (0.01, S, A, 501, 501, 65535, 0), (0.001, S, A, 501, 501, 65535, 0),
        (0.001, S, A, 501, 501, 65535, 0),
        (0.25, C, P | A, 501, 501, 65535, 100),  # 250 ms later: a plain retransmission
        (0.01, S, F | A, 501, 601, 65535, 0), (0.001, C, F | A, 601, 502, 65535, 0),
        (0.001, S, A, 502, 602, 65535, 0),
    ],
}


def _tshark_flags(path: Path) -> list[set[str]]:
    argv = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
    for flag in FLAGS:
        argv += ["-e", f"tcp.analysis.{flag}"]
    rows = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    return [{f for f, v in zip(FLAGS, row.split("|"), strict=True) if v} for row in rows]


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("render_process", [False, True])
def test_flags_equal_tsharks(tmp_path: Path, name: str, render_process: bool) -> None:
    pcap = tmp_path / f"{name}.pcap"
    _write(pcap, SCENARIOS[name])
    res = analyze_capture(pcap, tmp_path / "out", render_process=render_process)
    ours = [set(r["analysis"]) for r in load_jsonl(res.packets_path)]
    theirs = _tshark_flags(pcap)
    assert len(ours) == len(theirs) == len(SCENARIOS[name])
    pairs = enumerate(zip(ours, theirs, strict=True), 1)
    assert [(n, sorted(o), sorted(t)) for n, (o, t) in pairs if o != t] == []
    assert any(theirs), "the scenario exercises flags"


def test_the_scenarios_cover_every_flag(tmp_path: Path) -> None:
    seen: set[str] = set()
    for name, segments in SCENARIOS.items():
        pcap = tmp_path / f"{name}.pcap"
        _write(pcap, segments)
        seen.update(*_tshark_flags(pcap))
    assert seen == set(FLAGS), sorted(set(FLAGS) - seen)


@pytest.mark.root
def test_lossy_link_capture_per_interface_equals_tshark(catalogue_run, tmp_path: Path) -> None:  # noqa: ANN001
    """A real capture with loss (the lossy-link lab: 10% loss on r1-h2, captured on both links): our flags
    on each interface equal tshark's run on that interface's packets alone. The retransmissions that fill
    the gaps a loss left are retransmissions (or fast ones), not out-of-order segments."""
    run = catalogue_run("lossy-link")
    capture = run.out / "capture.pcapng"
    res = analyze_capture(capture, tmp_path / "out")
    recs = {r["number"]: r for r in load_jsonl(res.packets_path)}
    listing = subprocess.run(["tshark", "-r", str(capture), "-T", "fields", "-e", "frame.interface_name"],
                             capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    assert len(listing) == len(recs)
    compared = retransmissions = 0
    wrong = []
    for name in sorted(set(listing)):
        part = tmp_path / f"{name}.pcapng"
        subprocess.run(["tshark", "-r", str(capture), "-Y", f'frame.interface_name == "{name}"', "-w",
                        str(part)], capture_output=True, check=True, timeout=120)
        numbers = [i + 1 for i, iface in enumerate(listing) if iface == name]
        theirs = _tshark_flags(part)
        assert len(theirs) == len(numbers)
        for n, flags in zip(numbers, theirs, strict=True):
            if recs[n]["tcp"] is None:
                continue
            compared += 1
            retransmissions += "retransmission" in flags
            if set(recs[n]["analysis"]) != flags:
                wrong.append((name, n, sorted(recs[n]["analysis"]), sorted(flags)))
    assert compared > 500 and retransmissions > 0, (compared, retransmissions)
    assert wrong == []
