"""Ground-truth TCP server: read a client's stream with uneven recv sizes, then answer with mixed sends.

Usage: gt_server.py ADDRESS PORT. Prints "ready" once it listens. Reads until the client's FIN, varying the
recv()/recv_into() buffer so one read may drain parts of several segments, then sends a reply built to
span segments (sendall of more than the MSS) and to be coalesced (small send() calls back to back).
"""

import socket
import sys

READ_SIZES = (700, 4096, 13, 65536, 1500)
REPLY = (("sendall", 5000), ("send", 9), ("send", 9), ("sendall", 30000), ("send", 9), ("send", 9),
         ("sendall", 2900), ("send", 1))


def main() -> int:
    address, port = sys.argv[1], int(sys.argv[2])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lsock:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((address, port))
        lsock.listen(1)
        print("ready", flush=True)
        conn, _ = lsock.accept()
    with conn:
        total, n = 0, 0
        buf = bytearray(65536)
        while True:
            size = READ_SIZES[n % len(READ_SIZES)]
            got = conn.recv_into(memoryview(buf)[:size]) if n % 2 else len(conn.recv(size))
            n += 1
            if not got:
                break
            total += got
        for i, (how, size) in enumerate(REPLY):
            data = bytes([65 + i % 26]) * size
            if how == "sendall":
                conn.sendall(data)
            else:
                conn.send(data)
    print(f"received {total}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
