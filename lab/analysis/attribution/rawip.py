"""Routing protocol packets (OSPF, EIGRP): one raw IP datagram is one sendmsg() of a routing daemon.

Routing daemons talk over raw IP sockets (``socket(AF_INET, SOCK_RAW, 89)`` for OSPF, 88 for EIGRP), so
there are no ports to match: a captured message is matched to the daemon's send call by the bytes of
the IP payload (their hash, which strace's dump of the call gives), the sender address and, where the
daemon wrote its own IP header with an ID (ospfd does, eigrpd leaves it to the kernel), that ID — then
time decides between identical messages (a Hello repeats the same bytes every interval): the earliest
call not yet matched on that capture interface, as for UDP datagrams. The receivers are the daemons
whose recvmsg() returned the same bytes from the same sender (several on a LAN, for a multicast).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lab.analysis.attribution.calllog import TOL_NS, CallLog
from lab.analysis.attribution.causes import Call, make_cause, packet_time
from lab.records import Datagram, PacketRecord, RawIPHeader

Rec = PacketRecord  # as the pipeline builds it: every key but ``cause``
SEND_WINDOW_NS = 1_000_000_000  # a raw datagram reaches the wire within this time of its send call
# a daemon reads a datagram within this time of its arrival: well under a hello interval (1 s here), so the
# same Hello bytes one interval later are never taken for this one's reading
RECV_WINDOW_NS = 200_000_000


def daemon_call_label(call: Call) -> str:
    """``ospfd on r1 sendmsg() #12`` (the program's name when the call log has it)."""
    who = f"{call['program']} on {call.get('node', '?')}" if call.get("program") else call.get("node", "?")
    return f"{who} {call['call']}() #{call['id']}"


class RawIpRules:
    """Match routing-protocol packets (records with a ``routing`` header) to raw-socket calls."""

    def __init__(self, log: CallLog) -> None:
        self._sends: dict[str, list[Call]] = defaultdict(list)  # payload hash -> send calls, in time order
        self._recvs: dict[str, list[Call]] = defaultdict(list)
        for call in log.calls:
            dgram = call.get("dgram")  # a log given to lab analyze --calls may leave out any key but three
            if not dgram or not dgram.get("raw") or call.get("error"):
                continue
            sha1 = dgram.get("sha1")
            if not sha1:  # the tracer saw only part of the bytes (or did not say): nothing to match by
                continue
            out = call["call"].startswith(("send", "write"))
            (self._sends if out else self._recvs)[sha1].append(call)
        for calls in (*self._sends.values(), *self._recvs.values()):
            calls.sort(key=lambda c: c["t_start_ns"])
        self._matched: set[tuple[str, int]] = set()  # (capture interface, call id)

    def cause(self, rec: Rec) -> dict[str, Any]:
        info, ip = rec.get("routing"), rec["ip"]
        if info is None:  # the dispatcher sends only routing protocol packets here
            raise ValueError(f"frame {rec['number']}: not a routing protocol packet")
        iface, ts = rec["interface"], packet_time(rec)
        src, dst, ipid = (ip["src"], ip["dst"], ip["id"]) if ip is not None else (None, None, None)
        sha = info.get("sha1")
        what = f"{info.get('protocol')} {info.get('message')} to {dst}"
        send = self._send(sha, src, dst, ipid, ts, iface)
        recvs = self._receivers(sha, src, ts, iface)
        read = "; received by " + ", ".join(daemon_call_label(c) for c in recvs) if recvs else ""
        rule = f"{str(info.get('protocol', 'ip')).lower()}-send"
        if send is None:
            text = f"routing daemon on {src}: {what} (no traced call sent it){read}"
            return make_cause("inferred", rule, text, recvs)
        return make_cause("call", rule, f"{daemon_call_label(send)}: {what}{read}", [send],
                          consumed_by=[c["id"] for c in recvs] or None)

    def _send(self, sha: str | None, src: str | None, dst: str | None, ipid: int | None, ts: int,
              iface: str) -> Call | None:
        if sha is None:
            return None
        for call in self._sends.get(sha, ()):
            if call["t_start_ns"] > ts + TOL_NS:
                break
            if (iface, call["id"]) in self._matched or call["t_start_ns"] < ts - SEND_WINDOW_NS:
                continue
            dgram = _raw(call)
            header = _header(dgram)
            peer = dgram.get("peer")
            to = peer[0] if peer else None
            if _header_src(header) not in (None, "0.0.0.0", src) or to not in (None, dst):
                continue
            if header is not None and header.get("id") and ipid is not None and header["id"] != ipid:
                continue
            self._matched.add((iface, call["id"]))
            return call
        return None

    def _receivers(self, sha: str | None, src: str | None, ts: int, iface: str) -> list[Call]:
        """The first unmatched recvmsg() of each node that returned these bytes from ``src``."""
        found: dict[str, Call] = {}
        if sha is None:
            return []
        for call in self._recvs.get(sha, ()):
            if call["t_start_ns"] > ts + RECV_WINDOW_NS:
                break
            node = str(call.get("node"))
            if node in found or (iface, call["id"]) in self._matched:
                continue
            end = call.get("t_end_ns")  # a log made elsewhere may not say when the read returned
            if (end if end is not None else call["t_start_ns"]) < ts - TOL_NS:
                continue
            if _header_src(_header(_raw(call))) != src:
                continue
            found[node] = call
        for call in found.values():
            self._matched.add((iface, call["id"]))
        return list(found.values())


def _raw(call: Call) -> Datagram:
    """The datagram of a raw call filed above (it has one)."""
    dgram = call["dgram"]
    if dgram is None:
        raise ValueError(f"call {call['id']}: no datagram")
    return dgram


def _header(dgram: Datagram) -> RawIPHeader | None:
    """The IPv4 header of a raw datagram, when the bytes showed it (absent or null otherwise)."""
    return dgram.get("ip")


def _header_src(header: RawIPHeader | None) -> str | None:
    """The source a raw datagram's own IP header names; None when it has none, or names none (a log made
    elsewhere)."""
    return header.get("src") if header is not None else None
