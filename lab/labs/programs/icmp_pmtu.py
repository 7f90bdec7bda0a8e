"""Path-MTU discovery by hand: a datagram with Don't Fragment set meets a link whose MTU is too small.

IP_MTU_DISCOVER = IP_PMTUDISC_DO sets DF on every datagram and forbids fragmenting them. The first
datagram fits h1's own link but not the router's next one: the router drops it and answers ICMP
"fragmentation needed" with that link's MTU. h1's kernel stores the smaller path MTU for the route; the
connected socket is told (SO_ERROR = EMSGSIZE, 90), getsockopt(IP_MTU) shows the new path MTU, a second
datagram of the old size is refused locally (OSError EMSGSIZE: no packet at all), and one that fits the
path MTU gets through and is echoed back.
"""

import argparse
import errno
import select
import socket

IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_DO = getattr(socket, "IP_PMTUDISC_DO", 2)
IP_MTU = getattr(socket, "IP_MTU", 14)
IP_UDP_HEADERS = 20 + 8


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--size", type=int, default=1400, help="first datagram's payload bytes")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)  # DF set, never fragment
    sock.connect((args.host, args.port))  # connected: the socket hears about ICMP errors
    sock.settimeout(2.0)
    print(f"path MTU before: {sock.getsockopt(socket.IPPROTO_IP, IP_MTU)}", flush=True)
    sock.send(bytes(args.size))  # leaves h1 with DF; a router cannot forward it
    poller = select.poll()
    poller.register(sock, select.POLLERR)
    if not poller.poll(2000):
        print("no ICMP error arrived", flush=True)
        return 1
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # reading SO_ERROR clears it
    mtu = sock.getsockopt(socket.IPPROTO_IP, IP_MTU)
    print(f"SO_ERROR={err} ({errno.errorcode.get(err)}), path MTU now {mtu}", flush=True)
    try:
        sock.send(bytes(args.size))
        print("the kernel sent a datagram larger than the path MTU", flush=True)
        return 1
    except OSError as exc:
        if exc.errno != errno.EMSGSIZE:
            raise
        print(f"send({args.size} bytes) refused locally: {exc.strerror}", flush=True)
    fits = mtu - IP_UDP_HEADERS
    sock.send(bytes(fits))
    echo = sock.recv(65535)
    print(f"send({fits} bytes) went through: {len(echo)} bytes echoed", flush=True)
    sock.close()
    return 0 if err == errno.EMSGSIZE and len(echo) == fits else 1


if __name__ == "__main__":
    raise SystemExit(main())
