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
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from lab.analysis.decode import tcp_wscale
from lab.analysis.reader import CaptureReader, Record
from lab.errors import PcapFormatError
from lab.records import CallRecord, Layer, Lost, NodeInfo, PacketRecord, Question
from lab.report import hops
from lab.report.html import geometry
from lab.report.html.markdown import to_html
from lab.report.html.topology import topology_svg
from lab.report.ladder import call_text
from lab.report.records import RunRecords

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


class Columns:
    """One column per packet field, all the same length (one entry per packet in the page).

    Numbers, not objects: each column is an ``array`` (4 or 8 bytes an entry instead of a list's pointer
    plus an int object), the page's largest part for a 200,000-packet capture. Rows are kept as tuples
    until ``BATCH`` of them are there and then moved into the columns at once (``zip`` transposes them in
    C: no Python call per field of each packet). The columns a record's integers fill are 64-bit; should a
    hand-made record hold one beyond that (the schema's integers are unbounded), that column becomes a
    list and the page stays the same.
    """

    names = (
        "n", "t", "s", "d", "grp", "lbl", "esrc", "edst", "role", "rc", "cause", "proto", "conn", "iface",
        "bg", "mine", "copy", "cc", "stack", "seq", "ack", "len", "win", "fc", "flags", "an", "ttl", "len0",
    )
    WIDE = frozenset({"n", "copy", "seq", "ack", "len", "win", "ttl", "len0"})  # a record's integers
    BATCH = 4096

    def __init__(self) -> None:
        self.data: dict[str, Any] = {
            name: array("d" if name == "t" else "q" if name in self.WIDE else "i") for name in self.names}
        self.size = 0  # rows added, moved into the columns or not yet
        self._rows: list[tuple[Any, ...]] = []

    def add_row(self, row: tuple[Any, ...]) -> None:
        """One packet's values in the order of ``names``."""
        self._rows.append(row)
        self.size += 1
        if len(self._rows) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Move the rows kept so far into the columns (``data`` is whole after this)."""
        if not self._rows:
            return
        for name, values in zip(self.names, zip(*self._rows, strict=True), strict=True):
            column = self.data[name]
            before = len(column)
            try:
                column.extend(values)
            except (OverflowError, TypeError):  # beyond 64 bits: this column becomes a list
                del column[before:]
                self.data[name] = column.tolist() + list(values)
        self._rows.clear()


def frame_refs(text: str) -> list[int]:
    """Frame numbers an observation's detail names ("frames 7, 8", "frame 9"), for evidence links."""
    out: list[int] = []
    for match in FRAME_REF.finditer(text):
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


def _address_lanes(addresses: dict[str, int], counts: Counter[int], pairs: array, cols: Columns
                   ) -> list[str]:
    """Lanes of a ``lab analyze`` page, the busiest addresses (one lane each, the rest in one "other"
    lane), and each packet's arrow between them (columns ``s`` and ``d``). ``addresses``: each address's
    id, ``counts`` its packets, ``pairs`` each packet's source and destination ids (-1: none)."""
    busiest = Counter({a: counts[i] for a, i in addresses.items() if counts[i]})
    names = [a for a, _ in busiest.most_common(MAX_LANES)]
    if len(busiest) > MAX_LANES:
        names.append("other")
    index = {n: i for i, n in enumerate(names)}
    other = index.get("other", -1)
    lane = [index.get(a, other) for a in addresses] + [-1]  # by address id; id -1 (none) is lane -1
    src = array("i", map(lane.__getitem__, pairs[0::2]))
    dst = map(lane.__getitem__, pairs[1::2])
    cols.data["s"] = src
    cols.data["d"] = array("i", [-1 if b == a else b for a, b in zip(src, dst, strict=True)])
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
    """Packets into columns, one at a time (packets.jsonl is streamed, never held whole).

    ``add`` runs once per packet of a capture of any size, so what repeats is computed once: a frame's
    list of headers (and the protocol it names) per distinct list, a connection's key per address-and-port
    tuple, each text's index in the string table by one dictionary look-up."""

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
        self.addresses: dict[str, int] = {}  # address -> id, in order of first appearance
        self.addr_pairs = array("i")  # per packet: source id, destination id (-1: none)
        self.address_hops: dict[tuple[Any, ...], tuple[int, int, str | None]] = {}
        self.conns: dict[str, int] = {}
        self.conn_keys: dict[tuple[Any, ...], int] = {}  # (proto, src, sport, dst, dport) -> conn index
        # a list of headers is one of the table's stacks by its names, offsets and lengths; the look-up per
        # packet is by the list's JSON (one C call), resolved to the stack once
        self.stack_ids: dict[str, int] = {}
        self.stacks: dict[bytes, tuple[int, str]] = {}  # the headers as JSON -> (stack index, protocol)
        self.stack_table: list[list[Any]] = []
        self._new: tuple[bytes, str, str] | None = None
        self.mine: set[int] = set()
        starts = [c["t_start_ns"] for c in calls]
        self.first_call = min(starts) if starts else None
        self.t0: int | None = None

    def add(self, pkt: PacketRecord) -> None:
        pending, strings = self.pending, self.strings
        pending.total += 1
        role = pkt["role"]
        if role["code"] == "lab-probe":
            pending.probes += 1
            return
        cols = self.cols
        if cols.size >= MAX_PACKETS:
            return
        index = strings.index.get  # a text seen before is one look-up; ``or strings(...)`` adds a new one
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
        tcp, ip, eth = pkt["tcp"], pkt["ip"], pkt["eth"]
        if self.by_address:  # the common case of a large page, inline
            a, b = packet_addresses(pkt)
            hop = self.address_hops.get((a, b, ip is None, eth["dst"] if eth is not None else None))
            if hop is None:
                hop = self._address_hop(pkt, a, b)
            self.addr_pairs.extend(hop[:2])
            src, dst, group = -1, -1, hop[2]  # lanes set in finish()
        else:
            src, dst, group = self._hop(pkt)
        bg = hops.background_kind(pkt) if pkt["icmp"] is not None else None
        if bg:
            pending.background[bg] += 1
        layers = pkt["layers"]
        found = self.stacks.get(orjson.dumps(layers))  # the list of headers, seen before (most packets)
        stack, protocol = found if found is not None else self._stack(layers)
        app = pkt["app"]
        if app:
            protocol = app.upper()
        l4 = tcp if tcp is not None else pkt["udp"]
        if ip is None or l4 is None:
            conn = -1
        else:
            conn = self.conn_keys.get((tcp is None, ip["src"], l4["sport"], ip["dst"], l4["dport"]), -2)
            if conn == -2:
                conn = self._connection(pkt)
        called = cause.get("calls")
        copy_of = cause.get("copy_of")
        analysis = pkt["analysis"]
        # each text is looked up in the order the table always met them (so the page's bytes stay the same)
        group_i = 0 if group is None else index(group) or strings(group)
        if tcp is not None:
            seq, ack, tlen, win = tcp["seq"], tcp["ack"], tcp["len"], tcp["win"]
            tcp_cols = (0 if seq is None else seq, 0 if ack is None else ack, 0 if tlen is None else tlen,
                        0 if win is None else win, 1 if tcp["from_client"] else 0)
            label = 0
        else:
            tcp_cols = (0, 0, 0, 0, 0)
            text = kind_text(pkt)
            label = index(text) or strings(text)
        if eth is not None:
            text = eth["src"]
            esrc = index(text) or strings(text)
            mac_dst = eth["dst"]
            edst = 0 if mac_dst is None else index(mac_dst) or strings(mac_dst)
        else:
            esrc = edst = 0
        text = role["text"]
        role_i = index(text) or strings(text)
        text = role["code"]
        code_i = index(text) or strings(text)
        text = cause["text"]
        cause_i = index(text) or strings(text)
        proto_i = index(protocol) or strings(protocol)
        text = pkt["interface"]
        iface_i = index(text) or strings(text)
        text = ",".join(map(str, called)) if called else ""
        calls_i = (index(text) or strings(text)) if text else 0
        if stack < 0:  # headers not seen before: their names go into the table here, as they always did
            stack = self._new_stack(layers)
        flags = tcp["flags"] if tcp is not None else None
        flags_i = 0 if flags is None else index(flags) or strings(flags)
        text = ",".join(analysis) if analysis else ""
        analysis_i = (index(text) or strings(text)) if text else 0
        cols.add_row((  # in the order of Columns.names
            number, round((ts - self.t0) / 1000, 3), src, dst, group_i, label, esrc, edst, role_i, code_i,
            cause_i, proto_i, conn, iface_i, 1 if bg else 0, 1 if caused else 0,
            0 if copy_of is None else copy_of, calls_i, stack, *tcp_cols, flags_i, analysis_i,
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

    def _address_hop(self, pkt: PacketRecord, a: str | None, b: str | None) -> tuple[int, int, str | None]:
        """A ``lab analyze`` page's arrow not seen before: (source address id, destination address id,
        group text); ids in order of first appearance (-1: no address), counted once all are in
        (``finish``). Kept by what decides it: both addresses, whether they are IP, the Ethernet
        destination (the group of a non-IP frame)."""
        ids = []
        for address in (a, b):
            if address:
                i = self.addresses.get(address)
                if i is None:
                    i = self.addresses[address] = len(self.addresses)
                ids.append(i)
            else:
                ids.append(-1)
        group = hops.group_destination(pkt)
        ip, eth = pkt["ip"], pkt["eth"]
        hop = (ids[0], ids[1], f"{group[0]} {group[1]}" if group else None)
        self.address_hops[(a, b, ip is None, eth["dst"] if eth is not None else None)] = hop
        return hop

    def _hop(self, pkt: PacketRecord) -> tuple[int, int, str | None]:
        """(sender lane, receiver lane or -1, group text) by the run's links."""
        hop = self.finder.hop(pkt)
        src, dst = self.lanes.of(hop.src), self.lanes.of(hop.dst)
        return src, (-1 if dst == src else dst), hop.group

    def _connection(self, pkt: PacketRecord) -> int:
        """The index of the packet's conversation (``hops.connection_of``), or -1."""
        ip, tcp, udp = pkt["ip"], pkt["tcp"], pkt["udp"]
        if ip is None or (tcp is None and udp is None):
            return -1
        l4 = tcp if tcp is not None else udp
        key = (tcp is None, ip["src"], l4["sport"], ip["dst"], l4["dport"])  # type: ignore[index]
        conn = self.conn_keys.get(key)
        if conn is None:
            text = hops.connection_of(pkt)
            if text is None:
                conn = -1
            else:
                conn = self.conns.get(text)
                if conn is None:
                    conn = self.conns[text] = len(self.conns)
            self.conn_keys[key] = conn
        return conn

    def _stack(self, layers: list[Layer]) -> tuple[int, str]:
        """(the index of this list of headers in the table of distinct ones, -1 when it is not there yet;
        the protocol it names, as ``hops.protocol_of`` says for a packet without an application)."""
        key = orjson.dumps(layers)
        found = self.stacks.get(key)
        if found is None:
            names = [x["name"] for x in layers if x["name"] and x["name"] not in hops.UNNAMED]
            shape = "|".join(f"{x['name']}:{x['offset']}:{x['length']}" for x in layers)
            found = (self.stack_ids.get(shape, -1), names[-1] if names else "?")
            if found[0] >= 0:
                self.stacks[key] = found
            else:
                self._new = (key, shape, found[1])
        return found

    def _new_stack(self, layers: list[Layer]) -> int:
        """Add the list of headers ``_stack`` did not find (its names and layers into the string table);
        returns its index."""
        assert self._new is not None
        key, shape, protocol = self._new
        stack = self.stack_ids[shape] = len(self.stack_table)
        self.stacks[key] = (stack, protocol)
        self.stack_table.append([[self.strings(x["name"]), x["osi"], self.strings(x["tcpip"]),
                                  x["offset"], x["length"]] for x in layers])
        return stack

    def finish(self) -> list[str]:
        """The lane names, once every packet is in (and every row in the columns)."""
        self.cols.flush()
        if self.by_address:
            counts = Counter(self.addr_pairs)  # packets from or to each address id (counted in C)
            self.lanes.names = _address_lanes(self.addresses, counts, self.addr_pairs, self.cols)
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
        # eth, ip, tcp...: required keys, null when the frame has no such header
        block = cast("Mapping[str, Any]", pkt)[key] if key is not None else None
        if block is not None:
            fields[layer["name"]] = {k: v for k, v in block.items() if v is not None}
    shown: Mapping[str, Any] = pkt["cause"]
    return {
        "summary": pkt["summary"],
        "fields": fields,
        "app": pkt["app"],
        "analysis": pkt["analysis"],
        # the keys a cause has (several NotRequired): each shown when it says something
        "cause": {k: shown[k] for k in CAUSE_KEYS if k in shown and shown[k] not in (None, [], "")},
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


def _events(cols: Columns, call_rows: list[dict[str, Any]]) -> dict[str, array]:
    """Rows: packets, call starts and (when anything happened while a call ran) call returns, in time
    order. Returned as two columns: the event kind and the index into the packet or call table."""
    ts = [int(t * 1000) for t in cols.data["t"]]
    kinds = array("b", [geometry.PACKET]) * len(ts)
    refs = array("i", range(len(ts)))
    starts = sorted([int(c["t"] * 1000) for c in call_rows] + ts) if call_rows else []
    for i, c in enumerate(call_rows):
        s, e = int(c["t"] * 1000), int(c["t1"] * 1000)
        ts.append(s)
        kinds.append(geometry.CALL_START)
        refs.append(i)
        if bisect_left(starts, e) > bisect_right(starts, s):
            ts.append(e)
            kinds.append(geometry.CALL_END)
            refs.append(i)
        c.pop("_s")
        c.pop("_e")
    k, r = geometry.order_columns(ts, kinds, refs)
    return {"k": k, "r": r}


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
