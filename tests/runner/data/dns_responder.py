"""A tiny authoritative DNS responder for tests: answers every A query with 198.18.0.53, then exits.

Usage: dns_responder.py ADDRESS PORT COUNT
"""

import socket
import struct
import sys


def answer(query: bytes) -> bytes:
    ident, _flags, qdcount = struct.unpack("!HHH", query[:6])
    end = 12
    while query[end] != 0:
        end += query[end] + 1
    question = query[12 : end + 5]
    header = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0)
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("198.18.0.53")
    return header + question + record


def main() -> int:
    address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        for _ in range(count):
            query, peer = sock.recvfrom(4096)
            sock.sendto(answer(query), peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
