"""shutdown(SHUT_WR) vs close(), TIME_WAIT, and the RST of a close() with unread data.

1. connect, sendall the request, shutdown(SHUT_WR) (FIN: "I am done sending"), still recv() the reply
   until the server's FIN, close(). We closed first, so *our* side keeps the connection in TIME_WAIT:
   bind()ing a new socket to the same address and port fails with EADDRINUSE.
2. connect, sendall, recv(): the server closes without reading, its RST makes recv() raise
   ConnectionResetError (ECONNRESET).
Exits 0 when the reply arrived, the bind failed and the reset was seen.
"""

import argparse
import errno
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect((args.host, args.port))
    local = sock.getsockname()
    sock.sendall(b"request")
    sock.shutdown(socket.SHUT_WR)  # FIN now; the socket can still receive
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    print(f"reply: {reply.decode()}", flush=True)

    again = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        again.bind(local)  # the old connection is in TIME_WAIT on this side
        in_use = False
    except OSError as err:
        in_use = err.errno == errno.EADDRINUSE
        print(f"bind({local[0]}, {local[1]}): [Errno {err.errno}] {err.strerror} (TIME_WAIT)", flush=True)
    again.close()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect((args.host, args.port))
    sock.sendall(b"data the server will never read")
    try:
        sock.recv(4096)
        reset = False
    except ConnectionResetError as err:
        reset = True
        print(f"recv(): ConnectionResetError [Errno {err.errno}]", flush=True)
    sock.close()
    return 0 if reply.startswith(b"reply after your FIN") and in_use and reset else 1


if __name__ == "__main__":
    raise SystemExit(main())
