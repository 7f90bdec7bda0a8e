"""Conversations: TCP streams and UDP exchanges, with per-direction sequence state (scapy's TCPSession idea).

``FlowTable.tcp(src, sport, dst, dport, flags, seq, ack, win, len, number, ts, iface, wscale)`` and
``FlowTable.udp(src, sport, dst, dport, number, ts, iface)`` are called once per packet in capture order,
with the header fields the decoder (or the fast path) read. They return what the packet record needs
(stream id, direction, relative seq/ack, analysis flags, role code) and facts, not sentences: a
segment's role text is made in ``roles`` from the facts on its ``TcpInfo``. They keep just enough
per-stream state to answer that. Streams that are closed (FIN both ways or RST) and quiet
for a while, and any stream idle for long, are evicted and handed to ``on_done`` with their summary, so
memory stays flat however many connections a capture holds.

Analysis flags are tshark's (``tcp.analysis.*``), with its definitions; on the 61 readable captures of the
public corpus they equal tshark's per packet (``test_analysis_flags_are_tsharks``): retransmission (data
already sent in this direction), fast_retransmission (after >= 2 duplicate ACKs; also a retransmission),
out_of_order (comes within the first round trip after the highest segment — filling a gap is no reason: a
resent segment that fills the gap a loss left is a retransmission, as tshark says), lost_segment (a gap:
previous segment not captured), duplicate_ack (same ACK, window and next sequence number, window open),
zero_window, zero_window_probe (one byte at the next sequence number while the peer's window is 0; it does not
move the next sequence number, so the data after it is no retransmission), window_update (same ACK, new
window), keep_alive (0 or 1 byte one below the next sequence number), keep_alive_ack and zero_window_probe_ack
(the repeated ACK that answers one: not a duplicate ACK). Not computed: window_full and ack_lost_segment (they
need the bytes in flight).

Several capture points in one file (a routed lab merges the captures of every link): a conversation keeps
one stream id across interfaces (like tshark's ``tcp.stream``), but everything that asks "was this seen
before?" -- expected sequence numbers, last ACK and window, duplicate-ACK counts, "SYN (again)",
"FIN (again)", which frame a reply answers -- is kept per interface (``TcpLink``), so the same segment seen
on the next link is not a retransmission. Stream-level summaries (handshake frames, FIN/RST senders) keep
the first occurrence on any interface; packet and byte counts are those of the interface where the
conversation was first seen (its ``home``), so a segment forwarded over four links counts once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lab.analysis.catalogue import TCP_PORTS, UDP_PORTS
from lab.records import SCHEMA_VERSION

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128
M32 = 0xFFFFFFFF
OOO_DEFAULT_NS = 3_000_000  # tshark's out-of-order window when the first round trip is unknown
FAST_RETRANSMIT_NS = 20_000_000  # tshark: a fast retransmission comes within 20 ms of the duplicate ACKs
HALF = 0x80000000
FLAG_NAMES = ((FIN, "FIN"), (SYN, "SYN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"), (URG, "URG"),
              (ECE, "ECE"), (CWR, "CWR"), (0x100, "AE"))
_FLAG_STR: dict[int, str] = {}
SIDE = ("client", "server")
NO_SCALE = (None, None)  # a stream's window scales before its handshake told them (one shared tuple)
_SCALES: dict[tuple, tuple] = {NO_SCALE: NO_SCALE}  # every distinct pair once, shared by the streams
_new_info = object.__new__


def flag_str(fl: int) -> str:
    """``"SYN,ACK"`` for 0x012, cached (a capture has few distinct flag sets)."""
    s = _FLAG_STR.get(fl)
    if s is None:
        s = _FLAG_STR[fl] = ",".join(n for bit, n in FLAG_NAMES if fl & bit)
    return s


def _ge(a: int, b: int) -> bool:
    """a >= b in 32-bit sequence space."""
    return ((a - b) & M32) < HALF


def _well_known(port: int) -> bool:
    return port < 1024 or port in TCP_PORTS or port in UDP_PORTS


class TcpLink:
    """What one capture interface has seen of one TCP stream: the "seen before?" state of each direction."""

    __slots__ = ("nxt", "lastack", "lastwin", "dupacks", "data_seen", "syn_frame", "synack_frame",
                 "synack_seq", "synack_ack", "hsack_frame", "fin_from", "nxt_ts", "syn_ts", "first_rtt",
                 "lastack_ts", "probe", "fin_wait")

    def __init__(self) -> None:
        self.nxt: list[int | None] = [None, None]
        self.nxt_ts: list[int | None] = [None, None]  # when nxt last moved forward
        self.syn_ts: int | None = None  # the latest SYN
        self.first_rtt: int | None = None  # SYN to the handshake's ACK: how late "out of order" still is
        self.lastack: list[int | None] = [None, None]
        self.lastack_ts: list[int | None] = [None, None]  # when lastack was last sent
        self.probe: list[str | None] = [None, None]  # the last segment was a keep-alive or zero-window probe
        self.lastwin: list[int | None] = [None, None]
        self.dupacks = [0, 0]
        self.data_seen = [False, False]
        self.syn_frame: int | None = None
        self.synack_frame: int | None = None
        self.synack_seq: int | None = None
        self.synack_ack: int | None = None
        self.hsack_frame: int | None = None
        self.fin_from: list[str] = []
        # each direction's FIN not yet acknowledged: (its frame, the ACK number that acknowledges it); made
        # at the first FIN, so a stream costs nothing more before its teardown
        self.fin_wait: list[tuple[int, int] | None] | None = None


class TcpStream:
    __slots__ = ("id", "client", "server", "client_by", "isn", "syn_frame", "syn_seq", "synack_frame",
                 "synack_seq", "synack_ack", "hsack_frame", "fin_from", "fin_frames", "rst_from",
                 "rst_frames", "packets", "payload", "first_frame", "last_frame", "last_ts", "closed", "app",
                 "analysis", "first_ts", "home", "link", "links", "wsopt", "shift")

    def __init__(self, sid: int, client: tuple, server: tuple, client_by: str, number: int, ts: int | None,
                 home: int = 0):
        self.id = sid
        self.client = client
        self.server = server
        self.client_by = client_by
        self.isn: list[int | None] = [None, None]
        self.syn_frame = self.syn_seq = self.synack_frame = self.synack_seq = self.synack_ack = None
        self.hsack_frame = None
        self.fin_from: list[str] = []
        self.fin_frames: list[int] = []
        self.rst_from: list[str] = []
        self.rst_frames: list[int] = []
        self.packets = [0, 0]
        self.payload = [0, 0]
        self.first_frame = self.last_frame = number
        self.first_ts = self.last_ts = ts
        self.closed = False
        self.app: str | None = None
        self.analysis: dict[str, int] = {}
        self.home = home  # the interface the stream was first seen on
        self.link = TcpLink()  # ... and what that interface has seen
        self.links: dict[int, TcpLink] | None = None  # other interfaces, in a merged multi-link capture
        # each side's SYN: its window scale option (-1 without one); then the shift in effect per direction,
        # None until both SYNs were seen. Pairs of ``_SCALES``: a stream holds no tuple of its own.
        self.wsopt: tuple[int | None, int | None] = NO_SCALE
        self.shift: tuple[int | None, int | None] = NO_SCALE

    def link_of(self, iface: int) -> TcpLink:
        """The per-interface state for ``iface`` (made on first use)."""
        if iface == self.home:
            return self.link
        links = self.links
        if links is None:
            links = self.links = {}
        lk = links.get(iface)
        if lk is None:
            lk = links[iface] = TcpLink()
        return lk

    def summary(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "proto": "tcp", "stream": self.id,
            "client": {"addr": self.client[0], "port": self.client[1]},
            "server": {"addr": self.server[0], "port": self.server[1]},
            "client_determined_by": self.client_by, "app": self.app,
            "packets_c2s": self.packets[0], "packets_s2c": self.packets[1],
            "payload_bytes_c2s": self.payload[0], "payload_bytes_s2c": self.payload[1],
            "first_frame": self.first_frame, "last_frame": self.last_frame,
            "syn_frame": self.syn_frame, "syn_ack_frame": self.synack_frame,
            "handshake_ack_frame": self.hsack_frame,
            "handshake_complete": None not in (self.syn_frame, self.synack_frame, self.hsack_frame),
            "fin_from": list(self.fin_from), "fin_frames": list(self.fin_frames),
            "rst_from": list(self.rst_from), "rst_frames": list(self.rst_frames),
            "teardown": ("rst" if self.rst_from else
                         f"fin ({self.fin_from[0]} first)" if self.fin_from else None),
            "analysis_counts": dict(sorted(self.analysis.items())),
        }


class UdpConv:
    __slots__ = ("id", "a", "b", "packets", "last_frame_dir", "first_frame", "last_frame", "last_ts", "app",
                 "answered", "home", "other_dirs")

    def __init__(self, cid: int, a: tuple, b: tuple, number: int, ts: int | None, home: int = 0) -> None:
        self.id = cid
        self.a = a
        self.b = b
        self.packets = [0, 0]
        self.last_frame_dir: list[int | None] = [None, None]  # on the home interface
        self.first_frame = self.last_frame = number
        self.last_ts = ts
        self.app: str | None = None
        self.answered = 0
        self.home = home
        self.other_dirs: dict[int, list[int | None]] | None = None  # last_frame_dir of other interfaces

    def summary(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "proto": "udp", "stream": self.id, "app": self.app,
            "first_sender": {"addr": self.a[0], "port": self.a[1]},
            "first_receiver": {"addr": self.b[0], "port": self.b[1]},
            "packets_from_first_sender": self.packets[0], "packets_other_direction": self.packets[1],
            "responses": self.answered, "first_frame": self.first_frame, "last_frame": self.last_frame,
        }


class TcpInfo:
    """What one TCP segment's record needs from the flow table: facts, not sentences.

    ``role`` is the segment's role code (``syn``, ``syn-ack``, ``handshake-ack``, ``data``, ``ack``,
    ``fin``, ``rst``); the facts after it are what ``roles`` needs to say it in words
    (``roles.tcp_text``) and to infer its cause (``roles.cause_tcp``)."""

    __slots__ = ("stream", "from_client", "rel_seq", "rel_ack", "analysis", "role", "first_data",
                 "answers", "st", "wshift", "tlen", "win", "again", "closes_first", "dupacks")
    stream: int
    from_client: bool
    rel_seq: int
    rel_ack: int
    analysis: list[str]  # tshark's tcp.analysis flags, in the order they were found
    role: str
    first_data: bool  # the first payload of this direction on this interface
    answers: int | None  # the frame this segment answers (a SYN, SYN-ACK or FIN), on this interface
    st: TcpStream
    wshift: int | None
    tlen: int  # payload bytes
    win: int  # the window field as sent (unscaled)
    # set only where a role text reads it (a slot costs a store on every segment of the hot path):
    again: bool  # role syn or fin: this side already sent one on this interface
    closes_first: bool  # role fin: the other side has sent none on this interface (this side closes first)
    dupacks: int  # flagged duplicate_ack: how many in a row this side has sent on this interface

    def __init__(self) -> None:
        self.analysis: list[str] = []
        self.first_data = False
        self.answers: int | None = None
        self.tlen = self.win = self.dupacks = 0
        self.again = self.closes_first = False


class FlowTable:
    """Per-capture conversation state; see the module docstring."""

    CLOSED_KEEP_NS = 2 * 1_000_000_000  # late ACKs and retransmitted FINs come within this
    IDLE_NS = 300 * 1_000_000_000
    MAX_CLOSED = 4_096
    MAX_LIVE = 100_000

    def __init__(self, on_done: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._tcp: dict[tuple, tuple[TcpStream, int]] = {}
        self._udp: dict[tuple, tuple[UdpConv, int]] = {}
        self._closed: list[TcpStream] = []
        self.on_done = on_done
        self.tcp_count = 0
        self.udp_count = 0
        self.handshakes = 0
        self.teardown_fin = 0
        self.teardown_rst = 0
        self.udp_pairs = 0
        self._tick = 0

    # -- TCP ------------------------------------------------------------------------------------------
    def tcp(self, src: str, sport: int, dst: str, dport: int, fl: int, seq: int, ack: int, win: int,
            tlen: int, number: int, ts: int | None, iface: int = 0, wscale: int | None = None) -> TcpInfo:
        """Put one segment in its stream; ``iface`` is the capture interface it was seen on, ``wscale`` a
        SYN's window scale option. ``info.wshift`` is the scale of this segment's window: 0 on a SYN
        (never scaled), the shift both SYNs agreed on (RFC 7323: 0 unless both carry the option), or None
        when the capture holds no handshake to tell.

        The steps, in order: the stream (``_stream``), the handshake (``_handshake``), relative sequence
        numbers, analysis flags (this interface's view), the teardown (``_rst``, ``_fin``), then data or
        ACK. A step that most segments skip is a method, called only when the segment needs it; sequence
        numbers, analysis flags and the data/ACK role run for every segment and stay inline here: as two
        more calls they cost about 0.1 us a segment, 1% of ``lab analyze``'s CPU on a 200,000-packet
        capture, more than this function may spend."""
        key = (src, sport, dst, dport)
        ent = self._tcp.get(key)
        syn_only = fl & (SYN | ACK) == SYN
        if ent is None or syn_only:
            ent = self._stream(key, ent, syn_only, fl, seq, number, ts, iface)
        st, d = ent
        o = 1 - d
        if iface == st.home:
            lk = st.link
            st.packets[d] += 1
            st.payload[d] += tlen
        else:
            lk = st.link_of(iface)
        st.last_frame = number
        st.last_ts = ts
        info = _new_info(TcpInfo)  # no __init__ frame (hot path): every slot is set below, but ``again``,
        # ``closes_first`` and ``dupacks`` only where they apply (see TcpInfo)
        info.stream = st.id
        info.st = st
        info.from_client = d == 0
        info.answers = None
        info.first_data = False
        info.analysis = an = []
        info.tlen = tlen
        info.win = win
        if fl & SYN:
            info.wshift = 0
            self._syn_scale(st, d, wscale)
        else:
            info.wshift = st.shift[d]

        # handshake bookkeeping (a SYN, a SYN-ACK, or a client's ACK before the handshake is complete)
        role: str | None = None
        if fl & SYN or ((lk.hsack_frame is None or st.hsack_frame is None) and d == 0
                        and fl & (SYN | RST | ACK) == ACK):
            role = self._handshake(st, lk, info, d, fl, seq, ack, tlen, number, ts)

        # relative sequence numbers (ISN = SYN's seq; without a SYN, first seq - 1), one per stream
        isn = st.isn[d]
        if isn is None:
            isn = st.isn[d] = (seq - 1) & M32
        info.rel_seq = (seq - isn) & M32
        oisn = st.isn[o]
        if fl & ACK:
            if oisn is None:
                oisn = st.isn[o] = (ack - 1) & M32
            info.rel_ack = (ack - oisn) & M32
        else:
            info.rel_ack = 0

        # analysis (this interface's view)
        seglen = tlen + (fl & FIN) + ((fl & SYN) >> 1)  # SYN and FIN take one sequence number each
        nxt = lk.nxt[d]
        probe = None
        if not fl & RST:
            if win == 0 and not fl & (SYN | FIN):
                an.append("zero_window")
            if nxt is not None:
                if tlen == 1 and seq == nxt and not fl & (SYN | FIN) and lk.lastwin[o] == 0:
                    an.append(probe := "zero_window_probe")
                elif tlen <= 1 and not fl & (SYN | FIN) and seq == (nxt - 1) & M32:
                    an.append(probe := "keep_alive")  # none or one byte, one below the next sequence number
                elif seglen and seq != nxt and (((nxt - seq - seglen) & M32) < HALF
                                                or ((seq - nxt) & M32) >= HALF):
                    kind = self._retrans_kind(lk, d, seq, seglen, ts)
                    an.append(kind)
                    if kind == "fast_retransmission":  # tshark flags both
                        an.append("retransmission")
                elif seglen and seq != nxt and ((seq - nxt) & M32) < HALF:
                    an.append("lost_segment")
            # a probe's byte is sent again until the window opens: it does not move the next sequence number
            if probe != "zero_window_probe" and (nxt is None or ((seq + seglen - nxt) & M32) < HALF):
                end = (seq + seglen) & M32
                if end != nxt:
                    lk.nxt_ts[d] = ts
                lk.nxt[d] = end
            if fl & ACK and not seglen:
                la = lk.lastack[d]
                answered = lk.probe[o]  # the other side's last segment was a probe: this may answer it
                if (answered == "zero_window_probe" and not win and lk.lastwin[d] == 0 and seq == nxt
                        and la is not None and (ack == la or ack == (la + 1) & M32) and not fl & (SYN | FIN)):
                    an.append("zero_window_probe_ack")  # the window is still 0 (the byte may be taken)
                elif la == ack and not fl & (SYN | FIN):
                    # as tshark: only at the next sequence number (not a keep-alive) and with an open window
                    if not win or seq != nxt:
                        pass
                    elif lk.lastwin[d] == win:
                        if answered == "keep_alive":
                            an.append("keep_alive_ack")
                        elif lk.nxt[o] is not None or lk.data_seen[o]:
                            an.append("duplicate_ack")
                            lk.dupacks[d] += 1
                            info.dupacks = lk.dupacks[d]
                    else:
                        an.append("window_update")
                elif la != ack:
                    lk.dupacks[d] = 0
            elif fl & ACK:
                lk.dupacks[d] = 0
            if fl & ACK:
                lk.lastack[d] = ack
                lk.lastack_ts[d] = ts
                lk.lastwin[d] = win
        lk.probe[d] = probe
        if an:
            for a in an:
                st.analysis[a] = st.analysis.get(a, 0) + 1

        if fl & RST:
            role = self._rst(st, lk, info, d, number, role)
        if fl & FIN:
            role = self._fin(st, lk, info, d, seq, seglen, number, role)
        if role is None:
            if tlen:
                role = "data"
                if not lk.data_seen[d]:
                    lk.data_seen[d] = True
                    info.first_data = True
            else:
                role = "ack"
                fw = lk.fin_wait
                if fw is not None and fl & ACK:
                    fin = fw[o]
                    if fin is not None and ack == fin[1]:
                        info.answers = fin[0]  # the first ACK of the peer's FIN answers that FIN
                        fw[o] = None
        elif role in ("fin", "rst") and tlen and not lk.data_seen[d]:
            lk.data_seen[d] = True
            info.first_data = True
        info.role = role
        return info

    def _stream(self, key: tuple, ent: tuple[TcpStream, int] | None, syn_only: bool, fl: int, seq: int,
                number: int, ts: int | None, iface: int) -> tuple[TcpStream, int]:
        """Stream lookup for a segment of a new conversation, or a SYN (``ent``: the stream its addresses
        map to, if any): (stream, direction 0 = from the client). A SYN that is not the stream's own opens
        a new stream on the same ports once the old one is closed or has carried more than its SYN; a
        new stream's client is the SYN's sender, the SYN-ACK's receiver, or else the side on the
        ephemeral (higher, not well-known) port."""
        src, sport, dst, dport = key
        if ent is not None:
            st0 = ent[0]
            if st0.syn_seq is not None and st0.syn_seq == seq and (
                    st0.link_of(iface).syn_frame is None if st0.closed else True):
                return ent  # the stream's own SYN, again or seen on another interface
            if not (st0.closed or st0.syn_seq is not None or st0.packets[0] + st0.packets[1] > 1):
                return ent
            self._finish(st0)
        if syn_only:
            client, server, by = (src, sport), (dst, dport), "syn"
        elif fl & (SYN | ACK) == SYN | ACK:
            client, server, by = (dst, dport), (src, sport), "syn-ack"
        elif _well_known(sport) and not _well_known(dport) or (
                _well_known(sport) == _well_known(dport) and sport < dport):
            client, server, by = (dst, dport), (src, sport), "port-heuristic"
        else:
            client, server, by = (src, sport), (dst, dport), "port-heuristic"
        st = TcpStream(self.tcp_count, client, server, by, number, ts, iface)
        self.tcp_count += 1
        if client == (src, sport):
            self._tcp[key] = ent = (st, 0)
            self._tcp[(dst, dport, src, sport)] = (st, 1)
        else:
            self._tcp[key] = ent = (st, 1)
            self._tcp[(dst, dport, src, sport)] = (st, 0)
        self._tick += 1
        if self._tick >= 2048:
            self._tick = 0
            self._evict(ts)
        return ent

    def _handshake(self, st: TcpStream, lk: TcpLink, info: TcpInfo, d: int, fl: int, seq: int, ack: int,
                   tlen: int, number: int, ts: int | None) -> str | None:
        """Handshake bookkeeping of a SYN, a SYN-ACK, or a client's ACK while the handshake is not
        complete: the stream's first occurrence of each step (frame numbers, flag-derived as in the corpus
        truth) and this interface's own (for the role and the frame it answers). Returns the role
        (``syn``, ``syn-ack``, ``handshake-ack``), or None for an ACK that is not the handshake's."""
        role: str | None = None
        if not fl & ACK:  # a SYN alone
            if st.isn[d] is None or st.syn_frame is None:
                st.isn[d] = seq
            if st.syn_frame is None:
                st.syn_frame, st.syn_seq = number, seq
                if st.synack_frame is not None and st.synack_ack != (seq + 1) & M32:
                    st.synack_frame = None
            lk.syn_ts = ts
            if lk.syn_frame is None:
                lk.syn_frame = number
                if lk.synack_frame is not None and lk.synack_ack != (seq + 1) & M32:
                    lk.synack_frame = None
                info.again = False
            else:
                info.again = True
            role = "syn"
        elif fl & SYN:  # a SYN-ACK
            st.isn[d] = seq
            if d == 1 and (st.syn_seq is None or ack == (st.syn_seq + 1) & M32):
                if st.synack_frame is None:
                    st.synack_frame, st.synack_seq, st.synack_ack = number, seq, ack
                if lk.synack_frame is None:
                    lk.synack_frame, lk.synack_seq, lk.synack_ack = number, seq, ack
                    if lk.syn_frame is not None:
                        info.answers = lk.syn_frame
            role = "syn-ack"
        else:  # the client's ACK: completes the handshake when it acknowledges the SYN-ACK
            if (st.hsack_frame is None and st.synack_frame is not None
                    and ack == (st.synack_seq + 1) & M32):
                st.hsack_frame = number
                if st.syn_frame is not None:
                    self.handshakes += 1
            if (lk.hsack_frame is None and lk.synack_frame is not None
                    and ack == (lk.synack_seq + 1) & M32):
                lk.hsack_frame = number
                if lk.syn_ts is not None and ts is not None:
                    lk.first_rtt = ts - lk.syn_ts
                if tlen == 0 and not fl & FIN:
                    role = "handshake-ack"
                    info.answers = lk.synack_frame
        return role

    def _rst(self, st: TcpStream, lk: TcpLink, info: TcpInfo, d: int, number: int, role: str | None
             ) -> str | None:
        """Teardown by a RST: the stream is closed; the role, unless the handshake gave one, is ``rst``,
        and a server's RST to a SYN that got no SYN-ACK on this interface answers (refuses) that SYN."""
        side = SIDE[d]
        if side not in st.rst_from:
            st.rst_from.append(side)
            if not st.closed:
                self.teardown_rst += 1
        st.rst_frames.append(number)
        st.closed = True
        self._closed.append(st)
        if role is None:
            role = "rst"
            if lk.synack_frame is None and lk.syn_frame is not None and d == 1:
                info.answers = lk.syn_frame  # refused: the server's RST answers the client's SYN
        return role

    def _fin(self, st: TcpStream, lk: TcpLink, info: TcpInfo, d: int, seq: int, seglen: int, number: int,
             role: str | None) -> str | None:
        """Teardown by a FIN: who closed first (stream-wide, and on this interface for the role's facts),
        the ACK number that will acknowledge it, and closed once both sides sent one."""
        side = SIDE[d]
        if side not in st.fin_from:
            st.fin_from.append(side)
            if len(st.fin_from) == 1 and not st.rst_from:
                self.teardown_fin += 1
        if side not in lk.fin_from:
            lk.fin_from.append(side)
            fw = lk.fin_wait
            if fw is None:
                fw = lk.fin_wait = [None, None]
            fw[d] = (number, (seq + seglen) & M32)
            first = len(lk.fin_from) == 1
        else:
            first = None
        st.fin_frames.append(number)
        if role is None:
            role = "fin"
            info.again = first is None
            info.closes_first = first is True
        if len(st.fin_from) >= 2 and not st.closed:
            st.closed = True
            self._closed.append(st)
        return role

    @staticmethod
    def _syn_scale(st: TcpStream, d: int, wscale: int | None) -> None:
        """A SYN of direction ``d`` with window scale option ``wscale``: once both sides' SYNs were seen,
        the shift in effect (RFC 7323: each side's own option, or 0 both ways unless both carry one)."""
        w0, w1 = st.wsopt
        ws = -1 if wscale is None else wscale
        pair = (ws, w1) if d == 0 else (w0, ws)
        st.wsopt = pair = _SCALES.setdefault(pair, pair)
        w0, w1 = pair
        if w0 is not None and w1 is not None:
            st.shift = pair if w0 >= 0 and w1 >= 0 else _SCALES.setdefault((0, 0), (0, 0))

    def _retrans_kind(self, lk: TcpLink, d: int, seq: int, seglen: int, ts: int | None) -> str:
        """A segment that does not advance the sequence: answers duplicate ACKs (within 20 ms of the last),
        came too soon after the highest segment to be a resend (tshark's test: within the first round trip,
        3 ms when unknown), or else a retransmission — also when it fills a gap (tshark has no gap rule)."""
        o = 1 - d
        last_ack = lk.lastack_ts[o]
        if (lk.dupacks[o] >= 2 and lk.lastack[o] == seq and ts is not None and last_ack is not None
                and ts - last_ack < FAST_RETRANSMIT_NS):
            return "fast_retransmission"
        since = lk.nxt_ts[d]
        if (ts is not None and since is not None and ts - since < (lk.first_rtt or OOO_DEFAULT_NS)
                and lk.nxt[d] != (seq + seglen) & M32):
            return "out_of_order"
        return "retransmission"

    # -- UDP ------------------------------------------------------------------------------------------
    def udp(self, src: str, sport: int, dst: str, dport: int, number: int, ts: int | None, iface: int = 0
            ) -> tuple[UdpConv, int, int | None]:
        """Return (conversation, direction 0 = from the first sender, frame this one answers on the same
        capture interface ``iface``).

        Only the first receiver answers: its datagram answers the first sender's latest datagram not yet
        answered on that interface (always earlier, always the opposite direction)."""
        key = (src, sport, dst, dport)
        ent = self._udp.get(key)
        if ent is None:
            conv = UdpConv(self.udp_count, (src, sport), (dst, dport), number, ts, iface)
            self.udp_count += 1
            self._udp[key] = ent = (conv, 0)
            if key != (dst, dport, src, sport):
                self._udp[(dst, dport, src, sport)] = (conv, 1)
            self._tick += 1
            if self._tick >= 2048:
                self._tick = 0
                self._evict(ts)
        conv, d = ent
        conv.last_frame = number
        conv.last_ts = ts
        if iface == conv.home:
            conv.packets[d] += 1
            lfd = conv.last_frame_dir
        else:  # another capture point of the same conversation: answers on that link, counted once
            others = conv.other_dirs
            if others is None:
                others = conv.other_dirs = {}
            lfd = others.get(iface)
            if lfd is None:
                lfd = others[iface] = [None, None]
        # request/response pairing: the first sender asks, the other side answers its latest unanswered
        # request; a first sender's next datagram is its next request, never a response (even when it was
        # sent after the answer to its previous one arrived)
        answers = None
        if d == 1:
            answers = lfd[0]
            if answers is not None:
                lfd[0] = None
                if iface == conv.home:
                    conv.answered += 1
                    self.udp_pairs += 1
        lfd[d] = number
        return conv, d, answers

    # -- eviction -------------------------------------------------------------------------------------
    def _finish(self, st: TcpStream) -> None:
        for key in ((st.client[0], st.client[1], st.server[0], st.server[1]),
                    (st.server[0], st.server[1], st.client[0], st.client[1])):
            ent = self._tcp.get(key)
            if ent is not None and ent[0] is st:
                del self._tcp[key]
        if self.on_done is not None:
            self.on_done(st.summary())

    def _evict(self, now: int | None) -> None:
        if now is None:
            return
        keep: list[TcpStream] = []
        limit = now - self.CLOSED_KEEP_NS
        over = len(self._closed) - self.MAX_CLOSED
        for i, st in enumerate(self._closed):
            ent = self._tcp.get((st.client[0], st.client[1], st.server[0], st.server[1]))
            if ent is None or ent[0] is not st:
                continue  # already finished (port reuse)
            if i < over or (st.last_ts is not None and st.last_ts < limit):
                self._finish(st)
            else:
                keep.append(st)
        self._closed = keep
        if len(self._tcp) > 2 * self.MAX_LIVE:
            idle = now - self.IDLE_NS
            for st in {e[0] for e in self._tcp.values() if e[0].last_ts is not None and e[0].last_ts < idle}:
                self._finish(st)
        if len(self._udp) > 4096:
            idle = now - 60 * 1_000_000_000
            for key in [k for k, e in self._udp.items() if e[0].last_ts is not None and e[0].last_ts < idle]:
                conv, d = self._udp.pop(key)
                if d == 0 and self.on_done is not None:
                    self.on_done(conv.summary())

    def close(self) -> None:
        """Finish every stream still open (end of capture)."""
        seen: set[int] = set()
        for st, _d in list(self._tcp.values()):
            if id(st) not in seen:
                seen.add(id(st))
                self._finish(st)
        done: set[int] = set()
        for conv, _d in list(self._udp.values()):
            if id(conv) not in done:
                done.add(id(conv))
                if self.on_done is not None:
                    self.on_done(conv.summary())
        self._udp.clear()
