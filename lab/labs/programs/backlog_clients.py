"""Open N connections one after another to a server that is not accepting, then use them.

The first ones connect at once (the kernel completes their handshakes and queues them); once the queue
is full, the next SYN is dropped and connect() waits for the SYN's retransmission about 1 s later.
"""

import argparse
import socket
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--clients", type=int, default=3)
    args = ap.parse_args()

    socks = []
    for i in range(args.clients):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        start = time.monotonic()
        s.connect((args.host, args.port))  # returns when the handshake is done: no accept() needed
        print(f"client {i + 1}: connect() took {time.monotonic() - start:.3f} s", flush=True)
        socks.append(s)
    ok = True
    for i, s in enumerate(socks):
        msg = f"client {i + 1}".encode()
        s.sendall(msg)
        ok = ok and s.recv(4096) == msg
        s.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
