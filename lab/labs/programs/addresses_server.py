"""getsockname()/getpeername() on the server side: the listening socket's address, each connection's peer."""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5008)
    ap.add_argument("--count", type=int, default=2)
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", args.port))
    server.listen(5)
    print(f"listening socket: {server.getsockname()}", flush=True)  # ('0.0.0.0', port): any address
    for _ in range(args.count):
        conn, _ = server.accept()
        print(f"connection: local {conn.getsockname()} peer {conn.getpeername()}", flush=True)
        with conn:
            conn.sendall(conn.recv(4096))
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
