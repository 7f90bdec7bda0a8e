"""The page's data: a run's records turned into the compact tables the page's JavaScript draws from.

Why data plus small JavaScript rather than SVG drawn here: a 200,000-packet analysis would be a
200,000-arrow SVG (tens of megabytes of markup, minutes of layout in the browser). The page instead holds
one column per packet field (numbers, and indexes into one table of distinct strings: the same role or
cause text is stored once) and draws only the rows in view. The layout comes from
:mod:`lab.report.html.geometry` (lane positions and widths, one row per event in time order, computed
here); the page cuts each arrow's label with the same rule (``fit`` in core.js, given geometry's
constants), and a browser test checks the rendered labels stay inside their arrows without overlapping.

Bounds (so that the file stays openable whatever the capture):
* at most ``MAX_PACKETS`` packets are in the page (their rows, arrows, causes, layers);
* the decoded header fields of the first ``DETAIL_PACKETS`` packets, and frame bytes up to
  ``BYTES_BUDGET`` bytes in all (first frames first), are embedded for the packet view; past that the
  packet view shows the frame's layers, role and cause and says where the bytes are
  (annotated.pcapng, frame N);
* cause texts are cut at ``MAX_TEXT`` characters, at most ``MAX_CALLS`` calls are in the page.
"""

from __future__ import annotations

import base64
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.analysis.decode import tcp_wscale
from lab.analysis.reader import CaptureReader, Record
from lab.errors import PcapFormatError
from lab.records import CallRecord, Layer, Lost, PacketRecord, Question
from lab.report import hops
from lab.report.html import geometry
from lab.report.html.markdown import to_html
from lab.report.html.topology import topology_svg
from lab.report.ladder import call_text
from lab.report.records import NodeInfo, RunRecords

MAX_PACKETS = 250_000
DETAIL_PACKETS = 5_000
BYTES_BUDGET = 2 << 20
MAX_TEXT = 300
MAX_CALLS = 50_000
MAX_LANES = 12  # lanes of a ``lab analyze`` page (one per address); the rest share one "other" lane
QUIET_CALLS = {"fileno", "gettimeout", "getblocking", "getsockopt"}
FIELD_BLOCKS = {"Ethernet": "eth", "IPv4": "ip", "IPv6": "ip", "TCP": "tcp", "UDP": "udp", "ICMP": "icmp",
                "ICMPv6": "icmp", "ARP": "arp"}
CAUSE_KEYS = ("source", "rule", "text", "calls", "answers", "related", "copy_of", "node")
FRAME_REF = re.compile(r"\bframes?\s+((?:\d+(?:\s*,\s*|\s+and\s+|\s*-\s*)?)+)")


class Strings:
    """A table of distinct strings: a column holds indexes into it (one copy of each repeated text)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]

    def __call__(self, text: Any) -> int:
        i = self.index.get(text) if text.__class__ is str else None  # most texts repeat: one lookup
        if i is not None:
            return i
        key = "" if text is None else str(text)
        short = key if len(key) <= MAX_TEXT else key[: MAX_TEXT - 1] + "…"
        i = self.index.get(short)
        if i is None:
            i = len(self.table)
            self.table.append(short)
        self.index[short] = self.index[key] = i  # the long text finds its cut copy at once next time
        return i


@dataclass
class Columns:
    """One list per packet field, all the same length (one entry per packet in the page)."""

    names: tuple[str, ...] = (
        "n", "t", "s", "d", "grp", "lbl", "esrc", "edst", "role", "rc", "cause", "proto", "conn", "iface",
        "bg", "mine", "copy", "cc", "stack", "seq", "ack", "len", "win", "fc", "flags", "an", "ttl", "len0",
    )
    data: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = {name: [] for name in self.names}
        self._appends = tuple(self.data[name].append for name in self.names)

    def add(self, **values: Any) -> None:
        for name, append in zip(self.names, self._appends, strict=True):
            append(values[name])

    def add_row(self, row: tuple[Any, ...]) -> None:
        """One packet's values in the order of ``names`` (the per-packet path: no keyword dict)."""
        for append, value in zip(self._appends, row, strict=True):
            append(value)


def frame_refs(text: str) -> list[int]:
    """Frame numbers an observation's detail names ("frames 7, 8", "frame 9"), for evidence links."""
    out: list[int] = []
    for match in FRAME_REF.finditer(text or ""):
        for part in re.split(r"\s*,\s*|\s+and\s+", match.group(1)):
            if "-" in part:
                lo, _, hi = part.partition("-")
                if lo.strip().isdigit() and hi.strip().isdigit() and int(hi) - int(lo) < 50:
                    out.extend(range(int(lo), int(hi) + 1))
            elif part.strip().isdigit():
                out.append(int(part))
    return out


def kind_text(pkt: PacketRecord) -> str:
    """What a non-TCP arrow says: the datagram length for UDP, the question for ARP, the ICMP message.
    (A TCP arrow's text, flags seq/ack/len, is made by the page from its columns: the text of 200,000
    segments would be 200,000 distinct strings.)"""
    udp, arp, icmp = pkt["udp"], pkt["arp"], pkt["icmp"]
    if udp is not None:
        text = f"UDP {max(udp['length'] - 8, 0)} B"
        return text + (f" {pkt['app']}" if pkt["app"] else "")
    if arp is not None:
        return f"ARP who-has {arp['target_ip']}" if arp["op"] == 1 else f"ARP {arp['sender_ip']} is-at"
    if icmp is not None:
        return f"{'ICMPv6' if icmp['version'] == 6 else 'ICMP'} {icmp['name'] or icmp['type']}"
    return pkt["role"]["text"] or pkt["summary"] or "?"


def packet_addresses(pkt: PacketRecord) -> tuple[str | None, str | None]:
    """Where a packet's addresses are: IP, else ARP's, else Ethernet's (a ``lab analyze`` page's lanes)."""
    ip, arp, eth = pkt["ip"], pkt["arp"], pkt["eth"]
    if ip is not None:
        return ip["src"], ip["dst"]
    if arp is not None:
        return arp["sender_ip"], arp["target_ip"]
    if eth is not None:
        return eth["src"], eth["dst"]
    return None, None


def _address_lanes(counts: Counter[str], pairs: list[tuple[str | None, str | None]], cols: Columns
                   ) -> list[str]:
    """Lanes of a ``lab analyze`` page, the busiest addresses (one lane each, the rest in one "other"
    lane), and each packet's arrow between them (columns ``s`` and ``d``)."""
    names = [a for a, _ in counts.most_common(MAX_LANES)]
    if len(counts) > MAX_LANES:
        names.append("other")
    index = {n: i for i, n in enumerate(names)}
    other = index.get("other", -1)
    s, d = cols.data["s"], cols.data["d"]
    for i, (a, b) in enumerate(pairs):
        src = index.get(a, other) if a else -1
        dst = index.get(b, other) if b else -1
        s[i], d[i] = src, (-1 if dst == src else dst)
    return names


def _frame_bytes(
    records: RunRecords, wanted: set[int], budget: int, syn_offsets: Mapping[int, int]
) -> tuple[dict[int, str], dict[int, int], str]:
    """Frames' bytes (base64) for the packet view, within ``budget``; window scales from SYN options.

    Returns (bytes by frame, window-scale shift by frame of a SYN that announced one, a note when the
    capture file could not be read)."""
    path = records.capture_file
    out: dict[int, str] = {}
    scales: dict[int, int] = {}
    if path is None:
        return out, scales, "no capture file in this directory: the frames' bytes are not in the page"
    used = 0
    number = 0
    # past the last SYN and the last frame still wanted (or once the budget is spent) nothing more is
    # needed: a 200k-packet capture is not read to its end for the bytes of its first frames
    last_syn = max(syn_offsets, default=0)
    last_wanted = max(wanted, default=0)
    reader = CaptureReader(path)
    try:
        for rec in reader.records():
            if not isinstance(rec, Record):
                continue
            number += 1
            if number > last_syn and (number > last_wanted or used >= budget):
                break
            data = rec.data
            if number in wanted and used + len(data) <= budget:
                out[number] = base64.b64encode(data).decode("ascii")
                used += len(data)
            if len(data) > 47 and number in syn_offsets:
                shift = _wscale(data, syn_offsets[number])
                if shift is not None:
                    scales[number] = shift
    except PcapFormatError as err:
        return out, scales, f"the capture file could not be read for the frames' bytes: {err}"
    return out, scales, ""


def _wscale(data: bytes, off: int) -> int | None:
    """The window-scale shift a SYN announces in the TCP options of the header at ``off``, or None (the
    options walk is the analysis's own: ``lab.analysis.decode.tcp_wscale``)."""
    if off + 20 > len(data):
        return None
    return tcp_wscale(data, off + 20, min(off + (data[off + 12] >> 4) * 4, len(data)))


@dataclass
class _Pending:
    """What the packet pass found that the bytes pass and the page need afterwards."""

    details: dict[int, dict[str, Any]] = field(default_factory=dict)  # the page's own dicts, not records
    lost: dict[int, dict[str, Any]] = field(default_factory=dict)
    syn_offsets: dict[int, int] = field(default_factory=dict)
    probes: int = 0
    total: int = 0
    background: Counter[str] = field(default_factory=Counter)


class _Lanes:
    """The lanes of a lab run's page: its hosts and routers in the run's order; a switch (or a node the run
    did not list) gets a lane when a packet crosses it."""

    def __init__(self, nodes_info: Mapping[str, NodeInfo]) -> None:
        self.kinds = {n: info["kind"] for n, info in nodes_info.items()}
        self.names = [n for n, kind in self.kinds.items() if kind != "switch"]
        self.index = {n: i for i, n in enumerate(self.names)}

    def of(self, node: str | None) -> int:
        if node is None:
            return -1
        if node not in self.index:
            if node not in self.kinds and self.kinds:
                return -1
            self.index[node] = len(self.names)
            self.names.append(node)
        return self.index[node]


class _PacketTable:
    """Packets into columns, one at a time (packets.jsonl is streamed, never held whole)."""

    def __init__(self, nodes_info: Mapping[str, NodeInfo], calls: list[CallRecord], strings: Strings) -> None:
        self.strings = strings
        self.cols = Columns()
        self.pending = _Pending()
        self.lanes = _Lanes(nodes_info)
        self.routed = "router" in self.lanes.kinds.values()
        self.finder = hops.HopFinder(
            links=hops.link_ends_from(nodes_info), mac_nodes=hops.mac_nodes_from(nodes_info),
            ip_nodes=hops.ip_nodes_from(nodes_info), ep_nodes=hops.endpoint_nodes(calls),
        )
        # a lab analyze page has no nodes: its lanes are the busiest addresses, known once all are read
        self.by_address = not nodes_info
        self.addr_counts: Counter[str] = Counter()
        self.addr_pairs: list[tuple[str | None, str | None]] = []
        self.conns: dict[str, int] = {}
        self.stacks: dict[str, int] = {}
        self.stack_table: list[list[Any]] = []
        self.mine: set[int] = set()
        starts = [c["t_start_ns"] for c in calls]
        self.first_call = min(starts) if starts else None
        self.t0: int | None = None

    def add(self, pkt: PacketRecord) -> None:
        pending, strings = self.pending, self.strings
        pending.total += 1
        if hops.is_probe(pkt):
            pending.probes += 1
            return
        if len(self.cols.data["n"]) >= MAX_PACKETS:
            return
        number = pkt["number"]
        ts = pkt["ts_ns"]
        if ts.__class__ is not int:  # no time (drawn at the start), or one beyond 64 bits (read as a float)
            ts = 0 if ts is None else int(ts)
        if self.t0 is None:
            self.t0 = ts if self.first_call is None else min(ts, self.first_call)
        cause = pkt["cause"]
        caused = hops.caused_by_program(pkt, self.mine)
        if caused:
            self.mine.add(number)
        src, dst, group = self._hop(pkt)
        bg = hops.background_kind(pkt)
        if bg:
            pending.background[bg] += 1
        layers = pkt["layers"]
        conn = hops.connection_of(pkt)
        if conn is not None and conn not in self.conns:
            self.conns[conn] = len(self.conns)
        tcp, ip, role, eth = pkt["tcp"], pkt["ip"], pkt["role"], pkt["eth"]
        called = cause.get("calls")
        copy_of = cause.get("copy_of")
        analysis = pkt["analysis"]
        if tcp is not None:
            seq, ack, tlen, win = tcp["seq"], tcp["ack"], tcp["len"], tcp["win"]
            tcp_cols = (0 if seq is None else seq, 0 if ack is None else ack, 0 if tlen is None else tlen,
                        0 if win is None else win, 1 if tcp["from_client"] else 0)
        else:
            tcp_cols = (0, 0, 0, 0, 0)
        self.cols.add_row((  # in the order of Columns.names
            number, round((ts - self.t0) / 1000, 3), src, dst, strings(group),
            strings("" if tcp is not None else kind_text(pkt)),
            strings(eth["src"]) if eth is not None else 0, strings(eth["dst"]) if eth is not None else 0,
            strings(role["text"]), strings(role["code"]), strings(cause["text"]),
            strings(hops.protocol_of(pkt)), self.conns[conn] if conn is not None else -1,
            strings(pkt["interface"]), 1 if bg else 0, 1 if caused else 0, 0 if copy_of is None else copy_of,
            strings(",".join(map(str, called)) if called else ""),
            self._stack(layers), *tcp_cols, strings(tcp["flags"]) if tcp is not None else 0,
            strings(",".join(analysis) if analysis else ""),
            ip["ttl"] if ip is not None else -1, pkt["len"],
        ))
        lost = pkt.get("lost")
        if lost is not None:
            pending.lost[number] = _lost(lost, self.lanes.names, src, dst)
        if tcp is not None and tcp["flags"] is not None and "SYN" in tcp["flags"]:
            off = next((x["offset"] for x in layers if x["name"] == "TCP"), None)
            if off is not None:
                pending.syn_offsets[number] = off
        if len(pending.details) < DETAIL_PACKETS:
            pending.details[number] = _detail(pkt)

    def _hop(self, pkt: PacketRecord) -> tuple[int, int, str | None]:
        """(sender lane, receiver lane or -1, group text): by the run's links, or by address."""
        if self.by_address:
            a, b = packet_addresses(pkt)
            self.addr_counts.update(x for x in (a, b) if x)
            self.addr_pairs.append((a, b))
            group = hops.group_destination(pkt)
            return -1, -1, f"{group[0]} {group[1]}" if group else None  # lanes set in finish()
        hop = self.finder.hop(pkt)
        src, dst = self.lanes.of(hop.src), self.lanes.of(hop.dst)
        return src, (-1 if dst == src else dst), hop.group

    def _stack(self, layers: list[Layer]) -> int:
        """The index of this list of headers in the table of distinct ones (a capture has few)."""
        key = "|".join(f"{x['name']}:{x['offset']}:{x['length']}" for x in layers)
        if key not in self.stacks:
            self.stacks[key] = len(self.stack_table)
            self.stack_table.append([[self.strings(x["name"]), x["osi"], self.strings(x["tcpip"]),
                                      x["offset"], x["length"]] for x in layers])
        return self.stacks[key]

    def finish(self) -> list[str]:
        """The lane names, once every packet is in."""
        if self.by_address:
            self.lanes.names = _address_lanes(self.addr_counts, self.addr_pairs, self.cols)
        return self.lanes.names


def build_page_data(records: RunRecords) -> dict[str, Any]:
    """The page's data (a JSON-able dict) from a run's records (:class:`lab.report.records.RunRecords`)."""
    strings = Strings()
    nodes_info = records.nodes_info
    calls = [c for c in records.calls if c["call"] not in QUIET_CALLS][:MAX_CALLS]
    table = _PacketTable(nodes_info, calls, strings)
    for pkt in records.iter_packets():
        table.add(pkt)
    lane_names = table.finish()
    pending, cols = table.pending, table.cols
    width = geometry.lane_width(len(lane_names))
    frame_bytes, scales, bytes_note = _frame_bytes(records, set(pending.details), BYTES_BUDGET,
                                                   pending.syn_offsets)
    for number, b64 in frame_bytes.items():
        pending.details[number]["bytes"] = b64
    t0 = table.t0 or table.first_call or 0
    call_rows = _calls(calls, table.lanes.of, t0)
    embedded = len(cols.data["n"])
    lanes = [{"name": n, "kind": table.lanes.kinds.get(n, "host" if nodes_info else "address"),
              "x": geometry.lane_x(i, width)} for i, n in enumerate(lane_names)]
    return {
        "meta": {
            "title": records.title, "kind": "lab" if records.is_lab_run else "analyze",
            "packets_total": pending.total, "probes": pending.probes, "packets": embedded,
            "calls": len(call_rows), "t0_ns": t0,
            "notes": _notes(records, pending, embedded, len(frame_bytes), bytes_note),
            "background": dict(pending.background), "background_text": hops.BACKGROUND_EXPLANATION,
            "geometry": {"LANE_W": width, "LEFT": geometry.LEFT, "ROW_H": geometry.ROW_H,
                         "CHAR_W": geometry.CHAR_W, "LABEL_PAD": geometry.LABEL_PAD, "routed": table.routed},
        },
        "lanes": lanes,
        "strs": strings.table,
        "P": cols.data,
        "stacks": table.stack_table,
        "conns": list(table.conns),
        "calls": call_rows,
        "events": _events(cols, call_rows),
        "details": {str(k): v for k, v in pending.details.items()},
        "lost": {str(k): v for k, v in pending.lost.items()},
        "wscale": {str(k): v for k, v in scales.items()},
        "topology": topology_svg(nodes_info, records.summary, lanes=lane_names, packets=cols.data),
        "text": _texts(records),
    }


def _notes(records: RunRecords, pending: _Pending, embedded: int, with_bytes: int, bytes_note: str
           ) -> list[str]:
    """What the page says it left out (its bounds), so a reader never takes a cut page for the run."""
    notes = []
    wire = pending.total - pending.probes
    if wire > embedded:
        notes.append(f"this page holds the first {embedded:,} of {wire:,} packets (its bound); every "
                     "packet is in packets.jsonl and annotated.pcapng")
    if embedded > len(pending.details):
        notes.append(f"decoded fields are embedded for the first {len(pending.details):,} packets; later "
                     "packets show their layers, role and cause")
    if with_bytes < len(pending.details) and not bytes_note:
        notes.append(f"frame bytes are embedded for {with_bytes:,} packets ({BYTES_BUDGET >> 20} MiB "
                     "budget); the others are in annotated.pcapng under the same frame number")
    if bytes_note:
        notes.append(bytes_note)
    if len(records.calls) > MAX_CALLS:
        notes.append(f"the first {MAX_CALLS:,} of {len(records.calls):,} calls are in this page")
    return notes


def _lost(lost: Lost, lanes: list[str], src: int, dst: int) -> dict[str, Any]:
    """Where the lost packet's stub goes: from the end of its last hop toward the other end of the link
    it was lost on (the link is named ``a-b`` by its nodes)."""
    link = lost["link"]
    ends = next(((a, b) for a in lanes for b in lanes if a != b and link == f"{a}-{b}"), None)
    start = lanes[dst] if 0 <= dst < len(lanes) else (lanes[src] if 0 <= src < len(lanes) else None)
    toward = None
    if ends is not None:
        toward = ends[1] if ends[0] == start else ends[0] if ends[1] == start else ends[1]
    return {"link": link, "seen_last_on": lost["seen_last_on"], "rule": lost["rule"],
            "carried_by": lost["carried_by"],
            "from": lanes.index(start) if start in lanes else -1,
            "to": lanes.index(toward) if toward in lanes else -1}


def _detail(pkt: PacketRecord) -> dict[str, Any]:
    """The packet view's decoded fields, per header, straight from the record."""
    fields: dict[str, Any] = {}
    for layer in pkt["layers"]:
        key = FIELD_BLOCKS.get(layer["name"])
        block = pkt[key] if key is not None else None  # eth, ip, tcp...: required, null when absent
        if block is not None:
            fields[layer["name"]] = {k: v for k, v in block.items() if v is not None}
    cause = pkt["cause"]
    return {
        "summary": pkt["summary"],
        "fields": fields,
        "app": pkt["app"],
        "analysis": pkt["analysis"],
        # the keys a cause has (several NotRequired): each shown when it says something
        "cause": {k: cause[k] for k in CAUSE_KEYS if k in cause and cause[k] not in (None, [], "")},
    }


def _calls(calls: list[CallRecord], lane_of: Any, t0: int) -> list[dict[str, Any]]:
    out = []
    for c in calls:
        start = c["t_start_ns"]
        end = max(c["t_end_ns"], start)
        out.append({
            "id": c["id"], "node": c["node"], "lane": lane_of(str(c["node"])),
            "name": c["call"], "text": call_text(c), "t": round((start - t0) / 1000, 3),
            "t1": round((end - t0) / 1000, 3), "_s": start, "_e": end,
            "args": c["args"], "ret": c["ret"], "error": c["error"], "exception": c["exception"],
            "sock": c["sock"],
        })
    return out


def _events(cols: Columns, call_rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Rows: packets, call starts and (when anything happened while a call ran) call returns, in time
    order. Returned as two columns: the event kind and the index into the packet or call table."""
    t = cols.data["t"]
    evs = [geometry.Event(int(t[i] * 1000), geometry.PACKET, i) for i in range(len(t))]
    starts = sorted([int(c["t"] * 1000) for c in call_rows] + [e.ts_ns for e in evs])
    for i, c in enumerate(call_rows):
        s, e = int(c["t"] * 1000), int(c["t1"] * 1000)
        evs.append(geometry.Event(s, geometry.CALL_START, i))
        if bisect_left(starts, e) > bisect_right(starts, s):
            evs.append(geometry.Event(e, geometry.CALL_END, i))
        c.pop("_s")
        c.pop("_e")
    ordered = geometry.order_events(evs)
    return {"k": [e.kind for e in ordered], "r": [e.ref for e in ordered]}


def _texts(records: RunRecords) -> dict[str, Any]:
    """The lab's own words: concept, expected observations with their evidence, questions (never their
    answers), the socket story."""
    report = records.report
    observations = []
    questions: list[Question] | list[dict[str, str]] = []
    if report is not None:
        for obs in report.get("observations", []):  # NotRequired: only a lab run has them
            detail = obs["detail"]
            observations.append({"label": obs["label"] or obs["check"], "ok": bool(obs["ok"]),
                                 "detail": detail, "frames": frame_refs(detail)[:50]})
        questions = report.get("questions", [])
    if not questions:  # a run of an older lab file: its questions are in the lab's own copy
        questions = records.lab["questions"]
    return {
        "concept": to_html(records.lab["concept"]),
        "summary": records.lab["summary"],
        "observations": observations,
        "questions": [{"id": q["id"], "text": q["text"]} for q in questions],
        "story": to_html(records.story),
        "failures": report["failures"] if report is not None else [],
        "conditions": ([c for c in report.get("conditions", []) if "no conditions" not in c]
                       if report is not None else []),
        "capture": report["capture"] if report is not None else None,
        "ok": report["ok"] if report is not None else None,
    }
