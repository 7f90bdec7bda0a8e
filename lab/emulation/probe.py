"""A real UDP exchange between many pairs of nodes from one process: fast reachability checks.

Run as a script (standard library only) by ``Network.reachable``. A socket belongs to the namespace it was
created in, whatever the process does afterwards, so this helper enters each namespace in turn (a fresh
process: never the lab's interpreter), creates that node's sockets, and then drives every exchange from a
single ``select`` loop: each client sends a datagram to its server's address, the server echoes it, the
client checks the echo. Datagrams are re-sent every 100 ms until ``timeout`` (a lossy link may eat some).

Input (stdin JSON): {"servers": [[ns|null, addr, port]], "clients": [[id, ns|null, src, dst, port]],
"timeout": s}. Output (stdout JSON): {"ok": [id...], "failed": [id...]}.
"""

import contextlib
import ctypes
import json
import os
import selectors
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    if ns is None:
        return
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
    finally:
        os.close(fd)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def main():
    spec = json.load(sys.stdin)
    sel = selectors.DefaultSelector()
    by_ns = {}
    for ns, addr, port in spec["servers"]:
        by_ns.setdefault(ns, []).append(("server", addr, port))
    for cid, ns, src, dst, port in spec["clients"]:
        by_ns.setdefault(ns, []).append(("client", cid, src, dst, port))
    clients = {}
    unreachable = set()
    for ns, items in by_ns.items():
        enter(ns)
        for item in items:
            if item[0] == "server":
                _k, addr, port = item
                s = socket.socket(family(addr), socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, ("server", None))
            else:
                _k, cid, src, dst, port = item
                s = socket.socket(family(dst), socket.SOCK_DGRAM)
                try:
                    s.bind((src, 0))
                    s.connect((dst, port))  # ENETUNREACH without a route: a failed pair, not an error
                except OSError:
                    s.close()
                    unreachable.add(cid)
                    continue
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, ("client", cid))
                clients[cid] = s
    pending = set(clients)
    deadline = time.monotonic() + float(spec.get("timeout", 3.0))
    next_send = 0.0
    while pending and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            for cid in pending:
                with contextlib.suppress(OSError):  # unreachable right now: retried until the deadline
                    clients[cid].send(f"lab-probe {cid}".encode())
            next_send = now + 0.1
        for key, _ev in sel.select(timeout=0.02):
            role, cid = key.data
            try:
                if role == "server":
                    data, peer = key.fileobj.recvfrom(256)
                    key.fileobj.sendto(data, peer)
                elif key.fileobj.recv(256) == f"lab-probe {cid}".encode():
                    pending.discard(cid)
            except OSError:
                continue
    json.dump({"ok": sorted(set(clients) - pending), "failed": sorted(pending | unreachable)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
