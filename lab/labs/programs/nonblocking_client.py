"""Non-blocking client: connect() raises BlockingIOError (EINPROGRESS) *and* sends the SYN.

Unlike a recv() with nothing to read, a non-blocking connect() does put a packet on the wire: the SYN
leaves at once and the call returns before the SYN-ACK arrives. select() for writability says when the
handshake is done; SO_ERROR says whether it succeeded.
"""

import argparse
import select
import socket
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--pause", type=float, default=0.3, help="seconds to wait before sending")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect((args.host, args.port))
    except BlockingIOError as err:
        print(f"connect(): BlockingIOError [Errno {err.errno}] (EINPROGRESS: the SYN is out)", flush=True)
    select.select([], [sock], [], 10)
    status = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    print(f"connected, SO_ERROR={status}", flush=True)
    time.sleep(args.pause)  # let the server find nothing to read
    sock.setblocking(True)
    sock.sendall(b"non-blocking hello")
    echo = sock.recv(4096)
    sock.close()
    return 0 if status == 0 and echo == b"non-blocking hello" else 1


if __name__ == "__main__":
    raise SystemExit(main())
