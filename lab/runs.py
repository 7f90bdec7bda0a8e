"""A finished run as Python objects: ``Run``, ``Packet``, ``Call``, ``Conversation``.

A run directory (``lab run``, ``lab analyze``, ``lab.run()``, ``lab.analyze()``) holds JSON lines whose shape
``lab.records`` defines; this module opens one and hands its records out as objects that know each other:
a packet's cause names ``Call`` objects, a call lists the packets it sent and consumed. Nothing is loaded
before it is asked for: ``Run.packets`` streams packets.jsonl (a 200,000-packet analysis is not held in
memory), ``Run.packet(n)`` seeks through a line index built on first use, the frame bytes are read from the
capture only for the packets that ask, and scapy and pyshark are imported only by ``Packet.scapy()`` and
``Packet.pyshark()``.

    >>> import lab
    >>> run = lab.open("captures/tcp-echo-20261204T210000Z")      # doctest: +SKIP
    >>> syn = next(run.filter(role="syn"))                         # doctest: +SKIP
    >>> syn.cause.text, [c.name for c in syn.cause.calls]          # doctest: +SKIP
    ('h1 connect() #7 sends the SYN', ['connect'])
"""

from __future__ import annotations

import html
import json
import struct
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.errors import UsageError
from lab.paths import RunPaths

if TYPE_CHECKING:
    import networkx as nx

    from lab.records import CallRecord, ConversationRecord, PacketRecord
    from lab.records import Cause as CauseRecord
    from lab.records import Lost as LostRecord

EMBED_REPORT_LIMIT = 4 << 20
"""report.html pages up to this size are embedded by ``Run._repr_html_`` (a notebook carries them along)."""

RAW_CACHE_LIMIT = 64 << 20
"""Captures up to this size keep every frame's bytes after the first ``Packet.raw``; larger ones are read
again up to the frame asked for, so memory stays flat."""


@dataclass(frozen=True)
class Layer:
    """One header of a frame: its name, its place in both models and where it sits in the bytes."""

    name: str
    osi: int
    tcpip: str
    offset: int
    length: int
    note: str | None = None


@dataclass(frozen=True)
class Role:
    code: str
    text: str


class Cause:
    """Why a packet exists: ``source`` (call, kernel, lab, inferred, unexplained), the ``rule`` that
    decided it, the sentence a student reads, and the calls and frames it names, as objects."""

    def __init__(self, record: CauseRecord, run: Run) -> None:
        self.record = record
        self._run = run

    source = property(lambda self: self.record["source"])
    rule = property(lambda self: self.record["rule"])
    text = property(lambda self: self.record["text"])

    @property
    def calls(self) -> list[Call]:
        """The calls that sent this packet (``source == "call"``)."""
        return [self._run.call(i) for i in self.record.get("calls", [])]

    @property
    def consumed_by(self) -> list[Call]:
        """The calls that read this packet's bytes."""
        return [self._run.call(i) for i in self.record.get("consumed_by", [])]

    @property
    def related(self) -> list[Call]:
        """The calls a kernel packet acts for (the connect() an ARP request serves, ...)."""
        return [self._run.call(i) for i in self.record.get("related", [])]

    @property
    def answers(self) -> Packet | None:
        """The frame this packet answers, if any."""
        n = self.record.get("answers")
        return self._run.packet(n) if n is not None else None

    @property
    def copy_of(self) -> Packet | None:
        """The first sighting of this packet, when this is a forwarded copy seen on another link."""
        n = self.record.get("copy_of")
        return self._run.packet(n) if n is not None else None

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cause({self.source}/{self.rule}: {self.text!r})"


class Packet:
    """One captured frame with everything the analysis knows about it (``record``: its packets.jsonl line)."""

    def __init__(self, record: PacketRecord, run: Run) -> None:
        self.record = record
        self.run = run

    number = property(lambda self: self.record["number"])
    ts_ns = property(lambda self: self.record["ts_ns"])
    time = property(lambda self: self.record["t"], doc="Seconds since the first frame of the capture.")
    node = property(lambda self: self.record["node"])
    interface = property(lambda self: self.record["interface"])
    length = property(lambda self: self.record["len"], doc="Length on the wire.")
    summary = property(lambda self: self.record["summary"])
    ip = property(lambda self: self.record["ip"])
    tcp = property(lambda self: self.record["tcp"])
    udp = property(lambda self: self.record["udp"])
    icmp = property(lambda self: self.record["icmp"])
    app = property(lambda self: self.record["app"])
    analysis = property(lambda self: self.record["analysis"], doc="TCP analysis flags, tshark's names.")

    @property
    def layers(self) -> list[Layer]:
        return [Layer(d["name"], d["osi"], d["tcpip"], d["offset"], d["length"], d.get("note"))
                for d in self.record["layers"]]

    @property
    def role(self) -> Role:
        return Role(self.record["role"]["code"], self.record["role"]["text"])

    @property
    def cause(self) -> Cause:
        return Cause(self.record["cause"], self.run)

    @property
    def lost(self) -> LostRecord | None:
        """Where this copy was lost (emulated loss) and which frame carried its bytes again, if it was."""
        return self.record.get("lost")

    @property
    def connection(self) -> str | None:
        """``"tcp:N"`` / ``"udp:N"``: the conversation this packet belongs to (conversations.jsonl)."""
        tcp, udp = self.record["tcp"], self.record["udp"]
        if tcp is not None and tcp["stream"] is not None:
            return f"tcp:{tcp['stream']}"
        return f"udp:{udp['stream']}" if udp is not None else None

    @property
    def raw(self) -> bytes:
        """The frame's bytes as captured."""
        return self.run._frame(self.number)[1]

    @property
    def linktype(self) -> int:
        """The LINKTYPE of the interface the frame was captured on (1 = Ethernet)."""
        return self.run._frame(self.number)[0]

    def scapy(self) -> Any:
        """The frame decoded by scapy (imported on first use, in this process: about a second)."""
        from scapy.all import (
            conf,  # every layer, so that Ether binds IP, TCP, ... (scapy.config alone does not)
        )

        from lab.analysis.linktypes import RAW, RAW_12, RAW_14

        cls: Any = conf.l2types.get(self.linktype)
        if cls is None and self.linktype in (RAW, RAW_12, RAW_14):
            from scapy.layers.inet import IP as ScapyIP

            cls = ScapyIP
        if cls is None:
            from scapy.packet import Raw

            cls = Raw
        return cls(self.raw)

    def pyshark(self) -> Any:
        """tshark's full dissection of this one frame, through pyshark (for protocols our decoder does
        not know). The frame is dissected alone: stream context (TCP reassembly, FTP data channels) is
        not there; ``lab analyze --deep`` dissects the whole file in context."""
        import pyshark

        linktype, data = self.run._frame(self.number)
        with tempfile.TemporaryDirectory(prefix="lab-frame-") as tmp:
            path = Path(tmp) / f"frame{self.number}.pcap"
            ts = self.ts_ns or 0
            path.write_bytes(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype)
                             + struct.pack("<IIII", ts // 10**9, ts % 10**9, len(data), self.length)
                             + data)

            def dissect() -> Any:
                # in its own thread: pyshark runs an asyncio loop, which a Jupyter kernel's running loop
                # would refuse in this one
                import asyncio

                asyncio.set_event_loop(asyncio.new_event_loop())
                cap = pyshark.FileCapture(str(path), keep_packets=True)
                try:
                    cap.load_packets()
                    return cap[0]
                finally:
                    cap.close()

            with ThreadPoolExecutor(1) as pool:
                return pool.submit(dissect).result()

    def __repr__(self) -> str:
        cause = self.record["cause"]["text"]
        return f"<Packet #{self.number} {self.node or '?'} {self.summary!r} <- {cause!r}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(layer.name)}</td><td>{layer.osi}</td><td>{html.escape(layer.tcpip)}</td>"
            f"<td>{layer.offset}</td><td>{layer.length}</td></tr>" for layer in self.layers)
        return (f"<div><b>frame {self.number}</b> on {html.escape(str(self.node))} "
                f"({html.escape(self.interface)}): {html.escape(self.summary)}<br>"
                f"<i>{html.escape(self.role.text)}</i> &larr; {html.escape(self.cause.text)}"
                "<table><tr><th>header</th><th>OSI</th><th>TCP/IP</th><th>offset</th><th>length</th></tr>"
                f"{rows}</table></div>")


class Call:
    """One recorded socket call (``record``: its calls.jsonl line)."""

    def __init__(self, record: CallRecord, run: Run) -> None:
        self.record = record
        self.run = run

    id = property(lambda self: self.record["id"])
    name = property(lambda self: self.record["call"], doc="The call's name: connect, sendall, recvfrom...")
    node = property(lambda self: self.record["node"])
    pid = property(lambda self: self.record["pid"])
    args = property(lambda self: self.record["args"])
    result = property(lambda self: self.record["ret"])
    error = property(lambda self: self.record["error"], doc="errno name, e.g. ECONNREFUSED, or None.")
    local = property(lambda self: self.record["local"])
    peer = property(lambda self: self.record["peer"])
    nbytes = property(lambda self: self.record["nbytes"])
    start_ns = property(lambda self: self.record["t_start_ns"])
    end_ns = property(lambda self: self.record["t_end_ns"])

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def packets(self) -> list[Packet]:
        """The packets this call sent."""
        return [self.run.packet(n) for n in self.run._call_index()[0].get(self.id, ())]

    @property
    def consumed(self) -> list[Packet]:
        """The packets whose bytes this call read."""
        return [self.run.packet(n) for n in self.run._call_index()[1].get(self.id, ())]

    def __repr__(self) -> str:
        tail = f" -> {self.error}" if self.error else ""
        return f"<Call #{self.id} {self.node} {self.name}(){tail}>"


class Conversation:
    """One TCP stream or UDP conversation (``record``: its conversations.jsonl line)."""

    def __init__(self, record: ConversationRecord, run: Run) -> None:
        self.record = record
        self.run = run

    proto = property(lambda self: self.record["proto"])
    stream = property(lambda self: self.record["stream"])
    key = property(lambda self: f"{self.proto}:{self.stream}", doc="What ``Run.filter(connection=)`` takes.")

    @property
    def packets(self) -> list[Packet]:
        return list(self.run.filter(connection=self.key))

    def __repr__(self) -> str:
        r = self.record
        a, b = (r["client"], r["server"]) if r["proto"] == "tcp" else (r["first_sender"], r["first_receiver"])
        return f"<Conversation {self.key} {a['addr']}:{a['port']} -> {b['addr']}:{b['port']}>"


class Run:
    """A run directory opened for reading. ``lab.open(dir)`` makes one; ``lab.run()`` and ``lab.analyze()``
    return one."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.paths = RunPaths(self.dir)
        if not self.paths.packets.is_file():
            raise UsageError(f"{self.dir}: not a run directory (no {self.paths.packets.name})")
        self._offsets: list[int] | None = None
        self._frames: dict[int, tuple[int, bytes]] | None = None

    # -- what the run was ----------------------------------------------------------------------------
    @cached_property
    def report(self) -> dict[str, Any]:
        """report.json of a lab run; for a ``lab analyze`` output, its summary.json."""
        for path in (self.paths.report, self.paths.summary):
            if path.is_file():
                return json.loads(path.read_text())
        return {}

    @property
    def ok(self) -> bool:
        """A lab run's verdict (every step, observation and packet explained); True for an analysis."""
        return bool(self.report.get("ok", True))

    @property
    def failures(self) -> list[str]:
        return list(self.report.get("failures", []))

    @cached_property
    def topology(self) -> nx.Graph | None:
        """The network the run was made on, as a networkx graph (None for a ``lab analyze`` output).

        A run keeps its topology as node-link JSON (``topology.json``); runs made before it did are
        looked up by the topology name their report gives."""
        import networkx as nx

        if self.paths.topology.is_file():
            return nx.node_link_graph(json.loads(self.paths.topology.read_text()), edges="links")
        name = self.report.get("topology")
        if not name or self.report.get("lab") is None:
            return None
        from lab.topology import load_topology

        return load_topology(name).graph()

    # -- records -------------------------------------------------------------------------------------
    @property
    def packets(self) -> Iterator[Packet]:
        """Every packet in capture order, read as they are consumed (lazy: large captures stream)."""
        with open(self.paths.packets, "rb") as fh:
            for line in fh:
                yield Packet(json.loads(line), self)

    def __len__(self) -> int:
        return len(self._line_offsets())

    def packet(self, number: int) -> Packet:
        """Frame ``number`` (1-based, as in Wireshark)."""
        offsets = self._line_offsets()
        if not 1 <= number <= len(offsets):
            raise KeyError(f"no frame {number} in {self.dir} (1..{len(offsets)})")
        with open(self.paths.packets, "rb") as fh:
            fh.seek(offsets[number - 1])
            return Packet(json.loads(fh.readline()), self)

    @cached_property
    def calls(self) -> list[Call]:
        """Every recorded socket call, by id order (empty for an analysis without ``calls``)."""
        if not self.paths.calls.is_file():
            return []
        with open(self.paths.calls, "rb") as fh:
            return [Call(json.loads(line), self) for line in fh if line.strip()]

    def call(self, call_id: int) -> Call:
        """Call ``#call_id`` as the ladder and the cause texts number it."""
        try:
            return self._call_map[call_id]
        except KeyError:
            raise KeyError(f"no call #{call_id} in {self.dir}") from None

    @cached_property
    def conversations(self) -> list[Conversation]:
        if not self.paths.conversations.is_file():
            return []
        with open(self.paths.conversations, "rb") as fh:
            return [Conversation(json.loads(line), self) for line in fh if line.strip()]

    def filter(self, *, connection: str | Conversation | None = None, node: str | None = None,
               role: str | Iterable[str] | None = None, rule: str | None = None,
               source: str | None = None, protocol: str | None = None,
               call: int | Call | None = None) -> Iterator[Packet]:
        """The packets that match every criterion given.

        Args:
            connection: ``"tcp:0"``, ``"udp:2"`` or a ``Conversation``.
            node: the node that captured it (``"h1"``).
            role: a role code (``"syn"``, ``"data"``, ``"pure-ack"``...) or several.
            rule: the cause rule (``"tcp-data-offset"``...).
            source: the cause source (``"call"``, ``"kernel"``, ``"lab"``, ``"inferred"``, ``"unexplained"``).
            protocol: a layer name present in the frame (``"TCP"``, ``"ICMP"``, ``"ARP"``, ``"DNS"``...).
            call: the packets this call sent (a call id or ``Call``).
        """
        conn = connection.key if isinstance(connection, Conversation) else connection
        roles = {role} if isinstance(role, str) else set(role) if role is not None else None
        call_id = call.id if isinstance(call, Call) else call
        for p in self.packets:
            r = p.record
            if node is not None and r["node"] != node:
                continue
            if roles is not None and r["role"]["code"] not in roles:
                continue
            if rule is not None and r["cause"]["rule"] != rule:
                continue
            if source is not None and r["cause"]["source"] != source:
                continue
            if conn is not None and p.connection != conn:
                continue
            if protocol is not None and not any(layer["name"] == protocol for layer in r["layers"]) \
                    and r["app"] != protocol:
                continue
            if call_id is not None and call_id not in r["cause"].get("calls", []):
                continue
            yield p

    # -- display -------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        name = self.report.get("lab") or Path(self.report.get("file", self.dir)).name
        return f"<Run {name} at {self.dir}: {len(self)} packets, {len(self.calls)} calls>"

    def _repr_html_(self) -> str:
        """In Jupyter: the run's own report page (sequence diagram, packet view, topology), embedded when it
        is small enough to carry in a notebook, else a table of the first frames and a link to it."""
        page = RunPaths(self.dir).page
        if page.is_file() and page.stat().st_size <= EMBED_REPORT_LIMIT:
            return (f"<div><b>{html.escape(repr(self))}</b><iframe style='width:100%;height:640px;border:0' "
                    f"srcdoc=\"{html.escape(page.read_text(encoding='utf-8'), quote=True)}\"></iframe></div>")
        return self._table_html()

    def _table_html(self) -> str:
        rows: list[str] = []
        for p in self.packets:
            if len(rows) == 200:
                rows.append("<tr><td colspan=4>... (first 200 frames; see report.html)</td></tr>")
                break
            rows.append(f"<tr><td>{p.number}</td><td>{html.escape(str(p.node))}</td>"
                        f"<td>{html.escape(p.summary)}</td><td>{html.escape(p.cause.text)}</td></tr>")
        page = RunPaths(self.dir).page
        link = f'<p>Full report: <a href="{html.escape(str(page))}">{html.escape(str(page))}</a></p>' \
            if page.is_file() else ""
        return (f"<div><b>{html.escape(repr(self))}</b>{link}<table><tr><th>#</th><th>node</th>"
                f"<th>packet</th><th>cause</th></tr>{''.join(rows)}</table></div>")

    # -- indexes, built once on first need -----------------------------------------------------------
    def _line_offsets(self) -> list[int]:
        if self._offsets is None:
            offsets, pos = [], 0
            with open(self.paths.packets, "rb") as fh:
                for line in fh:
                    offsets.append(pos)
                    pos += len(line)
            self._offsets = offsets
        return self._offsets

    @cached_property
    def _call_map(self) -> dict[int, Call]:
        return {c.id: c for c in self.calls}

    def _call_index(self) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        """call id -> frames it sent, and call id -> frames whose bytes it read (one pass, cached)."""
        if "_sent_read" not in self.__dict__:
            sent: dict[int, list[int]] = {}
            read: dict[int, list[int]] = {}
            for p in self.packets:
                c = p.record["cause"]
                for i in c.get("calls", []):
                    sent.setdefault(i, []).append(p.number)
                for i in c.get("consumed_by", []):
                    read.setdefault(i, []).append(p.number)
            self.__dict__["_sent_read"] = (sent, read)
        return self.__dict__["_sent_read"]

    def _capture_file(self) -> Path:
        for path in (self.paths.capture, self.paths.annotated):
            if path.is_file():
                return path
        raise UsageError(f"{self.dir}: no capture file to read frame bytes from")

    def _frame(self, number: int) -> tuple[int, bytes]:
        """(linktype, bytes) of frame ``number``, from the run's capture."""
        from lab.analysis.reader import CaptureReader, Record

        if self._frames is not None and number in self._frames:
            return self._frames[number]
        path = self._capture_file()
        keep = path.stat().st_size <= RAW_CACHE_LIMIT
        frames: dict[int, tuple[int, bytes]] = {}
        n = 0
        for rec in CaptureReader(path).records():
            if not isinstance(rec, Record):
                continue
            n += 1
            if keep:
                frames[n] = (rec.iface.linktype, rec.data)
            elif n == number:
                return rec.iface.linktype, rec.data
        if keep:
            self._frames = frames
            if number in frames:
                return frames[number]
        raise KeyError(f"no frame {number} in {path}")


def open_run(directory: str | Path) -> Run:
    """Open a finished run directory (``lab run``/``lab analyze`` output). Exported as ``lab.open``."""
    return Run(directory)
