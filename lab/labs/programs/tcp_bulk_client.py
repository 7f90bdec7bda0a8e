"""Send a large payload: first with one send(), which may take only part of it, then sendall() the rest.

With a timeout set, Python's socket is non-blocking underneath: send() copies what fits in the socket's
send buffer (SO_SNDBUF) and returns that count; sendall() loops until every byte is in. Then shutdown
(SHUT_WR) says "no more data" (FIN) and the server's reply reports how many bytes arrived.
"""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--bytes", type=int, default=262144)
    ap.add_argument("--sndbuf", type=int, default=0, help="SO_SNDBUF to ask for (the kernel doubles it)")
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()

    payload = bytes(i % 251 for i in range(args.bytes))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if args.sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.sndbuf)
    sock.settimeout(args.timeout)
    sock.connect((args.host, args.port))
    sent = sock.send(payload)  # may be partial: returns how many bytes the kernel took
    print(f"send() took {sent} of {len(payload)} bytes", flush=True)
    sock.sendall(payload[sent:])  # loops until everything is queued
    sock.shutdown(socket.SHUT_WR)  # FIN: we are done sending
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    print(reply.decode().strip(), flush=True)
    return 0 if reply.decode().strip() == f"received {len(payload)} bytes" else 1


if __name__ == "__main__":
    raise SystemExit(main())
