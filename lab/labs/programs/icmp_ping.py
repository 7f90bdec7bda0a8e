"""ping without a raw socket: echo requests from an ICMP *datagram* socket, one sendto() per request.

``socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`` is Linux's unprivileged ping socket (allowed for the groups
in ``net.ipv4.ping_group_range``). The program writes the 8-byte ICMP header itself (type 8, code 0,
sequence number) and the kernel fills in the identifier (the socket's "port") and the checksum. Each
recvfrom() returns one echo reply whose identifier matches this socket: ICMP header plus payload, no IP
header. The replies are sent by the destination's *kernel*: no program answers a ping.
"""

import argparse
import socket
import struct
import time

ECHO_REQUEST, ECHO_REPLY = 8, 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--size", type=int, default=32, help="payload bytes after the 8-byte ICMP header")
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    sock.settimeout(args.timeout)  # a lost reply must not hang the lab
    ok = True
    for seq in range(1, args.count + 1):
        payload = f"lab ping {seq} ".encode().ljust(args.size, b".")
        # identifier 0 and checksum 0: the kernel writes both (the identifier is this socket's "port")
        request = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, 0, seq) + payload
        t0 = time.monotonic()
        sock.sendto(request, (args.host, 0))  # one echo request on the wire
        reply, peer = sock.recvfrom(1500)  # one echo reply (ICMP header + payload)
        rtt_ms = (time.monotonic() - t0) * 1000
        rtype, _code, _sum, ident, rseq = struct.unpack_from("!BBHHH", reply)
        print(
            f"{len(reply)} bytes from {peer[0]}: type={rtype} id={ident} seq={rseq} time={rtt_ms:.2f} ms",
            flush=True,
        )
        ok = ok and rtype == ECHO_REPLY and rseq == seq and reply[8:] == payload
    sock.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
