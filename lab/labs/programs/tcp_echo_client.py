"""TCP echo client: the client half of the classic socket flow.

    socket() -> connect() -> sendall() -> recv() -> close()

The "# N." comments are the steps of the classic 12-step flow that the run's story.md lists (the
server, tcp_echo_server.py, has steps 1-4, 8, 9 and 12).

Sends MESSAGE, reads until the same number of bytes came back (TCP is a byte stream: one recv() may
return only part of it), prints the echo and exits 0 if it matches.
"""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("message", nargs="?", default="hello, lab")
    ap.add_argument("--size", type=int, default=0, help="send this many bytes of generated text instead")
    args = ap.parse_args()

    payload = (
        (b"0123456789abcdef" * (args.size // 16 + 1))[: args.size] if args.size else args.message.encode()
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)  # 5. socket
    sock.connect((args.host, args.port))  # 6. connect: SYN out, returns when the SYN-ACK is in
    sock.sendall(payload)  # 7. send(all): data segment(s)
    echo = b""
    while len(echo) < len(payload):
        chunk = sock.recv(4096)  # 10. recv: whatever has arrived so far
        if not chunk:
            break
        echo += chunk
    sock.close()  # 11. close: our FIN
    print(echo.decode(errors="replace"), flush=True)
    return 0 if echo == payload else 1


if __name__ == "__main__":
    raise SystemExit(main())
