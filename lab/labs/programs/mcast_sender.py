"""Multicast sender: sendto() a group address; one datagram on the wire, a copy for every member.

Sending needs no membership. IP_MULTICAST_IF picks the interface (by its address) since a group address
has no route of its own here, and IP_MULTICAST_TTL 1 keeps the datagrams on the local link (routers do
not forward TTL 1; this kernel cannot route multicast anyway). On Ethernet the destination MAC is derived
from the group: 01:00:5e followed by the group's low 23 bits.
"""

import argparse
import socket
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("group")
    ap.add_argument("port", type=int)
    ap.add_argument("--iface-ip", required=True, help="this node's address: the interface to send from")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--settle", type=float, default=1.5, help="seconds to wait before the first datagram")
    args = ap.parse_args()

    # a receiver's kernel sends its join report up to a second after setsockopt() (and repeats it), and
    # the switch's IGMP snooping settles on what it has heard: send once the LAN knows the members
    time.sleep(args.settle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.iface_ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    for i in range(1, args.count + 1):
        sock.sendto(f"news #{i} for the group".encode(), (args.group, args.port))  # one datagram
        time.sleep(args.interval)
    sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
