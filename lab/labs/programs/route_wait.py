"""Wait until this node's routing table has a route to ADDRESS (other than a default route).

Run inside a router's namespace by the dynamic routing labs: hosts' traffic starts only once the routing
daemons have converged far enough for it to arrive. Reads /proc/net/route (the kernel's IPv4 table of
this network namespace) every 50 ms; exits 0 with the route found, 1 if none appeared within --timeout.
"""

import argparse
import ipaddress
import socket
import struct
import sys
import time


def routes() -> list[tuple[ipaddress.IPv4Network, str, str]]:
    """(destination, gateway, interface) of every IPv4 route of this namespace but the default."""
    out = []
    with open("/proc/net/route") as fh:
        next(fh)  # header
        for line in fh:
            f = line.split()
            dest, gw, mask = (socket.inet_ntoa(struct.pack("<I", int(x, 16))) for x in (f[1], f[2], f[7]))
            net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
            if net.prefixlen:
                out.append((net, gw, f[0]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("address", type=ipaddress.IPv4Address)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    start = time.monotonic()
    deadline = start + args.timeout
    while True:
        found = [r for r in routes() if args.address in r[0]]
        if found:
            net, gw, dev = found[0]
            via = f" via {gw}" if gw != "0.0.0.0" else " (directly connected)"
            print(f"route to {args.address}: {net}{via} dev {dev} after {time.monotonic() - start:.2f} s")
            return 0
        if time.monotonic() > deadline:
            print(f"no route to {args.address} after {args.timeout:g} s", file=sys.stderr)
            return 1
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
