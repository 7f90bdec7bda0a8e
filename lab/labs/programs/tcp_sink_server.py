"""Read everything a client sends until it half-closes (FIN), then reply with the byte count."""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0: all)")
    ap.add_argument("--port", type=int, default=5006)
    ap.add_argument("--count", type=int, default=1)
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(5)
    for _ in range(args.count):
        conn, _ = server.accept()
        total = 0
        while chunk := conn.recv(65536):
            total += len(chunk)
        conn.sendall(f"received {total} bytes\n".encode())
        conn.close()
        print(f"received {total} bytes", flush=True)
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
