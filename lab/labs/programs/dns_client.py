"""Ask a DNS server for the A record of NAME with one UDP datagram, as a stub resolver does."""

import argparse
import random
import socket
import struct


def query(name: str, qid: int) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD: recursion desired, one question
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return header + qname + struct.pack("!HH", 1, 1)  # type A, class IN


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("server")
    ap.add_argument("name")
    ap.add_argument("--port", type=int, default=53)
    args = ap.parse_args()

    qid = random.randrange(65536)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.sendto(query(args.name, qid), (args.server, args.port))
    reply, _ = sock.recvfrom(512)
    sock.close()
    rid, flags, _qd, ancount = struct.unpack("!HHHH", reply[:8])
    if rid != qid or flags & 0x000F or not ancount:
        print(f"{args.name}: no answer (rcode {flags & 0xF})")
        return 1
    print(f"{args.name} has address {socket.inet_ntoa(reply[-4:])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
