"""Benchmark: the highest rate a lab's capture keeps every packet of, before and after the loss reduction.

On a real two-hosts network (namespaces, a veth pair, offloads off) a traced sender in h1 sends to a traced
receiver in h2 -- the lab's Python tracer records every socket call, as in a lab run -- for ``SECONDS`` at a
paced rate, while the lab's ``Capture`` (dumpcap, confirmed by probes) records h1-eth0. dumpcap's own
counters (``lab.capture.stats``) say whether anything was dropped. The rate doubles until packets are lost
or the sender cannot go faster, then two bisection steps narrow the edge; one trial per rate.

Workloads: bulk TCP (sendall of 64 KiB blocks: full-size segments and their ACKs) and small UDP (64-byte
datagrams, one sendto each). Capture settings:

- ``before``: dumpcap's default 2 MiB kernel buffer, whole packets -- what every run used before;
- ``after``: the automatic buffer (``lab.capture.dumpcap.buffer_per_interface``: 64 MiB for a run with a
  single capture point, less each when a run has many), whole packets;
- ``after+snaplen``: the same with ``--snaplen 128`` (bulk TCP only: headers are all its analysis needs).

Reported per row: the highest loss-free rate (payload Mbit/s the sender achieved, and packets/s on the
captured interface, both directions), the first rate that lost packets and how many, and the sender's own
ceiling when it was reached first. Needs root (namespaces); bounded to a few minutes.

Run: ``.venv/bin/python -m bench capture``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SECONDS = 2.0
TCP_START_MBIT = 100.0
UDP_START_PPS = 5000.0
MAX_DOUBLINGS = 8
BISECT_STEPS = 2

TCP_SENDER = r"""
import socket, sys, time
host, port, mbit, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
block = b"x" * 65536
rate = mbit * 1e6 / 8
s = socket.create_connection((host, port))
sent, t0 = 0, time.perf_counter()
while (now := time.perf_counter() - t0) < secs:
    if sent <= rate * now:
        s.sendall(block)
        sent += len(block)
    else:
        time.sleep(min(0.001, (sent - rate * now) / rate))
elapsed = time.perf_counter() - t0
s.shutdown(socket.SHUT_WR)
s.recv(16)
s.close()
print(sent, elapsed)
"""

TCP_RECEIVER = r"""
import socket, sys
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
conn, _ = srv.accept()
while conn.recv(262144):
    pass
conn.close()
"""

UDP_SENDER = r"""
import socket, sys, time
host, port, pps, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data, dest = b"x" * 64, (host, port)
sent, t0 = 0, time.perf_counter()
while (now := time.perf_counter() - t0) < secs:
    if sent <= pps * now:
        s.sendto(data, dest)
        sent += 1
    else:
        time.sleep(min(0.001, (sent - pps * now) / pps))
elapsed = time.perf_counter() - t0
for _ in range(3):
    s.sendto(b"END", dest)
print(sent * len(data), elapsed)
"""

UDP_RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(20)
while s.recv(2048) != b"END":
    pass
"""


@dataclass(frozen=True)
class Workload:
    name: str
    sender: str
    receiver: str
    proto: str
    start: float  # first rate tried (Mbit/s for TCP, packets/s for UDP)
    unit: str


@dataclass
class Trial:
    target: float
    mbit: float  # payload the sender achieved
    pps: float  # packets per second dumpcap received on the interface (both directions)
    dropped: int
    complete: bool


WORKLOADS = [
    Workload("bulk TCP", TCP_SENDER, TCP_RECEIVER, "tcp", TCP_START_MBIT, "Mbit/s"),
    Workload("small UDP", UDP_SENDER, UDP_RECEIVER, "udp", UDP_START_PPS, "pkt/s"),
]
SETTINGS = [("before", 2, None), ("after", None, None), ("after+snaplen", None, 128)]


def _trial(net: object, work: Workload, rate: float, buffer_mib: int | None, snaplen: int | None,
           tmp: Path, n: int) -> Trial:
    from lab.capture import Capture, CaptureTarget
    from lab.tracing import wrap_command

    port = 5100 + n % 500
    traces = tmp / f"traces-{n}"
    points = net.capture_points()  # type: ignore[attr-defined]
    targets = [CaptureTarget(p.namespace, p.ifname, p.label, p.bpf) for p in points]
    capture = Capture(targets, tmp / f"c-{n}.pcapng", tmp / f"work-{n}", buffer_mib=buffer_mib,
                      snaplen=snaplen)
    h2 = net.ip("h2")  # type: ignore[attr-defined]
    with capture:
        argv, env = wrap_command([sys.executable, "-c", work.receiver, h2, str(port)], traces, "h2")
        receiver = net.popen("h2", argv, env=env, stdout=subprocess.DEVNULL)  # type: ignore[attr-defined]
        _await_bound(net, work.proto, port)
        argv, env = wrap_command(
            [sys.executable, "-c", work.sender, h2, str(port), str(rate), str(SECONDS)], traces, "h1"
        )
        done = net.run("h1", argv, env=env, timeout=SECONDS + 60)  # type: ignore[attr-defined]
        receiver.wait(timeout=30)
    stats = capture.stats
    assert stats is not None
    sent, elapsed = (float(x) for x in done.stdout.split())
    received = sum(c.received or 0 for c in stats.per_interface.values())
    for path in (tmp / f"c-{n}.pcapng", traces, tmp / f"work-{n}"):  # keep the disk use of the run small
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return Trial(rate, sent * 8 / elapsed / 1e6, received / elapsed, stats.dropped, stats.complete)


def _await_bound(net: object, proto: str, port: int) -> None:
    flag = "-Hltn" if proto == "tcp" else "-Hlun"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if net.run("h2", ["ss", flag, f"sport = :{port}"], check=False).stdout.strip():  # type: ignore[attr-defined]
            return
        time.sleep(0.02)
    raise RuntimeError(f"receiver never bound {proto}/{port}")


def _search(net: object, work: Workload, buffer_mib: int | None, snaplen: int | None, tmp: Path,
            counter: list[int]) -> tuple[Trial | None, Trial | None, bool]:
    """(best loss-free trial, first lossy trial, whether the sender's ceiling ended the search)."""

    def run(rate: float) -> Trial:
        counter[0] += 1
        return _trial(net, work, rate, buffer_mib, snaplen, tmp, counter[0])

    good: Trial | None = None
    bad: Trial | None = None
    ceiling = False
    rate = work.start
    for _ in range(MAX_DOUBLINGS):
        t = run(rate)
        if not t.complete:
            bad = t
            break
        if good is not None and _achieved(t, work) < 1.1 * _achieved(good, work):
            # doubling the target no longer moves the sender: its ceiling (the tracer's cost) came first
            good, ceiling = max(good, t, key=lambda x: _achieved(x, work)), True
            break
        good = t
        rate *= 2
    if bad is not None and good is not None:
        low, high = good.target, bad.target
        for _ in range(BISECT_STEPS):
            mid = (low + high) / 2
            t = run(mid)
            if t.complete:
                good, low = t, mid
            else:
                bad, high = t, mid
    return good, bad, ceiling


def _achieved(t: Trial, work: Workload) -> float:
    """What the sender achieved in the workload's unit: payload Mbit/s, or datagrams/s."""
    return t.mbit if work.proto == "tcp" else t.mbit * 1e6 / 8 / 64


def main() -> int:
    if os.geteuid() != 0:
        print("bench_capture: skipped (needs root: network namespaces)")
        return 0
    if shutil.which("dumpcap") is None:
        print("bench_capture: skipped (dumpcap not installed)")
        return 0
    from lab.capture.dumpcap import buffer_per_interface
    from lab.emulation import Network
    from lab.topology import load_topology

    started = time.monotonic()
    rows = []
    counter = [0]
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmpdir, \
            Network(load_topology("two-hosts")) as net:
        tmp = Path(tmpdir)
        points = len(net.capture_points())
        for work in WORKLOADS:
            for label, buffer_mib, snaplen in SETTINGS:
                if snaplen and work.proto != "tcp":
                    continue
                good, bad, ceiling = _search(net, work, buffer_mib, snaplen, tmp, counter)
                buf = buffer_mib or buffer_per_interface(points)
                rows.append((work, label, buf, snaplen, good, bad, ceiling))
                print(f"  {work.name:<9} {label:<14} done ({time.monotonic() - started:.0f}s)", flush=True)
    print(f"\nhighest loss-free capture rate, {SECONDS:g} s per trial, tracer on both ends, 1 capture point "
          f"(h1-eth0), {os.cpu_count()} CPUs; {counter[0]} trials in {time.monotonic() - started:.0f} s")
    head = (f"{'workload':<10} {'capture':<14} {'buffer':>7} {'snaplen':>8} {'loss-free Mbit/s':>17} "
            f"{'pkt/s':>8}   first loss")
    print(head)
    print("-" * len(head))
    for work, label, buf, snaplen, good, bad, ceiling in rows:
        ok_mbit = f"{good.mbit:,.0f}" if good else "-"
        ok_pps = f"{good.pps:,.0f}" if good else "-"
        if bad is not None:
            lost = f"{bad.mbit:,.0f} Mbit/s, {bad.pps:,.0f} pkt/s: {bad.dropped:,} dropped"
        elif ceiling:
            lost = "none: the traced sender's ceiling came first"
        else:
            lost = "none up to the last rate tried"
        snap = str(snaplen or "whole")
        print(f"{work.name:<10} {label:<14} {buf:>5}Mi {snap:>8} {ok_mbit:>17} {ok_pps:>8}   {lost}")
    print("one trial per rate, rates as achieved: other processes on the machine move the edge, so a lossy "
          "trial can sit below a loss-free one; a 2 s trial is lab-sized, and a larger buffer helps a burst "
          "more than a sustained stream")
    return 0


if __name__ == "__main__":
    sys.exit(main())
