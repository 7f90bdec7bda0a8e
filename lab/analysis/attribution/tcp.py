"""TCP rules: handshake, data by byte offsets, FIN, RST, pure ACKs and retransmissions.

A data segment's sequence range, made relative to its direction's ISN, is a byte range of the sender's
stream; the calls whose ``[sent_before, sent_after)`` overlap it are the ones whose bytes it carries, and
the receiver's calls whose ``[recv_before, recv_after)`` overlap it consumed them. State is kept per
capture interface: a segment seen on two links is one send, not a retransmission.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lab.analysis.attribution.calllog import (
    TOL_NS,
    Call,
    CallLog,
    Endpoint,
    Socket,
    at_exit,
    norm_host,
    offset,
)
from lab.analysis.attribution.causes import call_label, make_cause, merge_causes, packet_time
from lab.records import PacketRecord

Rec = PacketRecord  # as the pipeline builds it: every key but ``cause``
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
DELAYED_ACK_NS = 35_000_000  # Linux's delayed-ACK timer is at least 40 ms
# (start offset, end offset, first frame, ts, frame): the last two of its latest transmission, which the
# ACK that follows answers (a retransmission after a timeout is not acknowledged "200 ms late")
DataSegment = tuple[int, int, int, int, int]


@dataclass
class Connection:
    """Per-TCP-connection state built while packets stream by."""

    isn: dict[Endpoint, int] = field(default_factory=dict)
    client: Endpoint | None = None
    syn_frame: int | None = None  # the first SYN; retransmissions name it
    last_syn_frame: int | None = None  # the SYN a SYN-ACK or a refusing RST answers (a retry, if any)
    syn_count: int = 0
    synack_frame: int | None = None
    established: bool = False
    sent_end: dict[Endpoint, int] = field(default_factory=lambda: defaultdict(int))
    data_frames: dict[Endpoint, list[DataSegment]] = field(default_factory=lambda: defaultdict(list))
    data_ends: dict[Endpoint, list[int]] = field(default_factory=lambda: defaultdict(list))  # bisect index
    fin: dict[Endpoint, tuple[int, int]] = field(default_factory=dict)  # endpoint -> (offset, frame)
    acked: dict[Endpoint, int] = field(default_factory=dict)  # acker -> highest acked offset of the peer
    last_ack: dict[Endpoint, tuple[int, int]] = field(default_factory=dict)  # acker -> (ack, win)
    last_frame: dict[Endpoint, int] = field(default_factory=dict)


class TcpRules:
    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.conns: dict[tuple[str, Endpoint, Endpoint], Connection] = {}

    def _conn(self, a: Endpoint, b: Endpoint, iface: str, new_isn: int | None) -> Connection:
        """Connection state per capture interface: a segment seen on two links is not a retransmission.

        A SYN with a new ISN on a known 4-tuple is a new connection (a reused port): it starts afresh.
        """
        key = (iface, a, b) if a <= b else (iface, b, a)
        conn = self.conns.get(key)
        if conn is None or (new_isn is not None and conn.isn.get(a) not in (None, new_isn)):
            conn = self.conns[key] = Connection()
        return conn

    def cause(self, rec: Rec) -> dict[str, Any]:
        tcp, ip = rec["tcp"], rec["ip"]
        if tcp is None or ip is None:  # the dispatcher sends only TCP segments here
            raise ValueError(f"frame {rec['number']}: not a TCP segment")
        # the decoder writes every header field or, for a header the capture cut short, none (null): such
        # a segment names no flags or bytes for a rule to judge
        flags, seq_raw, ack_raw = tcp["flags_int"], tcp["seq_raw"], tcp["ack_raw"]
        length, win = tcp["len"], tcp["win"]
        if flags is None or seq_raw is None or ack_raw is None or length is None or win is None:
            return make_cause("unexplained", "unknown", "truncated or malformed TCP header")
        src: Endpoint = (norm_host(ip["src"]), tcp["sport"])
        dst: Endpoint = (norm_host(ip["dst"]), tcp["dport"])
        ts, frame = packet_time(rec), rec["number"]
        syn_only = bool(flags & SYN and not flags & ACK)
        conn = self._conn(src, dst, rec["interface"], seq_raw if syn_only else None)
        sender = self.log.tcp_sock(src, dst, ts) or self.log.connecting(src, dst, ts)
        receiver = self.log.tcp_sock(dst, src, ts) or self.log.connecting(dst, src, ts)
        try:
            if flags & SYN and not flags & ACK:
                return self._syn(frame, seq_raw, conn, src, sender)
            if flags & SYN:
                return self._synack(frame, seq_raw, ts, conn, src)
            if flags & RST:
                return self._rst(ts, conn, src, dst, sender, receiver)
            parts: list[dict[str, Any]] = []
            if length > 0:
                parts.append(self._data(frame, seq_raw, length, ts, conn, src, sender, receiver))
            if flags & FIN:
                parts.append(self._fin(frame, seq_raw, length, ts, conn, src, sender))
            if not parts:
                return self._ack(rec, ack_raw, win, ts, conn, src, dst, sender)
            return parts[0] if len(parts) == 1 else merge_causes(parts)
        finally:
            conn.last_frame[src] = frame

    def _syn(self, frame: int, seq: int, conn: Connection, src: Endpoint,
             sender: Socket | None) -> dict[str, Any]:
        if conn.isn.get(src) == seq and conn.syn_frame is not None:
            conn.syn_count += 1
            conn.last_syn_frame = frame
            who = f"{call_label(sender.connect)} still waiting" if sender and sender.connect else "connect"
            return make_cause(
                "kernel",
                "syn-retransmit",
                f"kernel SYN retransmission #{conn.syn_count} (retransmission timer; {who}; "
                f"first SYN frame {conn.syn_frame})",
                [sender.connect] if sender and sender.connect else [],
                conn.syn_frame,
            )
        conn.isn[src], conn.client, conn.syn_frame, conn.syn_count = seq, src, frame, 0
        conn.last_syn_frame = frame
        conn.synack_frame, conn.established = None, False
        if sender and sender.connect:
            return make_cause(
                "call",
                "syn-connect",
                f"{call_label(sender.connect)} sends the SYN",
                [sender.connect],
            )
        return make_cause(
            "inferred", "syn-connect", f"connect() from {src[0]}:{src[1]} (no traced socket there)"
        )

    def _synack(self, frame: int, seq: int, ts: int, conn: Connection, src: Endpoint) -> dict[str, Any]:
        if conn.isn.get(src) == seq and conn.synack_frame is not None:
            return make_cause(
                "kernel",
                "synack-retransmit",
                f"kernel SYN-ACK retransmission (first SYN-ACK frame {conn.synack_frame})",
                answers=conn.synack_frame,
            )
        conn.isn[src], conn.synack_frame = seq, frame
        listener = self.log.listener(src, ts)
        node = listener.node if listener else self.log.node_of(src[0])
        text = (
            f"kernel ({node}) answers SYN frame {conn.last_syn_frame} for the listening socket"
            + (f" of {call_label(listener.listen)}" if listener and listener.listen else "")
            + " — accept() takes no part in the handshake"
        )
        return make_cause(
            "kernel",
            "syn-ack",
            text,
            [listener.listen] if listener and listener.listen else [],
            conn.last_syn_frame,
            node=node,
        )

    def _rst(
        self,
        ts: int,
        conn: Connection,
        src: Endpoint,
        dst: Endpoint,
        sender: Socket | None,
        receiver: Socket | None,
    ) -> dict[str, Any]:
        node = sender.node if sender else self.log.node_of(src[0])
        if conn.client == dst and conn.synack_frame is None and conn.syn_frame is not None:
            victim = [receiver.connect] if receiver and receiver.connect else []
            after = ""
            if victim:
                err = victim[0].get("error") or victim[0].get("ret")
                after = f"; {call_label(victim[0])} gets {err}"
            return make_cause(
                "kernel",
                "rst-refused",
                f"kernel ({node}) refuses SYN frame {conn.last_syn_frame}: no socket listens on port "
                f"{src[1]}{after}",
                victim,
                conn.last_syn_frame,
                node=node,
            )
        if sender:
            closers = [c for c in sender.closers if c["t_start_ns"] <= ts + TOL_NS]
            if closers:
                # a reset comes from the close() that released the socket, not an earlier shutdown()
                closes = [c for c in closers if c["call"] != "shutdown"]
                close = closes[-1] if closes else closers[-1]
                peer_sent = receiver.sent_total(close["t_start_ns"]) if receiver else 0
                unread = peer_sent - offset(close, "recv_after")
                if sender.linger0:
                    return make_cause(
                        "call",
                        "rst-linger0",
                        f"{call_label(close)} with SO_LINGER 0 aborts the connection",
                        [close],
                    )
                if unread > 0 and close["call"] == "close":
                    return make_cause(
                        "call",
                        "rst-unread",
                        f"{call_label(close)} with {unread} unread bytes: the kernel resets instead of FIN",
                        [close],
                    )
                last = conn.last_frame.get(dst)
                return make_cause(
                    "kernel",
                    "rst-dead-socket",
                    f"kernel ({node}) resets: a segment (frame {last}) arrived for a socket already "
                    f"closed by {call_label(close)}",
                    [close],
                    last,
                    node=node,
                )
        last = conn.last_frame.get(dst)
        return make_cause(
            "kernel",
            "rst",
            f"kernel ({node}) resets the connection (answers frame {last})",
            answers=last,
            node=node,
        )

    def _offset(self, conn: Connection, who: Endpoint, seq_raw: int) -> int | None:
        isn = conn.isn.get(who)
        return None if isn is None else (seq_raw - isn - 1) % (1 << 32)

    def _data(
        self,
        frame: int,
        seq_raw: int,
        length: int,
        ts: int,
        conn: Connection,
        src: Endpoint,
        sender: Socket | None,
        receiver: Socket | None,
    ) -> dict[str, Any]:
        start = self._offset(conn, src, seq_raw)
        if start is None:
            return make_cause(
                "inferred",
                "tcp-data",
                "send() (inferred: the handshake was not captured, so stream offsets are unknown)",
            )
        end = start + length
        sends = sender.sending(start, end) if sender else []
        recvs = receiver.receiving(start, end) if receiver else []
        span = f"bytes {start}-{end - 1}"
        frames, ends = conn.data_frames[src], conn.data_ends[src]
        i = bisect_right(ends, start)
        first = frames[i][2] if i < len(frames) and frames[i][0] < end else None
        retrans = end <= conn.sent_end[src]
        if not retrans:
            frames.append((start, end, frame, ts, frame))
            ends.append(end)
        else:
            j = i
            while j < len(frames) and frames[j][0] < end:
                frames[j] = frames[j][:3] + (ts, frame)
                j += 1
        conn.sent_end[src] = max(conn.sent_end[src], end)
        read = f"; read by {', '.join(map(call_label, recvs))}" if recvs else ""
        if not sends:
            return make_cause(
                "inferred",
                "tcp-data-offset",
                f"{span} of {src[0]}:{src[1]}: no traced send call covers them{read}",
                recvs,
            )
        what = " + ".join(call_label(c) for c in sends)
        if retrans and first is not None and first != frame:
            return make_cause(
                "kernel",
                "tcp-retransmit",
                f"kernel retransmits {span} of {what} (first sent in frame {first}){read}",
                sends,
                first,
                consumed_by=[c["id"] for c in recvs],
            )
        return make_cause(
            "call", "tcp-data-offset", f"{what} {span}{read}", sends, consumed_by=[c["id"] for c in recvs]
        )

    def _fin(
        self, frame: int, seq_raw: int, length: int, ts: int, conn: Connection, src: Endpoint,
        sender: Socket | None,
    ) -> dict[str, Any]:
        at = self._offset(conn, src, seq_raw)
        if at is not None:
            at += length
        if src in conn.fin and conn.fin[src][0] == at:
            return make_cause(
                "kernel",
                "fin-retransmit",
                f"kernel retransmits the FIN (first FIN frame {conn.fin[src][1]})",
                answers=conn.fin[src][1],
            )
        conn.fin[src] = (at if at is not None else -1, frame)
        if sender is None:
            return make_cause(
                "inferred", "fin-close", f"close()/shutdown() at {src[0]}:{src[1]} (no traced socket)"
            )
        closers = [c for c in sender.closers if c["t_start_ns"] <= ts + TOL_NS]
        if closers and at_exit(closers[0]):
            how = (
                "at process exit"
                if closers[0]["call"] == "exit"
                else "when the socket was garbage-collected"
            )
            return make_cause(
                "kernel",
                "fin-exit",
                f"kernel ({sender.node}) closes the socket {how} "
                f"({call_label(closers[0])}): no close() was called",
                closers[:1],
            )
        if closers:
            return make_cause(
                "call",
                "fin-close",
                f"{call_label(closers[0])} sends FIN (no more data from {sender.node})",
                closers[:1],
            )
        return make_cause(
            "kernel",
            "fin-exit",
            f"kernel ({sender.node}) closes the socket at process exit (pid {sender.pid}): no close()"
            f" was called",
        )

    def _ack(
        self, rec: Rec, ack_raw: int, win: int, ts: int, conn: Connection, src: Endpoint, dst: Endpoint,
        sender: Socket | None,
    ) -> dict[str, Any]:
        """A segment that carries no SYN, RST, FIN or data: the first of ``ACK_RULES`` that applies says why
        the kernel sent it.

        The facts are read before any state changes, so each rule judges this ACK against what the packets
        before it left, whatever rule came first.
        """
        node = sender.node if sender else self.log.node_of(src[0])
        acked = self._offset(conn, dst, ack_raw)
        last_acked = conn.acked.get(src, 0)
        covered: list[DataSegment] = []
        if acked is not None:
            frames_in, ends_in = conn.data_frames.get(dst, []), conn.data_ends.get(dst, [])
            covered = frames_in[bisect_right(ends_in, last_acked) : bisect_right(ends_in, acked)]
        facts = AckFacts(
            conn=conn,
            src=src,
            dst=dst,
            ack_raw=ack_raw,
            win=win,
            ts=ts,
            node=node,
            sender=sender,
            analysis=rec["analysis"],
            acked=acked,
            prev=conn.last_ack.get(src),
            reader=sender.reading_at(ts) if sender else None,
            last_acked=last_acked,
            covered=covered,
        )
        # whichever rule explains it, this ACK is what the next one from src is compared with (window update)
        conn.last_ack[src] = (ack_raw, win)
        rule = next(r for r in ACK_RULES if r.when(facts))
        if rule.update is not None:
            rule.update(facts)
        return rule.explain(facts)


# -- pure ACKs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AckFacts:
    """One pure ACK and the connection as the packets before it left it.

    Read once per packet so that no rule sees another's state update: a rule can be read, tested or moved
    on its own. ``conn`` is there for what no rule changes (ISNs, frames) and for the updates.
    """

    conn: Connection
    src: Endpoint  # the acknowledging end
    dst: Endpoint
    ack_raw: int
    win: int  # the receive window field (unscaled)
    ts: int
    node: str  # pure ACKs are the kernel's: the acknowledging end's node
    sender: Socket | None
    analysis: list[str]  # tshark's tcp.analysis flags
    acked: int | None  # offset into dst's stream acknowledged up to; None when dst's ISN was not captured
    prev: tuple[int, int] | None  # src's previous (ack_raw, win)
    reader: Call | None  # src's receive call running when the ACK left
    last_acked: int  # the highest offset src had acknowledged with data-acknowledging ACKs
    covered: list[DataSegment]  # dst's data segments first acknowledged by this ACK

    @property
    def frames(self) -> list[int]:
        return [seg[4] for seg in self.covered]  # the transmissions that arrived

    @property
    def what(self) -> str:
        assert self.acked is not None  # _stream_start_unknown comes first
        return _bytes_text(self.acked, self.frames)


def _bytes_text(end: int, frames: list[int]) -> str:
    """``bytes 0-19 (frames 4, 6)``: an ACK is cumulative, and ``end`` is the next byte it expects (the data
    causes say ``bytes 0-19`` for the bytes a call sent, inclusive, the same way)."""
    what = f"bytes 0-{end - 1}" if end > 0 else "no bytes yet"
    if frames:
        what += f" (frame{'s' if len(frames) > 1 else ''} {', '.join(map(str, frames))})"
    return what


class AckRule(NamedTuple):
    """When an ACK is of this kind, how to say so, and the connection state that acknowledging it moves."""

    when: Callable[[AckFacts], bool]
    explain: Callable[[AckFacts], dict[str, Any]]
    update: Callable[[AckFacts], None] | None = None


def _completes_handshake(f: AckFacts) -> bool:
    """Only once per connection: later ACKs from a client that has received no data look the same."""
    conn = f.conn
    return (
        not conn.established
        and conn.synack_frame is not None
        and f.src == conn.client
        and f.ack_raw == (conn.isn.get(f.dst, -2) + 1) % (1 << 32)
    )


def _establish(f: AckFacts) -> None:
    f.conn.established = True


def _handshake_ack(f: AckFacts) -> dict[str, Any]:
    who = [f.sender.connect] if f.sender and f.sender.connect else []
    if not who:
        done = ""
    elif who[0].get("error") in ("EINPROGRESS", "EAGAIN", "EWOULDBLOCK"):
        done = f"; the pending connection of {call_label(who[0])} (non-blocking) is now established"
    else:
        done = f"; {call_label(who[0])} returns"
    return make_cause(
        "kernel",
        "handshake-ack",
        f"kernel ({f.node}) acknowledges SYN-ACK frame {f.conn.synack_frame}{done}",
        who,
        f.conn.synack_frame,
        node=f.node,
    )


def _stream_start_unknown(f: AckFacts) -> bool:
    """Without the peer's ISN the ACK number names no byte: no later rule can place it."""
    return f.acked is None


def _unplaced_ack(f: AckFacts) -> dict[str, Any]:
    return make_cause(
        "kernel", "ack", f"kernel ({f.node}) acknowledgement (stream start not captured)", node=f.node
    )


def _first_ack_of_fin(f: AckFacts) -> bool:
    """The FIN takes one sequence number; ACKs repeating the same number after the first answer nothing."""
    fin = f.conn.fin.get(f.dst)
    return fin is not None and f.acked == fin[0] + 1 and (f.prev is None or f.prev[0] != f.ack_raw)


def _ack_fin(f: AckFacts) -> dict[str, Any]:
    """One ACK may take the last data with the FIN: both are named."""
    offset, frame = f.conn.fin[f.dst]
    data = f"{_bytes_text(offset, f.frames)} and " if f.covered else ""
    text = f"kernel ({f.node}) acknowledges {data}FIN frame {frame}"
    return make_cause("kernel", "ack-fin", text, answers=frame, node=f.node)


def _flagged(flag: str) -> Callable[[AckFacts], bool]:
    """tshark's analysis: it tracks what these rules do not (segments in flight, the peer's window)."""

    def when(f: AckFacts) -> bool:
        return flag in f.analysis

    return when


def _dup_ack(f: AckFacts) -> dict[str, Any]:
    return make_cause(
        "kernel",
        "dup-ack",
        f"kernel ({f.node}) duplicate ACK: still expecting byte {f.acked} "
        f"(a later segment arrived out of order or a segment is missing)",
        node=f.node,
    )


def _keepalive(f: AckFacts) -> dict[str, Any]:
    return make_cause("kernel", "keepalive", f"kernel ({f.node}) TCP keep-alive probe", node=f.node)


def _probe_ack(f: AckFacts) -> dict[str, Any]:
    """A probe carries no new data (or one byte the peer cannot take yet): the answer repeats the last ACK."""
    probe = "keep-alive" if "keep_alive_ack" in f.analysis else "zero-window probe"
    last = f.conn.last_frame.get(f.dst)
    text = f"kernel ({f.node}) answers the {probe} of frame {last}"
    return make_cause("kernel", "probe-ack", text, answers=last, node=f.node)


def _same_ack_new_window(f: AckFacts) -> bool:
    """Nothing new acknowledged, so the only news is the window."""
    return f.prev is not None and f.prev[0] == f.ack_raw and f.prev[1] != f.win


def _window_update(f: AckFacts) -> dict[str, Any]:
    inside = f", sent inside {call_label(f.reader)} as the application consumed data" if f.reader else ""
    return make_cause(
        "kernel",
        "window-update",
        f"kernel ({f.node}) window update: receive window now {f.win}{inside}",
        [f.reader] if f.reader else [],
        node=f.node,
    )


def _sent_inside_recv(f: AckFacts) -> bool:
    """Only when the timing shows it: the data was queued before that recv() began, and the ACK left while
    it ran (reading opened the window). A recv() already blocked when the data came proves nothing: the
    kernel acknowledges arriving data on its own."""
    return bool(f.reader and f.covered and f.reader["t_start_ns"] > f.covered[-1][3])


def _ack_in_recv(f: AckFacts) -> dict[str, Any]:
    assert f.reader is not None  # _sent_inside_recv
    return make_cause(
        "kernel",
        "ack-in-recv",
        f"kernel ({f.node}) acknowledges {f.what}, sent inside {call_label(f.reader)} as the application "
        f"consumed the queued data",
        [f.reader],
        f.frames[-1],
        node=f.node,
    )


def _delayed(f: AckFacts) -> bool:
    return bool(f.covered) and f.ts - f.covered[-1][3] >= DELAYED_ACK_NS


def _delayed_ack(f: AckFacts) -> dict[str, Any]:
    ms = (f.ts - f.covered[-1][3]) / 1e6
    return make_cause(
        "kernel",
        "delayed-ack",
        f"kernel ({f.node}) delayed ACK of {f.what}, {ms:.0f} ms after the data",
        answers=f.frames[-1],
        node=f.node,
    )


def _always(f: AckFacts) -> bool:
    return True


def _plain_ack(f: AckFacts) -> dict[str, Any]:
    return make_cause(
        "kernel",
        "ack",
        f"kernel ({f.node}) acknowledges {f.what}",
        answers=f.frames[-1] if f.frames else None,
        node=f.node,
    )


def _advance_acked(f: AckFacts) -> None:
    """Only the ACKs that reach the last rules move the mark from which the next ACK's frames are counted."""
    assert f.acked is not None  # _stream_start_unknown comes first
    f.conn.acked[f.src] = max(f.last_acked, f.acked)


# First match wins, so the order is the meaning: the first ACK of a FIN is "ack-fin" even when tshark flags
# it too, and a window update or a duplicate ACK names no data (the last three rules do).
# fmt: off
ACK_RULES: tuple[AckRule, ...] = (
    #       applies when                          explained as        state it moves
    AckRule(_completes_handshake,                 _handshake_ack,     _establish),
    AckRule(_stream_start_unknown,                _unplaced_ack),
    AckRule(_first_ack_of_fin,                    _ack_fin,           _advance_acked),
    AckRule(_flagged("duplicate_ack"),            _dup_ack),
    AckRule(_flagged("keep_alive"),               _keepalive),
    AckRule(_flagged("keep_alive_ack"),           _probe_ack),
    AckRule(_flagged("zero_window_probe_ack"),    _probe_ack),
    AckRule(_same_ack_new_window,                 _window_update),
    AckRule(_sent_inside_recv,                    _ack_in_recv,       _advance_acked),
    AckRule(_delayed,                             _delayed_ack,       _advance_acked),
    AckRule(_always,                              _plain_ack,         _advance_acked),
)
# fmt: on
