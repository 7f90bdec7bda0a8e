"""Real clients not written here, recorded by strace, against servers recorded by the Python tracer.

Both ends land in one calls.jsonl (merge_traces); each end must agree with the other on addresses and on
the bytes moved, which checks the strace path against the tracer path on live traffic (127.0.0.1 only).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.tracing import merge_traces, wrap_command
from tests.helpers.ports import free_port
from tests.helpers.tracing import by_sock, check_offsets

DNS_RESPONDER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
q, addr = s.recvfrom(2048)
end = 12
while q[end]:
    end += 1 + q[end]
answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("198.18.0.7")
s.sendto(q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q[12:end + 5] + answer, addr)
s.close()
"""


@contextmanager
def traced_server(argv: list[str], trace_dir: Path, node: str, **kw) -> Iterator[subprocess.Popen]:
    """A server traced like a lab node's; its whole process group is stopped on the way out."""
    argv2, env = wrap_command(argv, trace_dir, node, python=sys.executable)
    proc = subprocess.Popen(argv2, env={**os.environ, **env}, start_new_session=True, **kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def run_client(argv: list[str], trace_dir: Path, node: str, stdin: bytes | None = None) -> bytes:
    argv2, env = wrap_command(argv, trace_dir, node, python=sys.executable)
    assert argv2[0].endswith("strace")
    proc = subprocess.run(argv2, env={**os.environ, **env}, input=stdin, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def wait_listening(port: int, kind: int = socket.SOCK_STREAM) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open("/proc/net/tcp" if kind == socket.SOCK_STREAM else "/proc/net/udp") as f:
            if f":{port:04X} " in f.read():
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listening on {port}")


def ends(records: list[dict], node: str, family: str = "AF_INET") -> list[list[dict]]:
    return [
        recs for recs in by_sock(records).values() if recs[0]["node"] == node and recs[0]["family"] == family
    ]


def test_curl_against_python_http_server(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("curl")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_bytes(b"hello from the lab\n")
    port = free_port()
    traces = tmp_path / "traces"
    with traced_server(
        ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        traces,
        "h2",
        cwd=tmp_path / "www",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ):
        wait_listening(port)
        body = run_client(["curl", "-s", f"http://127.0.0.1:{port}/hello.txt"], traces, "h1")
        time.sleep(0.2)
    assert body == b"hello from the lab\n"
    recs = merge_traces(traces, tmp_path / "calls.jsonl")
    assert check_offsets(recs) > 0
    client = next(s for s in ends(recs, "h1") if any(r["call"] == "connect" for r in s))
    assert client[0]["tracer"] == "strace"
    accept = next(r for r in recs if r["node"] == "h2" and r["call"] == "accept")
    server = by_sock(recs)[accept["ret"]["sock"]]
    assert accept["ret"]["peer"] == client[-1]["local"] and server[-1]["local"] == client[-1]["peer"]
    assert client[-1]["sent_after"] == server[-1]["recv_after"] > 0
    assert client[-1]["recv_after"] == server[-1]["sent_after"] > len(body)
    assert [r["call"] for r in client if r["call"] in ("socket", "connect", "sendto", "close")][:3] == [
        "socket",
        "connect",
        "sendto",
    ]


def test_nc_tcp_both_ends_under_strace(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("nc")
    port = free_port()
    traces = tmp_path / "traces"
    with traced_server(["nc", "-l", "127.0.0.1", str(port)], traces, "h2", stdout=subprocess.PIPE) as srv:
        wait_listening(port)
        run_client(["nc", "-N", "127.0.0.1", str(port)], traces, "h1", stdin=b"hello over tcp\n")
        assert srv.stdout.read() == b"hello over tcp\n"
    recs = merge_traces(traces, tmp_path / "calls.jsonl")
    assert check_offsets(recs) > 0
    client = next(s for s in ends(recs, "h1") if any(r["call"] == "connect" for r in s))
    accept = next(r for r in recs if r["node"] == "h2" and r["call"].startswith("accept"))
    server = by_sock(recs)[accept["ret"]["sock"]]
    assert accept["ret"]["peer"] == client[-1]["local"]
    assert client[-1]["sent_after"] == server[-1]["recv_after"] == 15
    assert any(r["call"] == "shutdown" and r["args"]["how"] == "SHUT_WR" for r in client)


def test_nc_udp_both_ends_under_strace(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("nc")
    port = free_port(socket.SOCK_DGRAM)
    traces = tmp_path / "traces"
    payload = b"hello udp\n"
    with traced_server(
        ["timeout", "3", "nc", "-u", "-l", "127.0.0.1", str(port)], traces, "h2", stdout=subprocess.PIPE
    ) as srv:
        wait_listening(port, socket.SOCK_DGRAM)
        run_client(["nc", "-u", "-q", "0", "127.0.0.1", str(port)], traces, "h1", stdin=payload)
        deadline = time.monotonic() + 5
        got = b""
        while len(got) < len(payload) and time.monotonic() < deadline:
            got += os.read(srv.stdout.fileno(), 100)
        assert got == payload
    recs = merge_traces(traces, tmp_path / "calls.jsonl")
    sha = hashlib.sha1(payload).hexdigest()[:16]
    sent = next(r for r in recs if r["node"] == "h1" and r["dgram"])
    received = [r for r in recs if r["node"] == "h2" and r["dgram"]]
    assert sent["dgram"]["sha1"] == sha and all(r["dgram"]["sha1"] == sha for r in received)
    assert received[0]["dgram"]["peer"] == sent["local"] and sent["dgram"]["peer"] == received[0]["local"]


def test_dig_against_a_python_dns_responder(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("dig")
    traces = tmp_path / "traces"
    with traced_server(["python3", "-c", DNS_RESPONDER], traces, "h2", stdout=subprocess.PIPE) as srv:
        port = int(srv.stdout.readline())
        out = run_client(
            ["dig", "+short", "+tries=1", "+time=3", "@127.0.0.1", "-p", str(port), "lab.example", "A"],
            traces,
            "h1",
        )
        srv.wait(10)
    assert out.decode().strip() == "198.18.0.7"
    recs = merge_traces(traces, tmp_path / "calls.jsonl")
    assert check_offsets(recs) > 0
    query = next(r for r in recs if r["node"] == "h1" and r["dgram"] and r["sent_after"] > r["sent_before"])
    got_query = next(r for r in recs if r["node"] == "h2" and r["call"] == "recvfrom")
    answer = next(r for r in recs if r["node"] == "h2" and r["call"] == "sendto")
    got_answer = next(
        r for r in recs if r["node"] == "h1" and r["dgram"] and r["recv_after"] > r["recv_before"]
    )
    assert (
        query["dgram"]["sha1"] == got_query["dgram"]["sha1"] and query["dgram"]["len"] == got_query["nbytes"]
    )
    assert answer["dgram"]["sha1"] == got_answer["dgram"]["sha1"]
    # dig binds 0.0.0.0:0 then connects; merge_traces fills the source IP the responder saw
    assert query["local"] == got_query["dgram"]["peer"] == answer["dgram"]["peer"]
