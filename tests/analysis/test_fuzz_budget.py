"""Analysis is bounded: a decompression bomb, a packet budget, and inputs that are not capture files each
stop with one line (and a bomb before any output exists)."""

from __future__ import annotations

import gzip
import os
import random
import struct
import time
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture
from lab.cli.main import main
from lab.errors import PcapFormatError

ROUTED = Path(__file__).resolve().parent.parent / "data" / "routed" / "capture.pcapng"


def zeros_bomb(path: Path, megabytes: int = 200) -> Path:
    """A pcap header and ``megabytes`` MB of zeros (zero-length records), gzip-compressed to ~1/1000."""
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        zeros = bytes(1 << 20)
        for _ in range(megabytes):
            fh.write(zeros)
    return path


def test_a_gzip_bomb_stops_quickly_in_one_line_before_any_output(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bomb = zeros_bomb(tmp_path / "bomb.pcap.gz")
    assert bomb.stat().st_size < 250_000
    start = time.monotonic()
    assert main(["analyze", str(bomb), "--out", str(tmp_path / "out")]) == PcapFormatError.exit_code
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "decompresses to more than 100 times" in err and str(bomb) in err, err
    assert not (tmp_path / "out").exists()
    assert elapsed < 20  # generous on a loaded machine; unbounded it ran for minutes and wrote gigabytes


def test_a_bomb_later_in_the_file_is_stopped_while_reading(tmp_path: Path) -> None:
    """A normal-looking start (9 MB of random payloads) passes the probe of the first 8 MiB; the reader's
    own check, chunk by chunk, stops the zeros that follow (large zero packets: few of them, many bytes)."""
    path = tmp_path / "late.pcap.gz"
    rng = random.Random(1)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(9000):
            fh.write(struct.pack("<IIII", i, 0, 1000, 1000) + rng.randbytes(1000))
        zero_record = struct.pack("<IIII", 9000, 0, 65535, 65535) + bytes(65535)
        for _ in range(3000):  # 200 MB
            fh.write(zero_record)
    start = time.monotonic()
    with pytest.raises(PcapFormatError, match="decompresses to more than 10 times.*incomplete"):
        analyze_capture(path, tmp_path / "o", render_process=False, max_ratio=10)
    assert time.monotonic() - start < 60


def test_the_limits_are_configurable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = zeros_bomb(tmp_path / "small.pcap.gz", megabytes=2)
    code = main(["analyze", str(bomb), "--out", str(tmp_path / "a"), "--max-ratio", "0",
                 "--max-packets", "1000"])
    assert code == PcapFormatError.exit_code
    err = capsys.readouterr().err.strip()
    assert "more than 1,000 packets" in err and "--max-packets" in err and "\n" not in err, err
    assert main(["analyze", str(ROUTED), "--out", str(tmp_path / "b"), "--max-packets", "48"]) == 0
    assert main(["analyze", str(ROUTED), "--out", str(tmp_path / "c"), "--max-packets", "47"]) == 8
    capsys.readouterr()
    assert main(["analyze", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--max-ratio" in help_text and "[default: 100;" in help_text
    assert "--max-packets" in help_text and "[default: 20000000;" in help_text


def test_inputs_that_are_not_capture_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "fifo")
    cases = {tmp_path / "fifo": "a FIFO, not a capture file", Path("/dev/zero"): "a character device",
             tmp_path: "is a directory, not a capture file", tmp_path / "missing": "no such capture file"}
    for path, message in cases.items():
        assert main(["analyze", str(path), "--out", str(tmp_path / "o")]) != 0
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and "Usage" not in err, err
    assert not (tmp_path / "o").exists()
