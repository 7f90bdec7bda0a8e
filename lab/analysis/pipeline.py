"""The analysis pipeline shared by ``lab analyze`` and ``lab run``: capture in, explained packets out.

One pass over the capture, in order: read a record (``reader``), decode it (``decode``), put it in its
conversation (``flows``), give it a role and a cause (``roles``, or the call-log ``attribution.Attributor``
when a call log exists), then write its packets.jsonl line and its annotated pcapng block (``writer``).
Nothing is kept per packet after it is written, so memory depends on the number of live conversations, not
on the file.

A large file is shared by two processes (``renderproc``): this one analyzes and pipes, a chunk at a time,
each packet's entry (what its JSON line and comment are made of, see ``fastpath``) to the other, which
reads the file too, formats the lines and comments and writes packets.jsonl and annotated.pcapng.
Formatting costs about as much as analyzing, so the two cores stay busy; the bytes are the same.

    from lab.analysis.pipeline import analyze_capture
    result = analyze_capture(Path("capture.pcapng"), Path("out"))
    result.packet_count, result.summary["coverage"], result.errors
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lab.analysis import renderproc
from lab.analysis.appfields import brief as app_brief
from lab.analysis.apps import DataChannels
from lab.analysis.catalogue import layer_dict
from lab.analysis.decode import Decoder, Pkt, win_text
from lab.analysis.fastpath import MAX_RECENT, FastPath, Renderer
from lab.analysis.flows import FlowTable, flag_str
from lab.analysis.jsonline import dumps_kept as _dumps_kept
from lab.analysis.lines import Lines
from lab.analysis.reader import DEFAULT_MAX_RATIO, CaptureReader, check_capture_path, check_inflation
from lab.analysis.renderproc import RenderProcess
from lab.analysis.roles import cause_tcp, ep, role_other, tcp_text
from lab.analysis.routinghdr import describe as describe_routing
from lab.analysis.writer import FLUSH_AT, AnnotatedWriter
from lab.errors import PcapFormatError
from lab.paths import RunPaths
from lab.records import SCHEMA_VERSION, CallRecord, PacketRecord

PROGRESS_EVERY = 16384
# The packet budget (``lab analyze --max-packets``): about three minutes of analysis and a few GB of
# output; a lab's own runs stay far below it.
DEFAULT_MAX_PACKETS = 20_000_000


class CauseSource(Protocol):
    """What decides each packet's cause when a call log exists (``attribution.Attributor``): it reads the
    packet record as built so far and, where the rules need them, the frame's bytes."""

    def cause(self, rec: PacketRecord, frame: bytes | None = None) -> dict[str, Any]: ...


@dataclass
class AnalysisResult:
    """What one analysis produced: counts and summary, partial-read problems, and where the files are."""

    packet_count: int
    summary: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    packets_path: Path | None = None
    annotated_path: Path | None = None
    conversations_path: Path | None = None
    summary_path: Path | None = None


def _progress_printer(reader: CaptureReader) -> Callable[[int], None]:
    start = time.monotonic()

    def show(n: int) -> None:
        pct = 100.0 * reader.fraction_read()
        rate = n / max(time.monotonic() - start, 1e-6)
        sys.stderr.write(f"\ranalyze: {n:,} packets  {pct:5.1f}%  {rate:,.0f} pkt/s ")
        sys.stderr.flush()

    return show


def analyze_capture(pcap: Path, out_dir: Path, *, calls: list[CallRecord] | None = None,
                    iface_nodes: dict[str, str] | None = None, deep: bool = False,
                    progress: bool | None = None, attributor: CauseSource | None = None,
                    fast_path: bool = True, render_process: bool | None = None,
                    max_ratio: float | None = DEFAULT_MAX_RATIO,
                    max_packets: int | None = DEFAULT_MAX_PACKETS) -> AnalysisResult:
    """Analyze one capture file; write ``packets.jsonl``, ``annotated.pcapng``, ``conversations.jsonl`` and
    ``summary.json`` into ``out_dir``.

    Args:
        pcap: a pcap or pcapng file, gzip-compressed or not.
        out_dir: created if missing.
        calls: calls.jsonl records of a lab run; when given, each packet's cause comes from the
            ``Attributor`` (exact attribution) instead of inference.
        iface_nodes: pcapng interface name -> lab node name, fills ``node``.
        deep: also run tshark over the file and attach its full protocol chain per packet.
        progress: show a progress line on stderr; default: only when stderr is a terminal.
        attributor: any object with ``cause(rec) -> dict`` (tests inject a fake one); wins over ``calls``.
        fast_path: render common Ethernet/IPv4/TCP|UDP packets with ``lab.analysis.fastpath`` (same
            bytes as the general path, ~2x faster); used only without attributor and ``deep``.
        render_process: analyze here and let a second process format the JSON lines and write
            packets.jsonl and annotated.pcapng (default: for files of 8 MiB and more on a machine with
            more than one CPU; never with a call log or ``deep``).
        max_ratio: stop (PcapFormatError) when a gzip input inflates to more than this many times the
            compressed bytes read (``lab.analysis.reader.DEFAULT_MAX_RATIO``); None or 0: no limit.
        max_packets: stop (PcapFormatError) after this many packets; None or 0: no limit.

    Returns:
        An ``AnalysisResult``; ``errors`` lists partial-read problems (the file was cut short, ...).

    Raises:
        PcapFormatError: the file is missing, not a regular file, not a capture at all, or its only link
            type is unsupported; or it exceeds a budget (the outputs written so far are incomplete).
    """
    pcap = Path(pcap)
    out_dir = Path(out_dir)
    check_capture_path(pcap)
    check_inflation(pcap, max_ratio)  # a decompression bomb is refused before any output exists
    if attributor is None and calls is not None:
        from lab.analysis.attribution import Attributor

        attributor = Attributor(calls)
    if progress is None:
        progress = sys.stderr.isatty()
    reader = CaptureReader(pcap, max_ratio=max_ratio)
    records = reader.records()
    head: list[Any] = []  # blocks up to the first packet: a file that cannot be read fails before any output
    for item in records:
        head.append(item)
        if type(item) is not bytes:
            break
    deep_rows = _deep_protocols(pcap) if deep else None
    out_dir.mkdir(parents=True, exist_ok=True)
    render = None
    if attributor is None and not deep and (
            render_process if render_process is not None else
            (os.cpu_count() or 1) > 1 and pcap.stat().st_size >= renderproc.MIN_BYTES):
        render = RenderProcess(pcap, out_dir, iface_nodes)
    try:
        return _analyze(reader, itertools.chain(head, records), pcap, out_dir, iface_nodes, deep_rows,
                        progress, attributor, fast_path, render=render, max_packets=max_packets or None)
    except BaseException:
        if render is not None:
            render.abort()
        raise


def _analyze(reader: CaptureReader, records: Any, pcap: Path, out_dir: Path,
             iface_nodes: dict[str, str] | None, deep_rows: dict | None, progress: bool,
             attributor: CauseSource | None, fast_path: bool, *,
             render: RenderProcess | None = None, max_packets: int | None = None) -> AnalysisResult:
    """One pass: write packets.jsonl, annotated.pcapng, conversations.jsonl and summary.json -- or, with
    a ``render`` process, send it each packet's entry (it writes the first two) and write the last two."""
    outputs = RunPaths(out_dir)
    packets_path, annotated_path = outputs.packets, outputs.annotated
    conv_path, summary_path = outputs.conversations, outputs.summary
    ship = render is not None
    conv_lines = Lines(conv_path)
    try:
        lines = None if ship else Lines(packets_path)
    except BaseException:
        conv_lines.close()
        raise
    writer: AnnotatedWriter | None = None
    flows = FlowTable(on_done=lambda s: conv_lines.add(_dumps_kept(s)))  # kept until written
    decoder = Decoder()
    decode = decoder.decode
    # one counter for everything the summary counts: (layer names, role code, cause source, app)
    kinds: dict[tuple, int] = {}
    # (interface, src, dst, proto, sport, dport) -> last frame there, for ICMP errors, echo replies, ARP
    recent: dict[tuple, int] = {}
    show = _progress_printer(reader) if progress else None
    channels = DataChannels()  # FTP/TFTP data channels announced by control messages
    fp = (FastPath(decoder, flows, recent, channels) if fast_path and attributor is None and not deep_rows
          else None)
    fast = fp.packet if fp is not None else None
    renderer = Renderer(iface_nodes)
    render_tcp, render_udp = renderer.tcp, renderer.udp
    # the captured bytes go to an attributor that asks for them (a call log with raw-socket calls): packets
    # a program built itself are matched to its calls by their hash
    frames = bool(getattr(attributor, "wants_frames", False))
    t0: int | None = None
    n = 0
    jl = lines.buf if lines is not None else []
    jsize = 0
    chunk = renderproc.CHUNK_PACKETS
    entries: list = []  # what goes to the render process
    # The loop allocates millions of short-lived, acyclic objects; the cyclic collector would scan the
    # live flow tables over and over for nothing (it costs ~40% of the time). Restored in ``finally``.
    # progress and the packet budget share one comparison per packet: ``checkpoint`` is the next packet
    # number at which either is due
    limit = max_packets if max_packets is not None else -1
    every = PROGRESS_EVERY if show is not None else 1 << 62
    checkpoint = min(every, limit + 1) if limit >= 0 else every
    gc_was_enabled = gc.isenabled()
    loop_done = False
    gc.disable()
    try:
        for item in records:
            if type(item) is bytes:
                if not ship:
                    if writer is None:
                        writer = AnnotatedWriter(annotated_path, reader.info)
                    writer.block(item)
                continue
            if writer is None and not ship:
                writer = AnnotatedWriter(annotated_path, reader.info)
            n += 1
            if t0 is None:
                t0 = item.ts_ns
            entry = fast(item, n) if fast is not None else None
            if entry is not None:
                if not ship:
                    line, comment, kind = (render_tcp if entry[0] == 6 else render_udp)(entry, item, n, t0)
                    kinds[kind] = kinds.get(kind, 0) + 1
            else:
                ts = item.ts_ns
                iface = item.iface
                p = decode(iface.linktype, item.data, item.wirelen, iface.index)
                rec = _record(p, n, ts, t0, iface, item, iface_nodes, flows, channels, recent)
                if deep_rows is not None:
                    _attach_deep(rec, deep_rows.get(n))
                inferred = rec.pop("_cause")
                if attributor is None:
                    cause = inferred
                else:
                    cause = attributor.cause(rec, item.data) if frames else attributor.cause(rec)
                rec["cause"] = cause
                role = rec["role"]
                names = tuple(ly["name"] for ly in rec["layers"])
                kind = (names, role["code"], cause["source"], rec["app"])
                line = _dumps_kept(rec)  # kept until written
                comment = f"{role['text']} | {cause['text']} | {'/'.join(names) or 'no decodable header'}"
                kinds[kind] = kinds.get(kind, 0) + 1
                if ship:
                    entry = (line, comment)
            if ship:
                entries.append(entry)  # the render process formats and counts a fast-path entry
                if len(entries) >= chunk:
                    render.send(entries)  # type: ignore[union-attr]
                    entries = []
            else:
                jl.append(line)
                jsize += len(line)
                if jsize >= FLUSH_AT:
                    lines.flush()  # type: ignore[union-attr]
                    jsize = 0
                writer.packet(item, comment)  # type: ignore[union-attr]
            if n >= checkpoint:
                if 0 <= limit < n:
                    raise PcapFormatError(
                        f"{pcap}: more than {limit:,} packets, the analysis budget: stopped (the outputs in "
                        f"{out_dir} are incomplete; raise the limit with --max-packets)")
                if show is not None and n % PROGRESS_EVERY == 0:
                    show(n)
                checkpoint = min(n + every - n % every, limit + 1) if limit >= n else n + every - n % every
        if entries:
            render.send(entries)  # type: ignore[union-attr]
        loop_done = True
    finally:
        if gc_was_enabled:
            gc.enable()
        if writer is None and not ship:
            writer = AnnotatedWriter(annotated_path, reader.info)
        # every output is closed (its writer thread ended) even if one of them fails; the first error wins
        first: BaseException | None = None
        for close in (flows.close, (lines.close if lines is not None else None), conv_lines.close,
                      (writer.close if writer is not None else None)):
            if close is None:
                continue
            try:
                close()
            except BaseException as err:  # noqa: BLE001 - re-raised below, after the other closes
                first = first or err
        if show is not None:
            show(n)
            sys.stderr.write("\n")
        if first is not None and loop_done:  # otherwise the loop's own error is the one to see
            raise first
    if render is not None:  # the render process' counts, sent when it has written everything
        for kind, c in render.finish().items():
            kinds[kind] = kinds.get(kind, 0) + c

    layers_seen: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    apps: Counter[str] = Counter()
    for (names, role_code, source, app), c in kinds.items():
        for name in set(names):
            layers_seen[name] += c
        roles[role_code] += c
        sources[source] += c
        if app:
            apps[app] += c
    # the same definition as a lab run's report: only a call, the kernel or the lab explain a packet;
    # "inferred" (what the packet alone implies) describes it without explaining it
    explained = sum(sources.get(k, 0) for k in ("call", "kernel", "lab"))
    described = n - sources.get("unexplained", 0)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "file": str(pcap),
        "format": reader.info.format + (" (gzip)" if reader.info.gzip else ""),
        "interfaces": [{"index": i.index, "name": i.name, "linktype": i.linktype}
                       for i in reader.info.interfaces],
        "packets": n,
        "conversations": {"tcp": flows.tcp_count, "udp": flows.udp_count},
        "handshakes": {"complete": flows.handshakes, "tcp_streams": flows.tcp_count},
        "teardowns": {"fin": flows.teardown_fin, "rst": flows.teardown_rst},
        "udp_request_response_pairs": flows.udp_pairs,
        "layers_seen": _by_count(layers_seen),
        "apps": _by_count(apps),
        "roles": _by_count(roles),
        "cause_sources": _by_count(sources),
        "coverage": round(explained / n, 4) if n else 1.0,
        "described": round(described / n, 4) if n else 1.0,
        "errors": list(reader.errors),
        "outputs": {"packets": str(packets_path), "annotated": str(annotated_path),
                    "conversations": str(conv_path)},
    }
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    return AnalysisResult(n, summary, list(reader.errors), packets_path, annotated_path, conv_path,
                          summary_path)


def _by_count(counts: Counter[str]) -> dict[str, int]:
    """Most frequent first, ties by name: the same summary whatever order the packets were counted in
    (the render process counts its packets apart)."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _record(p: Pkt, n: int, ts: int | None, t0: int | None, iface: Any, item: Any,
            iface_nodes: dict[str, str] | None, flows: FlowTable, channels: DataChannels,
            recent: dict[tuple, int]) -> dict[str, Any]:
    """Build one packets.jsonl record (with the inferred cause under ``_cause``)."""
    l4 = p.l4
    src, dst = p.src, p.dst
    ifx = iface.index  # "answers frame N" and "seen before" look only at the same capture interface
    analysis: list[str] = []
    tcp = udp = icmp = arp = None
    answers = None
    app = p.app
    layers = p.layers
    if l4 == "tcp" and p.flags is not None and src is not None:
        fl = p.flags
        tlen = p.tcplen or 0
        info = flows.tcp(src, p.sport, dst, p.dport, fl, p.seq, p.ack, p.win, tlen, n, ts, ifx, p.wscale)
        st = info.st
        if (st.first_frame == n and st.app is None and channels.ftp
                and channels.ftp_data_opens(src, p.sport, dst, p.dport)):
            st.app = "FTP-DATA"
        if p.payload:
            if st.app == "FTP-DATA":
                app = "FTP-DATA"
            elif app == "FTP":
                channels.ftp_control(p.payload, src, dst, n)
            if app is None:
                app = st.app  # a later segment of a recognized stream (an HTTP body, ...)
            elif st.app is None:
                st.app = app
            if app != p.app:
                last = layers[-1]
                layers[-1] = (app,) + last[1:]
        analysis = info.analysis
        tcp = {"sport": p.sport, "dport": p.dport, "flags": flag_str(fl), "flags_int": fl, "seq_raw": p.seq,
               "ack_raw": p.ack, "seq": info.rel_seq, "ack": info.rel_ack, "len": p.tcplen, "win": p.win,
               "mss": p.mss, "stream": info.stream, "from_client": info.from_client}
        role_code, role_text = info.role, tcp_text(info)
        cause = cause_tcp(src, p.sport, info)
        ack_s = f" ack={info.rel_ack}" if fl & 16 else ""
        summary = (f"{ep(src, p.sport)} -> {ep(dst, p.dport)} TCP [{tcp['flags']}] seq={info.rel_seq}{ack_s} "
                   f"win={win_text(p.win, info.wshift)} len={p.tcplen}")
        if app:
            summary += f" {app}"
        recent[(ifx, src, dst, 6, p.sport, p.dport)] = n
        if len(recent) > MAX_RECENT:
            recent.clear()
    else:
        if l4 == "udp" and p.udplen is not None and src is not None:
            conv, _d, answers = flows.udp(src, p.sport, dst, p.dport, n, ts, ifx)
            if app is None and channels.tftp and channels.is_tftp(src, p.sport, dst, p.dport):
                app = "TFTP"
                if p.payload:
                    layers[-1] = ("TFTP",) + layers[-1][1:]
            elif app == "TFTP":
                channels.tftp_request(src, p.sport, p.dport, p.payload)
            if app is None:
                if p.payload and conv.app is not None:  # a later datagram of a recognized conversation
                    app = conv.app
                    layers[-1] = (app,) + layers[-1][1:]
            elif conv.app is None:
                conv.app = app
            p.app = app  # the role text names it
            udp = {"sport": p.sport, "dport": p.dport, "length": p.udplen, "stream": conv.id}
            if len(p.payload) >= p.udplen - 8:  # cut by the snap length: a hash of a part would match no call
                udp["sha1"] = hashlib.sha1(p.payload).hexdigest()[:16]
            recent[(ifx, src, dst, 17, p.sport, p.dport)] = n
            summary = f"{ep(src, p.sport)} -> {ep(dst, p.dport)} UDP len={max(p.udplen - 8, 0)}"
            if app:
                summary += f" {app}"
        elif l4 == "tcp" and p.sport is not None:
            tcp = {"sport": p.sport, "dport": p.dport, "flags": None, "flags_int": None, "seq_raw": None,
                   "ack_raw": None, "seq": None, "ack": None, "len": None, "win": None, "mss": None,
                   "stream": None, "from_client": None}
            summary = f"{ep(src, p.sport)} -> {ep(dst, p.dport)} TCP (header cut short)"
        elif l4 == "icmp" or l4 == "icmpv6":
            quoted_frame = None
            q = p.quoted
            if q is not None:
                quoted_frame = recent.get((ifx, q["src"], q["dst"], q["proto"], q["sport"], q["dport"]))
            elif p.icmp_type in (0, 129):
                answers = recent.get((ifx, dst, src, l4, p.icmp_type))
            elif p.icmp_type in (8, 128):
                recent[(ifx, src, dst, l4, 0 if p.icmp_type == 8 else 129)] = n
            icmp = {"version": 4 if l4 == "icmp" else 6, "type": p.icmp_type, "code": p.icmp_code,
                    "name": p.icmp_name, "quoted": q}
            if p.icmp_echo is not None:
                icmp["echo"] = {"id": p.icmp_echo[0], "seq": p.icmp_echo[1]}
            if p.icmp_mtu is not None:
                icmp["mtu"] = p.icmp_mtu
            summary = f"{src} -> {dst} {'ICMP' if l4 == 'icmp' else 'ICMPv6'} {p.icmp_name}"
            if len(recent) > MAX_RECENT:
                recent.clear()
            code, text, cause = role_other(p, answers, quoted_frame)
            return _finish_rec(p, n, ts, t0, iface, item, iface_nodes, layers, summary, tcp, udp, icmp, arp,
                               app, code, text, analysis, cause)
        elif l4 == "arp" and p.arp is not None:
            op, sha, spa, tha, tpa = p.arp
            arp = {"op": op, "sender_ip": spa, "target_ip": tpa, "sender_mac": sha, "target_mac": tha}
            if op == 1:
                recent[(ifx, "arp", spa, tpa)] = n
                summary = f"ARP who-has {tpa} tell {spa}"
            else:
                answers = recent.get((ifx, "arp", tpa, spa))
                summary = f"ARP {spa} is-at {sha}"
        elif p.routing is not None:
            summary = f"{src} -> {dst} {describe_routing(p.routing)}"
        elif src is not None:
            summary = f"{src} -> {dst} " + "/".join(x[0] for x in layers[-2:])
        else:
            summary = "/".join(x[0] for x in layers) or "undecodable frame"
        if len(recent) > MAX_RECENT:
            recent.clear()
        role_code, role_text, cause = role_other(p, answers, None)
        if p.routing is not None:  # only routing packets carry the key: every other record is unchanged
            rec = _finish_rec(p, n, ts, t0, iface, item, iface_nodes, layers, summary, tcp, udp, icmp, arp,
                              app, role_code, role_text, analysis, cause)
            rec["routing"] = p.routing
            return rec
    if p.app_fields is not None:  # what the decoded application fields say, in the words of the protocol
        said = app_brief(*p.app_fields)
        summary, role_text = f"{summary}: {said}", f"{role_text}: {said}"
    return _finish_rec(p, n, ts, t0, iface, item, iface_nodes, layers, summary, tcp, udp, icmp, arp, app,
                       role_code, role_text, analysis, cause)


def _finish_rec(p: Pkt, n: int, ts: int | None, t0: int | None, iface: Any, item: Any,
                iface_nodes: dict[str, str] | None, layers: list, summary: str, tcp: Any, udp: Any, icmp: Any,
                arp: Any, app: str | None, role_code: str, role_text: str, analysis: list[str],
                cause: dict[str, Any]) -> dict[str, Any]:
    ip = None
    if p.ipv:
        fr = p.frag
        ip = {"version": p.ipv, "src": p.src, "dst": p.dst, "ttl": p.ttl, "id": p.ipid, "proto": p.proto,
              "frag": {"offset": fr[0], "mf": fr[1], "id": fr[2]} if fr else None}
    rec = {
        "schema_version": SCHEMA_VERSION, "number": n, "ts_ns": ts,
        "t": (ts - t0) / 1e9 if ts is not None and t0 is not None else None,
        "interface": iface.label, "node": iface_nodes.get(iface.name or "") if iface_nodes else None,
        "len": item.wirelen, "caplen": item.caplen,
        "layers": [layer_dict(*ly) for ly in layers],
        "summary": summary,
        "eth": {"src": p.eth_src, "dst": p.eth_dst} if p.eth_src is not None else None,
        "ip": ip, "tcp": tcp, "udp": udp, "icmp": icmp, "arp": arp, "app": app,
        "role": {"code": role_code, "text": role_text},
        "analysis": analysis,
        "_cause": cause,
    }
    if p.igmp is not None:
        rec["igmp"] = p.igmp
    if p.app_fields is not None:
        rec[p.app_fields[0]] = p.app_fields[1]
    if item.comments:
        rec["comments"] = list(item.comments)
    if p.malformed:
        rec["malformed"] = p.malformed
    return rec


def _deep_protocols(pcap: Path) -> dict[int, tuple[str, str]]:
    """tshark's full protocol chain and Info column per frame (``--deep``: everything Wireshark knows)."""
    from lab.analysis.deep import tshark_protocols

    return tshark_protocols(pcap)


def _attach_deep(rec: dict[str, Any], row: tuple[str, str] | None) -> None:
    if row is None:
        rec["deep"] = None
        return
    protocols, info = row
    rec["deep"] = {"protocols": protocols, "info": info}
    if rec["app"] is None and protocols:
        chain = protocols.split(":")
        for i, name in enumerate(chain):
            if name in ("tcp", "udp") and i + 1 < len(chain) and chain[i + 1] != "data":
                rec["app"] = chain[i + 1].upper()
                break
