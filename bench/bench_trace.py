"""Benchmark: what recording socket calls costs, traced vs untraced, in the same run.

Two workloads, each run untraced, under the lab's Python tracer, and under strace (the recorder the lab uses
for non-Python programs), each in a fresh process on loopback TCP:

- bulk: 200 MB through one connection (a forked sender doing sendall of 1 MiB blocks, the receiver doing
  recv_into 256 KiB; timed from before the connection to the sender's exit, median of 3): few calls, many
  bytes, so the cost per byte;
- small: 50,000 send/recv pairs of 16 bytes on one connection: many calls, few bytes, the cost per call.

Reported: wall time of the workload (measured inside the program), ratio to untraced, records written, and
the cost per recorded call. Then the time ``merge_traces`` takes to turn the logs into calls.jsonl.

Run: ``.venv/bin/python -m bench trace``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.tracing import merge_traces
from lab.tracing.wrap import INJECT_DIR, strace_argv

BULK = r"""
import os, socket, sys, time
total, block = int(sys.argv[1]), 1 << 20
srv = socket.create_server(("127.0.0.1", 0))
t0 = time.perf_counter()  # from before the connection to the sender's exit: the whole transfer
pid = os.fork()
if pid == 0:
    c = socket.create_connection(srv.getsockname())
    data = b"x" * block
    for _ in range(total // block):
        c.sendall(data)
    c.close()
    os._exit(0)
conn, _ = srv.accept()
buf = bytearray(256 * 1024)
got = 0
while True:
    n = conn.recv_into(buf)
    if not n:
        break
    got += n
os.waitpid(pid, 0)
elapsed = time.perf_counter() - t0
assert got == total, got
print(elapsed)
"""

SMALL = r"""
import socket, sys, time
n = int(sys.argv[1])
srv = socket.create_server(("127.0.0.1", 0))
a = socket.create_connection(srv.getsockname())
b, _ = srv.accept()
msg = b"0123456789abcdef"
t0 = time.perf_counter()
for _ in range(n):
    a.send(msg)
    b.recv(16)
elapsed = time.perf_counter() - t0
print(elapsed)
"""

# name -> (program, argument, repetitions: the median is reported; bulk runs are short and noisy)
WORKLOADS = {"bulk 200 MB": (BULK, str(200 << 20), 3), "small 50k pairs": (SMALL, "50000", 1)}


def run(mode: str, code: str, arg: str, tmp: Path, reps: int) -> tuple[float, int]:
    """(median workload seconds, records) for one mode: untraced | python | strace."""
    times = []
    for rep in range(reps):
        seconds, records = run_once(mode, code, arg, tmp / str(rep), verbose=rep == reps - 1)
        times.append(seconds)
    return sorted(times)[len(times) // 2], records


def run_once(mode: str, code: str, arg: str, tmp: Path, verbose: bool) -> tuple[float, int]:
    trace_dir = tmp / mode
    trace_dir.mkdir(parents=True)
    argv = [sys.executable, "-c", code, arg]
    env = dict(os.environ)
    if mode == "python":
        env.update(PYTHONPATH=str(INJECT_DIR), LAB_TRACE_DIR=str(trace_dir), LAB_NODE="bench")
    elif mode == "strace":
        argv = strace_argv(argv, trace_dir / "strace-bench-1.txt")
    out = subprocess.run(argv, env=env, capture_output=True, timeout=900, check=True)
    seconds = float(out.stdout.decode().split()[-1])
    t0 = time.perf_counter()
    records = merge_traces(trace_dir, tmp / f"{mode}.jsonl") if mode != "untraced" else []
    merge_s = time.perf_counter() - t0
    if mode != "untraced" and verbose:
        print(f"    merge {mode:<8} {len(records):>8} records in {merge_s:6.2f} s "
              f"({len(records) / merge_s if merge_s else 0:,.0f} records/s)")
    return seconds, len(records)


def main() -> int:
    print("tracing overhead (loopback TCP; times measured inside the program)")
    with tempfile.TemporaryDirectory() as tmp_s:
        for name, (code, arg, reps) in WORKLOADS.items():
            tmp = Path(tmp_s) / name.split()[0]
            print(f"  {name}")  # before the runs: their merge figures print under it
            results = {mode: run(mode, code, arg, tmp, reps) for mode in ("untraced", "python", "strace")}
            base = results["untraced"][0]
            for mode, (seconds, records) in results.items():
                per_call = (seconds - base) / records * 1e6 if records else 0.0
                extra = f"  {records:>8} calls, {per_call:+7.2f} us/call" if records else ""
                print(f"    {mode:<9} {seconds:8.3f} s  x{seconds / base:6.2f}{extra}")
            print(json.dumps({"workload": name, **{m: {"seconds": round(s, 4), "ratio": round(s / base, 3),
                                                       "records": r} for m, (s, r) in results.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
