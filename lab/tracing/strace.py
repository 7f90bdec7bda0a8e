"""strace output -> calls.jsonl records for any program (curl, nc, dig, ...).

``strace_text`` turns the text into complete syscalls; this module follows each process's fd table to know
which fds are sockets, keeps per-socket byte offsets (from return values: exact, like the Python tracer's),
and rebuilds addresses. Only socket fds are recorded; reads and writes of files and pipes are skipped.

Addresses: strace ``-yy`` caches a socket's text per inode, so a socket bound before connect() keeps
showing the bound address (``UDP:[0.0.0.0:58037]`` after connecting). Addresses therefore come first from
the calls themselves (bind/connect/accept/getsockname/getpeername), and a decoration is used only where it
does not contradict them. A socket bound to a wildcard address that never calls getsockname keeps the
wildcard IP in ``local`` (its port is right): strace cannot see which source address the kernel chose.

Processes: ``pid`` is the thread-group id (threads found from clone flags), ``tid`` the thread. A forked
child starts with its parent's fd table; sockets keep the id they were created with. ``dup``'d fds share
the socket's state (same kernel socket, same offsets). When a process exits, each socket it still had open
gets an ``exit`` record: the kernel closes it then (a FIN that no close() explains).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lab.errors import TraceError
from lab.tracing.strace_text import (
    Decoration,
    Exit,
    Syscall,
    events,
    iov_bytes,
    parse_decoration,
    parse_fd,
    parse_sockaddr,
    parse_string,
    split_args,
)

_OUT = {"write", "writev", "send", "sendto", "sendmsg", "sendmmsg", "pwrite64"}
_IN = {"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg", "pread64"}
_CLONES = {"clone", "clone3", "fork", "vfork"}
_INET = ("AF_INET", "AF_INET6")
# -yy names no protocol for some sockets (AF_PACKET): ``socket:[inode]`` is still the socket we know
_BARE_SOCKET = re.compile(r"socket:\[\d+\]")
_PKTTYPE = re.compile(r"sll_pkttype=(\w+)")
_PKTTYPES = {"PACKET_HOST": 0, "PACKET_BROADCAST": 1, "PACKET_MULTICAST": 2, "PACKET_OTHERHOST": 3,
             "PACKET_OUTGOING": 4}
_WILDCARD = ("0.0.0.0", "::", None)


class _Sock:
    """What the parser knows about one kernel socket; shared by every fd (and process) that refers to it."""

    def __init__(self, sid: str, family: str | None, stype: str | None) -> None:
        self.sid = sid
        self.family = family
        self.type = stype
        self.local: list | str | None = None
        self.peer: list | str | None = None
        self.local_rank = 0  # 3 getsockname/accept, 2 fresh decoration, 1 bind or one-sided decoration
        self.peer_rank = 0
        self.sent = 0
        self.recv = 0
        self.refs = 0  # fds (in all processes) that refer to it
        self.hdrincl = False  # a raw IPv4 socket whose sends carry their own IP header (IP_HDRINCL)

    def set_local(self, addr, rank: int) -> None:
        if addr is not None and rank >= self.local_rank:
            self.local, self.local_rank = addr, rank

    def set_peer(self, addr, rank: int) -> None:
        if addr is not None and rank >= self.peer_rank:
            self.peer, self.peer_rank = addr, rank

    def observe(self, dec: Decoration | None) -> None:
        """Take what a -yy decoration adds, unless the calls already said otherwise (stale cache)."""
        if dec is None:
            return
        if self.family is None:
            self.family = dec.family
        if self.type is None:
            self.type = dec.type
        if dec.peer is not None:
            if self.peer_rank >= 2 and dec.peer != self.peer:
                return  # stale: the decoration predates a reconnect
            if self.local_rank >= 2 and dec.local != self.local:
                return
            self.set_peer(dec.peer, 2)
            self.set_local(dec.local, 2)
        elif dec.local is not None and dec.local[1] and self.local_rank <= 1:
            known = self.local
            if known is None or known[1] in (0, None) or known == dec.local:
                self.set_local(dec.local, 1)


class _Process:
    def __init__(self, pid: int, parent: _Process | None) -> None:
        self.pid = pid
        self.fds: dict[int, _Sock] = dict(parent.fds) if parent else {}
        for st in self.fds.values():
            st.refs += 1
        self.gen: dict[int, int] = {}


class StraceParser:
    """Feed complete events in order; ``records`` accumulates calls.jsonl dicts (without ``id``)."""

    def __init__(self, node: str, source: str = "strace") -> None:
        self.node = node
        self.source = source
        self.records: list[dict[str, Any]] = []
        self.tgid: dict[int, int] = {}
        self.procs: dict[int, _Process] = {}
        self.parent_of: dict[int, int] = {}

    # -- processes ------------------------------------------------------------------------------------------
    def learn_clones(self, evs: list[Syscall | Exit]) -> None:
        """Thread ids -> process ids, from every clone in the trace (children may print before the clone)."""
        for ev in evs:
            if isinstance(ev, Syscall) and ev.name in _CLONES and (ev.ret or 0) > 0:
                self.parent_of[ev.ret] = ev.tid
                if any("CLONE_THREAD" in a for a in ev.args):
                    self.tgid[ev.ret] = -1  # resolved below: its creator's process
        changed = True
        while changed:
            changed = False
            for child, flag in list(self.tgid.items()):
                if flag == -1:
                    creator = self.parent_of[child]
                    root = self.tgid.get(creator, creator)
                    if root != -1:
                        self.tgid[child] = root
                        changed = True

    def process(self, tid: int) -> _Process:
        pid = self.tgid.get(tid, tid)
        if pid == -1:
            pid = tid
        proc = self.procs.get(pid)
        if proc is None:
            parent_tid = self.parent_of.get(pid)
            parent = self.process(parent_tid) if parent_tid is not None and parent_tid != pid else None
            proc = _Process(pid, parent)
            self.procs[pid] = proc
        return proc

    # -- socket table ---------------------------------------------------------------------------------------
    def _new(self, proc: _Process, fd: int, family, stype) -> _Sock:
        self._drop(proc, fd)
        g = proc.gen.get(fd, 0) + 1
        proc.gen[fd] = g
        st = _Sock(f"{proc.pid}:{fd}:{g}", family, stype)
        st.refs = 1
        proc.fds[fd] = st
        return st

    def _drop(self, proc: _Process, fd: int) -> _Sock | None:
        st = proc.fds.pop(fd, None)
        if st is not None:
            st.refs -= 1
        return st

    def _alias(self, proc: _Process, fd: int, st: _Sock) -> None:
        self._drop(proc, fd)
        proc.fds[fd] = st
        st.refs += 1

    def _lookup(self, proc: _Process, fd: int | None, dec_text: str | None) -> _Sock | None:
        """The socket on ``fd``; a socket decoration on an fd we never saw created starts a fresh state."""
        if fd is None:
            return None
        dec = parse_decoration(dec_text)
        st = proc.fds.get(fd)
        if st is None:
            if dec is None:
                return None
            st = self._new(proc, fd, dec.family, dec.type)
        elif dec_text is not None and dec is None and not _BARE_SOCKET.fullmatch(dec_text):
            self._drop(proc, fd)  # the fd is no longer a socket (closed behind our back, e.g. exec)
            return None
        st.observe(dec)
        return st

    # -- records --------------------------------------------------------------------------------------------
    def _emit(self, ev: Syscall, pid: int, st: _Sock | None, fd: int | None, args: dict, ret: Any = None,
              nbytes: int | None = None, sb: int | None = None, rb: int | None = None,
              dgram: dict | None = None, call: str | None = None) -> None:
        if st is not None and sb is None:
            sb, rb = st.sent, st.recv
        self.records.append({
            "tracer": "strace", "node": self.node, "pid": pid, "tid": ev.tid,
            "sock": st.sid if st else None, "fd": fd, "call": call or ev.name, "args": args,
            "ret": ev.ret if ret is None else ret, "error": ev.error, "exception": None,
            "t_start_ns": ev.t_start_ns, "t_end_ns": ev.t_end_ns,
            "family": st.family if st else None, "type": st.type if st else None,
            "local": st.local if st else None, "peer": st.peer if st else None, "nbytes": nbytes,
            "sent_before": sb, "sent_after": st.sent if st else None,
            "recv_before": rb, "recv_after": st.recv if st else None, "dgram": dgram})

    def feed(self, ev: Syscall | Exit) -> None:
        if isinstance(ev, Exit):
            self._exit(ev)
            return
        handler = getattr(self, "_on_" + ev.name, None)
        if handler is not None:
            handler(ev, self.process(ev.tid))
        elif ev.name in _OUT or ev.name in _IN:
            self._data(ev, self.process(ev.tid))

    def _exit(self, ev: Exit) -> None:
        pid = self.tgid.get(ev.tid, ev.tid)
        if pid != ev.tid or pid not in self.procs:
            return  # a thread, or a process that never touched a socket
        proc = self.procs.pop(pid)
        for fd, st in sorted(proc.fds.items()):
            st.refs -= 1
            fake = Syscall(ev.tid, "exit", (), None, None, None, ev.t_ns, ev.t_ns, ev.line)
            args = {"status": ev.status, "signal": ev.signal, "last_ref": st.refs == 0}
            self._emit(fake, pid, st, fd, args)

    # creation ---------------------------------------------------------------------------------------------
    def _on_socket(self, ev: Syscall, proc: _Process) -> None:
        family = ev.args[0] if ev.args else None
        stype = ev.args[1].split("|")[0] if len(ev.args) > 1 else None
        args = {"family": family, "type": stype, "proto": _proto(ev.args[2]) if len(ev.args) > 2 else None}
        if ev.error or ev.ret is None or ev.ret < 0:
            self._emit(ev, proc.pid, None, None, args)
            return
        st = self._new(proc, ev.ret, family, stype)
        st.observe(parse_decoration(ev.ret_dec))
        # a raw IPv6 socket never sees IP headers; a raw IPv4 one always on receive, on send with IP_HDRINCL
        # or when its protocol is IPPROTO_RAW
        st.hdrincl = stype == "SOCK_RAW" and family == "AF_INET" and args["proto"] in ("IPPROTO_RAW", "255")
        self._emit(ev, proc.pid, st, ev.ret, args, ret=st.sid)

    def _on_socketpair(self, ev: Syscall, proc: _Process) -> None:
        args = {"family": ev.args[0] if ev.args else None,
                "type": ev.args[1].split("|")[0] if len(ev.args) > 1 else None}
        if ev.error or len(ev.args) < 4:
            self._emit(ev, proc.pid, None, None, args)
            return
        pair = [parse_fd(a) for a in split_args(ev.args[3].strip()[1:-1])]
        socks = []
        for fd, dec in pair:
            if fd is None:
                continue
            st = self._new(proc, fd, args["family"], args["type"])
            st.observe(parse_decoration(dec))
            socks.append((fd, st))
        if not socks:
            return
        self._emit(ev, proc.pid, socks[0][1], socks[0][0], args,
                   ret={"fds": [fd for fd, _ in socks], "socks": [st.sid for _, st in socks]})

    def _on_accept(self, ev: Syscall, proc: _Process) -> None:
        fd, dec = parse_fd(ev.args[0]) if ev.args else (None, None)
        lst = self._lookup(proc, fd, dec)
        if ev.error or ev.ret is None or ev.ret < 0:
            self._emit(ev, proc.pid, lst, fd, {})
            return
        family, addr = parse_sockaddr(ev.args[1]) if len(ev.args) > 1 else (None, None)
        new = self._new(proc, ev.ret, lst.family if lst else family, lst.type if lst else None)
        new.set_peer(addr, 3)
        new.observe(parse_decoration(ev.ret_dec))  # a fresh inode: its decoration is current
        if new.local is None and lst is not None and lst.local and lst.local[0] not in _WILDCARD:
            new.set_local(lst.local, 1)
        ret = {"fd": ev.ret, "sock": new.sid, "peer": new.peer}
        self._emit(ev, proc.pid, lst, fd, {}, ret=ret)

    _on_accept4 = _on_accept

    def _dup_to(self, ev: Syscall, proc: _Process, old_arg: str, new_fd: int | None) -> None:
        fd, dec = parse_fd(old_arg)
        st = self._lookup(proc, fd, dec)
        if new_fd is not None and new_fd >= 0 and not ev.error:
            if st is not None:
                self._alias(proc, new_fd, st)
                self._emit(ev, proc.pid, st, fd, {"newfd": new_fd}, ret=new_fd)
            else:
                self._drop(proc, new_fd)

    def _on_dup(self, ev: Syscall, proc: _Process) -> None:
        if ev.args:
            self._dup_to(ev, proc, ev.args[0], ev.ret)

    def _on_dup2(self, ev: Syscall, proc: _Process) -> None:
        if len(ev.args) > 1:
            self._dup_to(ev, proc, ev.args[0], ev.ret)

    _on_dup3 = _on_dup2

    def _on_fcntl(self, ev: Syscall, proc: _Process) -> None:
        if len(ev.args) < 2:
            return
        fd, dec = parse_fd(ev.args[0])
        cmd = ev.args[1]
        if cmd.startswith("F_DUPFD"):
            self._dup_to(ev, proc, ev.args[0], ev.ret)
            return
        st = self._lookup(proc, fd, dec)
        if st is not None and cmd in ("F_SETFL", "F_GETFL"):
            args = {"cmd": cmd}
            if len(ev.args) > 2:
                args["arg"] = ev.args[2]
            self._emit(ev, proc.pid, st, fd, args)

    # addresses --------------------------------------------------------------------------------------------
    def _on_bind(self, ev: Syscall, proc: _Process) -> None:
        st, fd, addr = self._sock_and_addr(ev, proc)
        if st is not None and not ev.error and isinstance(addr, list):
            st.set_local(addr, 1 if addr[1] == 0 else 2)
        elif st is not None and not ev.error:
            st.set_local(addr, 2)
        self._emit(ev, proc.pid, st, fd, {"address": addr})

    def _on_connect(self, ev: Syscall, proc: _Process) -> None:
        st, fd, addr = self._sock_and_addr(ev, proc)
        if st is not None and addr is not None and ev.error in (None, "EINPROGRESS", "EALREADY", "EISCONN"):
            st.set_peer(addr, 3)
        self._emit(ev, proc.pid, st, fd, {"address": addr})

    def _on_getsockname(self, ev: Syscall, proc: _Process) -> None:
        st, fd, addr = self._sock_and_addr(ev, proc)
        if st is not None and not ev.error:
            st.set_local(addr, 3)
        self._emit(ev, proc.pid, st, fd, {}, ret=addr if not ev.error else None)

    def _on_getpeername(self, ev: Syscall, proc: _Process) -> None:
        st, fd, addr = self._sock_and_addr(ev, proc)
        if st is not None and not ev.error:
            st.set_peer(addr, 3)
        self._emit(ev, proc.pid, st, fd, {}, ret=addr if not ev.error else None)

    def _sock_and_addr(self, ev: Syscall, proc: _Process):
        fd, dec = parse_fd(ev.args[0]) if ev.args else (None, None)
        st = self._lookup(proc, fd, dec)
        _, addr = parse_sockaddr(ev.args[1]) if len(ev.args) > 1 else (None, None)
        return st, fd, addr

    # plain control calls ----------------------------------------------------------------------------------
    def _control(self, ev: Syscall, proc: _Process, names: tuple[str, ...]) -> None:
        fd, dec = parse_fd(ev.args[0]) if ev.args else (None, None)
        st = self._lookup(proc, fd, dec)
        if st is None:
            return
        args = {name: ev.args[i + 1] for i, name in enumerate(names) if len(ev.args) > i + 1}
        for key, value in args.items():
            if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
                inner = value[1:-1].split("=>")[-1].strip()
                args[key] = int(inner, 0) if inner.lstrip("-").isdigit() else inner
            elif isinstance(value, str) and value.lstrip("-").isdigit():
                args[key] = int(value)
        self._emit(ev, proc.pid, st, fd, args)

    def _on_listen(self, ev: Syscall, proc: _Process) -> None:
        self._control(ev, proc, ("backlog",))

    def _on_shutdown(self, ev: Syscall, proc: _Process) -> None:
        self._control(ev, proc, ("how",))

    def _on_setsockopt(self, ev: Syscall, proc: _Process) -> None:
        self._control(ev, proc, ("level", "optname", "value"))
        if len(ev.args) > 3 and ev.args[2] == "IP_HDRINCL" and not ev.error:
            fd, dec = parse_fd(ev.args[0])
            st = self._lookup(proc, fd, dec)
            if st is not None:
                st.hdrincl = ev.args[3] != "[0]"

    def _on_getsockopt(self, ev: Syscall, proc: _Process) -> None:
        self._control(ev, proc, ("level", "optname", "value"))

    # closing ----------------------------------------------------------------------------------------------
    def _on_close(self, ev: Syscall, proc: _Process) -> None:
        fd, dec = parse_fd(ev.args[0]) if ev.args else (None, None)
        st = self._lookup(proc, fd, dec)
        if st is None:
            return
        if ev.error != "EBADF":
            self._drop(proc, fd)
        self._emit(ev, proc.pid, st, fd, {"last_ref": st.refs == 0} if st.refs else {})

    def _on_close_range(self, ev: Syscall, proc: _Process) -> None:
        if ev.error or len(ev.args) < 2 or "CLOSE_RANGE_CLOEXEC" in " ".join(ev.args[2:]):
            return
        first, last = int(ev.args[0], 0), int(ev.args[1], 0)
        for fd in sorted(k for k in proc.fds if first <= k <= last):
            st = self._drop(proc, fd)
            self._emit(ev, proc.pid, st, fd, {"range": [first, last]}, ret=ev.ret)

    # data -------------------------------------------------------------------------------------------------
    def _data(self, ev: Syscall, proc: _Process) -> None:
        fd, dec = parse_fd(ev.args[0]) if ev.args else (None, None)
        st = self._lookup(proc, fd, dec)
        if st is None:
            return
        out = ev.name in _OUT
        payload, truncated, args, addr = _payload(ev, out)
        n = _moved(ev)
        flags = _flags_arg(ev)
        if flags:
            args["flags"] = flags
        peek = flags is not None and "MSG_PEEK" in flags
        sb, rb = st.sent, st.recv
        if out:
            st.sent += n
        elif not peek:
            st.recv += n
        dgram = None
        if st.type == "SOCK_DGRAM" and st.family in _INET and not ev.error and ev.ret is not None:
            if ev.name in ("sendmmsg", "recvmmsg"):
                dgrams = [_dgram_of(addr or st.peer, d, t, k) for addr, d, t, k in _mmsg(ev)]
                dgram = dgrams[0] if dgrams else None
                if len(dgrams) > 1:
                    args["dgrams"] = dgrams
            else:
                dgram = _dgram_of(addr if addr is not None else st.peer, payload, truncated, n)
        elif st.type == "SOCK_RAW" and st.family == "AF_INET" and not ev.error and n and payload is not None:
            dgram = _raw_dgram(payload[:n], truncated, out, st.hdrincl, addr)
        elif st.family == "AF_PACKET" and not ev.error and n and payload is not None:
            dgram = _frame_dgram(ev, payload[:n], truncated or len(payload) < n, out, st.type)
        if payload is not None:
            args["preview"] = payload[: min(n, 32) if not out else 32].decode("utf-8", "backslashreplace")
        self._emit(ev, proc.pid, st, fd, args, nbytes=n, sb=sb, rb=rb, dgram=dgram,
                   ret=ev.ret if ev.ret is not None else None)

    def _on_sendfile(self, ev: Syscall, proc: _Process) -> None:
        self._transfer(ev, proc, out_i=0, in_i=1)

    _on_sendfile64 = _on_sendfile

    def _on_splice(self, ev: Syscall, proc: _Process) -> None:
        self._transfer(ev, proc, out_i=2, in_i=0)

    def _transfer(self, ev: Syscall, proc: _Process, out_i: int, in_i: int) -> None:
        n = _moved(ev)
        for i, out in ((out_i, True), (in_i, False)):
            if len(ev.args) <= i:
                continue
            fd, dec = parse_fd(ev.args[i])
            st = self._lookup(proc, fd, dec)
            if st is None:
                continue
            sb, rb = st.sent, st.recv
            if out:
                st.sent += n
            else:
                st.recv += n
            self._emit(ev, proc.pid, st, fd, {"direction": "out" if out else "in"}, nbytes=n, sb=sb, rb=rb)


def _dgram_of(peer, payload: bytes | None, truncated: bool, n: int) -> dict:
    """The datagram record; sha1 only when strace showed the whole payload (-s large enough)."""
    complete = payload is not None and len(payload) >= n and not (truncated and len(payload) <= n)
    digest = hashlib.sha1(payload[:n]).hexdigest()[:16] if complete and payload is not None else None
    return {"peer": peer, "len": n, "sha1": digest}


def _proto(text: str) -> str:
    """A socket() protocol as strace shows it; one strace has no name for (``0x59 /* IPPROTO_??? */``, OSPF)
    becomes its decimal number (``89``), as the IANA protocol table and the IP header's field say it."""
    m = re.fullmatch(r"0x([0-9a-f]+) /\* IPPROTO_\?\?\? \*/", text)
    return str(int(m[1], 16)) if m else text


def _raw_dgram(data: bytes, truncated: bool, out: bool, hdrincl: bool, addr) -> dict | None:
    """The record of one raw IPv4 datagram (a routing daemon's OSPF or EIGRP message, say).

    What is hashed is the IP payload, as a capture shows it: a received datagram (and a sent one with
    IP_HDRINCL) starts with an IP header, whose checksum, and sometimes ID, the kernel fills in. ``ip``
    keeps the header's addresses and ID where the bytes show them.
    """
    ip = None
    if (not out or hdrincl) and len(data) >= 20 and data[0] >> 4 == 4:
        ihl = (data[0] & 15) * 4
        ip = {"src": ".".join(map(str, data[12:16])), "dst": ".".join(map(str, data[16:20])),
              "id": int.from_bytes(data[4:6], "big"), "proto": data[9]}
        data = data[ihl:]
    # [address, 0] like every datagram record's peer (raw IP has no ports): a send's destination, a
    # receive's source
    src = (ip or {}).get("src")
    sent_to = list(addr[:2]) if isinstance(addr, list) and addr else None
    peer = sent_to if out else ([src, 0] if src else None)
    digest = None if truncated else hashlib.sha1(data).hexdigest()[:16]
    return {"peer": peer, "len": len(data), "sha1": digest, "raw": True, "ip": ip}


def _frame_dgram(ev: Syscall, data: bytes, truncated: bool, out: bool, stype: str | None) -> dict:
    """The record of one frame (SOCK_RAW) or packet (SOCK_DGRAM) an AF_PACKET socket moved, hashed whole as
    the Python tracer does; a read frame's ``pkttype`` (4: PACKET_OUTGOING, a copy of our own)."""
    digest = None if truncated else hashlib.sha1(data).hexdigest()[:16]
    rec: dict[str, Any] = {"raw": True, "level": "link" if stype == "SOCK_RAW" else "network", "peer": None,
                           "len": len(data), "sha1": digest}
    kind = _PKTTYPE.search(ev.args[1]) if not out and len(ev.args) > 1 else None
    if kind is not None and kind[1] in _PKTTYPES:
        rec["pkttype"] = _PKTTYPES[kind[1]]
    return rec


def _mmsg(ev: Syscall) -> list[tuple[list | None, bytes, bool, int]]:
    """(address, payload, truncated, length) of each message sendmmsg/recvmmsg moved."""
    text = ev.args[1] if len(ev.args) > 1 else ""
    if not text.startswith("["):
        return []
    out = []
    for item in split_args(text[1:-1])[: ev.ret or 0]:
        m = re.search(r"msg_len=(\d+)", item)
        head = item.split("msg_iov=")[0]
        _, addr = parse_sockaddr(head) if "msg_name={" in head else (None, None)
        data, truncated = iov_bytes(item)
        out.append((addr, data, truncated, int(m[1]) if m else len(data)))
    return out


def _moved(ev: Syscall) -> int:
    """Bytes a data call moved: its return value, or the sum of msg_len for *mmsg (which return a count)."""
    if ev.error or ev.ret is None or ev.ret < 0:
        return 0
    if ev.name in ("sendmmsg", "recvmmsg"):
        return sum(int(x) for x in re.findall(r"msg_len=(\d+)", ev.args[1] if len(ev.args) > 1 else ""))
    return ev.ret


def _flags_arg(ev: Syscall) -> str | None:
    index = {"send": 3, "sendto": 3, "recv": 3, "recvfrom": 3, "sendmsg": 2, "recvmsg": 2,
             "sendmmsg": 3, "recvmmsg": 3}.get(ev.name)
    if index is None or len(ev.args) <= index:
        return None
    flags = ev.args[index]
    return None if flags in ("0", "") else flags


def _payload(ev: Syscall, out: bool) -> tuple[bytes | None, bool, dict, list | str | None]:
    """(bytes shown, truncated?, args, datagram address) of a data call."""
    name = ev.name
    args: dict = {}
    addr = None
    if name in ("read", "write", "send", "recv", "sendto", "recvfrom", "pread64", "pwrite64"):
        s = parse_string(ev.args[1]) if len(ev.args) > 1 else None
        if len(ev.args) > 2 and ev.args[2].isdigit():
            args["nbytes" if out else "bufsize"] = int(ev.args[2])
        if name in ("sendto", "recvfrom") and len(ev.args) > 4:
            _, addr = parse_sockaddr(ev.args[4])
            if addr is not None and out:
                args["address"] = addr
        if s is None:
            return None, False, args, addr
        return s[0], s[1], args, addr
    if name in ("readv", "writev"):
        data, truncated = iov_bytes(ev.args[1] if len(ev.args) > 1 else "")
        args["iovcnt"] = int(ev.args[2]) if len(ev.args) > 2 and ev.args[2].isdigit() else None
        return data, truncated, args, None
    if name in ("sendmsg", "recvmsg", "sendmmsg", "recvmmsg"):
        text = ev.args[1] if len(ev.args) > 1 else ""
        data, truncated = iov_bytes(text)
        head = text.split("msg_iov=")[0]
        if "msg_name={" in head:
            _, addr = parse_sockaddr(head)
            if addr is not None and out:
                args["address"] = addr
        if name in ("sendmmsg", "recvmmsg"):
            args["vlen"] = int(ev.args[2]) if len(ev.args) > 2 and ev.args[2].isdigit() else None
        return data, truncated, args, addr
    return None, False, args, None


def parse_strace(lines: Iterable[str], node: str = "local") -> list[dict[str, Any]]:
    """Records of every socket call in strace text (``strace -f -ttt -T -yy -x`` output)."""
    evs = list(events(lines))
    parser = StraceParser(node)
    parser.learn_clones(evs)
    for ev in evs:
        parser.feed(ev)
    return parser.records


def parse_strace_file(path: Path, node: str = "local") -> list[dict[str, Any]]:
    """``parse_strace`` of a file; TraceError when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return parse_strace(f, node)
    except OSError as err:
        raise TraceError(f"{path}: cannot read strace output: {err.strerror}") from err
