"""A tiny authoritative DNS server over UDP: A records from the command line, one datagram per answer.

DNS messages (RFC 1035): a 12-byte header (ID, flags, four counts), the question (a name as length-
prefixed labels, type, class), then resource records. The reply repeats the ID and the question and
adds the answer; a name it does not know gets NXDOMAIN (rcode 3). Serves ``--count`` queries.
"""

import argparse
import socket
import struct


def parse_question(msg: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, name, qtype, end offset of the question) of a query."""
    qid, flags = struct.unpack("!HH", msg[:4])
    labels, i = [], 12
    while msg[i]:
        labels.append(msg[i + 1 : i + 1 + msg[i]].decode())
        i += 1 + msg[i]
    qtype, _qclass = struct.unpack("!HH", msg[i + 1 : i + 5])
    return qid, flags, ".".join(labels).lower(), qtype, i + 5


def answer(query: bytes, zone: dict[str, str]) -> bytes:
    qid, flags, name, qtype, end = parse_question(query)
    question = query[12:end]
    addr = zone.get(name.rstrip("."))
    rd = flags & 0x0100
    if addr is None or qtype != 1:  # not ours, or not an A query
        rcode = 3 if addr is None else 0
        return struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, 0, 0, 0) + question
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)  # pointer to the name
    return struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 1, 0, 0) + question + record


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--count", type=int, default=1, help="queries to answer before exiting")
    ap.add_argument("--record", action="append", default=[], help="NAME=IPV4, e.g. www.lab=198.18.0.2")
    args = ap.parse_args()

    zone = dict(r.lower().split("=", 1) for r in args.record)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.port))
    for _ in range(args.count):
        query, peer = sock.recvfrom(512)  # classic DNS over UDP: at most 512 bytes
        reply = answer(query, zone)
        sock.sendto(reply, peer)
        print(f"answered {parse_question(query)[2]} for {peer[0]}:{peer[1]}", flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
