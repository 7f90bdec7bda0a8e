"""Topology bring-up benchmark: our backend vs a naive one-process-per-command backend, same run.

A generated campus (hosts on switches, switches on a chain of 5 routers) is brought up, verified (every
host reaches its gateway, and a sample of remote hosts, with a real UDP exchange) and torn down, at 100
hosts / 10 switches and 250 hosts / 25 switches. The naive backend executes the *same plan* with one
``ip``/``ip netns exec`` process per command and verifies with one ``ping`` process per pair, as a script
written without batching would. Targets (issue 3): 100-host cycle < 1.5 s, 250-host cycle < 3 s, and at
least 2.5x faster than naive.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lab.emulation import Network
from lab.emulation.names import ETC_NETNS, NETNS_DIR
from lab.emulation.plan import Plan
from lab.topology import Topology, topology_from_graph
from lab.topology.generate import campus

SIZES = ((100, 10), (250, 25))
SAMPLE = 20  # remote host pairs per run


def _run(argv: list[str], stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, check=True, capture_output=True, text=True, timeout=60)


class NaiveBackend:
    """The same plan, one process per command (the baseline a non-batching script would be)."""

    def create(self, plan: Plan) -> None:
        for path, content in plan.etc_files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(content)
        for line in plan.root_batch:
            _run(["ip", *line.split()])
        for job in plan.jobs:
            if job.sysctl:
                _run(["ip", "netns", "exec", job.ns, "sysctl", "-qw",
                      *(f"{k}={v}" for k, v in job.sysctl.items())])
            for dev in job.offload_off:
                _run(["ip", "netns", "exec", job.ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                      "off", "tx", "off"])
            for line in job.ip:
                _run(["ip", "-n", job.ns, *line.split()])
            for line in job.tc:
                _run(["tc", "-n", job.ns, *line.split()])
            if job.nft:
                _run(["ip", "netns", "exec", job.ns, "nft", "-f", "-"], stdin=job.nft)

    def destroy(self, namespaces: list[str], etc_dirs: list[str]) -> list[str]:
        for ns in namespaces:
            if not (NETNS_DIR / ns).exists():
                continue
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in out:
                os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "del", ns])
        for d in etc_dirs:
            if Path(d).parent == ETC_NETNS:
                shutil.rmtree(d, ignore_errors=True)
        return []


def _pairs(topo: Topology) -> list[tuple[str, str, str]]:
    """(host, its gateway router, gateway address) for every host, plus SAMPLE remote host pairs."""
    owner = {i.ipv4.split("/")[0]: n for n, ifs in topo.layout.interfaces.items() for i in ifs if i.ipv4}
    out = []
    for h in topo.hosts:
        gw = next(r.via for r in topo.layout.routes[h] if r.version == 4)
        out.append((h, owner[gw], gw))
    hosts = topo.hosts
    step = max(1, len(hosts) // SAMPLE)
    for k in range(0, len(hosts), step):
        a, b = hosts[k], hosts[-1 - k]
        if a != b:
            out.append((a, b, topo.layout.primary(b)))
    return out[: len(hosts) + SAMPLE]


def _naive_verify(net: Network, pairs: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    failed = []
    for src, dst, addr in pairs:
        r = subprocess.run(["ip", "netns", "exec", net.namespace(src), "ping", "-c1", "-W1", addr],
                           capture_output=True, timeout=10)
        if r.returncode:
            failed.append((src, dst, addr))
    return failed


def cycle(topo: Topology, naive: bool) -> tuple[float, float, float, int]:
    """(up, verify, down) seconds and the number of failed reachability checks."""
    pairs = _pairs(topo)
    net = Network(topo, backend=NaiveBackend() if naive else None)
    t0 = time.perf_counter()
    net.start()
    t1 = time.perf_counter()
    try:
        failed = _naive_verify(net, pairs) if naive else net.reachable(pairs)
        t2 = time.perf_counter()
    finally:
        net.stop()
    t3 = time.perf_counter()
    left = [p.name for p in NETNS_DIR.iterdir() if p.name.startswith(f"lab-{net.run_id}-")]
    if left:
        raise RuntimeError(f"run {net.run_id}: {len(left)} namespaces survived teardown")
    return t1 - t0, t2 - t1, t3 - t2, len(failed)


def main() -> int:
    if os.geteuid() != 0:
        print("bench_topology: needs root (network namespaces); skipped")
        return 0
    bad = 0
    print(f"{'size':<22}{'impl':<8}{'up s':>8}{'verify s':>10}{'down s':>8}{'cycle s':>9}{'failed':>8}")
    for hosts, switches in SIZES:
        topo = topology_from_graph(campus(hosts, switches, 5), source=f"<campus {hosts}>")
        _ = topo.layout  # resolve outside the timed region, the same for both
        results = {}
        for impl in ("lab", "naive"):
            up, verify, down, failed = cycle(topo, naive=impl == "naive")
            results[impl] = up + verify + down
            bad += failed
            label = f"{hosts} hosts/{switches} sw"
            total = up + verify + down
            print(f"{label:<22}{impl:<8}{up:8.3f}{verify:10.3f}{down:8.3f}{total:9.3f}{failed:8d}",
                  flush=True)
        target = 1.5 if hosts <= 100 else 3.0
        ratio = results["naive"] / results["lab"]
        print(f"  -> lab cycle {results['lab']:.2f} s (target < {target} s: "
              f"{'met' if results['lab'] < target else 'MISSED'}), {ratio:.1f}x faster than naive "
              f"(target >= 2.5x: {'met' if ratio >= 2.5 else 'MISSED'})")
    return 1 if bad else 0
