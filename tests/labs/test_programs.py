"""The catalogue's programs on their own, on 127.0.0.1 (no namespaces, no root): each does what its lab
claims (partial send(), ECONNREFUSED = 111, BlockingIOError, TIME_WAIT's EADDRINUSE, ...)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab.labs.spec import LABS_DIR, PROGRAMS_DIR
from tests.helpers.ports import free_port

LOCAL = "127.0.0.1"


def bound(proto: str, port: int) -> bool:
    """Whether a socket is bound to ``port`` (listening, for TCP), from /proc: no connection needed."""
    for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and (proto == "udp" or fields[3] == "0A"):
            return True
    return False


def run(program: str, *args: object, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(PROGRAMS_DIR / program), *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@contextmanager
def server(program: str, proto: str, port: int, *args: object) -> Iterator[subprocess.Popen[str]]:
    argv = [sys.executable, str(PROGRAMS_DIR / program), "--port", str(port), *map(str, args)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not bound(proto, port):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{program} did not bind {proto}/{port}"
            time.sleep(0.02)
        yield proc
        assert proc.wait(timeout=15) == 0, proc.communicate()  # exits by itself: the lab can wait for it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tcp_echo() -> None:
    port = free_port()
    with server("tcp_echo_server.py", "tcp", port, "--count", "1"):
        out = run("tcp_echo_client.py", LOCAL, port, "hello, lab")
    assert out.returncode == 0 and out.stdout.strip() == "hello, lab"


def test_udp_echo_one_datagram_per_message() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with server("udp_echo_server.py", "udp", port, "--count", "2") as srv:
        out = run("udp_echo_client.py", LOCAL, port, "one", "two two")
        text = srv.stdout.read() if srv.stdout else ""
    assert out.returncode == 0
    assert "3 bytes from" in text and "7 bytes from" in text


def test_connect_refused_is_111_on_linux() -> None:
    out = run("connect_refused.py", LOCAL, free_port())
    assert out.returncode == 0
    assert "connect_ex() returned 111 (ECONNREFUSED)" in out.stdout
    assert "ConnectionRefusedError: [Errno 111]" in out.stdout


def test_backlog_overflow_delays_the_third_client() -> None:
    port = free_port()
    with server("backlog_server.py", "tcp", port, "--backlog", "1", "--clients", "3"):
        out = run("backlog_clients.py", LOCAL, port, "--clients", "3")
    assert out.returncode == 0, out.stderr
    took = [float(line.split("took ")[1].split()[0]) for line in out.stdout.splitlines()]
    assert took[0] < 0.5 and took[1] < 0.5 and took[2] > 0.8  # the dropped SYN is retried after ~1 s


def test_nonblocking_calls_raise_blocking_io_error() -> None:
    port = free_port()
    with server("nonblocking_server.py", "tcp", port) as srv:
        out = run("nonblocking_client.py", LOCAL, port)
    assert out.returncode == 0
    assert "BlockingIOError [Errno 115]" in out.stdout  # EINPROGRESS
    text = srv.stdout.read() if srv.stdout else ""
    assert "accept(): BlockingIOError [Errno 11]" in text and "recv(): BlockingIOError [Errno 11]" in text


def test_send_returns_a_partial_count() -> None:
    port = free_port()
    with server("tcp_sink_server.py", "tcp", port):
        out = run("tcp_bulk_client.py", LOCAL, port, "--bytes", 262144, "--sndbuf", 16384)
    assert out.returncode == 0
    took = int(out.stdout.split("send() took ")[1].split()[0])
    assert 0 < took < 262144 and "received 262144 bytes" in out.stdout


def test_shutdown_time_wait_and_reset() -> None:
    port = free_port()
    with server("shutdown_server.py", "tcp", port):
        out = run("shutdown_client.py", LOCAL, port)
    assert out.returncode == 0, out.stdout
    assert "[Errno 98]" in out.stdout  # EADDRINUSE: TIME_WAIT
    assert "ConnectionResetError [Errno 104]" in out.stdout


def test_addresses_bind_port() -> None:
    port, bind_port = free_port(), free_port()
    with server("addresses_server.py", "tcp", port, "--count", "2"):
        out = run("addresses_client.py", LOCAL, port, "--bind-port", bind_port)
    assert out.returncode == 0 and f"local {LOCAL}:{bind_port}" in out.stdout


def test_timeouts_recv_times_out_and_connect_is_refused_without_a_firewall() -> None:
    port = free_port()
    with server("timeouts_server.py", "tcp", port):
        out = run("timeouts_client.py", LOCAL, port, free_port(), "--recv-timeout", "0.3")
    assert "recv() timed out after 0.3" in out.stdout
    assert out.returncode == 1  # without the lab's nftables rule the closed port answers RST at once


def test_http_server_and_urllib() -> None:
    port = free_port()
    with server("http_server.py", "tcp", port, "--count", "1", "--directory", LABS_DIR / "www"):
        out = run("http_client.py", f"http://{LOCAL}:{port}/hello.txt")
    assert out.returncode == 0 and out.stdout.startswith("HTTP 200 OK")


def test_dns_server_answers_and_refuses() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with server("dns_server.py", "udp", port, "--count", "2", "--record", "www.lab=198.18.0.2"):
        ok = run("dns_client.py", LOCAL, "www.lab", "--port", port)
        missing = run("dns_client.py", LOCAL, "nope.lab", "--port", port)
    assert ok.returncode == 0 and "www.lab has address 198.18.0.2" in ok.stdout
    assert missing.returncode == 1 and "rcode 3" in missing.stdout  # NXDOMAIN


def test_tftp_transfer(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with server(
        "tftp_server.py", "udp", port, "--size", "1024"
    ):  # exactly 2 blocks: a 3rd, empty one ends it
        out = run("tftp_client.py", LOCAL, "f.txt", "--port", port, "--output", tmp_path / "f.txt")
    assert out.returncode == 0 and "received 1024 bytes in 3 blocks" in out.stdout
    assert (tmp_path / "f.txt").read_bytes().startswith(b"TFTP moves files")


def test_smtp_session() -> None:
    port = free_port()
    with server("smtp_server.py", "tcp", port) as srv:
        out = run("smtp_client.py", LOCAL, "--port", port)
    assert out.returncode == 0 and out.stdout.strip() == "sent"
    assert "Subject: my capture" in (srv.stdout.read() if srv.stdout else "")


@pytest.mark.parametrize("program", sorted(p.name for p in PROGRAMS_DIR.glob("*.py")))
def test_every_program_explains_itself(program: str) -> None:
    out = run(program, "--help")
    assert out.returncode == 0 and out.stdout.startswith("usage:")
