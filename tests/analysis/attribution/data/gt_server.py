"""Ground-truth TCP server: read a client's stream with uneven recv sizes, then answer with mixed sends.

Usage: gt_server.py ADDRESS PORT. Prints "ready" once it listens. Reads until the client's FIN with
recv()/recv_into()/recvmsg() of varying sizes, so one read may drain parts of several segments; then
sends a reply built to span segments (sendall of more than the MSS), to be coalesced (small send() calls
back to back) and to go through makefile().
"""

import socket
import sys

READ_SIZES = (700, 4096, 13, 65536, 1500)
REPLY = (("sendall", 5000), ("send", 9), ("send", 9), ("sendall", 30000), ("send", 9), ("send", 9),
         ("file", 3000), ("sendall", 2900), ("send", 1))


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
            if n % 3 == 0:
                got = len(conn.recv(size))
            elif n % 3 == 1:
                got = conn.recv_into(memoryview(buf)[:size])
            else:
                got = len(conn.recvmsg(size)[0])
            n += 1
            if not got:
                break
            total += got
        for i, (how, size) in enumerate(REPLY):
            data = bytes([65 + i % 26]) * size
            if how == "sendall":
                conn.sendall(data)
            elif how == "file":
                with conn.makefile("wb") as f:
                    f.write(data)
            else:
                conn.send(data)
    print(f"received {total}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
