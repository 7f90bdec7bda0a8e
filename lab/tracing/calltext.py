"""A recorded socket call as a student writes it in Python, with what Python hands back.

The ladder, the story and the run report show calls in one spelling, taken from ``calls.jsonl``: the
arguments the program passed (``recvfrom(1024)``, not the bytes it got) and the result as Python returns
it (``recvfrom`` returns ``(data, address)``, ``accept`` returns ``(socket, address)``, ``connect_ex``
returns an errno number), or the exception the program saw (``TimeoutError: timed out``). Nothing the
tracer recorded is hidden: ``socket()`` shows family, type and protocol, ``fileno()`` its descriptor.

Records from strace (non-Python programs) carry fewer fields; what is missing is left out, never guessed.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.records import CallRecord, PacketRecord

# the protocol the kernel picks for proto=0 (the only one there is for these family/type pairs)
DEFAULT_PROTO = {"SOCK_STREAM": ("IPPROTO_TCP", 6), "SOCK_DGRAM": ("IPPROTO_UDP", 17)}
PROTO_NAMES = {0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 2: "IPPROTO_IGMP", 6: "IPPROTO_TCP", 17: "IPPROTO_UDP",
               58: "IPPROTO_ICMPV6", 89: "OSPF", 88: "EIGRP", 255: "IPPROTO_RAW"}
# Windows (Winsock) reports the same events with its own numbers: 10000 + the BSD errno
WINSOCK = {"ECONNREFUSED": 10061, "ETIMEDOUT": 10060, "EHOSTUNREACH": 10065, "ENETUNREACH": 10051,
           "ECONNRESET": 10054, "EINPROGRESS": 10036, "EWOULDBLOCK": 10035, "EAGAIN": 10035,
           "EADDRINUSE": 10048, "EALREADY": 10037, "EISCONN": 10056}
# what Python says when it raises these without an errno (socket.timeout is TimeoutError since 3.10)
PLAIN_MESSAGES = {"TimeoutError": "timed out"}
_ESCAPED = re.compile(rb"\\x([0-9a-f]{2})")
# calls whose Python result is a number (the others return None, or are shown above)
INT_RESULTS = ("send", "sendto", "sendmsg", "sendfile", "write", "fileno")
DATA_CALLS = ("send", "sendall", "sendto", "sendmsg", "write")
READ_CALLS = ("recv", "recvfrom", "recv_into", "recvfrom_into", "recvmsg", "recvmsg_into", "read")


def py_addr(addr: Any) -> str:
    """``('198.18.0.1', 43063)`` — an address as Python holds it (a tuple), or the text recorded."""
    if isinstance(addr, list | tuple) and len(addr) >= 2 and isinstance(addr[1], int):
        return f"({str(addr[0])!r}, {addr[1]})"
    return repr(addr) if isinstance(addr, str) else str(addr)


def _data(preview: Any, nbytes: Any) -> str:
    """``b'hello' (5 B)``: the bytes object (its first 32 bytes as recorded) and its length."""
    size = f" ({nbytes} B)" if isinstance(nbytes, int) else ""
    if not isinstance(preview, str):
        return f"<{nbytes} B>" if isinstance(nbytes, int) else "<data>"
    # the tracer decoded the first 32 bytes as UTF-8 with backslashreplace: undo it
    shown = _ESCAPED.sub(lambda m: bytes([int(m[1], 16)]), preview.encode("utf-8", "replace"))
    cut = len(shown) > 24 or (isinstance(nbytes, int) and nbytes > len(shown))
    return f"{shown[:24]!r}{'...' if cut else ''}{size}"


def socket_args(args: Mapping[str, Any]) -> list[str]:
    """``AF_INET, SOCK_STREAM, 0 (= IPPROTO_TCP 6)``: family, type and protocol as passed."""
    family, stype, proto = args.get("family"), args.get("type"), args.get("proto")
    out = [str(x) for x in (family, stype) if x is not None]
    if isinstance(proto, int):
        default = DEFAULT_PROTO.get(str(stype)) if str(family) in ("AF_INET", "AF_INET6") else None
        if proto == 0 and default:
            out.append(f"0 (= {default[0]} {default[1]})")
        elif proto in PROTO_NAMES and proto:
            out.append(f"{PROTO_NAMES[proto]}={proto}")
        else:
            out.append(str(proto))
    elif proto is not None:
        out.append(str(proto))
    return out


def exception_text(call: CallRecord) -> str:
    """``TimeoutError: timed out`` or ``ConnectionRefusedError: [Errno 111] Connection refused``: what
    Python prints for the exception the call raised (rebuilt from the errno name when the record has no
    message)."""
    exc, err = call["exception"], call["error"]
    message = call.get("message")
    if not exc:  # strace, or a call that reports its failure as a value
        return str(err)
    if message:
        return f"{exc}: {message}"
    code = getattr(errno, str(err), None) if err else None
    if isinstance(code, int):
        return f"{exc}: [Errno {code}] {os.strerror(code)}"
    plain = PLAIN_MESSAGES.get(str(exc))
    return f"{exc}: {plain}" if plain else str(exc)


def errno_text(code: int, name: str | None = None) -> str:
    """``111 (ECONNREFUSED; Windows reports 10061 WSAECONNREFUSED for the same event)``."""
    name = name or errno.errorcode.get(code, "")
    win = WINSOCK.get(name)
    note = f"; Windows reports {win} WSA{name} for the same event" if win else ""
    return f"{code} ({name}{note})" if name else str(code)


def _arguments(call: CallRecord) -> list[str]:
    args = call["args"]
    name = call["call"]
    if name == "socket":
        return socket_args(args)
    shown: list[str] = []
    if name.startswith(DATA_CALLS):
        shown.append(_data(args.get("preview"), args.get("nbytes", call["nbytes"])))
    elif name.startswith(READ_CALLS):
        size = args.get("bufsize", args.get("nbytes"))
        if size is not None:
            shown.append(str(size))
    reading = name.startswith(READ_CALLS)
    for key in ("address", "backlog", "how", "level", "optname", "value", "flag", "timeout", "flags"):
        if key in args and not (reading and key == "address"):  # where a datagram came from is a result
            value = args[key]
            shown.append(py_addr(value) if key == "address" else str(value))
    return shown


def _outcome(call: CallRecord) -> str:
    name = call["call"]
    ret = call["ret"]
    args = call["args"]
    if name == "connect_ex" and isinstance(ret, int):
        return f" -> {errno_text(ret, call['error'])}" if ret else " -> 0"
    if call["error"]:
        return f" -> {exception_text(call)}"
    if name == "socket":
        return f" -> fd {call['fd']}" if call["fd"] is not None else ""
    if name in ("accept", "accept4") and isinstance(ret, dict):
        peer = f", {py_addr(ret['peer'])}" if ret.get("peer") else ""
        return f" -> (<socket fd {ret.get('fd')}>{peer})"
    if name.startswith(READ_CALLS):
        data = _data(args.get("preview"), call["nbytes"])
        if call["nbytes"] == 0 and not args.get("preview"):
            data = "b'' (0 B: the peer closed its side)" if call["type"] == "SOCK_STREAM" else "b'' (0 B)"
        dgram = call["dgram"]
        source = dgram["peer"] if dgram is not None else None
        if name in ("recvfrom", "recvfrom_into") and isinstance(ret, list) and len(ret) == 2:
            first = str(ret[0]) if name.endswith("_into") else data
            return f" -> ({first}, {py_addr(ret[1])})"
        if "address" in args:  # strace's recvfrom(): the source address it filled in
            return f" -> {data} from {py_addr(args['address'])}"
        if name.startswith("recvmsg") and isinstance(ret, list) and len(ret) == 4:
            return f" -> ({data}, ancdata {ret[1]}, flags {ret[2]}, {py_addr(ret[3])})"
        if name.endswith("_into"):
            return f" -> {ret}" + (f" from {py_addr(source)}" if source else "")
        return f" -> {data}"
    if name in ("getsockname", "getpeername") and ret is not None:
        return f" -> {py_addr(ret)}"
    if name == "sendall":
        return " -> None"
    if name.startswith(INT_RESULTS) and isinstance(ret, int) and not isinstance(ret, bool):
        return f" -> {ret}"
    return ""  # bind, listen, connect, close, setsockopt...: Python returns None


def call_text(call: CallRecord) -> str:
    """``recvfrom(1024) -> (b'one' (3 B), ('198.18.0.1', 43063))`` — a call as written, with its outcome."""
    return f"{call['call']}({', '.join(_arguments(call))}){_outcome(call)}"


class SendWaits:
    """Whether a stream send call waited for its peer, decided from the packets (packets.jsonl records).

    A send() returns as soon as the kernel has queued its bytes; it waits only when the send buffer is full
    and the peer must acknowledge bytes before more fit. The rule, from packet facts: the call waited when
    the peer acknowledged some of the call's own bytes while the call was still running *and* some of its
    bytes left only after that ACK — the call was still handing bytes over when its first ones were
    already acknowledged. A short send whose segment left at once and was acknowledged while the tracer
    and the scheduler held the call did not wait: its duration is overhead, not the network.
    """

    def __init__(self, packets: Iterable[PacketRecord]) -> None:
        self._segments: dict[int, list[int]] = {}  # call id -> times its (first-sighting) segments left
        self._acks: dict[tuple[str, int], list[tuple[int, int]]] = {}  # receiver -> (time, relative ack)
        for p in packets:
            tcp, ip, cause = p["tcp"], p["ip"], p["cause"]
            if tcp is None or ip is None or cause.get("copy_of") is not None:
                continue
            ts = p["ts_ns"] or 0
            if tcp["len"] and cause["source"] == "call":
                for cid in cause.get("calls", []):
                    self._segments.setdefault(cid, []).append(ts)
            if tcp["flags"] is not None and "ACK" in tcp["flags"] and tcp["ack"] is not None:
                self._acks.setdefault((ip["dst"], tcp["dport"]), []).append((ts, tcp["ack"]))

    def waited(self, call: CallRecord) -> bool | None:
        """True: the call waited for the peer's ACKs; False: it did not; None: not a stream send."""
        if not call["call"].startswith(DATA_CALLS) or call["type"] != "SOCK_STREAM":
            return None
        start, end = call["t_start_ns"], call["t_end_ns"]
        local = call["local"]
        if not (isinstance(local, list | tuple) and len(local) >= 2) or call["error"]:
            return None
        before = int(call["sent_before"] or 0)
        # the relative ACK number counts the SYN: ack - 1 bytes of the stream are acknowledged
        acks = [t for t, ack in self._acks.get((str(local[0]), int(local[1] or 0)), [])
                if start <= t <= end and ack - 1 > before]
        if not acks:
            return False
        return any(s > acks[0] for s in self._segments.get(call["id"], []))


def duration_text(call: CallRecord, waited: bool | None) -> str:
    """``returns after 0.170 ms``, saying for a stream send what the time means (see ``SendWaits``)."""
    took = (call["t_end_ns"] - call["t_start_ns"]) / 1e6
    sent, want = call["nbytes"], call["args"].get("nbytes")
    if (waited is not None and call["call"] == "send" and isinstance(sent, int) and isinstance(want, int)
            and sent < want):
        return (f"returns after {took:.3f} ms: only {sent} of {want} bytes fitted in the send buffer "
                f"(send() hands over what fits and returns the count; sendall() would loop for the rest)")
    if waited is True:
        return f"returns after {took:.3f} ms: it blocked until the peer's ACKs made room (send buffer full)"
    if waited is False:
        return (f"returns after {took:.3f} ms (the data was queued at once; the time is scheduling and "
                f"tracing overhead, not waiting for the network)")
    return f"returns after {took:.3f} ms"
