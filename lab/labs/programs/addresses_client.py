"""Where does the client's port come from? Two connections:

1. no bind(): connect() picks an ephemeral port (net.ipv4.ip_local_port_range, 32768-60999 by default);
   getsockname() tells which.
2. bind(("", BIND_PORT)) first: the SYN leaves from exactly that port.
"""

import argparse
import socket


def one(host: str, port: int, bind_port: int | None) -> tuple[str, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if bind_port is not None:
        # SO_REUSEADDR: a previous run's connection from this port may still be in TIME_WAIT (on a loopback
        # run, which shares the machine's network stack); without it bind() fails with EADDRINUSE.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", bind_port))
    sock.connect((host, port))
    local, peer = sock.getsockname(), sock.getpeername()
    print(f"local {local[0]}:{local[1]} -> peer {peer[0]}:{peer[1]}", flush=True)
    sock.sendall(b"who am I?")
    sock.recv(4096)
    sock.close()
    return local


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--bind-port", type=int, default=40123)
    args = ap.parse_args()

    one(args.host, args.port, None)
    local = one(args.host, args.port, args.bind_port)
    return 0 if local[1] == args.bind_port else 1


if __name__ == "__main__":
    raise SystemExit(main())
