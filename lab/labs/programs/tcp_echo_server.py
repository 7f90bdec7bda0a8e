"""TCP echo server: the server half of the classic socket flow, one call per step.

    socket() -> bind() -> listen() -> accept() -> recv() -> sendall() -> close()

The "# N." comments are the steps of the classic 12-step flow that the run's story.md lists (the
client, tcp_echo_client.py, has steps 5, 6, 7, 10 and 11).

It serves ``--count`` connections (one by default), then exits by itself so that the lab can wait for it.
Nothing here knows about the lab: the tracer records the socket calls from outside.
"""

import argparse
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0: every address of the node)")
    ap.add_argument("--port", type=int, default=5012)
    ap.add_argument("--count", type=int, default=1, help="connections to serve before exiting")
    ap.add_argument(
        "--backlog", type=int, default=5, help="listen() backlog: finished handshakes kept queued"
    )
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)  # 1. socket: an endpoint, nothing on the wire
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rerun at once despite TIME_WAIT
    server.bind((args.host, args.port))  # 2. bind: claim the port (still nothing on the wire)
    server.listen(args.backlog)  # 3. listen: the kernel now answers SYNs on our behalf
    print(f"listening on {args.host}:{args.port}", flush=True)
    for _ in range(args.count):
        conn, peer = server.accept()  # 4. accept: take a *finished* connection off the queue
        print(f"accepted {peer[0]}:{peer[1]}", flush=True)
        with conn:
            while True:
                data = conn.recv(4096)  # 8. recv: bytes, not messages; b"" means the peer sent FIN
                if not data:
                    break
                conn.sendall(data)  # 9. send(all): echo every byte back
        # 12. close (leaving the with-block): our FIN
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
