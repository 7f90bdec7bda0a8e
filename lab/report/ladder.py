"""Ladder diagrams: nodes as columns, socket calls and packets interleaved in time.

The ladder is the lab's main picture: it shows, on one time axis, what each program asked for (calls,
marked ``*`` in their node's column, with a ``<`` row when a blocking call returns) and what crossed the
wire (arrows between columns), each packet with its role and the call or kernel duty that produced it.
It is rendered from ``packets.jsonl`` and ``calls.jsonl`` only, so ``lab show`` can redraw a finished run.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LANE_GAP = 22  # characters between two columns: room for an arrow with a frame number
SHOW_RETURN_NS = 100_000  # a call that blocked longer than this gets its own "returns" row
QUIET_CALLS = {"fileno", "gettimeout", "getblocking", "getsockopt"}


@dataclass(frozen=True)
class Lane:
    node: str
    kind: str = "host"


def _fmt_addr(addr: Any) -> str:
    if isinstance(addr, list | tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


def call_text(call: Mapping[str, Any]) -> str:
    """``connect(198.18.0.2:5000) = 0`` — a call as a student would write it, with its outcome."""
    args = call.get("args") or {}
    name = call.get("call", "?")
    shown: list[str] = []
    for key in ("address", "backlog", "how", "level", "optname", "value", "flag", "timeout"):
        if key in args:
            shown.append(_fmt_addr(args[key]) if key == "address" else str(args[key]))
    if call.get("nbytes") is not None and name not in ("accept",):
        shown.append(f"{call['nbytes']} B")
    elif "nbytes" in args:
        shown.append(f"{args['nbytes']} B")
    if "preview" in args:
        shown.append(repr(args["preview"])[:24])
    dgram = call.get("dgram")
    if dgram and dgram.get("peer"):
        shown.append(("to " if name.startswith("send") else "from ") + _fmt_addr(dgram["peer"]))
    if call.get("error"):
        outcome = f" -> {call.get('exception') or 'error'} {call['error']}"
    elif isinstance(call.get("ret"), dict):
        ret = call["ret"]
        outcome = f" -> fd {ret.get('fd')}" + (f" from {_fmt_addr(ret['peer'])}" if ret.get("peer") else "")
    elif call.get("ret") is not None and not isinstance(call.get("ret"), str | bytes):
        outcome = f" = {call['ret']}"
    else:
        outcome = ""
    return f"{name}({', '.join(shown)}){outcome}"


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
        row = self.blank()
        if src not in self.pos:
            return "".join(row)
        a = self.pos[src]
        b = (
            self.pos.get(dst)
            if dst in self.pos
            else (a + LANE_GAP if a + LANE_GAP < self.width else a - LANE_GAP)
        )
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
    """Which columns a packet goes between: by socket endpoint (exact, even when every host shares
    127.0.0.1 as source on a loopback topology), then by MAC (per link), then by IP address."""
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
    if src and not dst and pkt.get("node") and pkt.get("node") != src:
        dst = pkt["node"]
    return src, dst


def _endpoint_nodes(calls: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    for call in calls:
        local = call.get("local")
        if isinstance(local, list | tuple) and len(local) >= 2 and local[1]:
            host = str(local[0])
            out[(host[7:] if host.startswith("::ffff:") else host, local[1])] = str(call.get("node"))
    return out


def ip_nodes_from(nodes_info: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for node, info in nodes_info.items():
        for iface in info.get("interfaces", []):
            for key in ("ipv4", "ipv6"):
                if iface.get(key):
                    out[str(ipaddress.ip_interface(iface[key]).ip)] = node
    return out


def render_ladder(
    packets: Iterable[Mapping[str, Any]],
    calls: Iterable[Mapping[str, Any]],
    lanes: list[Lane],
    mac_nodes: Mapping[str, str] | None = None,
    *,
    ip_nodes: Mapping[str, str] | None = None,
    title: str = "",
) -> str:
    """The ladder as text; lab probes are left out (they are the lab's own frames, not the experiment's)."""
    mac_nodes = mac_nodes or {}
    ip_nodes = ip_nodes or {}
    cols = _Columns(lanes)
    calls = list(calls)
    ep_nodes = _endpoint_nodes(calls)
    events: list[tuple[int, int, str, str]] = []  # (time, order, column part, text)
    for pkt in packets:
        if (pkt.get("role") or {}).get("code") == "lab-probe":
            continue
        src, dst = _endpoints(pkt, mac_nodes, ip_nodes, ep_nodes)
        cause = pkt.get("cause") or {}
        role = (pkt.get("role") or {}).get("text", "")
        text = f"#{pkt['number']} {_short_role(pkt)}  {role}  <- {cause.get('text', '?')}"
        events.append((pkt["ts_ns"], 1, cols.arrow(src, dst, str(pkt["number"])), text))
    for call in calls:
        if call.get("call") in QUIET_CALLS:
            continue
        node = str(call.get("node", "?"))
        start, end = call.get("t_start_ns", 0), call.get("t_end_ns", 0)
        label = f"{node} {call_text(call)}  [call #{call.get('id')}]"
        if end - start > SHOW_RETURN_NS:
            events.append(
                (start, 0, cols.mark(node, "*"), f"{node} {call.get('call')}() #{call.get('id')} ...")
            )
            events.append(
                (end, 2, cols.mark(node, "<"), f"{label}  returns after {(end - start) / 1e6:.1f} ms")
            )
        else:
            events.append((start, 0, cols.mark(node, "*"), label))
    if not events:
        return f"{title}\n(no packets or calls)\n"
    events.sort(key=lambda e: (e[0], e[1]))
    t0 = events[0][0]
    header = " " * 11 + "".join(lane.node.ljust(LANE_GAP) for lane in lanes).rstrip()
    lines = [title, "", header] if title else [header]
    for ts, _, part, text in events:
        lines.append(f"{(ts - t0) / 1e6:9.3f}  {part}  {text}")
    lines.append("")
    lines.append(
        "time in ms since the first event; * = socket call, < = a blocking call returns, "
        "-[n]-> = packet n and its cause"
    )
    return "\n".join(lines) + "\n"
