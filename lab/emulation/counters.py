"""The kernel's own counts of what it dropped, read in each node's namespace before and after a run.

Some events leave no packet to point at: a SYN the listener's full accept queue made the kernel drop is
seen on the wire (it arrived), but nothing on the wire says why nobody answered it. The kernel counts it
(``TcpExt: ListenOverflows`` and ``ListenDrops`` in ``/proc/net/netstat``, what ``nstat`` shows), per
network namespace. ``snapshot`` reads the counters a lab may need to explain itself; ``delta`` is what a
run added. A namespace's counters are its own, so a delta is this run's and no one else's; on a loopback
run (no namespaces) they are the whole machine's, and are not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.errors import EmulationError

NETSTAT = "/proc/net/netstat"
WATCHED = ("ListenOverflows", "ListenDrops", "TCPBacklogDrop", "TCPReqQFullDrop", "TCPReqQFullDoCookies")


def parse_netstat(text: str) -> dict[str, int]:
    """``{"ListenOverflows": 1, ...}`` from /proc/net/netstat (header line, value line, per section)."""
    out: dict[str, int] = {}
    lines = text.splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        names, nums = header.split(), values.split()
        if not names or names[0] != nums[0]:
            continue
        for name, num in zip(names[1:], nums[1:], strict=False):
            if name in WATCHED and num.lstrip("-").isdigit():
                out[name] = int(num)
    return out


def snapshot(net: Any, nodes: list[str]) -> dict[str, dict[str, int]]:
    """The watched counters of each node (``net.run`` reads the file inside the node's namespace)."""
    out: dict[str, dict[str, int]] = {}
    if getattr(net, "loopback", False):
        return out
    for node in nodes:
        try:
            out[node] = parse_netstat(net.run(node, ["cat", NETSTAT], timeout=10).stdout)
        except EmulationError:
            continue
    return out


def delta(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]
          ) -> dict[str, dict[str, int]]:
    """What the run added, per node, only the counters that moved."""
    out: dict[str, dict[str, int]] = {}
    for node, now in after.items():
        moved = {k: v - before.get(node, {}).get(k, 0) for k, v in now.items()
                 if v != before.get(node, {}).get(k, 0)}
        if moved:
            out[node] = moved
    return out
