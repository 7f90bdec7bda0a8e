"""Multicast receiver: join a group with setsockopt(IP_ADD_MEMBERSHIP), read datagrams, leave on close().

Joining is a socket option, not a connection: ``struct ip_mreq`` names the group and the local interface
(by its address). The kernel then sends an IGMP membership report so that switches and routers on the link
learn that someone here wants the group, and it delivers the group's datagrams to every socket bound to
the port that joined. close() drops the socket's memberships: the kernel reports the leave.
"""

import argparse
import socket
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("group")
    ap.add_argument("port", type=int)
    ap.add_argument("--iface-ip", required=True, help="this node's address: the interface that joins")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--linger", type=float, default=0.0, help="seconds to stay alive after close()")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(args.timeout)
    mreq = socket.inet_aton(args.group) + socket.inet_aton(args.iface_ip)  # struct ip_mreq
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)  # IGMP report: "join"
    sock.bind((args.group, args.port))  # bound to the group: only its datagrams arrive here
    print(f"joined {args.group}, bound to port {args.port}", flush=True)
    for _ in range(args.count):
        data, sender = sock.recvfrom(1500)
        print(f"{len(data)} bytes from {sender[0]}:{sender[1]}: {data.decode(errors='replace')}", flush=True)
    sock.close()  # drops the membership: IGMP report "leave"
    time.sleep(args.linger)  # the kernel repeats the leave report; the lab waits to see it
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
