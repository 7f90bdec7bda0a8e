"""Capture loss is measured and never silent, on real namespaces and a real dumpcap.

Two ways of forcing loss: a dumpcap paused (SIGSTOP) while 20 MB cross the link, which overflows its 1 MiB
buffer whatever the machine's speed; and a whole lab run with a 1 MiB buffer under a 40 MB transfer, which
must fail, say where packets were lost, and never claim full coverage.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.capture import Capture, CaptureTarget
from lab.emulation import Network
from lab.topology import load_topology

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.root
LAB = [sys.executable, "-m", "lab"]
BULK = Path(__file__).with_name("data") / "bulk.yaml"

BLAST = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
    "for _ in range(20000): s.sendto(b'x'*1000,(sys.argv[1],9))\n"
)


def test_a_paused_dumpcap_overflows_and_the_drops_are_counted(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("dumpcap")
    with Network(load_topology("two-hosts")) as net:
        points = net.capture_points()
        targets = [CaptureTarget(p.namespace, p.ifname, p.label, p.bpf) for p in points]
        capture = Capture(targets, tmp_path / "c.pcapng", tmp_path / "work", buffer_mib=1)
        with capture:
            pids = [g.proc.pid for g in capture._groups if g.proc is not None]
            assert pids
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                net.run("h1", [sys.executable, "-c", BLAST, net.ip("h2")], timeout=60)
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
    stats = capture.stats
    assert stats is not None
    assert list(stats.per_interface) == [p.label for p in points]
    counts = stats.per_interface[points[0].label]
    assert counts.dropped and counts.dropped > 1000, counts
    assert counts.received and counts.received > 0
    assert stats.dropped == counts.dropped and not stats.complete
    # what the file holds is what dumpcap says it received: the statistics are about this very file
    frames = subprocess.run(
        ["capinfos", "-c", "-M", str(tmp_path / "c.pcapng")], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(rf"Number of packets:\s+{counts.received}$", frames, re.M), frames


def test_a_lossy_run_fails_says_where_and_never_claims_full_coverage(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("dumpcap")
    out = tmp_path / "run"
    done = subprocess.run(
        [*LAB, "run", str(BULK), "--capture-buffer", "1", "--out", str(out), "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads((out / "report.json").read_text())
    captured = report["capture"]
    assert captured["dropped"] > 0, "the 1 MiB buffer did not overflow: the test proves nothing"
    assert done.returncode == 10, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"the capture lost {captured['dropped']} packet(s)" in line and "on h1-eth0" in line
    assert "--capture-buffer" in line and "--snaplen" in line
    assert captured["complete"] is False and captured["per_interface"]["h1-eth0"]["dropped"] > 0
    assert report["coverage"]["capture_complete"] is False and report["ok"] is False
    assert report["failures"][0].startswith("the capture lost")
    assert "over an INCOMPLETE capture" in done.stdout
    assert (out / "ladder.txt").read_text().splitlines()[1].startswith("capture: INCOMPLETE")
    assert "capture: INCOMPLETE" in (out / "story.md").read_text()
