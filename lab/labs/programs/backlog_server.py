"""A server that listens with a tiny backlog and does not accept() until its queue has overflowed.

listen(backlog) bounds the queue of connections whose handshake the kernel has already completed and
that wait for accept(). Linux keeps backlog + 1 of them; when the queue is full it *drops* a new SYN
(the client retransmits it later) and counts it in TcpExtListenOverflows. This server watches that
counter (in its own network namespace's /proc/net/netstat) instead of sleeping for a guessed time, then
accepts and echoes ``--clients`` connections.
"""

import argparse
import socket
import time


def listen_overflows() -> int:
    """TcpExt ListenOverflows of this network namespace: SYNs dropped because an accept queue was full."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0: all)")
    ap.add_argument("--port", type=int, default=5002)
    ap.add_argument("--backlog", type=int, default=1)
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--max-wait", type=float, default=6.0, help="give up waiting for an overflow after this")
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    before = listen_overflows()
    server.listen(args.backlog)
    print(f"listening with backlog {args.backlog}; not accepting yet", flush=True)
    deadline = time.monotonic() + args.max_wait
    while listen_overflows() == before and time.monotonic() < deadline:
        time.sleep(0.01)  # watching a kernel counter, not guessing a delay
    print(f"ListenOverflows went from {before} to {listen_overflows()}: now accepting", flush=True)
    for _ in range(args.clients):
        conn, peer = server.accept()
        with conn:
            data = conn.recv(4096)
            conn.sendall(data)
        print(f"served {peer[0]}:{peer[1]}", flush=True)
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
