"""A plain TCP server for the handshake-by-hand lab: listen, accept one connection, read until it ends.

The kernel answers every SYN to the listening socket with a SYN-ACK by itself; ``accept()`` returns only
when a handshake has been completed — here by a third packet that a scapy program wrote by hand — and the
``recv()`` that follows ends with ECONNRESET when that program aborts the connection with a RST.
Exits 0 when one connection was accepted and ended (by EOF or by a reset), 1 when none came in time.
"""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0: every address of the node)")
    ap.add_argument("--port", type=int, default=5012)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the connection")
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(5)  # from here on the kernel answers SYNs for this port
    server.settimeout(args.timeout)
    print(f"listening on {args.host}:{args.port}", flush=True)
    try:
        conn, peer = server.accept()  # only a finished handshake comes off the queue
    except TimeoutError:
        print("no connection was completed", flush=True)
        return 1
    print(f"accepted {peer[0]}:{peer[1]}", flush=True)
    with conn:
        try:
            while conn.recv(4096):
                pass
            print("the peer closed the connection", flush=True)
        except ConnectionResetError as err:
            print(f"recv() raised {type(err).__name__}: [Errno {err.errno}] {err.strerror}", flush=True)
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
