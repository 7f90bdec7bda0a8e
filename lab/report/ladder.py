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

    def keeps_packet(self, pkt: Mapping[str, Any], src: str | None, dst: str | None, mine: set[int]) -> bool:
        if self.protocol and hops.protocol_of(pkt).lower() != self.protocol.lower():
            return False
        if self.node and self.node not in (src, dst):
            return False
        if self.mine and int(pkt.get("number", 0)) not in mine:
            return False
        if self.connection:
            key = hops.connection_of(pkt) or ""
            want = self.connection if not self.connection.isdigit() else f":{self.connection}"
            ends = [e.strip() for e in key.partition(" ")[2].split("<->")]
            if not any(e == self.connection or e.endswith(want) for e in ends if e):
                return False
        return True

    def keeps_call(self, call: Mapping[str, Any], socks: set[str] | None) -> bool:
        if self.node and str(call.get("node")) != self.node:
            return False
        return socks is None or str(call.get("sock")) in socks


def cut_to_width(text: str, width: int) -> str:
    """Every line cut to ``width`` characters (an ellipsis marks a cut); ``--wide`` skips this."""
    if width <= 1:
        return text
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in text.split("\n"))


@dataclass(frozen=True)
class Lane:
    node: str
    kind: str = "host"


def _short_role(pkt: Mapping[str, Any]) -> str:
    tcp, udp = pkt.get("tcp"), pkt.get("udp")
    role = (pkt.get("role") or {}).get("code", "?")
    if tcp:
        flags = tcp.get("flags", "")
        return f"{flags} seq={tcp.get('seq')} ack={tcp.get('ack')} len={tcp.get('len')}"
    if udp:
        return f"UDP {udp.get('length', 8) - 8} B" + (f" {pkt['app']}" if pkt.get("app") else "")
    if pkt.get("arp"):
        arp = pkt["arp"]
        return (
            f"ARP who-has {arp.get('target_ip')}"
            if arp.get("op") == 1
            else f"ARP {arp.get('sender_ip')} is-at"
        )
    if pkt.get("icmp"):
        return f"ICMP {pkt['icmp'].get('name') or pkt['icmp'].get('type')}"
    return role


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


def _endpoints(
    pkt: Mapping[str, Any],
    mac_nodes: Mapping[str, str],
    ip_nodes: Mapping[str, str],
    ep_nodes: Mapping[tuple[str, int], str],
) -> tuple[str | None, str | None]:
    """Which nodes a packet goes between, by its addresses: by socket endpoint (exact, even when every host
    shares 127.0.0.1 as source on a loopback topology), then by MAC (per link), then by IP address."""
    eth = pkt.get("eth") or {}
    ip = pkt.get("ip") or {}
    arp = pkt.get("arp") or {}
    l4 = pkt.get("tcp") or pkt.get("udp") or {}
    src = ep_nodes.get((ip.get("src"), l4.get("sport"))) if l4 else None
    dst = ep_nodes.get((ip.get("dst"), l4.get("dport"))) if l4 else None
    src = src or mac_nodes.get(str(eth.get("src", "")).lower())
    dst = dst or mac_nodes.get(str(eth.get("dst", "")).lower())
    src = src or ip_nodes.get(ip.get("src") or arp.get("sender_ip") or "")
    dst = dst or ip_nodes.get(ip.get("dst") or arp.get("target_ip") or "")
    return src, dst


def _packet_row(
    pkt: Mapping[str, Any], src: str | None, dst: str | None, cols: _Columns
) -> tuple[str, str]:
    """The column part of a packet's row and what to say about its destination ("" for a plain arrow).

    A group address has no one receiving column, so the packet is a ``*`` at its sender. A unicast packet
    whose receiver the addresses do not name went at least to the node whose interface captured it."""
    if dst is None:
        group = group_destination(pkt)
        if group is not None:
            return cols.mark(src or "", "*"), f"{group[0]} to {group[1]}"
        node = pkt.get("node")
        if node and node != src:
            dst = str(node)
    if dst is None or dst not in cols.pos:
        ip, eth = pkt.get("ip") or {}, pkt.get("eth") or {}
        addr = ip.get("dst") or eth.get("dst") or "?"
        return cols.mark(src or "", "*"), f"to {addr} (no node of this ladder)"
    return cols.arrow(src, dst, str(pkt["number"])), ""


def render_ladder(
    packets: Iterable[Mapping[str, Any]],
    calls: Iterable[Mapping[str, Any]],
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
    mac_nodes = mac_nodes or {}
    ip_nodes = ip_nodes or {}
    notes = list(notes)
    keep = keep or LadderFilter()
    cols = _Columns(lanes)
    packets = list(packets)
    calls = [c for c in calls if c.get("call") not in QUIET_CALLS]
    ep_nodes = hops.endpoint_nodes(calls)
    finder = hops.HopFinder(links=links, mac_nodes=mac_nodes, ip_nodes=ip_nodes, ep_nodes=ep_nodes)
    mine = hops.program_caused(packets)
    events: list[tuple[int, int, str, str]] = []  # (time, order, column part, text)
    folded: dict[str, int] = {}
    kept_calls: set[int] = set()
    for pkt in packets:
        if (pkt.get("role") or {}).get("code") == "lab-probe":
            continue
        if links and (pkt.get("interface") in links):
            hop = finder.hop(pkt)
            src, dst, group = hop.src, hop.dst, hop.group
        else:
            src, dst = _endpoints(pkt, mac_nodes, ip_nodes, ep_nodes)
            group = None
            if hops.to_ip_group(pkt):
                dst = None  # to a group: a star at the sender, not an arrow to one member
        background = hops.background_kind(pkt)
        if background and not keep.background:
            folded[background] = folded.get(background, 0) + 1
            continue
        if not keep.keeps_packet(pkt, src, dst, mine):
            continue
        kept_calls.update(c for c in (pkt.get("cause") or {}).get("calls") or [] if isinstance(c, int))
        part, where = _packet_row(pkt, src, dst, cols)
        if group and not where:
            where = f"{group} (on this link)"
        ip = pkt.get("ip") or {}
        if links and ip.get("ttl") is not None and any(lane.kind == "router" for lane in cols.lanes):
            where = f"ttl={ip['ttl']}" + (f"  {where}" if where else "")
        cause = pkt.get("cause") or {}
        role = (pkt.get("role") or {}).get("text", "")
        where = f"  {where}" if where else ""
        text = f"#{pkt['number']} {_short_role(pkt)}  {role}{where}  <- {cause.get('text', '?')}"
        events.append((pkt["ts_ns"], 1, part, text))
    # every time a row starts at, sorted: a call that has one of them strictly inside (start, end) gets a
    # separate "returns" row, so nothing that happened while it ran is drawn after its outcome
    socks = ({str(c.get("sock")) for c in calls if c.get("id") in kept_calls}
             if keep.connection else None)
    calls = [c for c in calls if keep.keeps_call(c, socks)]
    times = sorted([e[0] for e in events] + [c.get("t_start_ns") or 0 for c in calls])
    steps = classic_steps(calls)
    waits = SendWaits(packets)
    for call in calls:
        node = str(call.get("node", "?"))
        start = call.get("t_start_ns") or 0
        end = call.get("t_end_ns") or start
        step = step_label(call, steps)
        label = f"{node} {call_text(call)}  [call #{call.get('id')}{', ' + step if step else ''}]"
        if bisect_left(times, end) > bisect_right(times, start):
            events.append(
                (start, 0, cols.mark(node, "*"), f"{node} {call.get('call')}() #{call.get('id')} ...")
            )
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


def route_notes(routes: Iterable[Mapping[str, Any]]) -> list[tuple[int, str, str]]:
    """Ladder notes for a run's route events (``routes.jsonl``): when each router's routes appeared."""
    out = []
    for r in routes:
        verb = "route installed" if r.get("action") == "add" else "route removed"
        via = f" via {r['via']}" if r.get("via") else ""
        by = f" by {r['proto']}" if r.get("proto") else ""
        out.append((int(r["ts_ns"]), str(r["node"]), f"{r['node']} {verb}: {r['dest']}{via}{by}"))
    return out
