"""The syntax of ``strace -f -ttt -T -yy -x`` output: lines -> complete syscall events.

This module knows strace's text, nothing about sockets: it joins ``<unfinished ...>`` / ``<... resumed>``
halves (which interleave across threads and processes under ``-f``), splits arguments at top-level commas,
and decodes the pieces the socket layer needs (fd decorations, C strings, sockaddrs, return values).
``strace.py`` gives the events their socket meaning.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_LINE = re.compile(r"^(?:(?P<pid>\d+)\s+)?(?P<ts>\d+\.\d+)\s+(?P<rest>.*)$")
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>\s?(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>\w+)\(")
_RET = re.compile(r"^\s*=\s*(?P<ret>.*?)(?:\s+<(?P<dur>\d+\.\d+)>)?\s*$")
_RET_ERR = re.compile(r"^-1 (?P<err>E[A-Z0-9]+)\b")
_RET_RESTART = re.compile(r"^\? (?P<err>E[A-Z0-9]+)\b")
_RET_NUM = re.compile(r"^(?P<num>-?(?:0x[0-9a-fA-F]+|\d+))(?:<(?P<dec>.*)>)?(?:\s+\(.*\))?$")
_EXIT = re.compile(r"^\+\+\+ (?:exited with (?P<code>\d+)|killed by (?P<sig>\w+)(?: \(core dumped\))?)"
                   r" \+\+\+$")
_FD = re.compile(r"^(?P<fd>-?\d+)(?:<(?P<dec>.*)>)?$", re.S)


@dataclass(frozen=True)
class Syscall:
    """One complete syscall as strace printed it (both halves joined when it was interrupted)."""

    tid: int
    name: str
    args: tuple[str, ...]  # top-level argument texts, unparsed
    ret: int | None  # None when strace printed ``?`` (the process died inside the call)
    ret_dec: str | None  # -yy decoration of a returned fd, e.g. ``TCP:[1.2.3.4:5->6.7.8.9:10]``
    error: str | None  # errno name on failure
    t_start_ns: int
    t_end_ns: int
    line: int  # line number of the completing line, for error messages


@dataclass(frozen=True)
class Exit:
    """``+++ exited with N +++`` / ``+++ killed by SIG +++`` of one thread or process."""

    tid: int
    status: int | None
    signal: str | None
    t_ns: int
    line: int


def ts_ns(text: str) -> int:
    """``1795639799.952086`` (strace -ttt, microseconds) -> integer nanoseconds, without float rounding."""
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def events(lines: Iterable[str]) -> Iterator[Syscall | Exit]:
    """Complete events in the order strace completed them (a resumed call appears at its resume line)."""
    pending: dict[int, tuple[str, int]] = {}  # tid -> (text before " <unfinished ...>", start ns)
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        m = _LINE.match(line)
        if m is None:
            continue
        tid = int(m["pid"] or 0)
        t = ts_ns(m["ts"])
        rest = m["rest"]
        if rest.startswith("+++"):
            e = _EXIT.match(rest)
            if e:
                yield Exit(tid, int(e["code"]) if e["code"] else None, e["sig"], t, n)
            continue
        if rest.startswith("---"):  # a signal
            continue
        r = _RESUMED.match(rest)
        if r is not None:
            head = pending.pop(tid, None)
            if head is None:
                continue  # resumed without its start (trace began mid-call)
            text, t0 = head
            rest = text + r["rest"]
        elif rest.endswith(_UNFINISHED):
            pending[tid] = (rest[: -len(_UNFINISHED)], t)
            continue
        else:
            t0 = t
        ev = _complete(tid, rest, t0, n)
        if ev is not None:
            yield ev


def _complete(tid: int, text: str, t0: int, n: int) -> Syscall | None:
    m = _CALL.match(text)
    if m is None:
        return None
    end = _close_paren(text, m.end() - 1)
    if end < 0:
        return None
    args = tuple(a for a in split_args(text[m.end(): end]) if a != "")
    rm = _RET.match(text[end + 1:])
    if rm is None:
        return None
    ret_text = rm["ret"]
    dur = rm["dur"]
    t1 = t0 + (ts_ns(dur) if dur else 0)
    ret: int | None = None
    dec = error = None
    if (e := _RET_ERR.match(ret_text)) is not None:
        ret, error = -1, e["err"]
    elif (e := _RET_RESTART.match(ret_text)) is not None:
        error = e["err"]
    elif (num := _RET_NUM.match(ret_text)) is not None:
        ret = int(num["num"], 0)
        dec = num["dec"]
    return Syscall(tid, m["name"], args, ret, dec, error, t0, t1, n)


_QUOTED_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_OPEN = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _scan(text: str, start: int, stop_at_comma: bool) -> int:
    """Index of the top-level ``,`` (or of the bracket closing the one at ``start``); -1 if none."""
    stack: list[str] = []
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            m = _QUOTED_REST.match(text, i + 1)  # jump over the string (payloads can be kilobytes)
            i = m.end() - 1 if m else n
        elif c == "<":
            if i > 0 and text[i - 1].isdigit() or stack and stack[-1] == ">":
                stack.append(">")  # an fd decoration 3<TCP:[...]> (or a path's <char 1:3> inside one)
        elif c in "([{":
            stack.append(_OPEN[c])
        elif c in ")]}>":
            if stack and stack[-1] == c:
                stack.pop()
                if not stack and not stop_at_comma:
                    return i
            elif c != ">" and not stack and stop_at_comma:
                return i  # unbalanced close ends the argument list
        elif c == "," and stop_at_comma and not stack:
            return i
        i += 1
    return -1


def _close_paren(text: str, open_index: int) -> int:
    return _scan(text, open_index, stop_at_comma=False)


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments (quotes, brackets and fd decorations respected)."""
    out = []
    i = 0
    while i <= len(text):
        j = _scan(text, i, stop_at_comma=True)
        if j < 0:
            out.append(text[i:].strip())
            break
        out.append(text[i:j].strip())
        i = j + 1
    return out


def parse_fd(arg: str) -> tuple[int | None, str | None]:
    """``3<TCP:[1.2.3.4:5->6.7.8.9:10]>`` -> (3, "TCP:[...]"); anything else -> (None, None)."""
    m = _FD.match(arg.strip())
    if m is None:
        return None, None
    return int(m["fd"]), m["dec"]


_escape_decode = codecs.escape_decode  # type: ignore[attr-defined]  # CPython's C-escape decoder
_ESC = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "\\": 92, '"': 34, "'": 39, "?": 63}
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?', re.S)


def decode_c_string(body: str) -> bytes:
    """The bytes of a strace C string body (``\\xNN``, octal and letter escapes)."""
    if "\\" not in body:
        return body.encode("utf-8", "surrogateescape")
    if body.isascii():
        try:
            return _escape_decode(body.encode("ascii"))[0]  # C speed: megabytes of strace text
        except ValueError:
            pass
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        e = body[i + 1]
        if e == "x":
            out.append(int(body[i + 2: i + 4], 16))
            i += 4
        elif e.isdigit():
            j = i + 1
            while j < n and j < i + 4 and body[j] in "01234567":
                j += 1
            out.append(int(body[i + 1: j], 8) & 0xFF)
            i = j
        else:
            out.append(_ESC.get(e, ord(e)))
            i += 2
    return bytes(out)


def parse_string(arg: str) -> tuple[bytes, bool] | None:
    """A quoted string argument -> (bytes shown, truncated?); None when the argument is not a string."""
    m = _STRING.match(arg.strip())
    if m is None:
        return None
    return decode_c_string(m[1]), bool(m[2])


def iov_bytes(arg: str) -> tuple[bytes, bool]:
    """Concatenated ``iov_base`` strings of an iovec array / msghdr, and whether any was truncated."""
    data = bytearray()
    truncated = False
    for m in re.finditer(r'iov_base=("(?:[^"\\]|\\.)*")(\.\.\.)?', arg, re.S):
        data += decode_c_string(m[1][1:-1])
        truncated = truncated or bool(m[2])
    return bytes(data), truncated


_SA_FAMILY = re.compile(r"sa_family=(\w+)")
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_ADDR4 = re.compile(r'sin_addr=inet_addr\("([^"]*)"\)')
_ADDR6 = re.compile(r'inet_pton\(AF_INET6,\s*"([^"]*)"')
_SUN = re.compile(r'sun_path=(@?)("(?:[^"\\]|\\.)*")')


def parse_sockaddr(arg: str) -> tuple[str | None, list | str | None]:
    """A sockaddr struct text -> (family name, [ip, port] | unix path | None)."""
    fam = _SA_FAMILY.search(arg)
    if fam is None:
        return None, None
    family = fam[1]
    port = _PORT.search(arg)
    if family == "AF_INET":
        ip = _ADDR4.search(arg)
        return family, [ip[1] if ip else None, int(port[1]) if port else None]
    if family == "AF_INET6":
        ip = _ADDR6.search(arg)
        return family, [ip[1] if ip else None, int(port[1]) if port else None]
    if family == "AF_UNIX":
        sun = _SUN.search(arg)
        if sun is None:
            return family, None
        path = decode_c_string(sun[2][1:-1]).decode("utf-8", "backslashreplace")
        return family, ("@" + path) if sun[1] else path
    return family, None


_DEC_SOCK = re.compile(r"^(?P<proto>[A-Z][A-Z0-9-]*(?:v6)?):\[(?P<body>.*)\]$", re.S)
_ENDPOINT = re.compile(r"^\[?(?P<ip>[0-9A-Fa-f:.]+?)\]?:(?P<port>\d+)$")

# -yy protocol names of sockets -> (family, type)
SOCKET_PROTOCOLS = {
    "TCP": ("AF_INET", "SOCK_STREAM"), "TCPv6": ("AF_INET6", "SOCK_STREAM"),
    "UDP": ("AF_INET", "SOCK_DGRAM"), "UDPv6": ("AF_INET6", "SOCK_DGRAM"),
    "UDPLITE": ("AF_INET", "SOCK_DGRAM"), "UDPLITEv6": ("AF_INET6", "SOCK_DGRAM"),
    "RAW": ("AF_INET", "SOCK_RAW"), "RAWv6": ("AF_INET6", "SOCK_RAW"),
    "UNIX": ("AF_UNIX", None), "UNIX-STREAM": ("AF_UNIX", "SOCK_STREAM"),
    "UNIX-DGRAM": ("AF_UNIX", "SOCK_DGRAM"), "UNIX-SEQPACKET": ("AF_UNIX", "SOCK_SEQPACKET"),
    "NETLINK": ("AF_NETLINK", None), "PACKET": ("AF_PACKET", None), "SCTP": ("AF_INET", None),
    "SCTPv6": ("AF_INET6", None), "socket": (None, None),
}


@dataclass(frozen=True)
class Decoration:
    """What ``-yy`` says about a socket fd. Addresses may be stale (strace caches the text per inode)."""

    proto: str
    family: str | None
    type: str | None
    local: list | None
    peer: list | None


def parse_decoration(dec: str | None) -> Decoration | None:
    """``TCP:[127.0.0.1:40312->127.0.0.1:5000]`` -> Decoration; None for files, pipes and the like."""
    if not dec:
        return None
    m = _DEC_SOCK.match(dec)
    if m is None or m["proto"] not in SOCKET_PROTOCOLS:
        return None
    family, stype = SOCKET_PROTOCOLS[m["proto"]]
    local = peer = None
    body = m["body"]
    if family in ("AF_INET", "AF_INET6"):
        ends = body.split("->")
        local = _endpoint(ends[0])
        peer = _endpoint(ends[1]) if len(ends) > 1 else None
    return Decoration(m["proto"], family, stype, local, peer)


def _endpoint(text: str) -> list | None:
    m = _ENDPOINT.match(text.strip())
    if m is None or m["ip"].isdigit():  # a bare inode number
        return None
    return [m["ip"], int(m["port"])]
