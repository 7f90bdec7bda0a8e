"""Fetch a file with TFTP: RRQ to port 69, then DATA from the server's new port, an ACK for each block."""

import argparse
import socket
import struct

RRQ, DATA, ACK = 1, 3, 4


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("server")
    ap.add_argument("filename")
    ap.add_argument("--port", type=int, default=69)
    ap.add_argument("--output", default=None, help="where to write the file (default: nowhere)")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.sendto(struct.pack("!H", RRQ) + args.filename.encode() + b"\0octet\0", (args.server, args.port))
    received, expected, tid = b"", 1, None
    while True:
        packet, peer = sock.recvfrom(516)
        if tid is None:
            tid = peer  # the server answers from its transfer port, not 69
        opcode, block = struct.unpack("!HH", packet[:4])
        if peer != tid or opcode != DATA:
            print(f"unexpected packet from {peer}: opcode {opcode}")
            return 1
        if block == expected:
            received += packet[4:]
            expected += 1
        sock.sendto(struct.pack("!HH", ACK, block), tid)  # acknowledge to the TID
        if len(packet) - 4 < 512:
            break
    sock.close()
    if args.output:
        with open(args.output, "wb") as f:
            f.write(received)
    print(f"received {len(received)} bytes in {expected - 1} blocks from {tid[0]}:{tid[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
