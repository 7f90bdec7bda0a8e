"""lab.network(): a live network for a script, programs traced, a capture started and stopped by hand,
every packet explained, nothing left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import lab
from lab.errors import UsageError
from tests.helpers.records import validate_dir

pytestmark = pytest.mark.root


def _namespaces_of(run_id: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if run_id in line]


def test_http_by_hand_every_packet_explained(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("dumpcap")
    require_tool("curl")
    with lab.network("two-hosts", out=tmp_path / "net") as net:
        run_id = net.net.run_id
        assert _namespaces_of(run_id)
        net["h2"].popen(["python3", "-m", "http.server", "8000"])
        net["h2"].wait_listening(8000)
        with net.capture() as cap:
            got = net["h1"].run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://h2:8000/"])
        assert got.stdout == "200"
    assert _namespaces_of(run_id) == []
    run = cap.run
    assert run is not None and run.report["coverage"]["ratio"] == 1.0
    wire = [p for p in run.packets if p.role.code != "lab-probe"]
    assert len(wire) > 10
    syn = next(run.filter(role="syn"))
    assert syn.cause.calls[0].name == "connect" and syn.cause.calls[0].record["tracer"] == "strace"
    synack = next(run.filter(role="syn-ack"))
    # the server's listen() happened before the capture started and still explains the SYN-ACK
    listen = [c for c in run.calls if c.name == "listen" and c.node == "h2"]
    assert listen and listen[0].start_ns < syn.ts_ns and f"listen() #{listen[0].id}" in synack.cause.text
    data = list(run.filter(role="data"))
    assert {p.cause.calls[0].node for p in data} == {"h1", "h2"}
    counts = validate_dir(run.dir)
    assert counts["call"] == len(run.calls) and counts["packet"] == len(run)
    assert counts["report"] == counts["summary"] == 1


def test_an_error_in_the_block_still_tears_down(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), lab.network("two-hosts", out=tmp_path / "n") as net:
        run_id = net.net.run_id
        net["h1"].popen(["sleep", "30"], trace=False)
        raise RuntimeError("boom")
    assert _namespaces_of(run_id) == []


def test_bad_uses_are_one_clear_error(tmp_path: Path) -> None:
    with lab.network("two-hosts", out=tmp_path / "n") as net:
        with pytest.raises(KeyError, match="no node 'h9'"):
            net["h9"]
        with pytest.raises(UsageError, match="list of arguments"):
            net["h1"].run("echo hi")  # type: ignore[arg-type]
        assert net["h1"].run(["echo", "hi"], trace=False).stdout == "hi\n"
