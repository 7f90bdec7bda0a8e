"""UDP rules: one datagram is one send call, matched by 4-tuple, length and payload hash, in order.

Matching is per capture interface (the same datagram seen on two links is two packets of one call); its IP
fragments, on every link they cross, share the datagram's cause — also the fragments seen before the one
that carries the UDP header, matched by hosts and time. A receive with MSG_PEEK consumes nothing: it is
named "peeked by" (``peeked_by``), and the read after it "received by" (``consumed_by``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from lab.analysis.attribution.calllog import (
    TOL_NS,
    CallLog,
    Endpoint,
    Socket,
    args_of,
    end_ns,
    endpoint,
    norm_host,
)
from lab.analysis.attribution.causes import Call, call_label, make_cause, packet_time
from lab.records import Datagram, PacketRecord

Rec = PacketRecord  # as the pipeline builds it: every key but ``cause``
COPY_LIMIT_NS = 1_000_000_000  # with no consuming read, a peek within this time looked at the datagram


class DatagramRules:
    def __init__(self, log: CallLog) -> None:
        self.log = log
        self._matched = Claims()
        self._frag_cause: dict[tuple[str, str, int | None], dict[str, Any]] = {}

    def cause(self, rec: Rec) -> dict[str, Any]:
        """A datagram is one send call; its IP fragments (on every link they cross) share that cause.

        Matching is per capture interface: the same datagram seen on two links is matched twice.
        """
        ip, udp, iface, ts = rec["ip"], rec["udp"], rec["interface"], packet_time(rec)
        if ip is None:  # the dispatcher sends only UDP datagrams and IP fragments here
            raise ValueError(f"frame {rec['number']}: a datagram without an IP header")
        frag = ip["frag"]
        offset = frag["offset"] if frag is not None else None
        fragmented = frag is not None and bool(frag["offset"] or frag["mf"])
        ident = frag["id"] if frag is not None else ip["id"]
        fkey = (norm_host(ip["src"]), norm_host(ip["dst"]), ident)
        known = self._frag_cause.get(fkey) if fragmented else None
        if known:
            return {
                **known,
                "rule": "ip-fragment",
                "text": f"IP fragment (offset {offset}) of: {known['text']}",
            }
        if udp is None:  # a fragment before its datagram's UDP header was seen: match by hosts and time
            src: Endpoint | tuple[str, None] = (fkey[0], None)
            dst: Endpoint | tuple[str, None] = (fkey[1], None)
            length = None
            sha = None
        else:
            src, dst = (fkey[0], udp["sport"]), (fkey[1], udp["dport"])
            length = max(udp["length"] - 8, 0)
            sha = udp.get("sha1") if not fragmented else None
        send = self._match_dgram(src, dst, length, sha, ts, iface, sending=True)
        recv = self._match_dgram(dst, src, length, sha, ts, iface, sending=False)
        size = length if length is not None or send is None else _dgram_len(send)
        peeks = self._peeks(dst, src, ts, recv)
        read = ""
        if peeks:
            names = ", ".join(call_label(c) for c in peeks)
            read = f"; peeked by {names} (MSG_PEEK: a copy, the datagram stays queued)"
        truncated = None
        if recv:
            nbytes = recv.get("nbytes")
            got = nbytes if nbytes is not None else 0
            truncated = bool(size and got < size) or None
            trunc = f" — TRUNCATED to {got} of {size} bytes by a small buffer" if truncated else ""
            read += f"; received by {call_label(recv)}{trunc}"
        if send:
            out = make_cause(
                "call",
                "udp-sendto",
                f"{call_label(send)}: one datagram of {size} bytes{read}",
                [send],
                consumed_by=[recv["id"]] if recv else None,
                peeked_by=[c["id"] for c in peeks] or None,
                truncated=truncated,
            )
        else:
            out = make_cause(
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
                "text": f"IP fragment (offset {offset}) of: {out['text']}",
            }
        return out

    def _peeks(self, local: tuple[str, int | None], peer: tuple[str, int | None], ts: int,
               recv: Call | None) -> list[Call]:
        """The MSG_PEEK calls that looked at this datagram: they returned after it arrived and no later
        than the call that consumed it (a peek sees the head of the queue; it consumes nothing)."""
        socks = self.log.udp_by_port.get(local[1], []) if local[1] is not None else self.log.udp_socks
        out = []
        for sock in socks:
            if not sock.dgram_peeks or not sock.could_be_at(local[0]):
                continue
            for call in sock.dgram_peeks:
                where = endpoint(datagram_of(call).get("peer")) or sock.peer
                if where is None or where[0] != peer[0] or (peer[1] is not None and where[1] != peer[1]):
                    continue
                if end_ns(call) < ts - TOL_NS:
                    continue
                if recv is not None and call["t_start_ns"] > end_ns(recv):
                    continue
                if recv is None and call["t_start_ns"] > ts + COPY_LIMIT_NS:
                    continue
                out.append(call)
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
        socks = self.log.udp_by_port.get(local[1], []) if local[1] is not None else self.log.udp_socks

        def fits(call: Call, dgram: Datagram, sock: Socket) -> bool:
            where = endpoint(dgram.get("peer")) or sock.peer
            # a host name the program gave (sendto(b'x', ('h2', 9000))) is no address to compare:
            # the port, the length, the payload's hash and the time still decide
            if where is None or (_is_address(where[0]) and where[0] != peer[0]) or (
                    peer[1] is not None and where[1] != peer[1]):
                return False
            if length is None:
                return True
            if sending and dgram.get("len") != length:
                return False
            if not sending and _not_this_datagram(call, dgram, length):
                return False
            return not (
                sha and dgram.get("sha1") and dgram["sha1"] != sha and (sending or dgram.get("len") == length)
            )

        at = [s for s in socks if s.could_be_at(local[0])]
        return earliest_fit(at, self._matched, iface, ts, fits, sending=sending)


class Claims:
    """The datagram calls already matched to a packet, as (capture interface, call id), and per socket
    and interface the first call not yet matched: calls are matched in no fixed order, but one matched
    stays matched, so the search for the next one need not walk the matched ones again."""

    def __init__(self) -> None:
        self.ids: set[tuple[str, int]] = set()
        self._first: dict[tuple[str, str, bool], int] = {}

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self.ids

    def add(self, key: tuple[str, int]) -> None:
        self.ids.add(key)

    def first_open(self, sock: Socket, calls: list[Call], iface: str, sending: bool) -> int:
        """The index in ``calls`` (the socket's datagram sends or reads) before which all are matched."""
        key = (sock.sid, iface, sending)
        i, n, ids = self._first.get(key, 0), len(calls), self.ids
        while i < n and (iface, calls[i]["id"]) in ids:
            i += 1
        self._first[key] = i
        return i


def earliest_fit(
    socks: Iterable[Socket],
    claimed: Claims,
    iface: str,
    ts: int,
    fits: Callable[[Call, Datagram, Socket], bool],
    *,
    sending: bool,
) -> Call | None:
    """The one matcher of a packet to the datagram call that sent (``sending``) or read it: of the
    sockets' datagram sends (reads), the earliest call not yet ``claimed`` on capture interface ``iface``
    that was under way in time -- a send begun by the packet's time ``ts``, a read not over before it
    (``TOL_NS`` of scheduler slack either way) -- and whose datagram ``fits`` the packet. The call found is
    claimed: the same datagram seen on another link is matched again, on this one never twice.

    A socket's calls are in time order (``CallLog`` sorts them), so its first call that fits is its
    earliest, a send begun after the packet ends the search in that socket, and the calls matched already
    and the reads that had all returned before it are skipped at once (``Claims.first_open``,
    ``Socket.dgram_reads_from``).
    UDP datagrams, multicast datagrams (``igmp``) and ping echoes (``icmp``) differ only in ``fits``.
    """
    best: Call | None = None
    latest = ts + TOL_NS  # a send begun later did not send this packet
    earliest = ts - TOL_NS  # a read over before this did not read it
    for sock in socks:
        calls = sock.dgram_sends if sending else sock.dgram_recvs
        # calls all matched already, and reads that all returned before the packet, are skipped at once
        first = claimed.first_open(sock, calls, iface, sending)
        for i in range(first if sending else max(first, sock.dgram_reads_from(earliest)), len(calls)):
            call = calls[i]
            start = call["t_start_ns"]
            if best is not None and start >= best["t_start_ns"]:
                break  # no later call of this socket is earlier than the one found
            if sending:
                if start > latest:
                    break
            elif end_ns(call) < earliest:
                continue
            if (iface, call["id"]) in claimed or not fits(call, datagram_of(call), sock):
                continue
            best = call
            break
    if best is not None:
        claimed.add((iface, best["id"]))
    return best


def datagram_of(call: Call) -> Datagram:
    """The datagram of a call the call log filed as a datagram send, read or peek (it has one)."""
    dgram = call["dgram"]
    if dgram is None:
        raise ValueError(f"call {call['id']}: not a datagram call")
    return dgram


def _dgram_len(call: Call) -> int | None:
    """What the datagram call moved; a log made elsewhere may not say (``len`` absent)."""
    return datagram_of(call).get("len")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _not_this_datagram(call: Call, dgram: Datagram, length: int) -> bool:
    """A receive of fewer bytes than the datagram while its buffer had room: another (shorter) datagram.

    Truncation fills the buffer exactly; when the call's buffer size is unknown, it may be truncation.
    """
    got, bufsize = dgram.get("len"), args_of(call).get("bufsize")
    return isinstance(got, int) and isinstance(bufsize, int) and got < length and got < bufsize
