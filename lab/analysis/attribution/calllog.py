"""The call log as an index: sockets, their calls and byte offsets, and the lookups attribution needs.

Built once per run from ``calls.jsonl``. A socket is found by the packet's endpoints (local port, peer
address), by a connect() under way (a refused or timed-out connect leaves no local port), by a listening
port, or by a UDP port; time only picks between sockets that reused the same ports.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal, cast

from lab.analysis.attribution.causes import Call
from lab.errors import TraceError
from lab.identity import norm_ip

Endpoint = tuple[str, int]

TOL_NS = 2_000_000  # a packet is captured after the call that sent it began; allow scheduler slack
CONNECT_CALLS = {"connect", "connect_ex"}
CLOSE_CALLS = {"close", "shutdown"}
SENDING_CALLS = CONNECT_CALLS | {"sendto", "send", "sendall", "sendmsg", "write", "sendmmsg", "writev"}
WILDCARD = {"0.0.0.0", "::", ""}
READ_CALLS = ("recv", "read", "makefile-read")


# -- reading a call log someone handed us (``lab analyze --calls``) ------------------------------------
# The attribution rules below read the records with .get() and compare, sort and subtract their fields;
# a field of the wrong type would surface as a TypeError deep inside a rule. So a log given from outside
# is checked record by record against this table first, and the first bad record is named by its line.
# The table is what attribution needs, looser than what our tracers write (``lab/schema/call.schema.json``):
# a log made elsewhere may leave fields out (unknown) or number its sockets.
MAX_INT = (1 << 63) - 1  # every number in a record is a 64-bit value (times in ns, byte offsets, ids)


def _int(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int):
        return f"must be an integer, not {_kind(v)}"
    return None if 0 <= v <= MAX_INT else f"{v} out of range 0..2^63-1"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) else f"must be a string, not {_kind(v)}"


def _name(v: Any) -> str | None:
    return None if isinstance(v, str) and v else f"must be a non-empty string, not {_kind(v)}"


def _sock_id(v: Any) -> str | None:
    return None if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) else (
        f"must be a socket id (string or integer), not {_kind(v)}")


def _mapping(v: Any) -> str | None:
    return None if isinstance(v, dict) else f"must be an object, not {_kind(v)}"


def _address(v: Any) -> str | None:
    """``[host, port, ...]`` (an IP socket; an AF_PACKET one: [interface, protocol]), a string (an AF_UNIX
    path), or integers only (an AF_NETLINK socket: [port id, groups], as the tracer writes it)."""
    if isinstance(v, str):
        return None
    if isinstance(v, list) and len(v) >= 2 and all(type(x) is int for x in v):
        return None
    if not isinstance(v, list) or len(v) < 2 or not isinstance(v[0], str):
        return f"must be an address [host, port] or a path, not {_kind(v)}"
    port = v[1]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        return f"port must be an integer 0..65535, not {json.dumps(port)[:40]}"
    return None


def _any(v: Any) -> str | None:
    return None


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    name = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(v), type(v).__name__)
    return f"{name} {json.dumps(v)[:40]}" if not isinstance(v, dict | list) else name


# field -> (check, required); a field that is absent or null is "not known" unless required
CALL_FIELDS: dict[str, tuple[Callable[[Any], str | None], bool]] = {
    "call": (_name, True),
    "t_start_ns": (_int, True),
    "t_end_ns": (_int, False),
    "id": (_int, False),
    "tracer": (_text, False),
    "node": (_text, False),
    "pid": (_int, False),
    "tid": (_int, False),
    "sock": (_sock_id, False),
    "fd": (_int, False),
    "args": (_mapping, False),
    "ret": (_any, False),
    "error": (_text, False),
    "exception": (_text, False),
    "family": (_text, False),
    "type": (_text, False),
    "local": (_address, False),
    "peer": (_address, False),
    "nbytes": (_int, False),
    "sent_before": (_int, False),
    "sent_after": (_int, False),
    "recv_before": (_int, False),
    "recv_after": (_int, False),
    "dgram": (_mapping, False),
}
DGRAM_FIELDS: dict[str, Callable[[Any], str | None]] = {"peer": _address, "len": _int, "sha1": _text}
RET_FIELDS: dict[str, Callable[[Any], str | None]] = {"sock": _sock_id, "peer": _address}


def call_problem(rec: Any) -> str | None:
    """What is wrong with one call record (``None``: nothing the attribution rules would trip over)."""
    if not isinstance(rec, dict):
        return f"a call record is a JSON object, not {_kind(rec)}"
    for key, (check, required) in CALL_FIELDS.items():
        value = rec.get(key)
        if value is None:
            if required:
                return f"missing field '{key}'"
            continue
        problem = check(value)
        if problem:
            return f"field '{key}' {problem}"
    for outer, fields in (("dgram", DGRAM_FIELDS), ("ret", RET_FIELDS)):
        inner = rec.get(outer)
        if isinstance(inner, dict):
            for key, check in fields.items():
                if inner.get(key) is not None and (problem := check(inner[key])):
                    return f"field '{outer}.{key}' {problem}"
    if rec.get("t_end_ns") is not None and rec["t_end_ns"] < rec["t_start_ns"]:
        return f"bad times: t_end_ns {rec['t_end_ns']} is before t_start_ns {rec['t_start_ns']}"
    for what in ("sent", "recv"):
        before, after = rec.get(f"{what}_before"), rec.get(f"{what}_after")
        if (before is None) != (after is None):
            return f"'{what}_before' and '{what}_after' go together (one is missing)"
        if before is not None and after < before:
            return f"bad byte offsets: {what}_after {after} is before {what}_before {before}"
    return None


def read_call_log(path: Path | str) -> list[Call]:
    """Read and check a calls.jsonl handed to ``lab analyze --calls``, record by record.

    Records without an ``id`` are numbered after the highest one given (the attribution rules refer to
    calls by id); a ``t_end_ns`` of null is dropped (unknown, as if absent).

    Raises:
        TraceError: ``FILE: line N: problem`` for the first line that is not UTF-8, not JSON, or not a
            call record (a field missing or of the wrong type, times or byte offsets that go backwards,
            an id used twice); or the file cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a call log")
    if path.exists() and not path.is_file():
        raise TraceError(f"{path}: not a regular file (a call log is a calls.jsonl file)")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as err:
        raise TraceError(f"{path}: cannot read the call log: {err.strerror}") from None
    records: list[Call] = []
    ids: dict[int, int] = {}
    with fh:
        for n, raw in enumerate(fh, 1):
            where = f"{path}: line {n}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise TraceError(f"{where}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
                                 ) from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise TraceError(f"{where}: not JSON ({err.msg} at column {err.colno})") from None
            except RecursionError:
                raise TraceError(f"{where}: JSON nested too deeply") from None
            problem = call_problem(rec)
            if problem is None and rec.get("id") is not None:
                if rec["id"] in ids:
                    problem = f"id {rec['id']} already used on line {ids[rec['id']]}"
                ids[rec["id"]] = n
            if problem:
                raise TraceError(f"{where}: {problem}")
            if rec.get("t_end_ns", 0) is None:
                del rec["t_end_ns"]
            records.append(rec)
    next_id = max(ids, default=0) + 1
    for rec in records:
        if rec.get("id") is None:
            rec["id"] = next_id
            next_id += 1
    return records


norm_host = cast(Callable[[str], str], norm_ip)
"""``norm_ip`` of an address that is there (a packet's ``ip.src``, an address's host): a string, as
``norm_ip`` returns None only for None (the same function, typed for that case: no cost on the hot path)."""


def endpoint(addr: Any) -> Endpoint | None:
    """(host, port) of an IP socket address; None for anything else (unknown, a path, a netlink address)."""
    if isinstance(addr, list | tuple) and len(addr) >= 2 and isinstance(addr[1], int):
        return (norm_host(str(addr[0])), addr[1])
    return None


def args_of(call: Call) -> dict[str, Any]:
    """The call's arguments as the tracer recorded them: ``{}`` when a log made elsewhere records none
    (``args`` absent or null) -- no argument is known, which the rules read as not given."""
    args = call.get("args")
    return args if args is not None else {}


def end_ns(call: Call) -> int:
    """When the call returned; 0 when a log made elsewhere does not say (``read_call_log`` drops a null
    ``t_end_ns``): a call whose end is unknown counts as long over, so it is never running at a packet."""
    end = call.get("t_end_ns")
    return end if end is not None else 0


def offset(call: Call, key: Literal["sent_before", "sent_after", "recv_before", "recv_after"]) -> int:
    """A running byte offset of the call's socket; 0 when there is none (null: no stream socket call;
    absent: a log made elsewhere)."""
    value = call.get(key)
    return value if value is not None else 0


def is_peek(call: Call) -> bool:
    """A receive with MSG_PEEK: it copies the data and leaves it queued; a later read consumes it."""
    return "MSG_PEEK" in str(args_of(call).get("flags"))


def is_linger0(args: dict[str, Any]) -> bool:
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


def ends_writing(call: Call) -> bool:
    """A call after which the kernel sends FIN: close() of the last reference, shutdown(SHUT_WR/RDWR),
    or the process exiting with the socket open. A close() that only dropped a makefile() or dup()
    reference, or closed an already closed socket, ends nothing."""
    name, args = call["call"], args_of(call)
    if call.get("error") or name not in CLOSE_CALLS | {"exit"}:
        return False
    if args.get("deferred") or args.get("already_closed") or args.get("last_ref") is False:
        return False
    return name == "exit" or shutdown_writes(call)


def at_exit(call: Call) -> bool:
    return call["call"] == "exit" or args_of(call).get("via") == "gc"


def shutdown_writes(call: Call) -> bool:
    if call["call"] == "close":
        return True
    how = args_of(call).get("how")
    return how in (1, 2, "SHUT_WR", "SHUT_RDWR", "1", "2")


@dataclass
class Socket:
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
    dgram_peeks: list[Call] = field(default_factory=list)  # recv(MSG_PEEK): read a copy, consumed nothing
    first_ns: int = 0
    linger0: bool = False

    @property
    def closers(self) -> list[Call]:
        return [c for c in self.calls if ends_writing(c)]

    def could_be_at(self, ip: str) -> bool:
        """Whether packets from or to ``ip`` can be this socket's: its address, a wildcard bind, unknown,
        or a loopback address (on lo a wildcard-bound peer may answer from any 127.x)."""
        return (
            self.local is None
            or self.local[0] in WILDCARD
            or self.local[0] == ip
            or (self.local[0].startswith("127."))
        )

    def sent_total(self, before_ns: int) -> int:
        return max((offset(c, "sent_after") for c in self.calls if c["t_start_ns"] <= before_ns), default=0)

    def finish(self) -> None:
        """Sort what attribution searches, so that each packet costs a bisection, not a scan."""
        # a call is in sends (recvs) because its offsets moved: sent_after (recv_after) is a number
        self.sends.sort(key=lambda c: offset(c, "sent_after"))
        self.recvs.sort(key=lambda c: offset(c, "recv_after"))
        self._send_ends = [offset(c, "sent_after") for c in self.sends]
        self._recv_ends = [offset(c, "recv_after") for c in self.recvs]
        self._reads = [c for c in self.calls if c["call"].startswith(READ_CALLS)]
        self._read_starts = [c["t_start_ns"] for c in self._reads]
        # the latest end among the datagram reads up to each one (they are in start order, their ends not)
        self._dgram_read_ends = list(accumulate((end_ns(c) for c in self.dgram_recvs), max))

    def dgram_reads_from(self, earliest_end: int) -> int:
        """The index in ``dgram_recvs`` before which every read returned before ``earliest_end``."""
        return bisect_left(self._dgram_read_ends, earliest_end)

    def sending(self, start: int, end: int) -> list[Call]:
        """The send calls whose bytes overlap the stream range [start, end)."""
        i = bisect_right(self._send_ends, start)
        out = []
        while i < len(self.sends) and offset(self.sends[i], "sent_before") < end:
            out.append(self.sends[i])
            i += 1
        return out

    def receiving(self, start: int, end: int) -> list[Call]:
        """The receive calls that consumed bytes of the stream range [start, end)."""
        i = bisect_right(self._recv_ends, start)
        out = []
        while i < len(self.recvs) and offset(self.recvs[i], "recv_before") < end:
            out.append(self.recvs[i])
            i += 1
        return out

    def reading_at(self, ts: int) -> Call | None:
        """The receive call running at ``ts`` (started at or before it, not yet returned), if any."""
        i = bisect_right(self._read_starts, ts) - 1
        if i >= 0 and ts <= end_ns(self._reads[i]):
            return self._reads[i]
        return None


class CallLog:
    """Every socket of a run's call log, indexed for attribution."""

    def __init__(
        self,
        calls: Iterable[Call],
        *,
        ip_nodes: dict[str, str] | None = None,
        mac_nodes: dict[str, str] | None = None,
    ) -> None:
        self.calls = sorted(calls, key=lambda c: (c["t_start_ns"], c["id"]))
        self.socks: dict[str, Socket] = {}
        self.ip_nodes: dict[str, str] = dict(ip_nodes) if ip_nodes is not None else {}
        self.mac_nodes = {k.lower(): v for k, v in mac_nodes.items()} if mac_nodes is not None else {}
        self._index()

    def _sock(self, call: Call, sid: str | None = None) -> Socket:
        sid = sid or str(call.get("sock"))
        sock = self.socks.get(sid)
        if sock is None:
            sock = self.socks[sid] = Socket(
                sid, str(call.get("node", "?")), call.get("pid"), first_ns=call["t_start_ns"]
            )
        return sock

    def _index(self) -> None:
        for call in self.calls:
            if call.get("sock") is None:
                continue
            sock = self._sock(call)
            sock.calls.append(call)
            sock.stype = sock.stype or call.get("type")
            local, peer = endpoint(call.get("local")), endpoint(call.get("peer"))
            if local and local[1]:
                sock.local = local
                if local[0] not in WILDCARD and not local[0].startswith("127."):
                    self.ip_nodes.setdefault(local[0], sock.node)
            if peer and peer[1]:
                sock.peer = sock.peer or peer
            name = call["call"]
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
                child.peer = child.peer or endpoint(call["ret"].get("peer"))
                if child.local is None and sock.local:
                    child.local = sock.local
            elif name == "setsockopt" and is_linger0(args_of(call)):
                sock.linger0 = True
            # byte offsets are null on calls of no stream socket, and a log made elsewhere may leave them
            # out: 0 then (read inline, not through offset(): this runs once per call of the log)
            sb, sa = call.get("sent_before"), call.get("sent_after")
            rb, ra = call.get("recv_before"), call.get("recv_after")
            sent = (sa if sa is not None else 0) > (sb if sb is not None else 0)
            if sent:
                sock.sends.append(call)
            if (ra if ra is not None else 0) > (rb if rb is not None else 0):
                sock.recvs.append(call)
            dgram = call.get("dgram")
            if dgram and not call.get("error"):
                if sent or name.startswith(("send", "write")):
                    sock.dgram_sends.append(call)
                elif is_peek(call):
                    sock.dgram_peeks.append(call)
                else:
                    sock.dgram_recvs.append(call)
        # accepted sockets learn their local address from the listening socket's port at least
        self.by_tuple: dict[tuple[int, str, int], list[Socket]] = defaultdict(list)
        self.listeners: dict[int, list[Socket]] = defaultdict(list)
        self.udp_by_port: dict[int, list[Socket]] = defaultdict(list)
        for sock in self.socks.values():
            if sock.local and sock.peer and sock.stype != "SOCK_DGRAM":
                self.by_tuple[(sock.local[1], sock.peer[0], sock.peer[1])].append(sock)
            if sock.listen and sock.local:
                self.listeners[sock.local[1]].append(sock)
            if sock.stype == "SOCK_DGRAM" and sock.local:
                self.udp_by_port[sock.local[1]].append(sock)
        self.connects_to: dict[Endpoint, list[Socket]] = defaultdict(list)
        for sock in self.socks.values():
            if sock.connect:
                target = endpoint(args_of(sock.connect).get("address")) or endpoint(sock.connect.get("peer"))
                if target:
                    self.connects_to[target].append(sock)
        self.udp_socks = [s for socks in self.udp_by_port.values() for s in socks]
        for sock in self.socks.values():
            sock.finish()
        self.traced_nodes = {sock.node for sock in self.socks.values()}

    def tcp_sock(self, local: Endpoint, peer: Endpoint, ts: int) -> Socket | None:
        """The socket at ``local`` talking to ``peer`` at time ``ts`` (latest one opened before it)."""
        cands = [s for s in self.by_tuple.get((local[1], peer[0], peer[1]), []) if s.could_be_at(local[0])]
        if not cands:
            return None
        before = [s for s in cands if s.first_ns <= ts + TOL_NS]
        return max(before or cands, key=lambda s: s.first_ns)

    def connecting(self, local: Endpoint, peer: Endpoint, ts: int) -> Socket | None:
        """A socket whose connect() to ``peer`` was under way at ``ts``: a refused or timed-out connect
        leaves no local port to match by (getsockname() after the failure shows port 0).

        When several connects overlap in time, the one whose recorded local port is the packet's wins;
        otherwise the one that started last before the packet.
        """
        running = []
        for sock in self.connects_to.get(peer, []):
            call = sock.connect
            if call and call["t_start_ns"] <= ts + TOL_NS and ts <= end_ns(call) + TOL_NS:
                running.append(sock)
        for sock in running:
            ports = {p[1] for p in (endpoint(c.get("local")) for c in sock.calls) if p} | (
                {sock.local[1]} if sock.local else set()
            )
            if local[1] in ports:
                return sock
        started = [s for s in running if s.connect and s.connect["t_start_ns"] <= ts]
        return max(started or running, key=lambda s: s.connect["t_start_ns"], default=None)  # type: ignore[index]

    def node_of(self, ip: str | None, mac: str | None = None) -> str:
        if mac and mac.lower() in self.mac_nodes:
            return self.mac_nodes[mac.lower()]
        ip = norm_ip(ip)
        return self.ip_nodes.get(ip if ip is not None else "", ip or "?")

    def listener(self, local: Endpoint, ts: int) -> Socket | None:
        cands = [
            s
            for s in self.listeners.get(local[1], [])
            if s.listen and s.listen["t_start_ns"] <= ts + TOL_NS and s.could_be_at(local[0])
        ]
        return max(cands, key=lambda s: s.listen["t_start_ns"]) if cands else None  # type: ignore[index]

    def trigger(self, node: str, src_ip: str, target_ip: str, ts: int) -> Call | None:
        """The call whose packet made ``node``'s kernel resolve a neighbour: its latest sender towards it.

        Only calls of that node count (a router resolving a next hop forwards someone else's packet), and a
        connect() of a UDP socket sends nothing, so it triggers nothing.
        """
        best: Call | None = None
        best_score: tuple[bool, int] = (False, -1)
        for sock in self.socks.values():
            if sock.node != node:
                continue
            for call in sock.calls:
                if call["t_start_ns"] > ts or call["call"] not in SENDING_CALLS:
                    continue
                if call["call"] in CONNECT_CALLS and sock.stype == "SOCK_DGRAM":
                    continue
                local = endpoint(call.get("local")) or sock.local
                if local and local[0] not in WILDCARD and local[0] != src_ip:
                    continue
                dgram = call.get("dgram")
                peer = (
                    (endpoint(dgram.get("peer")) if dgram is not None else None)
                    or endpoint(call.get("peer"))
                    or sock.peer
                )
                score = (peer is not None and peer[0] == target_ip, call["t_start_ns"])
                if score > best_score:
                    best, best_score = call, score
        return best
