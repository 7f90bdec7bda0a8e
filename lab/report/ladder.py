"""Ladder diagrams: nodes as columns, socket calls and packets interleaved in time.

The ladder is the lab's main picture: it shows, on one time axis, what each program asked for (calls,
marked ``*`` in their node's column) and what crossed the wire (arrows between columns), each packet with
its role and the call or kernel duty that produced it. It is rendered from ``packets.jsonl`` and
``calls.jsonl`` only, so ``lab show`` can redraw a finished run.

Rows are in time order, and a row must never claim something before it happened: a call is drawn as one
row at its start (with its outcome) unless another event (a packet or another call's start) happened while
it ran; then it gets a ``...`` row at its start and a ``<`` row with its outcome when it returns. So
``recv() = 0`` comes after the FIN that made it return, however briefly it blocked. A packet to a
multicast or broadcast address has no single receiving column: it is a ``*`` at its sender's column.

When the run says which interface captured each frame and what is at the other end of its link
(``links``, from report.json's nodes), every packet is drawn per hop (h1->r1, r1->r2, ... each copy with its
TTL), never as one arrow across routers (:mod:`lab.report.hops` decides, as for the HTML page). The
kernel's IPv6 housekeeping (MLD, NDP, router solicitations) is folded into one line unless asked for, and
``LadderFilter`` keeps only a connection, a protocol, a node or what the programs caused, as the page's
filters do. ``cut_to_width`` cuts each line to a terminal's width.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lab.errors import UsageError
from lab.records import CallRecord, PacketRecord
from lab.report import hops
from lab.report.hops import group_destination, ip_nodes_from  # the ladder's API since before hops
from lab.tracing.calltext import SendWaits, call_text, duration_text
from lab.tracing.steps import classic_steps, step_label

LANE_GAP = 22  # characters between two columns: room for an arrow with a frame number
QUIET_CALLS = {"gettimeout", "getblocking", "getsockopt"}
__all__ = ["Lane", "LadderFilter", "call_text", "cut_to_width", "group_destination", "ip_nodes_from",
           "render_ladder"]
FILTER_HELP = ("conn=PORT|ADDR:PORT (one connection), proto=NAME (TCP, UDP, ARP, ICMPv6...), node=NAME, "
               "mine (only what the programs caused), background (show the kernel's IPv6 housekeeping)")


@dataclass(frozen=True)
class LadderFilter:
    """What a ladder keeps; the same choices as the page's filters. Empty: everything but background."""

    connection: str | None = None
    protocol: str | None = None
    node: str | None = None
    mine: bool = False
    background: bool = False

    @classmethod
    def parse(cls, items: Iterable[str]) -> LadderFilter:
        """From ``--filter`` values such as ``proto=tcp``, ``node=h1``, ``conn=5000``, ``mine``.

        Raises:
            UsageError: an unknown filter or an empty value.
        """
        values: dict[str, Any] = {}
        names = {"conn": "connection", "connection": "connection", "proto": "protocol",
                 "protocol": "protocol", "node": "node"}
        for item in items:
            key, eq, value = item.partition("=")
            key = key.strip().lower()
            if not eq and key in ("mine", "background"):
                values[key] = True
            elif eq and key in names and value.strip():
                values[names[key]] = value.strip()
            else:
                raise UsageError(f"--filter {item!r}: expected one of {FILTER_HELP}")
        return cls(**values)

    def keeps_packet(self, pkt: PacketRecord, src: str | None, dst: str | None, mine: set[int]) -> bool:
        if self.protocol and hops.protocol_of(pkt).lower() != self.protocol.lower():
            return False
        if self.node and self.node not in (src, dst):
            return False
        if self.mine and pkt["number"] not in mine:
            return False
        if self.connection:
            key = hops.connection_of(pkt)
            if key is None:
                return False
            want = self.connection if not self.connection.isdigit() else f":{self.connection}"
            ends = [e.strip() for e in key.partition(" ")[2].split("<->")]
            if not any(e == self.connection or e.endswith(want) for e in ends if e):
                return False
        return True

    def keeps_call(self, call: CallRecord, socks: set[str] | None) -> bool:
        if self.node and call["node"] != self.node:
            return False
        return socks is None or str(call["sock"]) in socks


def cut_to_width(text: str, width: int) -> str:
    """Every line cut to ``width`` characters (an ellipsis marks a cut); ``--wide`` skips this."""
    if width <= 1:
        return text
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in text.split("\n"))


@dataclass(frozen=True)
class Lane:
    node: str
    kind: str = "host"


def _short_role(pkt: PacketRecord) -> str:
    tcp, udp, arp, icmp = pkt["tcp"], pkt["udp"], pkt["arp"], pkt["icmp"]
    if tcp is not None:
        return f"{tcp['flags']} seq={tcp['seq']} ack={tcp['ack']} len={tcp['len']}"
    if udp is not None:
        return f"UDP {udp['length'] - 8} B" + (f" {pkt['app']}" if pkt["app"] else "")
    if arp is not None:
        return f"ARP who-has {arp['target_ip']}" if arp["op"] == 1 else f"ARP {arp['sender_ip']} is-at"
    if icmp is not None:
        return f"ICMP {icmp['name'] or icmp['type']}"
    return pkt["role"]["code"]


class _Columns:
    def __init__(self, lanes: list[Lane]) -> None:
        self.lanes = lanes
        self.pos = {lane.node: i * LANE_GAP for i, lane in enumerate(lanes)}
        self.width = (len(lanes) - 1) * LANE_GAP + 1

    def blank(self) -> list[str]:
        row = [" "] * self.width
        for x in self.pos.values():
            row[x] = "|"
        return row

    def mark(self, node: str, char: str) -> str:
        row = self.blank()
        if node in self.pos:
            row[self.pos[node]] = char
        return "".join(row)

    def arrow(self, src: str | None, dst: str | None, label: str) -> str:
        """An arrow from ``src`` to ``dst``; a ``*`` at ``src`` when ``dst`` has no column (never an arrow to
        a column that did not receive the packet)."""
        row = self.blank()
        if src not in self.pos:
            return "".join(row)
        a = self.pos[src]
        b = self.pos.get(dst) if dst is not None else None
        if b is None or b == a:
            row[a] = "*"
            return "".join(row)
        lo, hi = min(a, b), max(a, b)
        for x in range(lo + 1, hi):
            row[x] = "-"
        if b > a:
            row[hi - 1] = ">"
        else:
            row[lo + 1] = "<"
        text = f"[{label}]"
        start = lo + 2 + max(0, (hi - lo - 3 - len(text)) // 2)
        if hi - lo - 3 >= len(text):
            row[start : start + len(text)] = list(text)
        return "".join(row)


def _packet_row(pkt: PacketRecord, src: str | None, dst: str | None, cols: _Columns) -> tuple[str, str]:
    """The column part of a packet's row and what to say about its destination ("" for a plain arrow).

    A group address has no one receiving column, so the packet is a ``*`` at its sender. A unicast packet
    whose receiver the addresses do not name went at least to the node whose interface captured it."""
    if dst is None:
        group = group_destination(pkt)
        if group is not None:
            return cols.mark("" if src is None else src, "*"), f"{group[0]} to {group[1]}"
        node = pkt["node"]
        if node and node != src:
            dst = node
    if dst is None or dst not in cols.pos:
        ip, eth = pkt["ip"], pkt["eth"]
        addr = ip["dst"] if ip is not None and ip["dst"] else None
        if addr is None and eth is not None:
            addr = eth["dst"]
        where = f"to {addr if addr else '?'} (no node of this ladder)"
        return cols.mark("" if src is None else src, "*"), where
    return cols.arrow(src, dst, str(pkt["number"])), ""


def render_ladder(
    packets: Iterable[PacketRecord],
    calls: Iterable[CallRecord],
    lanes: list[Lane],
    mac_nodes: Mapping[str, str] | None = None,
    *,
    ip_nodes: Mapping[str, str] | None = None,
    title: str = "",
    notes: Iterable[tuple[int, str, str]] = (),
    links: Mapping[str, hops.LinkEnds] | None = None,
    keep: LadderFilter | None = None,
) -> str:
    """The ladder as text; lab probes are left out (they are the lab's own frames, not the experiment's).

    ``notes`` are other timed events, ``(time_ns, node, text)``, drawn as ``+`` in the node's column (the
    routes a routing daemon installed: ``route_notes``). ``links`` (interface -> its node and peer,
    :func:`lab.report.hops.link_ends_from`) draws each packet per hop; ``keep`` filters (default: all but
    the background, which is counted in one line).
    """
    mac_nodes = mac_nodes if mac_nodes is not None else {}
    ip_nodes = ip_nodes if ip_nodes is not None else {}
    notes = list(notes)
    keep = keep or LadderFilter()
    cols = _Columns(lanes)
    packets = list(packets)
    calls = [c for c in calls if c["call"] not in QUIET_CALLS]
    ep_nodes = hops.endpoint_nodes(calls)
    finder = hops.HopFinder(links=links, mac_nodes=mac_nodes, ip_nodes=ip_nodes, ep_nodes=ep_nodes)
    mine = hops.program_caused(packets)
    routed = any(lane.kind == "router" for lane in cols.lanes)
    events: list[tuple[int, int, str, str]] = []  # (time, order, column part, text)
    folded: dict[str, int] = {}
    kept_calls: set[int] = set()
    for pkt in packets:
        if hops.is_probe(pkt):
            continue
        if links and pkt["interface"] in links:
            hop = finder.hop(pkt)
            src, dst, group = hop.src, hop.dst, hop.group
        else:
            src, dst = finder.by_address(pkt)
            group = None
            if hops.to_ip_group(pkt):
                dst = None  # to a group: a star at the sender, not an arrow to one member
        background = hops.background_kind(pkt)
        if background and not keep.background:
            folded[background] = folded.get(background, 0) + 1
            continue
        if not keep.keeps_packet(pkt, src, dst, mine):
            continue
        cause = pkt["cause"]
        kept_calls.update(cause.get("calls", ()))
        part, where = _packet_row(pkt, src, dst, cols)
        if group and not where:
            where = f"{group} (on this link)"
        ip = pkt["ip"]
        if links and ip is not None and routed:
            where = f"ttl={ip['ttl']}" + (f"  {where}" if where else "")
        where = f"  {where}" if where else ""
        text = f"#{pkt['number']} {_short_role(pkt)}  {pkt['role']['text']}{where}  <- {cause['text']}"
        events.append((_time(pkt), 1, part, text))
    # every time a row starts at, sorted: a call that has one of them strictly inside (start, end) gets a
    # separate "returns" row, so nothing that happened while it ran is drawn after its outcome
    socks = {str(c["sock"]) for c in calls if c["id"] in kept_calls} if keep.connection else None
    calls = [c for c in calls if keep.keeps_call(c, socks)]
    times = sorted([e[0] for e in events] + [c["t_start_ns"] for c in calls])
    steps = classic_steps(calls)
    waits = SendWaits(packets)
    for call in calls:
        node = str(call["node"])
        start, end = call["t_start_ns"], call["t_end_ns"]
        step = step_label(call, steps)
        label = f"{node} {call_text(call)}  [call #{call['id']}{', ' + step if step else ''}]"
        if bisect_left(times, end) > bisect_right(times, start):
            events.append((start, 0, cols.mark(node, "*"), f"{node} {call['call']}() #{call['id']} ..."))
            events.append(
                (end, 2, cols.mark(node, "<"), f"{label}  {duration_text(call, waits.waited(call))}")
            )
        else:
            events.append((start, 0, cols.mark(node, "*"), label))
    for ts, node, text in notes:
        if not keep.node or node == keep.node:
            events.append((ts, 1, cols.mark(node, "+"), text))
    fold_line = ""
    if folded:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(folded.items(), key=lambda kv: -kv[1]))
        fold_line = (f"{sum(folded.values())} background packets folded ({counts}): "
                     f"{hops.BACKGROUND_EXPLANATION.partition(': ')[2]}; --filter background shows them")
    if not events:
        return f"{title}\n(no packets or calls)\n" + (f"{fold_line}\n" if fold_line else "")
    events.sort(key=lambda e: (e[0], e[1]))
    t0 = events[0][0]
    header = " " * 11 + "".join(lane.node.ljust(LANE_GAP) for lane in lanes).rstrip()
    lines = [title, "", header] if title else [header]
    for ts, _, part, text in events:
        lines.append(f"{(ts - t0) / 1e6:9.3f}  {part}  {text}")
    lines.append("")
    if fold_line:
        lines.append(fold_line)
    lines.append(
        "time in ms since the first event; * = socket call (or a packet with no one receiving column), "
        "< = a call returns after other events, -[n]-> = packet n and its cause"
        + ("; + = a route installed or removed" if notes else "")
    )
    return "\n".join(lines) + "\n"


def _time(pkt: PacketRecord) -> int:
    """A packet's capture time; a frame without one (a pcap's record with no time) sorts first."""
    ts = pkt["ts_ns"]
    return 0 if ts is None else ts


def route_notes(routes: Iterable[Mapping[str, Any]]) -> list[tuple[int, str, str]]:
    """Ladder notes for a run's route events (``routes.jsonl``): when each router's routes appeared."""
    out = []
    for r in routes:
        verb = "route installed" if r.get("action") == "add" else "route removed"
        via = f" via {r['via']}" if r.get("via") else ""
        by = f" by {r['proto']}" if r.get("proto") else ""
        out.append((int(r["ts_ns"]), str(r["node"]), f"{r['node']} {verb}: {r['dest']}{via}{by}"))
    return out
