"""The one set of limits and value rules that ``lab topo check`` and ``lab up`` share.

What ``check`` accepts, ``up`` can build: every bound here is one the realization really has (measured on
this kernel where it is the kernel's), and validation is the only place that enforces it, so the two verbs
cannot disagree. A value is refused when it is out of range, not finite, or finer than the realization can
express -- rather than silently rounded (loss 1e-7 % would otherwise become 0).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from lab.yamlfile import MAX_FILE_BYTES

MAX_TOPOLOGY_BYTES = MAX_FILE_BYTES
# 2,048 nodes (2,044 hosts on 4 switches) were brought up (54 s on a loaded 2-core machine) and down;
# the link limit leaves room for meshes of that many nodes.
MAX_NODES = 2048
MAX_LINKS = 4096
# A Linux bridge numbers its ports 1..1023 (port 0 is reserved; BR_MAX_PORTS is 1024): the 1024th
# port is refused with EXFULL ("Exchange full"), measured.
MAX_BRIDGE_PORTS = 1023
IFNAMSIZ = 15  # usable bytes of an interface name (16 including the NUL)
NAME_RE = re.compile(r"[A-Za-z0-9_-]+")  # always used with fullmatch: "h1\n" is not a name
# Interface names a fresh namespace already has or the kernel refuses ("all" and "default" are the
# sysctl directories net/*/conf/all|default): a switch's bridge is named after the switch, and node
# names are kept to one rule whatever the kind. The tunnel names are the fallback devices a namespace
# gets when their module is loaded.
RESERVED_NAMES = frozenset({"lo", "all", "default", "tunl0", "gre0", "gretap0", "erspan0", "ip_vti0",
                            "ip6_vti0", "sit0", "ip6tnl0", "ip6gre0", "ip6gretap0"})


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a node, or None."""
    if not name:
        return "empty name"
    if not NAME_RE.fullmatch(name):
        return "name may contain only letters, digits, '_' and '-'"
    if name in RESERVED_NAMES:
        return f"name {name!r} is reserved by the kernel (an interface every namespace has or must not have)"
    return None


@dataclass(frozen=True)
class Range:
    """A numeric link attribute: its bounds, and the step the realization expresses it in."""

    what: str
    unit: str
    low: float
    high: float
    step: float
    how: str  # why the step: what realizes the value
    fmt: Callable[[float], str] | None = None  # how a value is shown (default: number and unit)

    def show(self, value: float) -> str:
        if self.fmt is not None and math.isfinite(value) and value > 0:
            return self.fmt(value)
        return f"{value:g}{self.unit}"

    def problem(self, value: float) -> str | None:
        shown = self.show(value)
        if not math.isfinite(value):
            return f"{self.what} {shown} is not a finite number"
        if not self.low <= value <= self.high:
            return f"{self.what} {shown} out of range {self.show(self.low)}..{self.show(self.high)}"
        steps = value / self.step
        if abs(steps - round(steps)) > 1e-6 * max(1.0, abs(steps)):
            if 0 < value < self.step:
                return (f"{self.what} {shown} is below the resolution of {self.step:g}{self.unit} "
                        f"({self.how}); use 0 or at least {self.step:g}{self.unit}")
            return f"{self.what} {shown} is not a multiple of {self.step:g}{self.unit} ({self.how})"
        return None

    def steps(self, value: float) -> int:
        """``value`` in whole steps, as the realization writes it."""
        return round(value / self.step)


MTU = Range("mtu", "", 1280, 65535, 1, "bytes; 1280 is the IPv6 minimum, every lab link is dual stack")
DELAY = Range("delay", "ms", 0, 60_000, 0.001, "tc netem counts in microseconds")
JITTER = Range("jitter", "ms", 0, 60_000, 0.001, "tc netem counts in microseconds")
LOSS = Range("loss", "%", 0, 100, 0.01, "nftables draws a random number out of 10000")
RATE = Range("rate", "bit", 8_000, 100e9, 1, "tc counts whole bits per second",
             lambda bit: format_rate(bit))
LINK_RANGES = {"mtu": MTU, "delay": DELAY, "jitter": JITTER, "loss": LOSS, "rate": RATE}


def format_rate(bit: float) -> str:
    for unit, scale in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bit >= scale:
            return f"{bit / scale:g}{unit}"
    return f"{bit:g}bit"


def name_has_room(name: str, interfaces: int) -> str | None:
    """Why ``{name}-eth{n}`` for ``interfaces`` interfaces would not fit IFNAMSIZ, or None."""
    longest = f"{name}-eth{max(interfaces - 1, 0)}"
    if len(longest.encode()) > IFNAMSIZ:
        return (f"interface name {longest!r} would be longer than {IFNAMSIZ} bytes; use a shorter node "
                "name")
    return None
