"""Two connections, two endings.

1. Half-close: read the request until EOF (the client's shutdown(SHUT_WR) sent a FIN), *then* reply: a
   half-closed connection still carries data the other way. Then close(): our FIN.
2. Abortive close: wait until the client's data has arrived, then close() without reading it. With
   unread data in the receive queue the kernel sends a RST instead of a FIN (RFC 2525, 2.17).
"""

import argparse
import select
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0: all)")
    ap.add_argument("--port", type=int, default=5007)
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(5)

    conn, _ = server.accept()
    request = b""
    while chunk := conn.recv(4096):  # until the client's FIN
        request += chunk
    conn.sendall(b"reply after your FIN: " + request)  # data on a half-closed connection
    conn.close()

    conn, _ = server.accept()
    select.select([conn], [], [], 10)  # the client's bytes are in our receive queue...
    conn.close()  # ...and we close without reading them: RST
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
