"""settimeout(): a recv() that times out, then a connect() whose SYNs are dropped.

1. connect to PORT (a silent server), settimeout(RECV_TIMEOUT), recv(): TimeoutError; no packet moved.
2. settimeout(CONNECT_TIMEOUT), connect to DROP_PORT, where a firewall drops SYNs: the kernel
   retransmits the SYN after 1 s, 2 s more, ... (exponential backoff) until Python gives up.
Exits 0 when both timed out.
"""

import argparse
import socket
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("drop_port", type=int)
    ap.add_argument("--recv-timeout", type=float, default=1.0)
    ap.add_argument("--connect-timeout", type=float, default=3.5)
    args = ap.parse_args()

    timeouts = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect((args.host, args.port))
    sock.settimeout(args.recv_timeout)
    start = time.monotonic()
    try:
        sock.recv(4096)  # the server never sends
    except TimeoutError:
        timeouts += 1
        print(f"recv() timed out after {time.monotonic() - start:.3f} s", flush=True)
    sock.close()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(args.connect_timeout)
    start = time.monotonic()
    try:
        sock.connect((args.host, args.drop_port))  # SYN, SYN (+1 s), SYN (+2 s), ...
    except TimeoutError:
        timeouts += 1
        print(f"connect() timed out after {time.monotonic() - start:.3f} s", flush=True)
    sock.close()
    return 0 if timeouts == 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
