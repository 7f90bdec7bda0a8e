"""A UDP datagram to a port where nothing listens: the destination's kernel answers ICMP port unreachable.

Who hears about it depends on the socket: an *unconnected* UDP socket (sendto/recvfrom) is never told —
its recvfrom() just times out — while a *connected* one (connect, then send/recv) gets the error on its
next call: recv() raises ConnectionRefusedError (ECONNREFUSED, 111; Windows says WSAECONNRESET 10054).
"""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int, help="a UDP port nobody listens on")
    ap.add_argument("--wait", type=float, default=0.5, help="how long the unconnected socket waits")
    args = ap.parse_args()
    target = (args.host, args.port)

    unconnected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unconnected.settimeout(args.wait)
    unconnected.sendto(b"anyone there? (unconnected)", target)
    try:
        unconnected.recvfrom(1500)
        print("unexpected answer on the unconnected socket", flush=True)
        return 1
    except TimeoutError:
        print("unconnected socket: recvfrom() timed out; the ICMP error never reached it", flush=True)
    unconnected.close()

    connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected.settimeout(2.0)
    connected.connect(target)  # no packet: UDP's connect() only fixes the peer
    connected.send(b"anyone there? (connected)")
    try:
        connected.recv(1500)
        print("unexpected answer on the connected socket", flush=True)
        return 1
    except ConnectionRefusedError as err:
        print(f"connected socket: recv() raised ConnectionRefusedError (errno {err.errno})", flush=True)
    connected.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
