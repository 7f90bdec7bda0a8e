"""Ground truth: the same Python programs recorded at once by the in-process tracer and by strace.

strace sees the syscalls the kernel executed; the tracer sees the Python calls that made them. For every
TCP/UDP socket the two must agree: the same lifecycle calls in the same order, every receive call matching
one recvfrom/recvmsg with the same byte count, every send call ending exactly where a syscall ended (sendall
may take several), equal totals, and each syscall inside the time span of the Python call that made it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from lab.tracing import merge_traces, wrap_command
from lab.tracing.strace import parse_strace_file
from lab.tracing.wrap import strace_argv
from tests.helpers.tracing import check_offsets

PROGRAMS = Path(__file__).parent / "programs"
INET = ("AF_INET", "AF_INET6")
LIFECYCLE = {
    "socket": "socket",
    "bind": "bind",
    "listen": "listen",
    "connect": "connect",
    "connect_ex": "connect",
    "accept": "accept4",
    "shutdown": "shutdown",
    "close": "close",
}
PY_OUT = {"send", "sendall", "sendto", "sendmsg", "sendfile"}
PY_IN = {"recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "recvmsg_into"}
SYS_OUT = {"sendto", "sendmsg", "write", "writev", "sendfile", "sendmmsg"}
SYS_IN = {"recvfrom", "recvmsg", "read", "readv", "recvmmsg"}


def record_both(program: str, tmp: Path, *args: str) -> tuple[list[dict], list[dict]]:
    argv, env = wrap_command(
        ["python3", str(PROGRAMS / program), *args], tmp / "py", "h1", python=sys.executable
    )
    proc = subprocess.run(
        strace_argv(argv, tmp / "strace.txt"), env={**os.environ, **env}, capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return merge_traces(tmp / "py", tmp / "calls.jsonl"), parse_strace_file(tmp / "strace.txt", "h1")


def lifetimes(records: list[dict]) -> dict[tuple[int, int], list[list[dict]]]:
    """(pid, fd) -> the INET sockets that lived on it, in order, each as its records (fd aliases excluded)."""
    by_sock: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r["sock"] and r["family"] in INET and r["call"] != "exit":
            by_sock[r["sock"]].append(r)
    out: dict[tuple[int, int], list[list[dict]]] = defaultdict(list)
    for sid, recs in by_sock.items():
        pid, fd, _ = (int(x) for x in sid.split(":"))
        out[(pid, fd)].append(recs)
    for socks in out.values():
        socks.sort(key=lambda recs: recs[0]["t_start_ns"])
    return out


def py_lifecycle(recs: list[dict]) -> list[str]:
    names = []
    for r in recs:
        if r["call"] not in LIFECYCLE or r["args"].get("already_closed") or r["args"].get("deferred"):
            continue
        if r["call"] == "close" and r["args"].get("last_ref") is False:
            continue
        names.append(LIFECYCLE[r["call"]])
    return names


def sys_lifecycle(recs: list[dict]) -> list[str]:
    return [
        r["call"].replace("accept4", "accept4")
        for r in recs
        if r["call"] in set(LIFECYCLE.values()) | {"accept"}
    ]


def compare(py: list[dict], st: list[dict], label: str) -> int:
    """Assert agreement for one socket; return how many data calls were matched."""
    assert py_lifecycle(py) == sys_lifecycle(st), label
    # receive: one Python call, one syscall (a Python timeout polls and never reaches recv)
    py_in = [r for r in py if r["call"] in PY_IN and r["error"] != "TimeoutError"]
    st_in = [r for r in st if r["call"] in SYS_IN]
    assert [(r["nbytes"], r["error"]) for r in py_in] == [(r["nbytes"], r["error"]) for r in st_in], label
    for p, s in zip(py_in, st_in, strict=True):
        assert (p["recv_before"], p["recv_after"]) == (s["recv_before"], s["recv_after"]), label
        assert p["t_start_ns"] - 1000 <= s["t_start_ns"] and s["t_end_ns"] <= p["t_end_ns"] + 1000, (
            label,
            p,
            s,
        )
        if p["dgram"] or s["dgram"]:
            assert p["dgram"] == s["dgram"], label
    # send: every Python call ends where a syscall ended; a plain send() is exactly one syscall
    py_out = [r for r in py if r["call"] in PY_OUT and r["nbytes"]]
    st_out = [r for r in st if r["call"] in SYS_OUT and r["nbytes"]]
    ends = {r["sent_after"]: r for r in st_out}
    starts = {r["sent_before"]: r for r in st_out}
    for p in py_out:
        assert p["sent_after"] in ends and p["sent_before"] in starts, (label, p)
        first, last = starts[p["sent_before"]], ends[p["sent_after"]]
        assert p["t_start_ns"] - 1000 <= first["t_start_ns"] and last["t_end_ns"] <= p["t_end_ns"] + 1000, (
            label
        )
        if p["call"] in ("send", "sendto", "sendmsg"):
            assert first is last, (label, p)
        if p["dgram"]:
            assert p["dgram"] == first["dgram"], label
    total = max([r["sent_after"] for r in st] + [0])
    assert max([r["sent_after"] for r in py] + [0]) == total, label
    assert max([r["recv_after"] for r in py] + [0]) == max([r["recv_after"] for r in st] + [0]), label
    return len(py_in) + len(py_out)


@pytest.mark.parametrize(
    "program,args",
    [
        ("echo_all_calls.py", ()),
        ("echo_all_calls.py", ("6",)),
        ("partial_send.py", ()),
        ("http_clients.py", ()),
        ("asyncio_streams.py", ()),
        ("udp.py", ()),
        ("lifecycle.py", ()),
        ("mail_ftp.py", ()),
        ("exceptions.py", ()),
    ],
)
def test_python_tracer_agrees_with_strace(tmp_path: Path, program: str, args: tuple[str, ...]) -> None:
    if args == ("6",) and not os.path.exists("/proc/net/if_inet6"):
        pytest.skip("no IPv6")
    py, st = record_both(program, tmp_path, *args)
    assert check_offsets(py) > 0
    assert check_offsets(st) > 0
    py_socks, st_socks = lifetimes(py), lifetimes(st)
    assert py_socks, "no sockets recorded"
    matched = 0
    for key, socks in py_socks.items():
        assert len(socks) == len(st_socks.get(key, [])), (key, [s[0]["call"] for s in socks])
        for p, s in zip(socks, st_socks[key], strict=True):
            matched += compare(p, s, f"{program} pid:fd {key}")
    assert set(st_socks) <= set(py_socks), "strace saw INET sockets the tracer missed"
    if program != "exceptions.py":
        assert matched > 0
