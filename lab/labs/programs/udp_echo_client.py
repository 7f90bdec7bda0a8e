"""UDP echo client: one sendto() and one recvfrom() per message.

Each sendto() becomes exactly one datagram (or, if it is larger than the path MTU, one datagram cut into
IP fragments). ``--size N`` sends one message of N bytes instead of the text messages.
"""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("messages", nargs="*", default=["hello, udp"])
    ap.add_argument("--size", type=int, default=0, help="send one message of this many bytes")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()

    payloads = (
        [bytes(i % 256 for i in range(args.size))] if args.size else [m.encode() for m in args.messages]
    )
    # no bind(): the first sendto() binds an ephemeral port, and the source address is the route's (on a
    # loopback run, 127.0.0.1 rather than this node's 127.x address)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(args.timeout)  # UDP may lose a datagram: never wait forever
    ok = True
    for payload in payloads:
        sock.sendto(payload, (args.host, args.port))  # one call, one datagram
        echo, peer = sock.recvfrom(65535)
        print(f"{len(echo)} bytes back from {peer[0]}:{peer[1]}", flush=True)
        ok = ok and echo == payload
    sock.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
