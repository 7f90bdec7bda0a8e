"""Accept one connection and say nothing until the client closes it (so the client's recv times out)."""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5004)
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", args.port))
    server.listen(1)
    conn, _ = server.accept()
    while conn.recv(4096):  # stay silent; b"" when the client closes
        pass
    conn.close()
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
