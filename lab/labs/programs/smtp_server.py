"""A tiny SMTP server (RFC 5321) that accepts one message per connection and prints it.

SMTP is a text dialogue in which the *server speaks first* (220 greeting), then answers each client
command (EHLO, MAIL FROM, RCPT TO, DATA, QUIT) with a 3-digit reply code. DATA ends with a line "."
"""

import argparse
import socket


def session(conn: socket.socket) -> str:
    f = conn.makefile("rb")

    def reply(line: str) -> None:
        conn.sendall(line.encode() + b"\r\n")

    reply("220 h2 lab SMTP ready")  # the greeting: before the client has said anything
    message: list[str] = []
    while line := f.readline():
        cmd = line.decode(errors="replace").rstrip("\r\n")
        verb = cmd.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            reply("250 h2 greets you")
        elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
            reply("250 OK")
        elif verb == "DATA":
            reply("354 end data with <CR><LF>.<CR><LF>")
            while (body := f.readline().decode(errors="replace").rstrip("\r\n")) != ".":
                message.append(body)
            reply("250 OK: queued")
        elif verb == "QUIT":
            reply("221 bye")
            break
        else:
            reply("502 command not implemented")
    f.close()
    return "\n".join(message)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--count", type=int, default=1)
    args = ap.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", args.port))
    server.listen(5)
    for _ in range(args.count):
        conn, _ = server.accept()
        with conn:
            print(session(conn), flush=True)
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
