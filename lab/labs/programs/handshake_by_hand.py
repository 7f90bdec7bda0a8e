"""Send a TCP SYN built by hand with scapy from a raw socket, and see who answers what.

scapy builds each frame (Ethernet, IP, TCP; first an ARP request for h2's MAC address) in Python and the
program writes it to an AF_PACKET raw socket: the kernel's TCP never hears of it. h2's kernel answers the
SYN with a SYN-ACK for its listening socket; h1's kernel, which has no socket for that connection, answers
the SYN-ACK with a RST — unless a firewall rule drops that RST, in which case ``--complete`` finishes the
handshake by hand (the third packet, an ACK) and then aborts the connection with a RST of its own, so h2's
server sees ``accept()`` return and its ``recv()`` fail with ECONNRESET.

Exits 0 when the SYN-ACK came back (and, with ``--complete``, the connection was made and aborted).
Needs CAP_NET_RAW (raw sockets): the lab runs it as root.
"""

import argparse
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--sport", type=int, required=True, help="the source port written into the SYN")
    ap.add_argument("--seq", type=int, default=1000, help="the initial sequence number written into the SYN")
    ap.add_argument("--complete", action="store_true",
                    help="send the handshake's ACK and then a RST (needs h1's own RST dropped)")
    args = ap.parse_args()

    # imported here: scapy reads the node's interfaces and routes at import, in this process and namespace
    from scapy.all import ARP, IP, TCP, Ether, conf, get_if_hwaddr

    conf.verb = 0
    iface = conf.route.route(args.host)[0]
    # scapy's layer-2 socket on Linux: an AF_PACKET SOCK_RAW socket bound to the interface, which sends the
    # bytes it is given as one frame and reads a copy of every frame in or out of it (ETH_P_ALL)
    sock = conf.L2socket(iface=iface)
    sock.ins.settimeout(5)
    try:
        # h2's MAC address, asked for with an ARP request the program writes itself
        who_has = Ether(dst="ff:ff:ff:ff:ff:ff", src=get_if_hwaddr(iface)) / ARP(pdst=args.host)
        sock.send(who_has)
        reply = _read(sock, lambda f: ARP in f and f[ARP].op == 2 and f[ARP].psrc == args.host)
        if reply is None:
            print(f"no ARP reply from {args.host}", flush=True)
            return 1
        eth = Ether(dst=reply[ARP].hwsrc, src=who_has.src)
        print(f"{args.host} is at {reply[ARP].hwsrc}", flush=True)

        syn = eth / IP(dst=args.host) / TCP(sport=args.sport, dport=args.port, flags="S", seq=args.seq)
        sock.send(syn)
        answer = _read(sock, lambda f: TCP in f and f[IP].src == args.host and f[TCP].sport == args.port
                       and f[TCP].dport == args.sport and f[TCP].flags == "SA")
        if answer is None:
            print(f"no SYN-ACK from {args.host}:{args.port}", flush=True)
            return 1
        synack = answer[TCP]
        print(f"sent {syn[TCP].summary()}; got {synack.summary()} (seq {synack.seq}, ack {synack.ack})",
              flush=True)
        if not args.complete:
            time.sleep(0.3)  # h1's kernel answers the SYN-ACK with a RST meanwhile: the capture shows it
            return 0
        ack = eth / IP(dst=args.host) / TCP(sport=args.sport, dport=args.port, flags="A", seq=args.seq + 1,
                                            ack=synack.seq + 1)
        sock.send(ack)  # the handshake's third packet: h2's accept() returns
        print(f"sent {ack[TCP].summary()}: handshake complete, by hand", flush=True)
        time.sleep(0.5)
        rst = eth / IP(dst=args.host) / TCP(sport=args.sport, dport=args.port, flags="R", seq=args.seq + 1)
        sock.send(rst)  # abort: h2's recv() fails with ECONNRESET, and nothing is left to retransmit
        print(f"sent {rst[TCP].summary()}: connection aborted", flush=True)
        return 0
    finally:
        sock.close()


def _read(sock, wanted):
    """Read frames from the raw socket until one is ``wanted`` (what scapy's sr1() does, without its
    select() loop): the socket gets every frame of the interface (scapy drops our own outgoing copies)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            frame = sock.recv()
        except TimeoutError:
            return None
        if frame is not None and wanted(frame):
            return frame
    return None


if __name__ == "__main__":
    raise SystemExit(main())
