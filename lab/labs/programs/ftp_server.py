"""FTP server: pyftpdlib (a well-kept pure-Python FTP server) serving one small file to one user.

FTP keeps two kinds of TCP connections: the *control* connection to port 21 carries commands and
numbered replies in text (USER, PASS, TYPE, PASV/PORT, RETR; 230, 227, 150, 226), and every transfer
(a file, a listing) gets its own *data* connection, opened for that transfer and closed at its end —
the close is how the receiver knows the file is complete. Passive mode (PASV): the server listens on a
port it names in its 227 reply and the client connects. Active mode (PORT): the client listens and the
server connects to the address the PORT command gave. The server exits after ``--sessions`` logouts.
"""

import argparse
import tempfile
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True, help="address to listen on (the node's own)")
    ap.add_argument("--port", type=int, default=21)
    ap.add_argument("--passive-ports", default="40400-40409", help="range for PASV data connections")
    ap.add_argument("--size", type=int, default=3000, help="bytes of the served file lab.txt")
    ap.add_argument("--sessions", type=int, default=1, help="logouts before the server exits")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lab-ftp-"))
    text = "".join(f"line {i:04d} of the lab's FTP file\n" for i in range(1, 10_000))
    (home / "lab.txt").write_bytes(text.encode()[: args.size])
    authorizer = DummyAuthorizer()
    authorizer.add_user("student", "lab-password", str(home), perm="elr")  # read-only: list and retrieve

    done = {"logouts": 0}

    class Handler(FTPHandler):
        def on_logout(self, username: str) -> None:
            done["logouts"] += 1

    low, high = (int(x) for x in args.passive_ports.split("-"))
    Handler.authorizer = authorizer
    Handler.passive_ports = list(range(low, high + 1))
    Handler.banner = "lab FTP server (pyftpdlib) ready"
    # the file goes out through socket.send(), which the lab's tracer records, not through
    # os.sendfile() (zero-copy, but invisible to an in-process tracer)
    Handler.use_sendfile = False
    server = FTPServer((args.host, args.port), Handler)
    print(f"ftp listening on {args.host}:{args.port}, serving {home / 'lab.txt'}", flush=True)
    while done["logouts"] < args.sessions:
        server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
    server.close_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
