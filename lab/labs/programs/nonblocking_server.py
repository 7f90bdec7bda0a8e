"""Non-blocking server: accept() and recv() that would block raise BlockingIOError instead.

setblocking(False) turns "wait until something happens" into "tell me now": EAGAIN/EWOULDBLOCK,
which Python raises as BlockingIOError. Nothing is sent on the wire for such a call. select() then
waits for readiness, as an event loop would.
"""

import argparse
import select
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0: all)")
    ap.add_argument("--port", type=int, default=5003)
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(5)
    server.setblocking(False)
    would_block = 0
    try:
        server.accept()  # nobody has connected yet
    except BlockingIOError as err:
        would_block += 1
        print(f"accept(): BlockingIOError [Errno {err.errno}]", flush=True)
    select.select([server], [], [], 10)  # wait until a finished connection is queued
    conn, peer = server.accept()
    conn.setblocking(False)
    try:
        conn.recv(4096)  # the client waits before sending: nothing to read yet
    except BlockingIOError as err:
        would_block += 1
        print(f"recv(): BlockingIOError [Errno {err.errno}]", flush=True)
    select.select([conn], [], [], 10)
    data = conn.recv(4096)
    conn.setblocking(True)
    conn.sendall(data)
    conn.close()
    server.close()
    return 0 if would_block == 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
