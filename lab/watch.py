"""``lab watch RUN``: packets of a live session as they happen, with their layers, role and cause.

Each tick reads the complete blocks dumpcap has written so far (``lab.capture.dumpcap.complete_blocks``; the
files of several namespaces become the sections of one pcapng) and explains them with every call recorded
so far, through the same analysis as ``lab explain``. A packet is printed as soon as it is seen. Its cause
is printed when it is known -- when the call that made it (or that the kernel acted for) is recorded --
and until then the packet says ``cause pending``: a cause is never guessed first and changed later. If the
analysis later says more about a packet already explained (the recv() that read its bytes, say), that is
printed as a line of its own, marked ``now:``. A packet whose cause is still not known after
``SETTLE_S`` without a new call is printed with what the analysis could say (inferred, unexplained).

Watch numbers packets in the order it first sees them; ``lab explain`` numbers them as the merged capture
file does. Each tick analyzes the whole session again: simple and exact, and fast enough for sessions of
tens of thousands of packets (``bench/bench_watch.py`` measures it); the tick stretches to twice the last
analysis time so that a large session slows the display instead of the machine.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.capture.dumpcap import complete_blocks
from lab.live import LiveDir

if TYPE_CHECKING:
    from lab.records import PacketRecord

SETTLE_S = 2.0
EXPLAINED = ("call", "kernel", "lab")


@dataclass
class _Seen:
    key: tuple[Any, ...]
    number: int
    first_seen: float
    cause: str | None = None


@dataclass
class Watcher:
    """Follows one live session; ``tick()`` returns the lines to print since the last tick."""

    live: LiveDir
    node: str | None = None
    match: PacketTest | None = None
    seen: dict[tuple[Any, ...], _Seen] = field(default_factory=dict)
    last_calls: int = 0
    last_call_change: float = field(default_factory=time.monotonic)
    analysis_s: float = 0.0
    final: bool = False
    _new: set[tuple[Any, ...]] = field(default_factory=set)

    def _snapshot(self, work: Path, stopped: bool) -> Path | None:
        if stopped:  # the keeper merged the raw files into the final capture
            final = self.live.paths.capture
            return final if final.is_file() else None
        raw = sorted(self.live.paths.work_dir.glob("cap-*.pcapng"))
        data = b"".join(complete_blocks(p.read_bytes()) for p in raw if p.is_file())
        if not data:
            return None
        path = work / "watch.pcapng"
        path.write_bytes(data)
        return path

    def tick(self, final: bool = False) -> list[str]:
        """Explain what is on disk now; ``final``: the session has stopped, every cause is settled."""
        from lab.explain import explain_capture
        from lab.paths import RunPaths

        session = self.live.session()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="lab-watch-") as tmp:
            paths = RunPaths(Path(tmp)).make()
            capture = self._snapshot(paths.root, final)
            if capture is None:
                return []
            paths.capture.write_bytes(capture.read_bytes())
            for log in self.live.paths.traces_dir.glob("*"):
                (paths.traces_dir / log.name).write_bytes(log.read_bytes())
            explained = explain_capture(paths, session["nodes"], session["iface_nodes"], title="watch",
                                        ladder=False)
            with open(paths.packets, "rb") as fh:
                records: list[PacketRecord] = [json.loads(line) for line in fh]
        self.analysis_s = time.monotonic() - started
        if len(explained.calls) != self.last_calls:
            self.last_calls = len(explained.calls)
            self.last_call_change = time.monotonic()
        records.sort(key=lambda r: (r["ts_ns"] or 0))
        self.final = final
        shown = [rec for rec in records if self._wanted(rec)]
        for rec in shown:  # numbers first: a cause may name a later frame
            key = _key(rec)
            if key not in self.seen:
                self.seen[key] = _Seen(key, len(self.seen) + 1, time.monotonic())
                self._new.add(key)
        renumber = {rec["number"]: self.seen[_key(rec)].number for rec in shown}
        return [line for rec in shown for line in self._lines(rec, renumber)]

    def _wanted(self, rec: PacketRecord) -> bool:
        if rec["role"]["code"] == "lab-probe":
            return False
        if self.node is not None and rec["node"] != self.node:
            return False
        return self.match is None or self.match(rec)

    def _lines(self, rec: PacketRecord, renumber: dict[int, int]) -> list[str]:
        key = _key(rec)
        entry = self.seen[key]
        out = []
        if key in self._new:
            self._new.discard(key)
            out.append(self._packet_line(entry, rec))
        source, text = rec["cause"]["source"], _renumbered(rec["cause"]["text"], renumber)
        known = source in EXPLAINED
        settled = self.final or time.monotonic() - max(entry.first_seen, self.last_call_change) >= SETTLE_S
        if entry.cause is None and (known or settled):
            entry.cause = text
            label = "" if known else f"({source}) "
            out.append(f"{'':>10}   #{entry.number} <- {label}{text}")
        elif entry.cause is not None and known and text != entry.cause:
            entry.cause = text
            out.append(f"{'':>10}   #{entry.number} now: {text}")
        return out

    @staticmethod
    def _clock(ts_ns: int | None) -> str:
        if ts_ns is None:
            return f"{'?':>10}"
        t = time.localtime(ts_ns // 10**9)
        return f"{time.strftime('%H:%M:%S', t)}.{ts_ns // 10**6 % 1000:03d}"

    def _packet_line(self, entry: _Seen, rec: PacketRecord) -> str:
        layers = "/".join(layer["name"] for layer in rec["layers"])
        cause = rec["cause"]
        pending = "" if cause["source"] in EXPLAINED else "  <- cause pending"
        return (f"{self._clock(rec['ts_ns'])} {rec['node'] or '?':>4} #{entry.number} {rec['summary']}  "
                f"[{layers}]  {rec['role']['text']}{pending}")


def _key(rec: PacketRecord) -> tuple[Any, ...]:
    """What names one packet across ticks (its number in a snapshot can change as other files grow)."""
    return (rec["interface"], rec["ts_ns"], rec["len"])


_FRAMES = re.compile(r"\b(frames? )(\d+(?:(?:, | and |-)\d+)*)")


def _renumbered(text: str, renumber: dict[int, int]) -> str:
    """A cause text with its frame numbers (the snapshot's) replaced by the numbers watch shows."""
    def one(m: re.Match[str]) -> str:
        numbers = re.sub(r"\d+", lambda n: str(renumber.get(int(n.group()), "?")), m.group(2))
        return m.group(1) + numbers

    return _FRAMES.sub(one, text)


PacketTest = Callable[["PacketRecord"], bool]


def _port_is(port: int) -> PacketTest:
    def test(r: PacketRecord) -> bool:
        tcp, udp = r["tcp"], r["udp"]
        return (tcp is not None and port in (tcp["sport"], tcp["dport"])) or (
            udp is not None and port in (udp["sport"], udp["dport"]))
    return test


def _host_is(addr: str) -> PacketTest:
    def test(r: PacketRecord) -> bool:
        ip = r["ip"]
        return ip is not None and addr in (ip["src"], ip["dst"])
    return test


def _role_is(code: str) -> PacketTest:
    return lambda r: r["role"]["code"] == code


def _mine(r: PacketRecord) -> bool:
    return r["cause"]["source"] == "call"


def _protocol_is(name: str) -> PacketTest:
    def test(r: PacketRecord) -> bool:
        app = r["app"]
        return any(layer["name"].lower() == name for layer in r["layers"]) or (
            app is not None and app.lower() == name)
    return test


def parse_filter(expr: str | None) -> PacketTest | None:
    """``--filter``: space-separated terms, all must hold: a protocol or layer name (``tcp``, ``arp``,
    ``dns``), ``port=N``, ``host=ADDR``, ``role=CODE``, ``mine`` (packets a traced call sent)."""
    if not expr:
        return None
    from lab.errors import UsageError

    tests: list[PacketTest] = []
    for term in expr.split():
        name, _, value = term.partition("=")
        name = name.lower()
        if name == "port" and value.isdigit():
            tests.append(_port_is(int(value)))
        elif name == "host" and value:
            tests.append(_host_is(value))
        elif name == "role" and value:
            tests.append(_role_is(value))
        elif name == "mine" and not value:
            tests.append(_mine)
        elif not value and name.isalnum():
            tests.append(_protocol_is(name))
        else:
            raise UsageError(f"--filter: {term!r}: use a protocol (tcp, udp, arp, icmp, dns...), port=N, "
                             "host=ADDR, role=CODE or mine")
    return lambda r: all(t(r) for t in tests)


def watch(live: LiveDir, *, node: str | None, filter_expr: str | None, emit: Callable[[str], None],
          interval: float = 0.25, until: Callable[[], bool] | None = None) -> Watcher:
    """Print a live session's packets until ``until()`` says stop (Ctrl-C in the CLI), or the session
    stops and everything seen has been printed."""
    w = Watcher(live, node=node, match=parse_filter(filter_expr))
    while True:
        stopped = bool(live.session().get("stopped"))
        for line in w.tick(final=stopped):
            emit(line)
        if until is not None and until():
            return w
        if stopped:
            return w
        time.sleep(max(interval, 2 * w.analysis_s))
