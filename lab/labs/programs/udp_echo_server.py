"""UDP echo server: recvfrom() one datagram, sendto() it back to whoever sent it; ``--count`` times.

UDP has no connection: no listen(), no accept(). Each recvfrom() returns one whole datagram and the
address it came from, which is where the reply goes.
"""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the lab passes the node's own address: bound to 0.0.0.0, a reply takes the route's source address,
    # which on a loopback run is 127.0.0.1 (outside the run's capture), not this node's
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (the lab gives the node's own)")
    ap.add_argument("--port", type=int, default=5013)
    ap.add_argument("--count", type=int, default=1, help="datagrams to echo before exiting")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # nothing on the wire
    sock.bind((args.host, args.port))  # nothing on the wire either
    print(f"udp listening on {args.host}:{args.port}", flush=True)
    for _ in range(args.count):
        data, peer = sock.recvfrom(65535)  # one datagram, whole, plus its sender
        print(f"{len(data)} bytes from {peer[0]}:{peer[1]}", flush=True)
        sock.sendto(data, peer)  # one datagram back
    sock.close()  # nothing on the wire: there is no connection to end
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
