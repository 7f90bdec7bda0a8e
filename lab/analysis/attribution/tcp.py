"""TCP rules: handshake, data by byte offsets, FIN, RST, pure ACKs and retransmissions.

A data segment's sequence range, made relative to its direction's ISN, is a byte range of the sender's
stream; the calls whose ``[sent_before, sent_after)`` overlap it are the ones whose bytes it carries, and
the receiver's calls whose ``[recv_before, recv_after)`` overlap it consumed them. State is kept per
capture interface: a segment seen on two links is one send, not a retransmission.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lab.analysis.attribution.calllog import TOL_NS, CallLog, Endpoint, Socket, at_exit, norm_ip
from lab.analysis.attribution.causes import call_label, make_cause, merge_causes

Rec = dict[str, Any]
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
DELAYED_ACK_NS = 35_000_000  # Linux's delayed-ACK timer is at least 40 ms


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
    data_frames: dict[Endpoint, list[tuple[int, int, int, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # (start, end, frame, ts)
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
        src: Endpoint = (norm_ip(ip["src"]) or "", tcp["sport"])
        dst: Endpoint = (norm_ip(ip["dst"]) or "", tcp["dport"])
        flags, ts, frame = tcp.get("flags_int", 0), rec["ts_ns"], rec["number"]
        syn_only = bool(flags & SYN and not flags & ACK)
        conn = self._conn(src, dst, str(rec.get("interface")), tcp["seq_raw"] if syn_only else None)
        sender = self.log.tcp_sock(src, dst, ts) or self.log.connecting(src, dst, ts)
        receiver = self.log.tcp_sock(dst, src, ts) or self.log.connecting(dst, src, ts)
        try:
            if flags & SYN and not flags & ACK:
                return self._syn(rec, conn, src, sender)
            if flags & SYN:
                return self._synack(rec, conn, src, dst)
            if flags & RST:
                return self._rst(rec, conn, src, dst, sender, receiver)
            parts: list[dict[str, Any]] = []
            if tcp.get("len", 0) > 0:
                parts.append(self._data(rec, conn, src, sender, receiver))
            if flags & FIN:
                parts.append(self._fin(rec, conn, src, sender))
            if not parts:
                return self._ack(rec, conn, src, dst, sender)
            return parts[0] if len(parts) == 1 else merge_causes(parts)
        finally:
            conn.last_frame[src] = frame

    def _syn(self, rec: Rec, conn: Connection, src: Endpoint, sender: Socket | None) -> dict[str, Any]:
        seq = rec["tcp"]["seq_raw"]
        if conn.isn.get(src) == seq and conn.syn_frame is not None:
            conn.syn_count += 1
            conn.last_syn_frame = rec["number"]
            who = f"{call_label(sender.connect)} still waiting" if sender and sender.connect else "connect"
            return make_cause(
                "kernel",
                "syn-retransmit",
                f"kernel SYN retransmission #{conn.syn_count} (retransmission timer; {who}; "
                f"first SYN frame {conn.syn_frame})",
                [sender.connect] if sender and sender.connect else [],
                conn.syn_frame,
            )
        conn.isn[src], conn.client, conn.syn_frame, conn.syn_count = seq, src, rec["number"], 0
        conn.last_syn_frame = rec["number"]
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

    def _synack(self, rec: Rec, conn: Connection, src: Endpoint, dst: Endpoint) -> dict[str, Any]:
        seq = rec["tcp"]["seq_raw"]
        if conn.isn.get(src) == seq and conn.synack_frame is not None:
            return make_cause(
                "kernel",
                "synack-retransmit",
                f"kernel SYN-ACK retransmission (first SYN-ACK frame {conn.synack_frame})",
                answers=conn.synack_frame,
            )
        conn.isn[src], conn.synack_frame = seq, rec["number"]
        listener = self.log.listener(src, rec["ts_ns"])
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
        rec: Rec,
        conn: Connection,
        src: Endpoint,
        dst: Endpoint,
        sender: Socket | None,
        receiver: Socket | None,
    ) -> dict[str, Any]:
        ts = rec["ts_ns"]
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
                closes = [c for c in closers if c.get("call") != "shutdown"]
                close = closes[-1] if closes else closers[-1]
                peer_sent = receiver.sent_total(close["t_start_ns"]) if receiver else 0
                unread = peer_sent - (close.get("recv_after") or 0)
                if sender.linger0:
                    return make_cause(
                        "call",
                        "rst-linger0",
                        f"{call_label(close)} with SO_LINGER 0 aborts the connection",
                        [close],
                    )
                if unread > 0 and close.get("call") == "close":
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
        self, rec: Rec, conn: Connection, src: Endpoint, sender: Socket | None, receiver: Socket | None
    ) -> dict[str, Any]:
        tcp = rec["tcp"]
        start = self._offset(conn, src, tcp["seq_raw"])
        if start is None:
            return make_cause(
                "inferred",
                "tcp-data",
                "send() (inferred: the handshake was not captured, so stream offsets are unknown)",
            )
        end = start + tcp["len"]
        sends = sender.sending(start, end) if sender else []
        recvs = receiver.receiving(start, end) if receiver else []
        span = f"bytes {start}-{end - 1}"
        frames, ends = conn.data_frames[src], conn.data_ends[src]
        i = bisect_right(ends, start)
        first = frames[i][2] if i < len(frames) and frames[i][0] < end else None
        retrans = end <= conn.sent_end[src]
        if not retrans:
            frames.append((start, end, rec["number"], rec["ts_ns"]))
            ends.append(end)
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
        if retrans and first is not None and first != rec["number"]:
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

    def _fin(self, rec: Rec, conn: Connection, src: Endpoint, sender: Socket | None) -> dict[str, Any]:
        tcp = rec["tcp"]
        offset = self._offset(conn, src, tcp["seq_raw"])
        if offset is not None:
            offset += tcp.get("len", 0)
        if src in conn.fin and conn.fin[src][0] == offset:
            return make_cause(
                "kernel",
                "fin-retransmit",
                f"kernel retransmits the FIN (first FIN frame {conn.fin[src][1]})",
                answers=conn.fin[src][1],
            )
        conn.fin[src] = (offset if offset is not None else -1, rec["number"])
        if sender is None:
            return make_cause(
                "inferred", "fin-close", f"close()/shutdown() at {src[0]}:{src[1]} (no traced socket)"
            )
        closers = [c for c in sender.closers if c["t_start_ns"] <= rec["ts_ns"] + TOL_NS]
        if closers and at_exit(closers[0]):
            how = (
                "at process exit"
                if closers[0].get("call") == "exit"
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
        self, rec: Rec, conn: Connection, src: Endpoint, dst: Endpoint, sender: Socket | None
    ) -> dict[str, Any]:
        tcp, ts = rec["tcp"], rec["ts_ns"]
        node = sender.node if sender else self.log.node_of(src[0])
        acked = self._offset(conn, dst, tcp["ack_raw"])
        analysis = rec.get("analysis") or []
        if (
            not conn.established
            and conn.synack_frame is not None
            and src == conn.client
            and tcp["ack_raw"] == (conn.isn.get(dst, -2) + 1) % (1 << 32)
        ):
            conn.established = True
            conn.last_ack[src] = (tcp["ack_raw"], tcp.get("win", 0))
            who = [sender.connect] if sender and sender.connect else []
            if not who:
                done = ""
            elif who[0].get("error") in ("EINPROGRESS", "EAGAIN", "EWOULDBLOCK"):
                done = f"; the pending connection of {call_label(who[0])} (non-blocking) is now established"
            else:
                done = f"; {call_label(who[0])} returns"
            return make_cause(
                "kernel",
                "handshake-ack",
                f"kernel ({node}) acknowledges SYN-ACK frame {conn.synack_frame}{done}",
                who,
                conn.synack_frame,
                node=node,
            )
        prev = conn.last_ack.get(src)
        conn.last_ack[src] = (tcp["ack_raw"], tcp.get("win", 0))
        if acked is None:
            return make_cause(
                "kernel", "ack", f"kernel ({node}) acknowledgement (stream start not captured)", node=node
            )
        fin = conn.fin.get(dst)
        if fin and acked == fin[0] + 1 and (prev is None or prev[0] != tcp["ack_raw"]):
            return make_cause(
                "kernel",
                "ack-fin",
                f"kernel ({node}) acknowledges FIN frame {fin[1]}",
                answers=fin[1],
                node=node,
            )
        if "duplicate_ack" in analysis:
            return make_cause(
                "kernel",
                "dup-ack",
                f"kernel ({node}) duplicate ACK: still expecting byte {acked} "
                f"(a later segment arrived out of order or a segment is missing)",
                node=node,
            )
        if "keep_alive" in analysis:
            return make_cause("kernel", "keepalive", f"kernel ({node}) TCP keep-alive probe", node=node)
        if "zero_window_probe" in analysis:
            return make_cause("kernel", "zero-window-probe", f"kernel ({node}) zero-window probe", node=node)
        reader = sender.reading_at(ts) if sender else None
        if prev and prev[0] == tcp["ack_raw"] and prev[1] != tcp.get("win", 0):
            inside = f", sent inside {call_label(reader)} as the application consumed data" if reader else ""
            return make_cause(
                "kernel",
                "window-update",
                f"kernel ({node}) window update: receive window now {tcp.get('win')}{inside}",
                [reader] if reader else [],
                node=node,
            )
        last_acked = conn.acked.get(src, 0)
        frames_in, ends_in = conn.data_frames[dst], conn.data_ends[dst]
        covered = frames_in[bisect_right(ends_in, last_acked) : bisect_right(ends_in, acked)]
        conn.acked[src] = max(last_acked, acked)
        frames = [f for _, _, f, _ in covered]
        what = f"bytes up to {acked}" + (
            f" (frame{'s' if len(frames) > 1 else ''} {', '.join(map(str, frames))})" if frames else ""
        )
        # "inside recv()" only when the timing shows it: the data was queued before that recv() began, and
        # the ACK left while it ran (reading opened the window). A recv() already blocked when the data came
        # proves nothing: the kernel acknowledges arriving data on its own.
        if reader and covered and reader["t_start_ns"] > covered[-1][3]:
            return make_cause(
                "kernel",
                "ack-in-recv",
                f"kernel ({node}) acknowledges {what}, sent inside {call_label(reader)} as the application "
                f"consumed the queued data",
                [reader],
                frames[-1],
                node=node,
            )
        if covered and ts - covered[-1][3] >= DELAYED_ACK_NS:
            ms = (ts - covered[-1][3]) / 1e6
            return make_cause(
                "kernel",
                "delayed-ack",
                f"kernel ({node}) delayed ACK of {what}, {ms:.0f} ms after the data",
                answers=frames[-1],
                node=node,
            )
        return make_cause(
            "kernel",
            "ack",
            f"kernel ({node}) acknowledges {what}",
            answers=frames[-1] if frames else None,
            node=node,
        )
