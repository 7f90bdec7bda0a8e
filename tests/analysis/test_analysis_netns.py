"""End to end on a capture made for real: two fresh network namespaces, real sockets, dumpcap.

The namespaces and veth are named uniquely for this test run and removed in ``finally`` (never anything
else); traffic stays inside the pair (198.18.99.0/24).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture
from tests.helpers.records import load_jsonl

pytestmark = pytest.mark.root

SERVER = r"""
import socket, sys
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("198.18.99.2", 5000)); t.listen(1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("198.18.99.2", 5001))
print("ready", flush=True)
c, _ = t.accept()
c.sendall(c.recv(100).upper()); c.close()
d, a = u.recvfrom(100); u.sendto(d[::-1], a)
"""
CLIENT = r"""
import socket
s = socket.create_connection(("198.18.99.2", 5000)); s.sendall(b"hello, lab"); s.recv(100); s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
u.sendto(b"ping-pong", ("198.18.99.2", 5001)); u.recvfrom(100)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=30, capture_output=True)


def test_real_capture_analyzed_end_to_end(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("ip")
    dumpcap = require_tool("dumpcap")
    tshark = require_tool("tshark")
    tag = uuid.uuid4().hex[:6]
    na, nb, va, vb = f"anx{tag}a", f"anx{tag}b", f"anx{tag}va", f"anx{tag}vb"
    cap = tmp_path / "capture.pcapng"
    server = capture = None
    try:
        _ip("netns", "add", na)
        _ip("netns", "add", nb)
        _ip("link", "add", va, "netns", na, "type", "veth", "peer", "name", vb, "netns", nb)
        for ns, dev, addr in ((na, va, "198.18.99.1/24"), (nb, vb, "198.18.99.2/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
        server = subprocess.Popen(["ip", "netns", "exec", nb, sys.executable, "-c", SERVER],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        capture = subprocess.Popen(["ip", "netns", "exec", na, dumpcap, "-q", "-i", va, "-w", str(cap)],
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not cap.exists() or cap.stat().st_size == 0:
            assert time.monotonic() < deadline and capture.poll() is None, "dumpcap did not start"
            time.sleep(0.1)
        time.sleep(0.5)
        subprocess.run(["ip", "netns", "exec", na, sys.executable, "-c", CLIENT], check=True, timeout=30)
        server.wait(timeout=10)
        time.sleep(0.5)
        capture.send_signal(signal.SIGINT)
        capture.wait(timeout=20)
    finally:
        for proc in (capture, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for ns in (na, nb):
            subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30, capture_output=True)
    assert not {na, nb} & set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                             timeout=30).stdout.split())

    res = analyze_capture(cap, tmp_path / "out", iface_nodes={va: "h1"})
    assert res.errors == [] and res.packet_count >= 12
    recs = load_jsonl(res.packets_path)
    assert len(recs) == res.packet_count
    tcp = [r for r in recs if r["tcp"] and 5000 in (r["tcp"]["sport"], r["tcp"]["dport"])]
    assert [r["role"]["code"] for r in tcp[:3]] == ["syn", "syn-ack", "handshake-ack"]
    assert tcp[0]["tcp"]["mss"] and tcp[0]["cause"]["source"] == "inferred"
    assert "connect()" in tcp[0]["cause"]["text"]
    data = [r for r in tcp if r["role"]["code"] == "data"]
    assert data[0]["tcp"]["len"] == 10 and data[0]["tcp"]["from_client"] is True
    assert data[0]["tcp"]["seq"] == 1 and "send()" in data[0]["cause"]["text"]
    assert sum(r["role"]["code"] == "fin" for r in tcp) == 2
    udp = [r for r in recs if r["udp"]]
    assert len(udp) == 2 and udp[1]["cause"]["answers"] == udp[0]["number"]
    assert {r["node"] for r in recs} == {"h1"} and {r["interface"] for r in recs} == {va}
    s = res.summary
    assert s["handshakes"] == {"complete": 1, "tcp_streams": 1}
    assert s["teardowns"]["fin"] == 1 and s["described"] == 1.0
    explained = sum(v for k, v in s["cause_sources"].items() if k in ("call", "kernel", "lab"))
    assert s["coverage"] == round(explained / s["packets"], 4) < 1.0  # no call log: sends are only inferred

    rows = subprocess.run([tshark, "-r", str(res.annotated_path), "-T", "fields", "-e", "frame.comment",
                           "-e", "frame.time_epoch"], capture_output=True, text=True, timeout=60,
                          check=True).stdout.splitlines()
    assert len(rows) == len(recs)
    for rec, row in zip(recs, rows, strict=True):
        comment, epoch = row.split("\t")
        assert comment.startswith(rec["role"]["text"] + " | " + rec["cause"]["text"] + " | ")
        assert comment.endswith("/".join(ly["name"] for ly in rec["layers"]))
        assert epoch.replace(".", "") == str(rec["ts_ns"])  # original timestamps, every digit
    assert os.path.getsize(res.annotated_path) > os.path.getsize(cap)
