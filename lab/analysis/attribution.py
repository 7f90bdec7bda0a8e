"""Packet -> socket call attribution: which call (or which kernel duty) put each packet on the wire.

Exact, not guessed from timestamps: a TCP data segment's sequence range, made relative to its direction's
ISN, is a byte range of the sender's stream; the tracer records every call's running byte offsets, so the
calls whose ``[sent_before, sent_after)`` overlap that range are the ones whose bytes the segment carries
(one call may span many segments; one segment may carry bytes of several calls), and the receiver's calls
whose ``[recv_before, recv_after)`` overlap it are the ones that consumed them. Time is used only to pick
between sockets that reuse the same ports, and to name ACK timing (inside recv(), delayed).

Packets the kernel sends on its own (SYN-ACK, handshake ACK, pure ACKs, retransmissions, RST for a closed
port, ICMP errors, ARP/NDP) get source ``kernel``, the duty that made the kernel send them, and the frame or
call they answer. ``inferred`` and ``unexplained`` are honest failures: they count against coverage.

Interface: ``Attributor(calls)`` once per run with all of ``calls.jsonl``; then ``cause(rec)`` for every
packet record (packets.jsonl dict without ``cause``) in capture order, each exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Call = dict[str, Any]
Rec = dict[str, Any]
Endpoint = tuple[str, int]

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
TOL_NS = 2_000_000  # a packet is captured after the call that sent it began; allow scheduler slack
DELAYED_ACK_NS = 35_000_000  # Linux's delayed-ACK timer is at least 40 ms
EXPLAINED = ("call", "kernel", "lab")
CONNECT_CALLS = {"connect", "connect_ex"}
CLOSE_CALLS = {"close", "shutdown"}
SENDING_CALLS = CONNECT_CALLS | {"sendto", "send", "sendall", "sendmsg", "write", "sendmmsg", "writev"}
WILDCARD = {"0.0.0.0", "::", ""}
ICMP_ERRORS = {4: {3, 4, 5, 11, 12}, 6: {1, 2, 3, 4}}


def norm_ip(ip: str | None) -> str | None:
    """``::ffff:198.18.0.1`` (a v4 peer of a dual-stack socket) is the same host as ``198.18.0.1``."""
    if ip and ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


def _ep(addr: Any) -> Endpoint | None:
    if isinstance(addr, list | tuple) and len(addr) >= 2 and isinstance(addr[1], int):
        return (norm_ip(str(addr[0])) or "", addr[1])
    return None


def call_label(call: Call) -> str:
    return f"{call.get('node', '?')} {call.get('call', '?')}() #{call.get('id', '?')}"


def _is_linger0(args: dict[str, Any]) -> bool:
    """SO_LINGER with l_onoff=1, l_linger=0, however the tracer spelled the value."""
    if "LINGER" not in str(args.get("optname", "")).upper() and args.get("optname") != 13:
        return False
    value = args.get("value")
    text = str(value).replace(" ", "").lower()
    return (
        value in ([1, 0], (1, 0))
        or text.startswith("0100000000000000")
        or ("l_onoff=1" in text and "l_linger=0" in text)
        or text == r"b'\x01\x00\x00\x00\x00\x00\x00\x00'"
    )


def _ends_writing(call: Call) -> bool:
    """A call after which the kernel sends FIN: close() of the last reference, shutdown(SHUT_WR/RDWR),
    or the process exiting with the socket open. A close() that only dropped a makefile() or dup()
    reference, or closed an already closed socket, ends nothing."""
    name, args = call.get("call"), call.get("args") or {}
    if call.get("error") or name not in CLOSE_CALLS | {"exit"}:
        return False
    if args.get("deferred") or args.get("already_closed") or args.get("last_ref") is False:
        return False
    return name == "exit" or _shutdown_writes(call)


def _at_exit(call: Call) -> bool:
    return call.get("call") == "exit" or (call.get("args") or {}).get("via") == "gc"


def _shutdown_writes(call: Call) -> bool:
    if call.get("call") == "close":
        return True
    how = (call.get("args") or {}).get("how")
    return how in (1, 2, "SHUT_WR", "SHUT_RDWR", "1", "2")


@dataclass
class _Sock:
    """Everything the call log says about one socket, in time order."""

    sid: str
    node: str
    pid: int | None
    stype: str | None = None
    local: Endpoint | None = None
    peer: Endpoint | None = None
    calls: list[Call] = field(default_factory=list)
    listen: Call | None = None
    connect: Call | None = None
    sends: list[Call] = field(default_factory=list)
    recvs: list[Call] = field(default_factory=list)
    dgram_sends: list[Call] = field(default_factory=list)
    dgram_recvs: list[Call] = field(default_factory=list)
    first_ns: int = 0
    linger0: bool = False

    @property
    def closers(self) -> list[Call]:
        return [c for c in self.calls if _ends_writing(c)]

    def sent_total(self, before_ns: int) -> int:
        return max((c.get("sent_after") or 0 for c in self.calls if c["t_start_ns"] <= before_ns), default=0)


@dataclass
class _Conn:
    """Per-TCP-connection state built while packets stream by."""

    isn: dict[Endpoint, int] = field(default_factory=dict)
    client: Endpoint | None = None
    syn_frame: int | None = None
    syn_count: int = 0
    synack_frame: int | None = None
    established: bool = False
    sent_end: dict[Endpoint, int] = field(default_factory=lambda: defaultdict(int))
    data_frames: dict[Endpoint, list[tuple[int, int, int, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # (start, end, frame, ts)
    fin: dict[Endpoint, tuple[int, int]] = field(default_factory=dict)  # endpoint -> (offset, frame)
    acked: dict[Endpoint, int] = field(default_factory=dict)  # acker -> highest acked offset of the peer
    last_ack: dict[Endpoint, tuple[int, int]] = field(default_factory=dict)  # acker -> (ack, win)
    last_frame: dict[Endpoint, int] = field(default_factory=dict)


def _cause(
    source: str, rule: str, text: str, calls: Iterable[Call] = (), answers: int | None = None, **extra: Any
) -> dict[str, Any]:
    ids = [c["id"] for c in calls if "id" in c]
    # "calls" are the calls that produced the packet; a kernel packet only acts for (or answers) calls
    out: dict[str, Any] = {
        "source": source,
        "rule": rule,
        "text": text,
        "calls": ids if source == "call" else [],
        "answers": answers,
    }
    if source != "call" and ids:
        out["related"] = ids
    out.update({k: v for k, v in extra.items() if v not in (None, [], "")})
    return out


class Attributor:
    """Attribute packets of one run to the calls in its call log (see the module docstring)."""

    def __init__(
        self,
        calls: Iterable[Call],
        *,
        ip_nodes: dict[str, str] | None = None,
        mac_nodes: dict[str, str] | None = None,
    ) -> None:
        """``ip_nodes``/``mac_nodes`` (from the topology, when known) name the node behind an address the
        call log never shows, such as an IPv6 link-local source of the kernel's own packets."""
        self.calls = sorted(calls, key=lambda c: (c.get("t_start_ns", 0), c.get("id", 0)))
        self.socks: dict[str, _Sock] = {}
        self.ip_nodes: dict[str, str] = dict(ip_nodes or {})
        self.mac_nodes = {k.lower(): v for k, v in (mac_nodes or {}).items()}
        self._index_calls()
        self.conns: dict[tuple[str, Endpoint, Endpoint], _Conn] = {}
        self._matched: set[tuple[str, int]] = set()  # (interface, call id) of matched datagram calls
        self._frag_cause: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._last_by_flow: dict[tuple[Any, ...], int] = {}
        self._arp_requests: dict[tuple[str, str], int] = {}
        self._echo_requests: dict[tuple[str, str], int] = {}
        self._ns_frames: dict[str, int] = {}

    # -- the call log ------------------------------------------------------------------------------------
    def _sock(self, call: Call, sid: str | None = None) -> _Sock:
        sid = sid or str(call.get("sock"))
        sock = self.socks.get(sid)
        if sock is None:
            sock = self.socks[sid] = _Sock(
                sid, str(call.get("node", "?")), call.get("pid"), first_ns=call.get("t_start_ns", 0)
            )
        return sock

    def _index_calls(self) -> None:
        for call in self.calls:
            if call.get("sock") is None:
                continue
            sock = self._sock(call)
            sock.calls.append(call)
            sock.stype = sock.stype or call.get("type")
            local, peer = _ep(call.get("local")), _ep(call.get("peer"))
            if local and local[1]:
                sock.local = local
                if local[0] not in WILDCARD and not local[0].startswith("127."):
                    self.ip_nodes.setdefault(local[0], sock.node)
            if peer and peer[1]:
                sock.peer = sock.peer or peer
            name = call.get("call")
            if name == "listen" and not call.get("error"):
                sock.listen = sock.listen or call
            elif name in CONNECT_CALLS:
                sock.connect = sock.connect or call
            elif (
                name in ("accept", "accept4")
                and isinstance(call.get("ret"), dict)
                and call["ret"].get("sock")
            ):
                child = self._sock(call, str(call["ret"]["sock"]))
                child.stype = child.stype or "SOCK_STREAM"
                child.peer = child.peer or _ep(call["ret"].get("peer"))
                if child.local is None and sock.local:
                    child.local = sock.local
            elif name == "setsockopt" and _is_linger0(call.get("args") or {}):
                sock.linger0 = True
            if (call.get("sent_after") or 0) > (call.get("sent_before") or 0):
                sock.sends.append(call)
            if (call.get("recv_after") or 0) > (call.get("recv_before") or 0):
                sock.recvs.append(call)
            dgram = call.get("dgram")
            if dgram and not call.get("error"):
                if (call.get("sent_after") or 0) > (call.get("sent_before") or 0) or name.startswith(
                    ("send", "write")
                ):
                    sock.dgram_sends.append(call)
                else:
                    sock.dgram_recvs.append(call)
        # accepted sockets learn their local address from the listening socket's port at least
        self._by_tuple: dict[tuple[int, str, int], list[_Sock]] = defaultdict(list)
        self._listeners: dict[int, list[_Sock]] = defaultdict(list)
        self._udp_by_port: dict[int, list[_Sock]] = defaultdict(list)
        for sock in self.socks.values():
            if sock.local and sock.peer and sock.stype != "SOCK_DGRAM":
                self._by_tuple[(sock.local[1], sock.peer[0], sock.peer[1])].append(sock)
            if sock.listen and sock.local:
                self._listeners[sock.local[1]].append(sock)
            if sock.stype == "SOCK_DGRAM" and sock.local:
                self._udp_by_port[sock.local[1]].append(sock)
        self._connects_to: dict[Endpoint, list[_Sock]] = defaultdict(list)
        for sock in self.socks.values():
            if sock.connect:
                target = _ep((sock.connect.get("args") or {}).get("address")) or _ep(sock.connect.get("peer"))
                if target:
                    self._connects_to[target].append(sock)
        self._udp_socks = [s for socks in self._udp_by_port.values() for s in socks]

    def _tcp_sock(self, local: Endpoint, peer: Endpoint, ts: int) -> _Sock | None:
        """The socket at ``local`` talking to ``peer`` at time ``ts`` (latest one opened before it)."""
        cands = [
            s
            for s in self._by_tuple.get((local[1], peer[0], peer[1]), [])
            if s.local is None
            or s.local[0] in WILDCARD
            or s.local[0] == local[0]
            or s.local[0].startswith("127.")
        ]
        if not cands:
            return None
        before = [s for s in cands if s.first_ns <= ts + TOL_NS]
        return max(before or cands, key=lambda s: s.first_ns)

    def _connecting(self, peer: Endpoint, ts: int) -> _Sock | None:
        """A socket whose connect() to ``peer`` was under way at ``ts``: a refused or timed-out connect
        leaves no local port to match by (getsockname() after the failure shows port 0)."""
        for sock in self._connects_to.get(peer, []):
            call = sock.connect
            if call and call["t_start_ns"] <= ts + TOL_NS and ts <= call.get("t_end_ns", 0) + TOL_NS:
                return sock
        return None

    def node_of(self, ip: str | None, mac: str | None = None) -> str:
        if mac and mac.lower() in self.mac_nodes:
            return self.mac_nodes[mac.lower()]
        ip = norm_ip(ip)
        return self.ip_nodes.get(ip or "", ip or "?")

    # -- entry point -------------------------------------------------------------------------------------
    def cause(self, rec: Rec) -> dict[str, Any]:
        role = (rec.get("role") or {}).get("code", "other")
        if role == "lab-probe":
            return _cause("lab", "lab-probe", "the lab's capture-readiness probe (not network traffic)")
        try:
            if rec.get("tcp"):
                return self._tcp(rec)
            if rec.get("udp") or (rec.get("ip") and rec["ip"].get("proto") == 17 and rec["ip"].get("frag")):
                return self._udp(rec)
            if rec.get("arp"):
                return self._arp(rec)
            if rec.get("icmp"):
                return self._icmp(rec)
        finally:
            self._remember(rec)
        if role == "igmp":
            return _cause("kernel", "igmp", "kernel multicast group membership report/query (IGMP)")
        if role == "ospf":
            return _cause("inferred", "ospf", "a routing daemon's OSPF message (no call log for it)")
        return _cause("unexplained", "unknown", f"no rule explains a {role} packet")

    def _remember(self, rec: Rec) -> None:
        ip = rec.get("ip")
        l4 = rec.get("tcp") or rec.get("udp")
        if ip and l4:
            key = (norm_ip(ip["src"]), norm_ip(ip["dst"]), ip.get("proto"), l4["sport"], l4["dport"])
            self._last_by_flow[key] = rec["number"]
            self._last_by_flow[key[:3]] = rec["number"]

    # -- TCP ---------------------------------------------------------------------------------------------
    def _conn(self, a: Endpoint, b: Endpoint, iface: str) -> _Conn:
        """Connection state per capture interface: a segment seen on two links is not a retransmission."""
        key = (iface, a, b) if a <= b else (iface, b, a)
        conn = self.conns.get(key)
        if conn is None:
            conn = self.conns[key] = _Conn()
        return conn

    def _tcp(self, rec: Rec) -> dict[str, Any]:
        tcp, ip = rec["tcp"], rec["ip"]
        src: Endpoint = (norm_ip(ip["src"]) or "", tcp["sport"])
        dst: Endpoint = (norm_ip(ip["dst"]) or "", tcp["dport"])
        flags, ts, frame = tcp.get("flags_int", 0), rec["ts_ns"], rec["number"]
        conn = self._conn(src, dst, str(rec.get("interface")))
        sender = self._tcp_sock(src, dst, ts) or self._connecting(dst, ts)
        receiver = self._tcp_sock(dst, src, ts) or self._connecting(src, ts)
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
            return parts[0] if len(parts) == 1 else _merge_causes(parts)
        finally:
            conn.last_frame[src] = frame

    def _syn(self, rec: Rec, conn: _Conn, src: Endpoint, sender: _Sock | None) -> dict[str, Any]:
        seq = rec["tcp"]["seq_raw"]
        if conn.isn.get(src) == seq and conn.syn_frame is not None:
            conn.syn_count += 1
            who = f"{call_label(sender.connect)} still waiting" if sender and sender.connect else "connect"
            return _cause(
                "kernel",
                "syn-retransmit",
                f"kernel SYN retransmission #{conn.syn_count} (retransmission timer; {who}; "
                f"first SYN frame {conn.syn_frame})",
                [sender.connect] if sender and sender.connect else [],
                conn.syn_frame,
            )
        conn.isn[src], conn.client, conn.syn_frame, conn.syn_count = seq, src, rec["number"], 0
        conn.synack_frame, conn.established = None, False
        if sender and sender.connect:
            return _cause(
                "call",
                "syn-connect",
                f"{call_label(sender.connect)} sends the SYN",
                [sender.connect],
            )
        return _cause("inferred", "syn-connect", f"connect() from {src[0]}:{src[1]} (no traced socket there)")

    def _synack(self, rec: Rec, conn: _Conn, src: Endpoint, dst: Endpoint) -> dict[str, Any]:
        seq = rec["tcp"]["seq_raw"]
        if conn.isn.get(src) == seq and conn.synack_frame is not None:
            return _cause(
                "kernel",
                "synack-retransmit",
                f"kernel SYN-ACK retransmission (first SYN-ACK frame {conn.synack_frame})",
                answers=conn.synack_frame,
            )
        conn.isn[src], conn.synack_frame = seq, rec["number"]
        listener = self._listener(src, rec["ts_ns"])
        node = listener.node if listener else self.node_of(src[0])
        text = (
            f"kernel ({node}) answers SYN frame {conn.syn_frame} for the listening socket"
            + (f" of {call_label(listener.listen)}" if listener and listener.listen else "")
            + " — accept() takes no part in the handshake"
        )
        return _cause(
            "kernel",
            "syn-ack",
            text,
            [listener.listen] if listener and listener.listen else [],
            conn.syn_frame,
            node=node,
        )

    def _listener(self, local: Endpoint, ts: int) -> _Sock | None:
        cands = [
            s
            for s in self._listeners.get(local[1], [])
            if s.listen
            and s.listen["t_start_ns"] <= ts + TOL_NS
            and (
                s.local is None
                or s.local[0] in WILDCARD
                or s.local[0] == local[0]
                or s.local[0].startswith("127.")
            )
        ]
        return max(cands, key=lambda s: s.listen["t_start_ns"]) if cands else None  # type: ignore[index]

    def _rst(
        self,
        rec: Rec,
        conn: _Conn,
        src: Endpoint,
        dst: Endpoint,
        sender: _Sock | None,
        receiver: _Sock | None,
    ) -> dict[str, Any]:
        ts = rec["ts_ns"]
        node = sender.node if sender else self.node_of(src[0])
        if conn.client == dst and conn.synack_frame is None and conn.syn_frame is not None:
            victim = [receiver.connect] if receiver and receiver.connect else []
            after = ""
            if victim:
                err = victim[0].get("error") or victim[0].get("ret")
                after = f"; {call_label(victim[0])} gets {err}"
            return _cause(
                "kernel",
                "rst-refused",
                f"kernel ({node}) refuses SYN frame {conn.syn_frame}: no socket listens on port "
                f"{src[1]}{after}",
                victim,
                conn.syn_frame,
                node=node,
            )
        if sender:
            closers = [c for c in sender.closers if c["t_start_ns"] <= ts + TOL_NS]
            if closers:
                close = closers[0]
                peer_sent = receiver.sent_total(close["t_start_ns"]) if receiver else 0
                unread = peer_sent - (close.get("recv_after") or 0)
                if sender.linger0:
                    return _cause(
                        "call",
                        "rst-linger0",
                        f"{call_label(close)} with SO_LINGER 0 aborts the connection",
                        [close],
                    )
                if unread > 0 and close.get("call") == "close":
                    return _cause(
                        "call",
                        "rst-unread",
                        f"{call_label(close)} with {unread} unread bytes: the kernel resets instead of FIN",
                        [close],
                    )
                last = conn.last_frame.get(dst)
                return _cause(
                    "kernel",
                    "rst-dead-socket",
                    f"kernel ({node}) resets: a segment (frame {last}) arrived for a socket already "
                    f"closed by {call_label(close)}",
                    [close],
                    last,
                    node=node,
                )
        last = conn.last_frame.get(dst)
        return _cause(
            "kernel",
            "rst",
            f"kernel ({node}) resets the connection (answers frame {last})",
            answers=last,
            node=node,
        )

    def _offset(self, conn: _Conn, who: Endpoint, seq_raw: int) -> int | None:
        isn = conn.isn.get(who)
        return None if isn is None else (seq_raw - isn - 1) % (1 << 32)

    def _data(
        self, rec: Rec, conn: _Conn, src: Endpoint, sender: _Sock | None, receiver: _Sock | None
    ) -> dict[str, Any]:
        tcp = rec["tcp"]
        start = self._offset(conn, src, tcp["seq_raw"])
        if start is None:
            return _cause(
                "inferred",
                "tcp-data",
                "send() (inferred: the handshake was not captured, so stream offsets are unknown)",
            )
        end = start + tcp["len"]
        sends = (
            [c for c in sender.sends if c["sent_before"] < end and c["sent_after"] > start] if sender else []
        )
        recvs = (
            [c for c in receiver.recvs if c["recv_before"] < end and c["recv_after"] > start]
            if receiver
            else []
        )
        span = f"bytes {start}-{end - 1}"
        first = next((f for s, e, f, _ in conn.data_frames[src] if s < end and e > start), None)
        retrans = end <= conn.sent_end[src]
        if not retrans:
            conn.data_frames[src].append((start, end, rec["number"], rec["ts_ns"]))
        conn.sent_end[src] = max(conn.sent_end[src], end)
        read = f"; read by {', '.join(map(call_label, recvs))}" if recvs else ""
        if not sends:
            return _cause(
                "inferred",
                "tcp-data-offset",
                f"{span} of {src[0]}:{src[1]}: no traced send call covers them{read}",
                recvs,
            )
        what = " + ".join(call_label(c) for c in sends)
        if retrans and first is not None and first != rec["number"]:
            return _cause(
                "kernel",
                "tcp-retransmit",
                f"kernel retransmits {span} of {what} (first sent in frame {first}){read}",
                sends,
                first,
                consumed_by=[c["id"] for c in recvs],
            )
        return _cause(
            "call", "tcp-data-offset", f"{what} {span}{read}", sends, consumed_by=[c["id"] for c in recvs]
        )

    def _fin(self, rec: Rec, conn: _Conn, src: Endpoint, sender: _Sock | None) -> dict[str, Any]:
        tcp = rec["tcp"]
        offset = self._offset(conn, src, tcp["seq_raw"])
        if offset is not None:
            offset += tcp.get("len", 0)
        if src in conn.fin and conn.fin[src][0] == offset:
            return _cause(
                "kernel",
                "fin-retransmit",
                f"kernel retransmits the FIN (first FIN frame {conn.fin[src][1]})",
                answers=conn.fin[src][1],
            )
        conn.fin[src] = (offset if offset is not None else -1, rec["number"])
        if sender is None:
            return _cause(
                "inferred", "fin-close", f"close()/shutdown() at {src[0]}:{src[1]} (no traced socket)"
            )
        closers = [c for c in sender.closers if c["t_start_ns"] <= rec["ts_ns"] + TOL_NS]
        if closers and _at_exit(closers[0]):
            how = (
                "at process exit"
                if closers[0].get("call") == "exit"
                else "when the socket was garbage-collected"
            )
            return _cause(
                "kernel",
                "fin-exit",
                f"kernel ({sender.node}) closes the socket {how} "
                f"({call_label(closers[0])}): no close() was called",
                closers[:1],
            )
        if closers:
            return _cause(
                "call",
                "fin-close",
                f"{call_label(closers[0])} sends FIN (no more data from {sender.node})",
                closers[:1],
            )
        return _cause(
            "kernel",
            "fin-exit",
            f"kernel ({sender.node}) closes the socket at process exit (pid {sender.pid}): no close()"
            f" was called",
        )

    def _ack(
        self, rec: Rec, conn: _Conn, src: Endpoint, dst: Endpoint, sender: _Sock | None
    ) -> dict[str, Any]:
        tcp, ts, _frame = rec["tcp"], rec["ts_ns"], rec["number"]
        node = sender.node if sender else self.node_of(src[0])
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
            done = f"; {call_label(who[0])} returns" if who else ""
            return _cause(
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
            return _cause(
                "kernel", "ack", f"kernel ({node}) acknowledgement (stream start not captured)", node=node
            )
        fin = conn.fin.get(dst)
        if fin and acked == fin[0] + 1 and (prev is None or prev[0] != tcp["ack_raw"]):
            return _cause(
                "kernel",
                "ack-fin",
                f"kernel ({node}) acknowledges FIN frame {fin[1]}",
                answers=fin[1],
                node=node,
            )
        if "duplicate_ack" in analysis:
            return _cause(
                "kernel",
                "dup-ack",
                f"kernel ({node}) duplicate ACK: still expecting byte {acked} "
                f"(a later segment arrived out of order or a segment is missing)",
                node=node,
            )
        if "keep_alive" in analysis:
            return _cause("kernel", "keepalive", f"kernel ({node}) TCP keep-alive probe", node=node)
        if "zero_window_probe" in analysis:
            return _cause("kernel", "zero-window-probe", f"kernel ({node}) zero-window probe", node=node)
        if prev and prev[0] == tcp["ack_raw"] and prev[1] != tcp.get("win", 0):
            return _cause(
                "kernel",
                "window-update",
                f"kernel ({node}) window update: receive window now {tcp.get('win')}"
                + self._in_recv(sender, ts),
                node=node,
            )
        last_acked = conn.acked.get(src, 0)
        covered = [(s, e, f, t) for s, e, f, t in conn.data_frames[dst] if e <= acked and e > last_acked]
        conn.acked[src] = max(last_acked, acked)
        frames = [f for _, _, f, _ in covered]
        what = f"bytes up to {acked}" + (
            f" (frame{'s' if len(frames) > 1 else ''} {', '.join(map(str, frames))})" if frames else ""
        )
        inside = self._in_recv(sender, ts)
        if inside:
            return _cause(
                "kernel",
                "ack-in-recv",
                f"kernel ({node}) acknowledges {what}{inside}",
                self._recv_at(sender, ts),
                frames[-1] if frames else None,
                node=node,
            )
        if covered and ts - covered[-1][3] >= DELAYED_ACK_NS:
            ms = (ts - covered[-1][3]) / 1e6
            return _cause(
                "kernel",
                "delayed-ack",
                f"kernel ({node}) delayed ACK of {what}, {ms:.0f} ms after the data",
                answers=frames[-1],
                node=node,
            )
        return _cause(
            "kernel",
            "ack",
            f"kernel ({node}) acknowledges {what}",
            answers=frames[-1] if frames else None,
            node=node,
        )

    def _recv_at(self, sock: _Sock | None, ts: int) -> list[Call]:
        if sock is None:
            return []
        return [
            c
            for c in sock.calls
            if c.get("call", "").startswith(("recv", "read", "makefile-read"))
            and c["t_start_ns"] <= ts <= c.get("t_end_ns", c["t_start_ns"]) + TOL_NS // 4
        ]

    def _in_recv(self, sock: _Sock | None, ts: int) -> str:
        calls = self._recv_at(sock, ts)
        return f", sent inside {call_label(calls[0])} as the application consumed data" if calls else ""

    # -- UDP and IP fragments ----------------------------------------------------------------------------
    def _udp(self, rec: Rec) -> dict[str, Any]:
        """A datagram is one send call; its IP fragments (on every link they cross) share that cause.

        Matching is per capture interface: the same datagram seen on two links is matched twice.
        """
        ip, udp, iface = rec["ip"], rec.get("udp"), str(rec.get("interface"))
        frag = ip.get("frag") or {}
        fragmented = bool(frag.get("offset") or frag.get("mf"))
        fkey = (norm_ip(ip["src"]) or "", norm_ip(ip["dst"]) or "", frag.get("id", ip.get("id", 0)))
        known = self._frag_cause.get(fkey) if fragmented else None
        if known:
            return {
                **known,
                "rule": "ip-fragment",
                "text": f"IP fragment (offset {frag.get('offset')}) of: {known['text']}",
            }
        if udp is None:  # a fragment before its datagram's UDP header was seen: match by hosts and time
            src: Endpoint | tuple[str, None] = (fkey[0], None)
            dst: Endpoint | tuple[str, None] = (fkey[1], None)
            length = None
            sha = None
        else:
            src, dst = (fkey[0], udp["sport"]), (fkey[1], udp["dport"])
            length = max(udp.get("length", 8) - 8, 0)
            sha = udp.get("sha1") if not fragmented else None
        send = self._match_dgram(src, dst, length, sha, rec["ts_ns"], iface, sending=True)
        recv = self._match_dgram(dst, src, length, sha, rec["ts_ns"], iface, sending=False)
        size = length if length is not None else (send or {}).get("dgram", {}).get("len")
        read = ""
        truncated = None
        if recv:
            got = recv.get("nbytes") or 0
            truncated = bool(size and got < size) or None
            trunc = f" — TRUNCATED to {got} of {size} bytes by a small buffer" if truncated else ""
            read = f"; received by {call_label(recv)}{trunc}"
        if send:
            out = _cause(
                "call",
                "udp-sendto",
                f"{call_label(send)}: one datagram of {size} bytes{read}",
                [send],
                consumed_by=[recv["id"]] if recv else None,
                truncated=truncated,
            )
        else:
            out = _cause(
                "inferred",
                "udp-sendto",
                f"sendto() from {src[0]}:{src[1]} (no traced call sent this datagram){read}",
                [recv] if recv else [],
            )
        if fragmented:
            self._frag_cause[fkey] = out
            out = {
                **out,
                "rule": "ip-fragment",
                "text": f"IP fragment (offset {frag.get('offset')}) of: {out['text']}",
            }
        return out

    def _match_dgram(
        self,
        local: tuple[str, int | None],
        peer: tuple[str, int | None],
        length: int | None,
        sha: str | None,
        ts: int,
        iface: str,
        *,
        sending: bool,
    ) -> Call | None:
        """The earliest send (or receive) call not yet matched on this interface that fits the datagram.

        Ports and length may be unknown (a fragment seen before its UDP header): hosts and time decide.
        """
        socks = self._udp_by_port.get(local[1], []) if local[1] is not None else self._udp_socks
        best: Call | None = None
        for sock in socks:
            if (
                sock.local
                and sock.local[0] not in WILDCARD
                and sock.local[0] != local[0]
                and not sock.local[0].startswith("127.")
            ):
                continue
            for call in sock.dgram_sends if sending else sock.dgram_recvs:
                if (iface, call["id"]) in self._matched:
                    continue
                dgram = call["dgram"]
                where = _ep(dgram.get("peer")) or sock.peer
                if where is None or where[0] != peer[0] or (peer[1] is not None and where[1] != peer[1]):
                    continue
                if sending and call["t_start_ns"] > ts + TOL_NS:
                    continue
                if not sending and call.get("t_end_ns", 0) < ts - TOL_NS:
                    continue
                if length is not None:
                    if sending and dgram.get("len") != length:
                        continue
                    if (
                        sha
                        and dgram.get("sha1")
                        and dgram["sha1"] != sha
                        and (sending or dgram.get("len") == length)
                    ):
                        continue
                if best is None or call["t_start_ns"] < best["t_start_ns"]:
                    best = call
        if best is not None:
            self._matched.add((iface, best["id"]))
        return best

    # -- ARP, NDP, ICMP ----------------------------------------------------------------------------------
    def _trigger(self, src_ip: str, target_ip: str, ts: int) -> Call | None:
        """The call whose packet made the kernel resolve a neighbour: the latest sender towards it."""
        best: Call | None = None
        best_score: tuple[bool, int] = (False, -1)
        for sock in self.socks.values():
            for call in sock.calls:
                if call["t_start_ns"] > ts or call.get("call") not in SENDING_CALLS:
                    continue
                local = _ep(call.get("local")) or sock.local
                if local and local[0] not in WILDCARD and local[0] != src_ip:
                    continue
                peer = _ep((call.get("dgram") or {}).get("peer")) or _ep(call.get("peer")) or sock.peer
                score = (peer is not None and peer[0] == target_ip, call["t_start_ns"])
                if score > best_score:
                    best, best_score = call, score
        return best

    def _arp(self, rec: Rec) -> dict[str, Any]:
        arp, frame = rec["arp"], rec["number"]
        spa, tpa = arp.get("sender_ip"), arp.get("target_ip")
        node = self.node_of(spa, arp.get("sender_mac"))
        if arp.get("op") == 2:
            req = self._arp_requests.get((tpa, spa))
            return _cause(
                "kernel",
                "arp-reply",
                f"kernel ({node}) answers ARP request"
                + (f" frame {req}" if req else "")
                + f": {spa} is at {arp.get('sender_mac')}",
                answers=req,
                node=node,
            )
        self._arp_requests[(spa, tpa)] = frame
        if spa == tpa:
            return _cause("kernel", "arp-gratuitous", f"kernel ({node}) gratuitous ARP for {spa}", node=node)
        trigger = self._trigger(spa, tpa, rec["ts_ns"])
        unicast = (rec.get("eth") or {}).get("dst", "ff:ff:ff:ff:ff:ff") != "ff:ff:ff:ff:ff:ff"
        kind = "re-checks a stale neighbour entry (unicast probe)" if unicast else "resolves the neighbour"
        why = (
            f", triggered by the first packet of {call_label(trigger)} (it waits for the reply)"
            if trigger and not unicast
            else ""
        )
        return _cause(
            "kernel",
            "arp-request",
            f"kernel ({node}) {kind} {tpa}{why}",
            [trigger] if trigger and not unicast else [],
            node=node,
        )

    def _icmp(self, rec: Rec) -> dict[str, Any]:
        icmp, ip = rec["icmp"], rec.get("ip") or {}
        version, itype = icmp.get("version", 4), icmp.get("type")
        src, dst = norm_ip(ip.get("src")) or "", norm_ip(ip.get("dst")) or ""
        node = self.node_of(src, (rec.get("eth") or {}).get("src"))
        name = icmp.get("name") or f"type {itype}"
        if itype in ICMP_ERRORS.get(version, set()):
            q = icmp.get("quoted") or {}
            key = (
                norm_ip(q.get("src")),
                norm_ip(q.get("dst")),
                q.get("proto"),
                q.get("sport"),
                q.get("dport"),
            )
            answered = self._last_by_flow.get(key) or self._last_by_flow.get(key[:3])
            return _cause(
                "kernel",
                "icmp-error",
                f"kernel ({node}) ICMP {name}: answers frame {answered}"
                if answered
                else f"kernel ({node}) ICMP {name} (the quoted packet was not captured)",
                answers=answered,
                node=node,
            )
        if (version, itype) in ((4, 8), (6, 128)):
            self._echo_requests[(src, dst)] = rec["number"]
            return _cause("inferred", "icmp-echo", f"echo request from {node} (ping; not traced)")
        if (version, itype) in ((4, 0), (6, 129)):
            req = self._echo_requests.get((dst, src))
            return _cause(
                "kernel",
                "icmp-echo-reply",
                f"kernel ({node}) answers echo request" + (f" frame {req}" if req else ""),
                answers=req,
                node=node,
            )
        if version == 6 and itype == 135:
            target = icmp.get("target") or dst
            if src in ("::", ""):
                return _cause("kernel", "ndp-dad", f"kernel duplicate address detection for {target}")
            self._ns_frames[src] = rec["number"]
            trigger = self._trigger(src, target, rec["ts_ns"])
            why = f", triggered by {call_label(trigger)}" if trigger else ""
            return _cause(
                "kernel",
                "ndp-ns",
                f"kernel ({node}) neighbour solicitation{why}",
                [trigger] if trigger else [],
                node=node,
            )
        if version == 6 and itype == 136:
            req = self._ns_frames.get(dst)
            return _cause(
                "kernel",
                "ndp-na",
                f"kernel ({node}) neighbour advertisement" + (f" answering frame {req}" if req else ""),
                answers=req,
                node=node,
            )
        if version == 6 and itype == 133:
            return _cause("kernel", "ndp-rs", f"kernel ({node}) router solicitation at interface bring-up")
        if version == 6 and itype == 134:
            return _cause("kernel", "ndp-ra", f"router advertisement from {node}")
        if version == 6 and itype in (130, 131, 132, 143):
            return _cause(
                "kernel",
                "mld",
                f"kernel ({node}) MLD report: joins the multicast groups of its "
                f"addresses (IPv6 interface bring-up)",
            )
        return _cause("unexplained", "icmp", f"ICMP {name} from {node}: no rule explains it")


def _merge_causes(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One packet, two reasons (data with FIN): keep both, the stronger source first."""
    rank = {s: i for i, s in enumerate(("call", "kernel", "lab", "inferred", "unexplained"))}
    parts = sorted(parts, key=lambda p: rank.get(p["source"], 9))
    out = dict(parts[0])
    out["text"] = "; ".join(p["text"] for p in parts)
    out["rule"] = "+".join(p["rule"] for p in parts)
    out["calls"] = [c for p in parts for c in p.get("calls", [])]
    if any(p["source"] not in EXPLAINED for p in parts):
        out["source"] = next(p["source"] for p in parts if p["source"] not in EXPLAINED)
    return out


def coverage(causes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Packets explained / total, and the count per rule and per source: the report's honesty figure."""
    total = explained = 0
    by_rule: dict[str, int] = defaultdict(int)
    by_source: dict[str, int] = defaultdict(int)
    for cause in causes:
        total += 1
        explained += cause.get("source") in EXPLAINED
        by_rule[cause.get("rule", "?")] += 1
        by_source[cause.get("source", "?")] += 1
    return {
        "explained": explained,
        "total": total,
        "ratio": round(explained / total, 4) if total else 1.0,
        "by_rule": dict(sorted(by_rule.items())),
        "by_source": dict(sorted(by_source.items())),
    }
