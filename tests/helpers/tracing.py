"""Running a program under the Python socket tracer the way the lab runner does, and the invariants every
trace keeps (per socket, the data calls tile each direction's byte stream). The tracing tests on real
sockets, on strace's records and on real clients all hold their traces to the same check."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from lab.tracing import merge_traces, wrap_command

OUT_CALLS = {"send", "sendall", "sendto", "sendmsg", "sendfile", "write", "writev", "sendmmsg"}
IN_CALLS = {"recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "recvmsg_into", "read", "readv",
            "recvmmsg"}


def run_traced(argv: list[str], trace_dir: Path, node: str = "local", timeout: float = 30,
               **kw: Any) -> subprocess.CompletedProcess:
    """Run ``argv`` the way the lab runner does: wrap_command, then the env added to ours."""
    argv2, env_add = wrap_command(argv, trace_dir, node, python=sys.executable)
    return subprocess.run(argv2, env={**os.environ, **env_add}, timeout=timeout, capture_output=True, **kw)


def run_python(code: str, tmp: Path, *args: str, node: str = "local", timeout: float = 30
               ) -> tuple[subprocess.CompletedProcess, list[dict[str, Any]]]:
    """Run a Python program (source text) under the tracer; return the process and the merged records."""
    prog = tmp / "prog.py"
    prog.write_text(code)
    proc = run_traced(["python3", str(prog), *args], tmp / "traces", node, timeout)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc, merge_traces(tmp / "traces", tmp / "calls.jsonl")


def by_sock(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The records of each socket id, in order (records of no socket left out)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["sock"] is not None:
            out[r["sock"]].append(r)
    return out


def check_offsets(records: list[dict[str, Any]]) -> int:
    """Per socket, data calls tile each direction's byte stream exactly: no gap, no overlap, nbytes agree.
    Returns how many data calls were checked; a trace with no socket at all fails (nothing to check)."""
    socks = by_sock(records)
    assert socks, f"no socket records among {len(records)}: the trace holds nothing to check"
    checked = 0
    for sid, recs in socks.items():
        for calls, before, after in ((OUT_CALLS, "sent_before", "sent_after"),
                                     (IN_CALLS, "recv_before", "recv_after")):
            moves = sorted((r for r in recs if r["call"] in calls and r["nbytes"] is not None),
                           key=lambda r: (r[before], r[after]))
            pos = recs[0][before]  # 0, or where a socket of known history (dup, fromfd) starts
            for r in moves:
                peek = "MSG_PEEK" in str(r["args"].get("flags", ""))
                assert r[before] == pos, f"{sid} {r['call']} #{r.get('id')} starts at {r[before]}, not {pos}"
                assert r[after] - r[before] == (0 if peek else r["nbytes"]), (sid, r)
                pos = r[after]
                checked += 1
            for r in recs:  # every record's offsets stay within what was moved
                assert recs[0][before] <= r[before] <= r[after] <= pos, (sid, r)
    return checked
