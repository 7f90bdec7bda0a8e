"""Socket-call tracer injected into unmodified Python programs (stdlib only; imported by sitecustomize).

Why a standalone module: it runs inside someone else's program, possibly under another interpreter and with
another ``lab`` on its path, so it imports nothing of the ``lab`` package and keeps no state beyond this
module.

How it records: the methods of ``socket.socket`` (the Python subclass of ``_socket.socket`` that every
library socket, accepted socket and asyncio socket is an instance of) are replaced by wrappers that call the
C method, take ``time.time_ns()`` before and after, and write one JSON line per call to
``$LAB_TRACE_DIR/calls-<node>-<pid>.jsonl`` (schema: calls.jsonl in the project notes, without ``id``).

Choices worth knowing:

- Per kernel socket state lives in a registry keyed by fd (the objects have ``__slots__``); the socket id is
  ``pid:fd:generation`` where the generation counts sockets this process opened on that fd.
- Byte offsets are assigned when a call returns, so they always partition the stream even when two threads
  write one socket. ``sendall`` is one record; if it fails part-way, the bytes it did queue are read back
  from the kernel (TCP_INFO bytes_acked + SIOCOUTQ), which keeps later offsets exact.
- ``makefile()`` I/O is recorded as the underlying ``recv_into``/``send`` calls (what the kernel sees) with
  ``args.via = "makefile"``; ``close()`` while a file still holds the socket is recorded with
  ``args.deferred`` and the real close, when the last file closes, with ``args.via = "makefile"``.
- ``error`` is the errno name when the exception carries one, else the exception class name (a Python
  timeout has no errno), so ``error`` is non-null exactly when the call failed; ``message`` (only on a
  failed call) is ``str()`` of the exception, what the program would print (``timed out``). The exception
  object the program sees is the one the C call raised, re-raised unchanged.
- Each record is written with one ``os.write`` to an O_APPEND file under one lock: nothing is buffered, so a
  crash loses nothing and there is nothing to flush at exit. ``os.fork`` children get their own file.
- Raw sockets (AF_PACKET, and SOCK_RAW of AF_INET/AF_INET6) move whole frames or packets a program built
  itself (scapy does): each send/receive gets a ``dgram`` with ``raw: true`` and a hash of the bytes, so
  the analysis can find the call that wrote a captured frame by its bytes. ``level`` says what was hashed:
  ``link`` (an AF_PACKET SOCK_RAW frame, Ethernet header included), ``network`` (AF_PACKET SOCK_DGRAM:
  from the IP header on) or ``ip-payload`` (raw IP: what follows the IP header, as the strace converter
  records it, because the kernel fills in the header's checksum and sometimes its ID).
- TLS payload inside ``ssl.SSLSocket`` goes through OpenSSL, not these methods: the connect/close of such a
  socket is recorded, its encrypted records are not.
"""

from __future__ import annotations

import _socket
import atexit as _atexit
import contextlib as _contextlib
import errno as _errno
import fcntl as _fcntl
import hashlib as _hashlib
import json as _json
import os as _os
import socket as _sockmod
import threading as _threading
import time as _time
import weakref as _weakref

_C = _socket.socket
_T = _time.time_ns
_fileno = _C.fileno
_sha1 = _hashlib.sha1
_dumps = _json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=True).encode
_estr = _json.encoder.encode_basestring_ascii
_native_id = _threading.get_native_id

_SIOCINQ = 0x541B  # FIONREAD
_SIOCOUTQ = 0x5411  # TIOCOUTQ
_TCP_INFO = getattr(_socket, "TCP_INFO", 11)
_INET = (_socket.AF_INET, _socket.AF_INET6)
_STREAM = _socket.SOCK_STREAM
_DGRAM = _socket.SOCK_DGRAM
_RAW = _socket.SOCK_RAW
_PACKET = getattr(_socket, "AF_PACKET", -1)
_IP_HDRINCL = getattr(_socket, "IP_HDRINCL", 3)
_PEEK = _socket.MSG_PEEK


def _names(prefix: str, preferred: tuple[str, ...] = ()) -> dict[int, str]:
    table: dict[int, str] = {}
    for name in preferred:
        if hasattr(_socket, name):
            table[int(getattr(_socket, name))] = name
    for name, value in vars(_socket).items():
        if name.startswith(prefix) and isinstance(value, int):
            table.setdefault(int(value), name)
    return table


_AF = _names("AF_", ("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET", "AF_UNSPEC"))
_TYPE = _names("SOCK_", ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_SEQPACKET", "SOCK_RDM"))
_TYPE_MASK = ~(getattr(_socket, "SOCK_NONBLOCK", 0) | getattr(_socket, "SOCK_CLOEXEC", 0))
_LEVEL = _names("SOL_", ("SOL_SOCKET", "SOL_TCP", "SOL_UDP", "SOL_IP"))
_LEVEL.update({_socket.IPPROTO_TCP: "IPPROTO_TCP", _socket.IPPROTO_IP: "IPPROTO_IP",
               _socket.IPPROTO_IPV6: "IPPROTO_IPV6", _socket.IPPROTO_UDP: "IPPROTO_UDP",
               _socket.SOL_SOCKET: "SOL_SOCKET"})
_OPT = {
    _socket.SOL_SOCKET: _names("SO_", ("SO_REUSEADDR", "SO_REUSEPORT", "SO_ERROR", "SO_LINGER")),
    _socket.IPPROTO_TCP: _names("TCP_", ("TCP_NODELAY", "TCP_INFO")),
    _socket.IPPROTO_IP: _names("IP_", ("IP_TTL", "IP_TOS")),
    _socket.IPPROTO_IPV6: _names("IPV6_", ("IPV6_V6ONLY",)),
}
# Linux IP options older Pythons do not name (IP_MTU_DISCOVER, IP_RECVERR, IP_MTU): shown by name anyway
for _value, _name in ((10, "IP_MTU_DISCOVER"), (11, "IP_RECVERR"), (14, "IP_MTU")):
    _OPT[_socket.IPPROTO_IP].setdefault(_value, _name)
_SHUT = {_socket.SHUT_RD: "SHUT_RD", _socket.SHUT_WR: "SHUT_WR", _socket.SHUT_RDWR: "SHUT_RDWR"}
_MSG = [(int(v), k) for k, v in vars(_socket).items() if k.startswith("MSG_") and isinstance(v, int) and v]


class _Sock:
    """What the tracer knows about one kernel socket (per fd)."""

    __slots__ = ("sid", "fd", "family", "stype", "family_name", "type_name", "local", "peer", "sent",
                 "recv", "pending", "active", "inode", "refs", "nfds", "shared", "json", "json_local",
                 "json_peer")

    def __init__(self, sid: str, fd: int, family: int, stype: int) -> None:
        self.sid = sid
        self.fd = fd
        self.family = family
        self.stype = stype
        self.family_name = _AF.get(family, str(family))
        self.type_name = _TYPE.get(stype, str(stype))
        self.local = None
        self.peer = None
        self.sent = 0
        self.recv = 0
        self.pending = False  # peer not yet readable (non-blocking connect in progress)
        self.active = False  # connect() was called: the kernel counts our SYN in tcpi_bytes_acked
        self.inode = _inode(fd)
        self.refs = []  # (fd, weak reference) of the socket objects using it
        self.nfds = 1  # fds of this process that refer to it (dup, fromfd)
        self.shared = False  # open across a fork: another process may move bytes, ask the kernel
        self.json = ""  # cached JSON of family/type/local/peer, for (json_local, json_peer)
        self.json_local = self.json_peer = 0


# --- process-wide tracer state (reset in fork children) -------------------------------------------------
_DIR = ""
_NODE = "local"
_NODE_JSON = '"local"'
_PID = 0
_out_fd: int | None = None
_lock = _threading.Lock()
_reg_lock = _threading.Lock()
_tls = _threading.local()
_socks: dict[int, _Sock] = {}
_gen: dict[int, int] = {}
_installed = False


def _open_out() -> int:
    global _out_fd
    _os.makedirs(_DIR, exist_ok=True)
    path = _os.path.join(_DIR, f"calls-{_NODE}-{_PID}.jsonl")
    _out_fd = _os.open(path, _os.O_WRONLY | _os.O_CREAT | _os.O_APPEND | _os.O_CLOEXEC, 0o644)
    return _out_fd


def _write_line(text: str) -> None:
    line = text.encode()
    with _lock:
        try:
            fd = _out_fd if _out_fd is not None else _open_out()
            view = memoryview(line)
            while view:
                view = view[_os.write(fd, view):]
        except OSError:
            pass  # the program closed our fd or the disk is full: never break the program


def _after_fork_parent() -> None:
    for st in list(_socks.values()):
        st.shared = True


def _after_fork_child() -> None:
    global _PID, _out_fd, _lock, _reg_lock, _tls
    _after_fork_parent()
    _PID = _os.getpid()
    _lock = _threading.Lock()
    _reg_lock = _threading.Lock()
    _tls = _threading.local()
    if _out_fd is not None:
        with _contextlib.suppress(OSError):
            _os.close(_out_fd)
    _out_fd = None


# --- small converters -------------------------------------------------------------------------------------
def _addr(a):
    """An address as JSON: [host, port] for IP, the path for AF_UNIX, else a list of str."""
    if a is None:
        return None
    if isinstance(a, tuple):
        if len(a) >= 2 and isinstance(a[1], int) and isinstance(a[0], str):
            return [a[0], a[1]]
        return [x if isinstance(x, (int, str)) else repr(x) for x in a]
    if isinstance(a, bytes):
        return a.decode("utf-8", "backslashreplace")
    return a if isinstance(a, str) else repr(a)


def _preview(buf, n: int | None = None):
    try:
        k = 32 if n is None else min(n, 32)
        b = buf[:k] if type(buf) is bytes else bytes(memoryview(buf).cast("B")[:k])
        return b.decode("utf-8", "backslashreplace")
    except (TypeError, ValueError):
        return None


def _payload(buf, n: int) -> bytes:
    try:
        return buf[:n] if type(buf) is bytes else bytes(memoryview(buf).cast("B")[:n])
    except (TypeError, ValueError):
        return b""


def _buflen(buf) -> int | None:
    try:
        return len(buf) if type(buf) is bytes else memoryview(buf).nbytes
    except TypeError:
        return None


def _flags(f) -> str | None:
    if not f or not isinstance(f, int):
        return None
    return "|".join(name for bit, name in _MSG if f & bit == bit) or str(f)


def _errname(e: BaseException) -> str:
    n = getattr(e, "errno", None)
    if isinstance(n, int):
        return _errno.errorcode.get(n, str(n))
    return type(e).__name__


def _tid() -> int:
    """The thread's kernel id, cached per thread (a syscall otherwise)."""
    try:
        return _tls.tid
    except AttributeError:
        _tls.tid = tid = _native_id()
        return tid


class _Quiet:
    """Suppress records of calls a wrapper's own implementation makes (accept's socket(), sendfile's send)."""

    __slots__ = ()

    def __enter__(self):
        _tls.quiet = getattr(_tls, "quiet", 0) + 1

    def __exit__(self, *exc):
        _tls.quiet -= 1


_QUIET = _Quiet()


def _getname(sock, which):
    try:
        return _addr(which(sock))
    except OSError:
        return None


_FIN_SENT = frozenset({4, 5, 6, 7, 9, 11})  # FIN_WAIT1/2, TIME_WAIT, CLOSE, LAST_ACK, CLOSING
_FIN_RECEIVED = frozenset({6, 8, 9, 11})  # TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING


def _kernel_offsets(sock, fd: int, active: bool) -> tuple[int, int] | None:
    """Bytes the application has written to / read from this TCP socket, as the kernel counts them.

    tcpi_bytes_acked + SIOCOUTQ is everything written, plus the SYN on the active side and our FIN once
    sent; tcpi_bytes_received - SIOCINQ is everything read, plus the peer's FIN once received.
    """
    try:
        info = _C.getsockopt(sock, _socket.IPPROTO_TCP, _TCP_INFO, 256)
        if len(info) < 136:
            return None
        state = info[0]
        acked = int.from_bytes(info[120:128], "little")
        received = int.from_bytes(info[128:136], "little")
        outq = bytearray(4)
        inq = bytearray(4)
        _fcntl.ioctl(fd, _SIOCOUTQ, outq)
        _fcntl.ioctl(fd, _SIOCINQ, inq)
    except OSError:
        return None
    sent = acked + int.from_bytes(outq, "little") - (1 if active else 0) - (state in _FIN_SENT)
    got = received - int.from_bytes(inq, "little") - (state in _FIN_RECEIVED)
    return max(sent, 0), max(got, 0)


def _guess_active(local, peer) -> bool:
    """For a socket of unknown origin: the side with an ephemeral port is the one that connected."""
    try:
        return local[1] >= 32768 > peer[1]
    except (TypeError, IndexError):
        return False


def _register(sock, fd: int, *, reuse: bool, probe: bool, like: _Sock | None = None) -> _Sock:
    """Start tracking the socket on ``fd``.

    ``reuse`` keeps a known fd's state (adopting a detached fd); ``like`` is the state of the socket this
    fd duplicates: the new fd shares it (same kernel socket, same id and offsets, as with strace); ``probe``
    asks the kernel for addresses and offsets of a socket of unknown history.
    """
    if like is not None:
        with _reg_lock:
            _socks[fd] = like
            like.nfds += 1
        _watch(sock, fd, like)
        return like
    with _reg_lock:
        if reuse:
            old = _socks.get(fd)
            if old is not None:
                _watch(sock, fd, old)
                return old
        g = _gen.get(fd, 0) + 1
        _gen[fd] = g
        st = _Sock(f"{_PID}:{fd}:{g}", fd, _C.family.__get__(sock), _C.type.__get__(sock) & _TYPE_MASK)
        _socks[fd] = st
    _watch(sock, fd, st)
    if probe:
        st.local = _getname(sock, _C.getsockname)
        st.peer = _getname(sock, _C.getpeername)
        if st.stype == _STREAM and st.family in _INET and st.peer is not None:
            st.active = _guess_active(st.local, st.peer)
            offs = _kernel_offsets(sock, fd, st.active)
            if offs is not None:
                st.sent, st.recv = offs
    return st


def _inode(fd: int):
    try:
        return _os.fstat(fd).st_ino
    except OSError:
        return None


def _watch(sock, fd: int, st: _Sock) -> None:
    """Notice a socket closed by garbage collection (no close() call): record it as a close via gc."""

    def gone(ref, fd=fd, st=st):
        with _contextlib.suppress(ValueError):
            st.refs.remove((fd, ref))
        if any(f == fd for f, _ in st.refs) or _socks.get(fd) is not st or _inode(fd) == st.inode:
            return  # another object still uses the fd, it was closed properly, or it is only detached
        _forget(fd, st)
        t = _T()
        _emit("close", st, fd, {"via": "gc"}, None, None, t, t)

    st.refs.append((fd, _weakref.ref(sock, gone)))


def _at_exit() -> None:
    """Sockets still open when the interpreter exits: the kernel closes them after us (FIN at exit)."""
    t = _T()
    for fd, st in sorted(_socks.items()):
        if _inode(fd) == st.inode:
            _emit("exit", st, fd, {}, None, None, t, t)


def _resync(sock, fd: int, st: _Sock, sent: int, received: int) -> None:
    """For a socket shared with another process: set the offsets to where the kernel says this call began."""
    if st.stype == _STREAM and st.family in _INET:
        offs = _kernel_offsets(sock, fd, st.active)
        if offs is not None:
            st.sent, st.recv = offs[0] - sent, offs[1] - received


def _forget(fd: int, st: _Sock) -> None:
    with _reg_lock:
        if _socks.get(fd) is st:
            del _socks[fd]
            st.nfds -= 1


def _emit(call, st, fd, args, ret, err, t0, t1, nbytes=None, sb=None, sa=None, rb=None, ra=None,
          dgram=None, error=None) -> None:
    exception = None
    message = ""
    if err is not None:
        exception = type(err).__name__
        error = _errname(err)
        message = f',"message":{_estr(str(err))}'
    via = getattr(_tls, "via", None)
    if via is not None:
        args["via"] = via
    # Formatted by hand in the documented field order (json.dumps of the whole dict was most of the
    # tracer's per-call cost); the socket's part is cached on its state until its addresses change.
    if st is not None:
        if sb is None:
            sb = sa = st.sent
            rb = ra = st.recv
        if st.local is not st.json_local or st.peer is not st.json_peer:
            st.json_local, st.json_peer = st.local, st.peer
            st.json = (f'"family":"{st.family_name}","type":"{st.type_name}","local":{_j(st.local)},'
                       f'"peer":{_j(st.peer)}')
        sock = f'"{st.sid}"'
        tail = (f'{st.json},"nbytes":{_j(nbytes)},"sent_before":{sb},"sent_after":{sa},'
                f'"recv_before":{rb},"recv_after":{ra}')
    else:
        sock = "null"
        tail = ('"family":null,"type":null,"local":null,"peer":null,"nbytes":null,"sent_before":null,'
                '"sent_after":null,"recv_before":null,"recv_after":null')
    _write_line(
        f'{{"tracer":"python","node":{_NODE_JSON},"pid":{_PID},"tid":{_tid()},"sock":{sock},'
        f'"fd":{_j(fd)},"call":"{call}","args":{_j(args)},"ret":{_j(ret)},'
        f'"error":{"null" if error is None else _estr(error)},'
        f'"exception":{"null" if exception is None else _estr(exception)},'
        f'"t_start_ns":{t0},"t_end_ns":{t1},{tail},"dgram":{"null" if dgram is None else _j(dgram)}'
        f'{message}}}\n')


def _j(v) -> str:
    """JSON text of a record value (str, int, None, bool, list, tuple, dict of those); anything else,
    floats included, through the encoder (an unknown type as its ``str``)."""
    t = type(v)
    if t is int:
        return str(v)
    if v is None:
        return "null"
    if t is str:
        return _estr(v)
    if t is list or t is tuple:
        return "[" + ",".join([_j(x) for x in v]) + "]"
    if t is dict:
        return "{" + ",".join([_estr(str(k)) + ":" + _j(x) for k, x in v.items()]) + "}"
    if t is bool:
        return "true" if v else "false"
    return _dumps(v)


def _dgram(st: _Sock, addr, data: bytes) -> dict | None:
    if st.stype != _DGRAM or st.family not in _INET:
        return None
    return {"peer": addr if addr is not None else st.peer, "len": len(data),
            "sha1": _sha1(data).hexdigest()[:16]}


def _raw(sock, st: _Sock, addr, data: bytes, out: bool, source) -> dict | None:
    """The ``dgram`` of a frame or packet moved by a raw socket (see the module docstring), else None."""
    digest = _sha1
    if st.family == _PACKET:
        rec = {"raw": True, "level": "link" if st.stype == _RAW else "network", "peer": addr,
               "len": len(data), "sha1": digest(data).hexdigest()[:16]}
        if not out and type(source) is tuple and len(source) > 2:
            rec["pkttype"] = source[2]  # 4: PACKET_OUTGOING, a copy of a frame this node sent
        return rec
    if st.stype != _RAW or st.family not in _INET:
        return None  # netlink and other families carry no network packets
    ip = None
    hdrincl = not out
    if out and st.family == _socket.AF_INET:
        try:
            hdrincl = sock.proto == 255 or bool(_C.getsockopt(sock, _socket.IPPROTO_IP, _IP_HDRINCL))
        except OSError:
            hdrincl = False
    if hdrincl and len(data) >= 20 and data[0] >> 4 == 4:  # IPv4 raw reads (and IP_HDRINCL sends) have it
        ip = {"src": ".".join(map(str, data[12:16])), "dst": ".".join(map(str, data[16:20])),
              "id": int.from_bytes(data[4:6], "big"), "proto": data[9]}
        data = data[(data[0] & 15) * 4:]
    peer = addr if out or ip is None else [ip["src"], 0]
    return {"peer": peer, "len": len(data), "sha1": digest(data).hexdigest()[:16], "raw": True,
            "level": "ip-payload", "ip": ip}


def _target(sock):
    """(fd, state, record?) of a socket: ``record`` is False, and ``state`` None, for a socket the tracer
    does not know and for calls made while the tracer itself is working (``_tls.quiet``)."""
    fd = _fileno(sock)
    st = _socks.get(fd)
    if st is None and fd >= 0:
        return fd, None, False
    if getattr(_tls, "quiet", 0):
        return fd, None, False
    return fd, st, True


# --- wrappers: data out -----------------------------------------------------------------------------------
def _traced(name: str, real, record):
    """The one shape of every traced method: run the real call between two clock reads, then hand the
    result or the exception to ``record(self, st, fd, a, k, result, exc, t0, t1)``; the program gets the
    same result or the same exception object."""

    def wrapper(self, *a, **k):
        fd, st, rec = _target(self)
        if not rec:
            return real(self, *a, **k)
        t0 = _T()
        try:
            r = real(self, *a, **k)
        except BaseException as e:
            record(self, st, fd, a, k, None, e, t0, _T())
            raise
        record(self, st, fd, a, k, r, None, t0, _T())
        return r

    wrapper.__name__ = name
    wrapper.__qualname__ = f"socket.{name}"
    wrapper.__doc__ = real.__doc__
    return wrapper


def _out_wrapper(name: str, real, data_i: int, flags_of, addr_of, whole: bool):
    """send/sendall/sendto: ``whole`` means the call moves all of its data or raises (sendall)."""

    def record(self, st, fd, a, k, r, e, t0, t1):
        _out_record(name, self, st, fd, a, k, data_i, flags_of, addr_of, r, e, t0, t1, whole)

    return _traced(name, real, record)


def _out_record(name, sock, st, fd, a, k, data_i, flags_of, addr_of, r, err, t0, t1, whole):
    data = a[data_i] if len(a) > data_i else k.get("data", b"")
    want = _buflen(data)
    args = {"nbytes": want, "preview": _preview(data)}
    try:
        f = _flags(flags_of(a, k))
        if f:
            args["flags"] = f
        addr = _addr(addr_of(a, k))
        if addr is not None:
            args["address"] = addr
    except (IndexError, TypeError):
        addr = None
    if st is None:
        _emit(name, None, fd, args, r if not whole else None, err, t0, t1)
        return
    if err is None:
        n = (want or 0) if whole else r
    elif whole and st.stype == _STREAM and st.family in _INET:
        offs = _kernel_offsets(sock, fd, st.active)
        n = max(0, min(want or 0, offs[0] - st.sent)) if offs else 0
    else:
        n = 0
    if st.shared:
        _resync(sock, fd, st, n, 0)
    sb = st.sent
    st.sent = sa = sb + n
    if st.pending:
        _refresh_peer(sock, st)
    if st.stype == _DGRAM and (st.local is None or st.local[1:2] == [0]):
        st.local = _getname(sock, _C.getsockname)
    dg = None
    if err is None and st.stype != _STREAM:
        dg = _dgram(st, addr, _payload(data, n)) if st.stype == _DGRAM and st.family in _INET else \
            _raw(sock, st, addr, _payload(data, n), True, None)
    _emit(name, st, fd, args, None if whole else r, err, t0, t1, n, sb, sa, st.recv, st.recv, dg)


def _sendmsg(self, *a, **k):
    fd, st, rec = _target(self)
    if not rec:
        return _orig["sendmsg"](self, *a, **k)
    bufs = list(a[0]) if a else list(k.pop("buffers", ()))
    a = (bufs,) + a[1:]
    t0 = _T()
    try:
        r = _orig["sendmsg"](self, *a, **k)
    except BaseException as e:
        t1 = _T()
        _out_record("sendmsg", self, st, fd, (b"".join(_payload(b, 1 << 30) for b in bufs),) + a[1:], k, 0,
                    _arg_at(2), _arg_at(3), None, e, t0, t1, False)
        raise
    t1 = _T()
    _out_record("sendmsg", self, st, fd, (b"".join(_payload(b, 1 << 30) for b in bufs),) + a[1:], k, 0,
                _arg_at(2), _arg_at(3), r, None, t0, t1, False)
    return r


def _arg_at(i: int, key: str | None = None):
    def get(a, k):
        if len(a) > i:
            return a[i]
        return k.get(key) if key else None

    return get


def _none(a, k):
    return None


def _sendto_flags(a, k):
    return a[1] if len(a) == 3 else None


def _last(a, k):
    return a[-1] if len(a) >= 2 else None


# --- wrappers: data in ------------------------------------------------------------------------------------
def _in_wrapper(name: str, real, kind: str, flags_i: int):
    """recv-like calls; ``kind``: bytes (recv), into (recv_into), from (recvfrom), from_into, msg(_into)."""

    def record(self, st, fd, a, k, r, e, t0, t1):
        _in_record(name, self, st, fd, a, k, kind, flags_i, r, e, t0, t1)

    return _traced(name, real, record)


def _in_record(name, sock, st, fd, a, k, kind, flags_i, r, err, t0, t1):
    flags = a[flags_i] if len(a) > flags_i else k.get("flags", 0)
    addr = source = None
    data = b""  # where the received bytes are (the first n of it); never copied for stream sockets
    n = 0
    ret = None
    if kind == "bytes":
        args = {"bufsize": a[0] if a else k.get("bufsize")}
        if r is not None:
            data = r
            ret = n = len(r)
    elif kind in ("into", "from_into"):
        buf = a[0] if a else k.get("buffer")
        args = {"bufsize": (a[1] if len(a) > 1 else k.get("nbytes", 0)) or _buflen(buf)}
        if r is not None:
            data = buf
            ret = n = r if kind == "into" else r[0]
            if kind == "from_into":
                source = r[1]
                addr = _addr(source)
                ret = [n, addr]
    elif kind == "from":
        args = {"bufsize": a[0] if a else None}
        if r is not None:
            data, source = r[0], r[1]
            addr = _addr(source)
            ret = [len(data), addr]
            n = len(data)
    else:  # msg, msg_into
        if kind == "msg":
            args = {"bufsize": a[0] if a else None}
        else:
            bufs = a[0] if a else ()
            args = {"buffers": len(bufs) if hasattr(bufs, "__len__") else None}
        if r is not None:
            if kind == "msg":
                data = r[0]
                n = len(data)
            else:
                data = b"".join(_payload(b, 1 << 30) for b in bufs)
                n = r[0]
            source = r[3]
            addr = _addr(source)
            ret = [n, len(r[1]), r[2], addr]
    fl = _flags(flags)
    if fl:
        args["flags"] = fl
    if r is not None:
        args["preview"] = _preview(data, n)
    if st is None:
        _emit(name, None, fd, args, ret, err, t0, t1)
        return
    peek = isinstance(flags, int) and flags & _PEEK
    if st.shared:
        _resync(sock, fd, st, 0, 0 if peek else n)
    rb = st.recv
    if not peek:
        st.recv = rb + n
    if st.pending:
        _refresh_peer(sock, st)
    dg = None
    if st.stype != _STREAM and err is None and r is not None:
        dg = _dgram(st, addr, _payload(data, n)) if st.stype == _DGRAM and st.family in _INET else \
            _raw(sock, st, addr, _payload(data, n), False, source)
    _emit(name, st, fd, args, ret, err, t0, t1, n, st.sent, st.sent, rb, st.recv, dg)


def _refresh_peer(sock, st: _Sock) -> None:
    peer = _getname(sock, _C.getpeername)
    if peer is not None:
        st.peer = peer
        st.pending = False


# --- wrappers: control calls ------------------------------------------------------------------------------
def _ctl_wrapper(name: str, real, args_of, ret_of=None, after=None):
    def record(self, st, fd, a, k, r, e, t0, t1):
        if after is not None and st is not None:
            after(self, st, a, e, r)
        ret = None if e is not None else (ret_of(r) if ret_of else r)
        _emit(name, st, fd, _safe_args(args_of, a, k), ret, e, t0, t1)

    return _traced(name, real, record)


def _safe_args(args_of, a, k) -> dict:
    try:
        return args_of(a, k)
    except (IndexError, TypeError, KeyError):
        return {"unparsed": repr(a)[:64]}


def _after_connect(sock, st, a, err, r) -> None:
    st.active = True
    st.local = _getname(sock, _C.getsockname)
    code = r if isinstance(r, int) else getattr(err, "errno", 0) if err is not None else 0
    if code in (0, _errno.EINPROGRESS, _errno.EALREADY, _errno.EISCONN, _errno.EAGAIN):
        peer = _getname(sock, _C.getpeername)
        st.peer = peer
        st.pending = peer is None
    else:
        st.pending = False


def _after_bind(sock, st, a, err, r) -> None:
    st.local = _getname(sock, _C.getsockname)


def _after_listen(sock, st, a, err, r) -> None:
    if st.local is None or st.local[1:2] == [0]:
        st.local = _getname(sock, _C.getsockname)


def _after_getsockname(sock, st, a, err, r) -> None:
    if err is None:
        st.local = _addr(r)


def _after_getpeername(sock, st, a, err, r) -> None:
    if err is None:
        st.peer = _addr(r)
        st.pending = False


def _address_args(a, k):
    return {"address": _addr(a[0] if a else k.get("address"))}


def _sockopt_args(a, k):
    level, opt = a[0], a[1]
    args = {"level": _LEVEL.get(level, level), "optname": _OPT.get(level, {}).get(opt, opt)}
    if len(a) > 2:
        v = a[2]
        if isinstance(v, int) or v is None:
            args["value"] = v
        else:  # a struct (SO_LINGER, timeouts...): its bytes in hex, as the kernel gets them
            args["value"] = _payload(v, 64).hex()
            args["optlen"] = _buflen(v)
    return args


def _getsockopt_ret(r):
    if isinstance(r, int):
        return r
    return {"len": len(r), "hex": bytes(r[:32]).hex()}


def _connect_ex(self, *a, **k):
    fd, st, rec = _target(self)
    if not rec:
        return _orig["connect_ex"](self, *a, **k)
    t0 = _T()
    try:
        r = _orig["connect_ex"](self, *a, **k)
    except BaseException as e:  # connect_ex still raises for bad addresses (gaierror, TypeError)
        t1 = _T()
        _emit("connect_ex", st, fd, _safe_args(_address_args, a, k), None, e, t0, t1)
        raise
    t1 = _T()
    if st is not None:
        _after_connect(self, st, a, None, r)
    _emit("connect_ex", st, fd, _safe_args(_address_args, a, k), r, None, t0, t1,
          error=_errno.errorcode.get(r, str(r)) if r else None)
    return r


# --- wrappers: lifecycle ----------------------------------------------------------------------------------
def _init(self, family=-1, type=-1, proto=-1, fileno=None):
    if getattr(_tls, "quiet", 0):
        return _orig["__init__"](self, family, type, proto, fileno)
    t0 = _T()
    args = {"family": _AF.get(family, family), "type": _TYPE.get(type, type), "proto": proto}
    if fileno is not None:
        args["fileno"] = fileno
    try:
        _orig["__init__"](self, family, type, proto, fileno)
    except BaseException as e:
        _emit("socket", None, None, args, None, e, t0, _T())
        raise
    t1 = _T()
    fd = _fileno(self)
    st = _register(self, fd, reuse=fileno is not None, probe=fileno is not None)
    args["family"], args["type"], args["proto"] = st.family_name, st.type_name, self.proto
    _emit("socket", st, fd, args, st.sid, None, t0, t1)


def _accept(self):
    fd, st, rec = _target(self)
    if not rec:
        return _orig["accept"](self)
    t0 = _T()
    try:
        with _QUIET:
            conn, addr = _orig["accept"](self)
    except BaseException as e:
        _emit("accept", st, fd, {}, None, e, t0, _T())
        raise
    t1 = _T()
    cfd = _fileno(conn)
    cst = _register(conn, cfd, reuse=False, probe=False)
    cst.local = _getname(conn, _C.getsockname)
    cst.peer = _addr(addr)
    _emit("accept", st, fd, {}, {"fd": cfd, "sock": cst.sid, "peer": cst.peer}, None, t0, t1)
    return conn, addr


def _close(self):
    fd = _fileno(self)
    st = _socks.get(fd)
    if (st is None and fd >= 0) or getattr(_tls, "quiet", 0):
        return _orig["close"](self)
    via = getattr(_tls, "via", None)
    refs = self._io_refs
    t0 = _T()
    try:
        _orig["close"](self)
    except BaseException as e:
        t1 = _T()
        if st is not None and _fileno(self) < 0:
            _forget(fd, st)
        _emit("close", st, fd, {}, None, e, t0, t1)
        raise
    t1 = _T()
    if fd < 0:
        _emit("close", None, None, {"already_closed": True}, None, None, t0, t1)
    elif _fileno(self) >= 0:  # a makefile() still holds the socket: the fd stays open
        if via is None:
            _emit("close", st, fd, {"deferred": True, "io_refs": refs}, None, None, t0, t1)
    else:
        _forget(fd, st)
        _emit("close", st, fd, {"last_ref": False} if st.nfds > 0 else {}, None, None, t0, t1)


def _detach(self):
    fd, st, rec = _target(self)
    if not rec:
        return _orig["detach"](self)
    t0 = _T()
    try:
        r = _orig["detach"](self)
    except BaseException as e:
        _emit("detach", st, fd, {}, None, e, t0, _T())
        raise
    _emit("detach", st, fd, {}, r, None, t0, _T())
    return r  # the fd keeps its state: socket(fileno=fd) adopts it with the same id and offsets


def _dup(self):
    fd, st, rec = _target(self)
    if not rec:
        return _orig["dup"](self)
    t0 = _T()
    try:
        with _QUIET:
            new = _orig["dup"](self)
    except BaseException as e:
        _emit("dup", st, fd, {}, None, e, t0, _T())
        raise
    t1 = _T()
    nfd = _fileno(new)
    nst = _register(new, nfd, reuse=False, probe=True, like=st)
    _emit("dup", st, fd, {}, {"fd": nfd, "sock": nst.sid}, None, t0, t1)
    return new


def _makefile(self, mode="r", buffering=None, **kw):
    fd, st, rec = _target(self)
    if not rec:
        return _orig["makefile"](self, mode, buffering, **kw)
    t0 = _T()
    try:
        f = _orig["makefile"](self, mode, buffering, **kw)
    except BaseException as e:
        _emit("makefile", st, fd, {"mode": mode}, None, e, t0, _T())
        raise
    _emit("makefile", st, fd, {"mode": mode, "buffering": buffering}, None, None, t0, _T())
    return f


def _sendfile(self, file, offset=0, count=None):
    fd, st, rec = _target(self)
    if not rec:
        return _orig["sendfile"](self, file, offset, count)
    args = {"file": getattr(file, "name", None), "offset": offset, "count": count}
    t0 = _T()
    try:
        with _QUIET:
            r = _orig["sendfile"](self, file, offset, count)
    except BaseException as e:
        t1 = _T()
        n = 0
        if st is not None and st.stype == _STREAM and st.family in _INET:
            offs = _kernel_offsets(self, fd, st.active)
            n = max(0, offs[0] - st.sent) if offs else 0
        sb = st.sent if st else None
        if st is not None:
            st.sent += n
        _emit("sendfile", st, fd, args, None, e, t0, t1, n, sb, st.sent if st else None,
              st.recv if st else None, st.recv if st else None)
        raise
    t1 = _T()
    sb = st.sent if st else None
    if st is not None:
        st.sent += r
    _emit("sendfile", st, fd, args, r, None, t0, t1, r, sb, st.sent if st else None,
          st.recv if st else None, st.recv if st else None)
    return r


def _repr(self):
    with _QUIET:  # repr() (e.g. in a ResourceWarning) calls fileno/getsockname/getpeername: not the program's
        return _orig["__repr__"](self)


def _as_makefile(name):
    """Wrap ``_orig[name]`` so that the socket calls it makes are marked ``via="makefile"``: the file
    object's reads, writes and its final close are the program's calls, reached through makefile()."""

    def wrapper(self, *args):
        prev = getattr(_tls, "via", None)
        _tls.via = "makefile"
        try:
            return _orig[name](self, *args)
        finally:
            _tls.via = prev

    wrapper.__name__ = name
    return wrapper


_decref_socketios = _as_makefile("_decref_socketios")
_sio_readinto = _as_makefile("sio_readinto")
_sio_write = _as_makefile("sio_write")


def _socketpair(*a, **k):
    if getattr(_tls, "quiet", 0):
        return _orig["socketpair"](*a, **k)
    t0 = _T()
    try:
        with _QUIET:
            s1, s2 = _orig["socketpair"](*a, **k)
    except BaseException as e:
        _emit("socketpair", None, None, {}, None, e, t0, _T())
        raise
    t1 = _T()
    st1 = _register(s1, _fileno(s1), reuse=False, probe=True)
    st2 = _register(s2, _fileno(s2), reuse=False, probe=True)
    _emit("socketpair", st1, st1.fd, {"family": st1.family_name, "type": st1.type_name},
          {"fds": [st1.fd, st2.fd], "socks": [st1.sid, st2.sid]}, None, t0, t1)
    return s1, s2


def _fromfd(fd, *a, **k):
    if getattr(_tls, "quiet", 0):
        return _orig["fromfd"](fd, *a, **k)
    t0 = _T()
    try:
        with _QUIET:
            s = _orig["fromfd"](fd, *a, **k)
    except BaseException as e:
        _emit("fromfd", None, None, {"fd": fd}, None, e, t0, _T())
        raise
    t1 = _T()
    nfd = _fileno(s)
    st = _register(s, nfd, reuse=False, probe=True, like=_socks.get(fd))
    _emit("fromfd", st, nfd, {"fd": fd}, st.sid, None, t0, t1)
    return s


_orig: dict = {}


def install() -> None:
    """Patch the socket API; idempotent. Reads LAB_TRACE_DIR and LAB_NODE from the environment."""
    global _installed, _DIR, _NODE, _NODE_JSON, _PID
    if _installed:
        return
    _DIR = _os.environ["LAB_TRACE_DIR"]
    node = _os.environ.get("LAB_NODE") or "local"
    _NODE = "".join(c if c.isalnum() or c in "_.-" else "_" for c in node)
    _NODE_JSON = _estr(_NODE)
    _PID = _os.getpid()
    S = _sockmod.socket
    for name in ("__init__", "__repr__", "accept", "close", "detach", "dup", "makefile", "sendfile",
                 "_decref_socketios"):
        _orig[name] = S.__dict__[name]
    for name in ("sendmsg", "connect_ex"):
        _orig[name] = getattr(_C, name)
    _orig["sio_readinto"] = _sockmod.SocketIO.readinto
    _orig["sio_write"] = _sockmod.SocketIO.write
    _orig["socketpair"] = _sockmod.socketpair
    _orig["fromfd"] = _sockmod.fromfd

    patches = {
        "__init__": _init, "__repr__": _repr, "accept": _accept, "close": _close, "detach": _detach,
        "dup": _dup,
        "makefile": _makefile, "sendfile": _sendfile, "_decref_socketios": _decref_socketios,
        "sendmsg": _sendmsg, "connect_ex": _connect_ex,
        "send": _out_wrapper("send", _C.send, 0, _arg_at(1), _none, False),
        "sendall": _out_wrapper("sendall", _C.sendall, 0, _arg_at(1), _none, True),
        "sendto": _out_wrapper("sendto", _C.sendto, 0, _sendto_flags, _last, False),
        "recv": _in_wrapper("recv", _C.recv, "bytes", 1),
        "recv_into": _in_wrapper("recv_into", _C.recv_into, "into", 2),
        "recvfrom": _in_wrapper("recvfrom", _C.recvfrom, "from", 1),
        "recvfrom_into": _in_wrapper("recvfrom_into", _C.recvfrom_into, "from_into", 2),
        "recvmsg": _in_wrapper("recvmsg", _C.recvmsg, "msg", 2),
        "recvmsg_into": _in_wrapper("recvmsg_into", _C.recvmsg_into, "msg_into", 2),
        "connect": _ctl_wrapper("connect", _C.connect, _address_args, after=_after_connect),
        "bind": _ctl_wrapper("bind", _C.bind, _address_args, after=_after_bind),
        "listen": _ctl_wrapper("listen", _C.listen, lambda a, k: {"backlog": a[0] if a else None},
                               after=_after_listen),
        "shutdown": _ctl_wrapper("shutdown", _C.shutdown, lambda a, k: {"how": _SHUT.get(a[0], a[0])}),
        "setblocking": _ctl_wrapper("setblocking", _C.setblocking, lambda a, k: {"flag": bool(a[0])}),
        "settimeout": _ctl_wrapper("settimeout", _C.settimeout, lambda a, k: {"timeout": a[0]}),
        "setsockopt": _ctl_wrapper("setsockopt", _C.setsockopt, _sockopt_args),
        "getsockopt": _ctl_wrapper("getsockopt", _C.getsockopt, _sockopt_args, _getsockopt_ret),
        "getsockname": _ctl_wrapper("getsockname", _C.getsockname, lambda a, k: {}, _addr,
                                    _after_getsockname),
        "getpeername": _ctl_wrapper("getpeername", _C.getpeername, lambda a, k: {}, _addr,
                                    _after_getpeername),
        "fileno": _ctl_wrapper("fileno", _C.fileno, lambda a, k: {}),
    }
    for name, fn in patches.items():
        setattr(S, name, fn)
    _sockmod.SocketIO.readinto = _sio_readinto
    _sockmod.SocketIO.write = _sio_write
    _sockmod.socketpair = _socketpair
    _sockmod.fromfd = _fromfd
    _os.register_at_fork(after_in_child=_after_fork_child, after_in_parent=_after_fork_parent)
    _atexit.register(_at_exit)
    _installed = True
