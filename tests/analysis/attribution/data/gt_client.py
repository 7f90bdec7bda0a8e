"""Ground-truth TCP client: send payloads of mixed sizes, half-close, then read the reply to the end.

Usage: gt_client.py ADDRESS PORT. Large sendall() calls span several segments; small send() calls back to
back let Nagle coalesce them into one segment while the first is unacknowledged, and the ones right after
a 40000-byte sendall() (more than the initial congestion window) may queue behind its unsent tail. Neither
is certain on a loaded machine, so the stream starts with send(MSG_MORE) calls, which the kernel holds
until the next plain send(): one segment, four calls, every time (nothing is in flight to trigger an ACK).
"""

import socket
import sys

PLAN = (("more", 5), ("more", 11), ("more", 3), ("send", 20),
        ("sendall", 3000), ("send", 7), ("send", 7), ("sendall", 40000), ("send", 7), ("send", 7),
        ("send", 7), ("send", 100), ("sendmsg", 1800), ("file", 2500), ("sendall", 1460), ("send", 3))
READ_SIZES = (1024, 3, 8192, 500)


def main() -> int:
    address, port = sys.argv[1], int(sys.argv[2])
    with socket.create_connection((address, port), timeout=10) as sock:
        for i, (how, size) in enumerate(PLAN):
            data = bytes([97 + i % 26]) * size
            if how == "sendall":
                sock.sendall(data)
            elif how == "sendmsg":  # one call, three buffers
                third = size // 3
                assert sock.sendmsg([data[:third], data[third:-third], data[-third:]]) == size
            elif how == "file":  # file-like I/O: the BufferedWriter's flush() sends
                with sock.makefile("wb") as f:
                    f.write(data)
            else:
                sent = sock.send(data, socket.MSG_MORE if how == "more" else 0)
                if sent != size:
                    sock.sendall(data[sent:])
        sock.shutdown(socket.SHUT_WR)
        total, n = 0, 0
        while True:
            got = sock.recv(READ_SIZES[n % len(READ_SIZES)])
            n += 1
            if not got:
                break
            total += len(got)
    print(f"received {total}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
