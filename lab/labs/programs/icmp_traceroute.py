"""traceroute in Python: UDP probes with a growing TTL; each router on the way answers "time exceeded".

setsockopt(IP_TTL, n) makes the next datagram die at the n-th router, whose kernel sends ICMP time
exceeded back. IP_RECVERR asks the kernel to queue those ICMP errors on this UDP socket, and
recvmsg(MSG_ERRQUEUE) reads them: the original datagram plus a ``sock_extended_err`` naming the ICMP
type, code and the router that sent it (the "offender"). The destination itself answers port
unreachable (nobody listens on the probe's port): that ends the trace. No raw socket, no root.
"""

import argparse
import select
import socket
import struct

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_EE_ORIGIN_ICMP = 2
# struct sock_extended_err: ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data;
# then the offender's struct sockaddr_in (family, port, address)
EXT_ERR = struct.Struct("=IBBBBII")
NAMES = {(11, 0): "time exceeded", (3, 3): "port unreachable"}


def probe(sock: socket.socket, host: str, port: int, ttl: int, timeout: float) -> tuple[str, int, int] | None:
    """Send one probe with this TTL; return (router, icmp type, icmp code) of the error it caused."""
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    sock.sendto(f"probe ttl={ttl}".encode(), (host, port))
    poller = select.poll()
    # fileno(): the descriptor number the kernel knows the socket by — what poll() watches
    poller.register(sock.fileno(), select.POLLERR)
    if not poller.poll(timeout * 1000):
        return None
    _data, ancdata, _flags, _addr = sock.recvmsg(1500, 512, MSG_ERRQUEUE)
    for level, ctype, cdata in ancdata:
        if level == socket.IPPROTO_IP and ctype == IP_RECVERR:
            _errno, origin, itype, code, _pad, _info, _d = EXT_ERR.unpack_from(cdata)
            if origin == SO_EE_ORIGIN_ICMP:
                offender = socket.inet_ntoa(cdata[EXT_ERR.size + 4 : EXT_ERR.size + 8])
                return offender, itype, code
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("--port", type=int, default=33434, help="first probe port (traceroute's classic)")
    ap.add_argument("--max-hops", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=1.0)
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)  # queue ICMP errors for recvmsg(MSG_ERRQUEUE)
    reached = False
    for ttl in range(1, args.max_hops + 1):
        # a new port per probe, as traceroute does: each error quotes the port, so it names its probe
        answer = probe(sock, args.host, args.port + ttl - 1, ttl, args.timeout)
        if answer is None:
            print(f"{ttl:2d}  *", flush=True)
            continue
        router, itype, code = answer
        print(
            f"{ttl:2d}  {router}  ({NAMES.get((itype, code), f'ICMP type {itype} code {code}')})", flush=True
        )
        if (itype, code) == (3, 3):
            reached = router == args.host
            break
    sock.close()
    return 0 if reached else 1


if __name__ == "__main__":
    raise SystemExit(main())
