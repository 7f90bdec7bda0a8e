"""Exploring by hand: `lab up` captures, `lab exec` traces, `lab explain` / `lab watch` / `lab down` explain.

Driven as a user would drive it, through the real CLI in separate processes, on real namespaces.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.errors import UsageError
from lab.live import parse_window
from lab.watch import _renumbered, parse_filter
from tests.helpers.builders import cause, ip, layers, packet, tcp
from tests.helpers.records import validate_dir

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.root
LAB = [sys.executable, "-m", "lab"]
PROGRAMS = REPO / "lab" / "labs" / "programs"
PORT = "7100"


def lab(*args: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([*LAB, *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert proc.returncode == 0, f"lab {' '.join(args)}: {proc.stderr or proc.stdout}"
    return proc


def namespaces(run_id: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if f"-{run_id}-" in line]


def run_processes(live: Path) -> list[str]:
    """dumpcap/strace processes still working for this session (their argv names its directory)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()
            if str(live) in line and ("dumpcap" in line or "strace" in line)]


@pytest.fixture
def session(tmp_path: Path, require_tool: Callable[[str], str]):
    require_tool("dumpcap")
    run_id = f"lv{os.getpid() % 10000}{int(time.time() * 1000) % 1000}"[:12]
    live = tmp_path / "live"
    lab("up", "two-hosts", "--run-id", run_id, "--out", str(live))
    try:
        yield run_id, live
    finally:
        lab("down", run_id, "--no-explain", check=False)


def test_by_hand_session_every_packet_explained_and_nothing_left(session) -> None:
    run_id, live = session
    assert len(namespaces(run_id)) == 2 and (live / "session.json").is_file()
    server = subprocess.Popen([*LAB, "exec", run_id, "h2", "--", "python3",
                               str(PROGRAMS / "tcp_echo_server.py"), "--port", PORT, "--count", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert server.stdout is not None and "listening" in server.stdout.readline()
    client = str(PROGRAMS / "tcp_echo_client.py")
    first = lab("exec", run_id, "h1", "--", "python3", client, "h2", PORT, "one")
    assert "one" in first.stdout
    # an interactive program: nc reads its stdin and prints what comes back
    second = lab("exec", run_id, "h1", "--", "nc", "-N", "h2", PORT, input="typed by hand\n")
    assert second.stdout == "typed by hand\n"
    assert server.wait(timeout=20) == 0

    shown = lab("explain", run_id)
    assert "wrote" in shown.stdout
    report = json.loads((live / "report.json").read_text())
    assert report["live"] is True
    assert validate_dir(live)["report"] == 1  # the snapshot's report.json is in the shipped schema
    cov = report["coverage"]
    assert cov["total"] >= 14 and cov["explained"] == cov["total"], cov
    packets = [json.loads(line) for line in (live / "packets.jsonl").read_text().splitlines()]
    data = [p for p in packets if p["role"]["code"] == "data"]
    assert len(data) == 4  # two clients, each message and its echo
    calls = {c["id"]: c for c in map(json.loads, (live / "calls.jsonl").read_text().splitlines())}
    tracers = {c["tracer"] for c in calls.values()}
    assert tracers == {"python", "strace"}  # the Python programs in-process, nc under strace
    # the line typed into nc is explained by the call strace saw nc make on h1, and the text names it
    typed_len = len("typed by hand\n")
    (typed,) = [p for p in data if p["tcp"]["dport"] == int(PORT) and p["tcp"]["len"] == typed_len]
    assert typed["cause"]["source"] == "call", typed["cause"]
    senders = [calls[i] for i in typed["cause"]["calls"]]
    assert senders and all(c["tracer"] == "strace" and c["node"] == "h1" for c in senders), senders
    assert f"h1 {senders[0]['call']}() #{senders[0]['id']}" in typed["cause"]["text"], typed["cause"]["text"]
    assert (live / "report.html").is_file() and (live / "annotated.pcapng").is_file()

    down = lab("down", run_id)
    assert "explained" in down.stdout and "report.html" in down.stdout
    assert namespaces(run_id) == [] and run_processes(live) == []
    final = json.loads((live / "report.json").read_text())
    assert final["live"] is False and final["coverage"]["explained"] == final["coverage"]["total"]
    assert final["capture"]["complete"] is True and final["capture"]["dropped"] == 0
    assert report["capture"]["complete"] is None  # a snapshot cannot know the drop counts yet
    assert final["packets"] >= report["packets"]
    counts = validate_dir(live)
    assert counts["report"] == counts["summary"] == 1 and counts["packet"] >= len(packets)


def test_a_window_and_a_killed_client_leave_the_session_intact(session) -> None:
    run_id, live = session
    client = subprocess.Popen([*LAB, "exec", run_id, "h1", "--", "python3", "-c",
                               "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                               "s.sendto(b'x', ('198.18.0.2', 7101)); print('sent', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None and client.stdout.readline() == "sent\n"  # killed only once it sent
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=10)
    assert len(namespaces(run_id)) == 2  # a killed `lab exec` does not take the network with it
    time.sleep(1.0)
    cut = time.time()  # an epoch time: the window does not depend on how long the commands take
    lab("exec", run_id, "h1", "--", "python3", "-c",
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.sendto(b'late', ('h2', 7102))")
    window = lab("explain", run_id, "--since", f"{cut:.3f}")
    target = Path(window.stdout.strip().splitlines()[-1].split("wrote ")[1].split("/ladder.txt")[0])
    assert target.parent == live and target.name.startswith("window-")
    packets = [json.loads(line) for line in (target / "packets.jsonl").read_text().splitlines()]
    udp = [p for p in packets if p["udp"]]
    assert [p["udp"]["dport"] for p in udp] == [7102]  # the first datagram is outside the window
    assert udp[0]["cause"]["source"] == "call"
    whole = lab("explain", run_id)
    assert "wrote" in whole.stdout
    ports = [json.loads(line)["udp"]["dport"] for line in (live / "packets.jsonl").read_text().splitlines()
             if json.loads(line)["udp"]]
    assert ports == [7101, 7102]


def test_watch_shows_each_packet_then_its_cause_and_survives_its_own_kill(session) -> None:
    run_id, live = session
    watcher = subprocess.Popen([*LAB, "watch", run_id, "--filter", "udp"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    lab("exec", run_id, "h1", "--", "python3", str(PROGRAMS / "udp_echo_client.py"), "h2", "7103", "ping",
        "--timeout", "0.5", check=False)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in watcher.stdout),
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(ln.strip().startswith("#1 <- ") for ln in lines):
        time.sleep(0.2)
    watcher.send_signal(signal.SIGKILL)
    watcher.wait(timeout=10)
    packet_lines = [ln for ln in lines if " #1 " in ln and "UDP" in ln]
    assert packet_lines, lines
    causes = [ln for ln in lines if ln.strip().startswith("#1 <- ")]
    assert len(causes) == 1 and "sendto()" in causes[0], lines
    assert lines.index(packet_lines[0]) < lines.index(causes[0])
    # the network and its capture carry on after the watcher was killed
    assert len(namespaces(run_id)) == 2
    assert "wrote" in lab("explain", run_id).stdout


def test_explain_refuses_a_run_without_capture(tmp_path: Path) -> None:
    run_id = f"nc{os.getpid() % 100000}"[:12]
    lab("up", "two-hosts", "--run-id", run_id, "--no-capture")
    try:
        got = lab("explain", run_id, check=False)
        assert got.returncode != 0 and got.stderr.count("\n") == 1 and "without capture" in got.stderr
    finally:
        lab("down", run_id)
    missing = lab("explain", "nosuchrun", check=False)
    assert missing.returncode != 0 and "no run 'nosuchrun'" in missing.stderr


def test_windows_filters_and_renumbering_parse_as_documented() -> None:
    now = time.time_ns()
    assert abs(parse_window(None, "30s", 0) - (now - 30 * 10**9)) < 5 * 10**8
    assert abs(parse_window(None, "2m", 0) - (now - 120 * 10**9)) < 5 * 10**8
    assert parse_window("12.5", None, 10**18) == 10**18 + 12_500_000_000
    refused = [("x", None, "--since 'x': seconds"), (None, "soon", "--last 'soon': a duration"),
               ("1", "2s", "give --since or --last, not both"), ("nan", None, "--since 'nan'")]
    for since, last, says in refused:
        with pytest.raises(UsageError, match=re.escape(says)):
            parse_window(since, last, 0)
    rec = packet(layers=layers("Ethernet", "IPv4", "TCP"), ip=ip("198.18.0.1", "198.18.0.2"),
                 tcp=tcp(1, 80, "PSH,ACK"), role="data", cause=cause("call", "tcp-data", calls=[1]))
    assert parse_filter("tcp port=80 mine")(rec) and not parse_filter("udp")(rec)
    with pytest.raises(UsageError, match="--filter: .port=http."):
        parse_filter("port=http")
    assert _renumbered("answers frame 9; frames 3, 4 and 7", {9: 2, 3: 1, 4: 5}) == \
        "answers frame 2; frames 1, 5 and ?"


def test_a_session_on_a_lossy_link_marks_the_copies_the_link_lost(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("dumpcap")
    run_id = f"ll{os.getpid() % 100000}"[:12]
    live = tmp_path / "live"
    topology = REPO / "lab" / "labs" / "topologies" / "lossy.yaml"
    lab("up", str(topology), "--run-id", run_id, "--out", str(live))
    try:
        server = subprocess.Popen([*LAB, "exec", run_id, "h2", "--", "python3",
                                   str(PROGRAMS / "tcp_sink_server.py"), "--port", "5030"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        lab("exec", run_id, "h1", "--", "python3", str(PROGRAMS / "tcp_bulk_client.py"), "--bytes", "300000",
            "h2", "5030", timeout=120)
        server.wait(timeout=30)
    finally:
        lab("down", run_id)
    packets = [json.loads(line) for line in (live / "packets.jsonl").read_text().splitlines()]
    lost = [p for p in packets if p.get("lost")]
    assert lost, "10% loss on r1-h2 over hundreds of segments lost nothing?"
    assert all(p["lost"]["link"] == "r1-h2" and not p["cause"].get("consumed_by") for p in lost)
    assert all("lost on link r1-h2" in p["cause"]["text"] for p in lost)
