"""ICMPv4 rules: echo requests from ping sockets, echo replies, and the errors kernels send back.

- An echo request from a ping socket (``socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)``) is one sendto(),
  matched by node, destination and ICMP length (the kernel rewrites identifier and checksum, so the bytes
  the call gave differ from the wire's); its reply is the destination kernel's, read by a recvfrom().
- An error (time exceeded, destination unreachable, fragmentation needed...) is sent by the kernel of the
  router or host that could not deliver a packet. It quotes that packet's IP header, so the quoted
  addresses, protocol and IP identification name the frame it answers: the last sighting of that packet
  before the error, i.e. the copy the reporting node received. The reason is said in the packet's terms
  (the TTL it came with, the port nobody listens on, the size that does not fit the next MTU).
- Who hears about an error: the first later call of the socket that sent the offending packet that
  reports it — a recv() raising ConnectionRefusedError (a connected UDP socket), a
  recvmsg(MSG_ERRQUEUE) (IP_RECVERR), a getsockopt(SO_ERROR) returning the errno; or nobody (an
  unconnected UDP socket is not told).

ICMPv6 (neighbour discovery, MLD) stays with ``neighbours``; ``cause`` returns None for what it leaves to
other rules.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from lab.analysis.attribution.calllog import (
    TOL_NS,
    CallLog,
    Socket,
    args_of,
    end_ns,
    endpoint,
    norm_host,
    norm_ip,
)
from lab.analysis.attribution.causes import Call, call_label, make_cause, packet_time
from lab.analysis.attribution.datagrams import Claims, earliest_fit
from lab.records import ICMP, IP, Datagram, ICMPQuoted, PacketRecord

Rec = PacketRecord  # as the pipeline builds it: every key but ``cause``
ICMP_PROTO_NAMES = {1, "1", "IPPROTO_ICMP"}
ERRNO_NAMES = {90: "EMSGSIZE", 111: "ECONNREFUSED", 113: "EHOSTUNREACH", 101: "ENETUNREACH"}
NOT_TOLD = {"TimeoutError", "timeout", "BlockingIOError", "EAGAIN", "EWOULDBLOCK", "ETIMEDOUT"}
MAX_SIGHTINGS = 65536
Sighting = tuple[int, int, int, "int | None", dict[str, Any]]
"""An IPv4 packet as an ICMP error may quote it: (frame, time, TTL, IP length, its cause)."""


def _icmp_len(rec: Rec) -> int | None:
    """The ICMP message length (header + data): the outer ICMP layer's length."""
    for layer in rec["layers"]:
        if layer["name"] == "ICMP" and not layer.get("note"):
            return int(layer["length"])
    return None


def _echo(icmp: ICMP) -> tuple[int | None, int | None]:
    """An echo's identifier and sequence number (None, None when the message carries none)."""
    echo = icmp.get("echo")
    return (echo["id"], echo["seq"]) if echo is not None else (None, None)


def _eth_src(rec: Rec) -> str | None:
    eth = rec["eth"]
    return eth["src"] if eth is not None else None


def _ip_len(rec: Rec) -> int | None:
    """The IP packet's length on the wire: the frame length from the outer IPv4 header on."""
    for layer in rec["layers"]:
        if layer["name"] == "IPv4" and not layer.get("note"):
            return rec["len"] - layer["offset"]
    return None


class IcmpRules:
    """ICMPv4 causes; ``remember`` must see every packet (with its cause) in capture order."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.calls_by_id: dict[int, Call] = {c["id"]: c for c in log.calls}
        self.ping_socks = [
            s
            for s in log.socks.values()
            if any(c["call"] == "socket" and args_of(c).get("proto") in ICMP_PROTO_NAMES for c in s.calls)
        ]
        # (src, dst, proto, ip id) -> sightings (frame, ts, ttl, ip length, cause)
        self._sightings: OrderedDict[tuple[Any, ...], list[Sighting]] = OrderedDict()
        self._echo: dict[tuple[Any, ...], int] = {}  # (src, dst, id, seq) -> frame of the echo request
        self._claimed = Claims()  # (interface, call id) already matched

    # -- memory --------------------------------------------------------------------------------------
    def remember(self, rec: Rec, cause: dict[str, Any]) -> None:
        """Index an IPv4 packet by what an ICMP error quotes of it (addresses, protocol, IP id)."""
        ip = rec["ip"]
        if ip is None or ip["version"] != 4:
            return
        hosts = (norm_host(ip["src"]), norm_host(ip["dst"]), ip["proto"])
        entry = (rec["number"], packet_time(rec), ip["ttl"], _ip_len(rec), cause)
        # by IP identification and ports (what an IPv4 error quotes; unconnected DF datagrams all carry
        # IP id 0, so the id alone names nothing), and by ports alone for a quote without an id
        l4 = rec["udp"] or rec["tcp"]
        ports = (l4["sport"], l4["dport"]) if l4 is not None else (None, None)
        for key in (hosts + ("id", ip["id"]) + ports, hosts + ("ports",) + ports):
            self._sightings.setdefault(key, []).append(entry)
            self._sightings.move_to_end(key)
        while len(self._sightings) > MAX_SIGHTINGS:
            self._sightings.popitem(last=False)

    def _quoted_sighting(self, rec: Rec, q: ICMPQuoted) -> Sighting | None:
        hosts = (norm_ip(q["src"]), norm_ip(q["dst"]), q["proto"])
        ports = (q.get("sport"), q.get("dport"))
        ip_id = q.get("id")
        key = hosts + (("id", ip_id) if ip_id is not None else ("ports",)) + ports
        ts = packet_time(rec)
        seen = [s for s in self._sightings.get(key, []) if s[1] <= ts]
        return seen[-1] if seen else None

    # -- rules ---------------------------------------------------------------------------------------
    def cause(self, rec: Rec) -> dict[str, Any] | None:
        """The cause of an ICMPv4 packet, or None to leave it to the other rules."""
        icmp, ip = rec["icmp"], rec["ip"]
        if icmp is None or ip is None or icmp["version"] != 4:
            return None
        itype = icmp["type"]
        if itype == 8:
            return self._echo_request(rec, icmp, ip)
        if itype == 0:
            return self._echo_reply(rec, icmp, ip)
        quoted = icmp.get("quoted")
        if quoted is not None:
            return self._error(rec, icmp, ip, quoted)
        return None

    def _echo_request(self, rec: Rec, icmp: ICMP, ip: IP) -> dict[str, Any] | None:
        src, dst = norm_host(ip["src"]), norm_host(ip["dst"])
        echo_id, echo_seq = _echo(icmp)
        self._echo[(src, dst, echo_id, echo_seq)] = rec["number"]
        send = self._ping_call(rec, peer=dst, at=src, sending=True)
        if send is None:
            return None
        read = self._ping_call(rec, peer=src, at=dst, sending=False)  # pinging one's own address
        return make_cause(
            "call",
            "icmp-echo-request",
            f"{call_label(send)}: one echo request (identifier {echo_id} and checksum written by "
            f"the kernel, sequence {echo_seq} by the program)",
            [send],
            consumed_by=[read["id"]] if read else None,
        )

    def _echo_reply(self, rec: Rec, icmp: ICMP, ip: IP) -> dict[str, Any] | None:
        src, dst = norm_host(ip["src"]), norm_host(ip["dst"])
        node = self.log.node_of(src, _eth_src(rec))
        req = self._echo.get((dst, src, *_echo(icmp)))
        read = self._ping_call(rec, peer=src, at=dst, sending=False)
        if read is None and req is None:
            return None
        return make_cause(
            "kernel",
            "icmp-echo-reply",
            f"kernel ({node}) answers echo request"
            + (f" frame {req}" if req else "")
            + " (no program answers a ping)"
            + (f"; received by {call_label(read)}" if read else ""),
            [read] if read else [],
            answers=req,
            node=node,
            consumed_by=[read["id"]] if read else None,
        )

    def _ping_call(self, rec: Rec, *, peer: str, at: str, sending: bool) -> Call | None:
        """The earliest unclaimed sendto (recvfrom) of a ping socket at ``at`` that fits the packet."""
        size = _icmp_len(rec)
        node = self.log.node_of(at)
        known = node != at  # node_of names the node, or returns the address when no node is known for it
        socks = [s for s in self.ping_socks if (s.node == node if known else s.could_be_at(at))]

        def fits(call: Call, dgram: Datagram, sock: Socket) -> bool:
            where = endpoint(dgram.get("peer")) or sock.peer
            return where is not None and where[0] == peer and (size is None or dgram.get("len") == size)

        return earliest_fit(socks, self._claimed, rec["interface"], packet_time(rec), fits, sending=sending)

    def _error(self, rec: Rec, icmp: ICMP, ip: IP, q: ICMPQuoted) -> dict[str, Any]:
        src = norm_host(ip["src"])
        node = self.log.node_of(src, _eth_src(rec))
        seen = self._quoted_sighting(rec, q)
        frame = seen[0] if seen else None
        name = icmp["name"] or f"type {icmp['type']} code {icmp['code']}"
        about = f"frame {frame}" if frame else "a packet that was not captured"
        why = self._reason(icmp, q, seen, node)
        rule = {
            (11, 0): "icmp-time-exceeded",
            (3, 3): "icmp-port-unreachable",
            (3, 4): "icmp-frag-needed",
        }.get((icmp["type"], icmp["code"]), "icmp-error")
        sender = self._sender(seen)
        told = self._told(sender, rec) if sender else None
        if told is not None:
            heard = f"; {self._told_text(told)}"
        elif sender is not None:
            heard = "; " + self._not_told_text(sender)
        else:
            heard = ""
        return make_cause(
            "kernel",
            rule,
            f"kernel ({node}) sends {name} for {about}: {why}{heard}",
            [sender] if sender else [],
            answers=frame,
            node=node,
            consumed_by=[told["id"]] if told else None,
        )

    @staticmethod
    def _reason(icmp: ICMP, q: ICMPQuoted, seen: Sighting | None, node: str) -> str:
        kind = (icmp["type"], icmp["code"])
        names = {6: "TCP", 17: "UDP"}
        proto = names[q["proto"]] if q["proto"] in names else f"protocol {q['proto']}"
        if kind == (11, 0):
            came = f" (it arrived with TTL {seen[2]})" if seen and seen[2] is not None else ""
            return f"TTL reached 0{came}: a router drops a packet rather than forward it with TTL 0"
        if kind == (11, 1):
            return "not every fragment of the datagram arrived in time for reassembly"
        if kind == (3, 3):
            return f"no socket on {node} is bound to {proto} port {q.get('dport')}"
        if kind == (3, 2):
            return f"{node} has no handler for {proto}"
        if kind == (3, 4):
            size = f"{seen[3]} bytes" if seen and seen[3] else "the packet"
            return (
                f"{size} with Don't Fragment set do not fit the next link's MTU {icmp.get('mtu')}; "
                f"the router drops it"
            )
        if kind[0] == 3:
            return f"{q['dst']} cannot be reached from {node}"
        return f"{node} could not handle the packet"

    def _sender(self, seen: Sighting | None) -> Call | None:
        """The call that sent the quoted packet (from the cause already decided for it)."""
        if not seen:
            return None
        ids = seen[4].get("calls")
        return self.calls_by_id.get(ids[0]) if ids else None

    def _told(self, sender: Call, rec: Rec) -> Call | None:
        """The first call of the sending socket, ending after the error arrived, that reports it."""
        sock = self.log.socks.get(str(sender.get("sock")))
        if sock is None:
            return None
        ts, iface = packet_time(rec), rec["interface"]
        for call in sock.calls:
            if call["t_start_ns"] < sender["t_start_ns"] or end_ns(call) < ts - TOL_NS:
                continue
            if (iface, call["id"]) in self._claimed or not _reports_error(call):
                continue
            self._claimed.add((iface, call["id"]))
            return call
        return None

    @staticmethod
    def _told_text(call: Call) -> str:
        if _errqueue(call):
            return f"read by {call_label(call)} from the socket's error queue (IP_RECVERR)"
        if call["call"] == "getsockopt":
            ret = call.get("ret")
            return f"{call_label(call)} reads SO_ERROR = {ret} ({ERRNO_NAMES.get(ret, 'errno')})"
        what = call.get("exception") or call.get("error")
        return f"{call_label(call)} raised {what} because of it"

    def _not_told_text(self, sender: Call) -> str:
        sock = self.log.socks.get(str(sender.get("sock")))
        calls = sock.calls if sock else []
        connected = any(c["call"] in ("connect", "connect_ex") and not c.get("error") for c in calls)
        recverr = any("RECVERR" in str(args_of(c).get("optname")) for c in calls)
        if sock and sock.stype == "SOCK_DGRAM" and not connected and not recverr:
            return "no call hears of it: an unconnected UDP socket is not told about ICMP errors"
        return "no traced call reported it"


def _errqueue(call: Call) -> bool:
    """A read of the socket's error queue (recvmsg with MSG_ERRQUEUE)."""
    return "ERRQUEUE" in str(args_of(call).get("flags"))


def _reports_error(call: Call) -> bool:
    """Whether this call hands an ICMP error to the program."""
    if _errqueue(call):
        return not call.get("error") and not call.get("exception")
    if call["call"] == "getsockopt" and args_of(call).get("optname") == "SO_ERROR":
        return isinstance(call.get("ret"), int) and call["ret"] != 0
    what = call.get("exception") or call.get("error")
    return bool(what) and str(what) not in NOT_TOLD
