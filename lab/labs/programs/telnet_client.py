"""A small Telnet client written with sockets: it answers the server's option negotiation, then types a line.

Telnet (RFC 854) is a TCP byte stream in which byte 255, IAC ("interpret as command"), starts a command.
Before any text, each side proposes options with IAC WILL/WONT/DO/DONT <option> (RFC 855): "I will
echo", "please send your terminal type". This client agrees to TERMINAL-TYPE (and answers the server's
subnegotiation IAC SB TERMINAL-TYPE SEND with IS "VT100"), lets the server ECHO and SUPPRESS-GO-AHEAD,
and refuses everything else (WONT / DONT) — every answer is one send() you can find in the capture.
"""

import argparse
import socket

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
ECHO, SGA, TTYPE = 1, 3, 24
TTYPE_IS, TTYPE_SEND = 0, 1
ACCEPT_DO = {TTYPE, SGA}  # the server asks us to do these: we will
ACCEPT_WILL = {ECHO, SGA}  # the server offers to do these: please do


class Session:
    def __init__(self, sock: socket.socket, terminal: str) -> None:
        self.sock = sock
        self.terminal = terminal
        self.text = b""
        self.pending = b""
        self.answered: set[tuple[int, int]] = set()

    def answer(self, verb: int, option: int) -> None:
        """Reply once to each (verb, option): agreeing twice would start a negotiation loop."""
        if (verb, option) in self.answered:
            return
        self.answered.add((verb, option))
        if verb == DO:
            reply = WILL if option in ACCEPT_DO else WONT
        else:
            reply = DO if option in ACCEPT_WILL else DONT
        self.sock.send(bytes([IAC, reply, option]))  # one negotiation answer, one segment

    def feed(self, data: bytes) -> None:
        """Split the stream into text and commands; answer the commands as they come."""
        buf = self.pending + data
        i = 0
        while i < len(buf):
            if buf[i] != IAC:
                self.text += buf[i : i + 1]
                i += 1
                continue
            if i + 1 >= len(buf) or (buf[i + 1] in (WILL, WONT, DO, DONT) and i + 2 >= len(buf)):
                break  # a command cut by the segment boundary: wait for the rest
            cmd = buf[i + 1]
            if cmd in (DO, DONT, WILL, WONT):
                if cmd in (DO, WILL):
                    self.answer(cmd, buf[i + 2])
                i += 3
            elif cmd == SB:
                end = buf.find(bytes([IAC, SE]), i)
                if end < 0:
                    break
                if buf[i + 2 : i + 4] == bytes([TTYPE, TTYPE_SEND]):
                    is_ = bytes([IAC, SB, TTYPE, TTYPE_IS]) + self.terminal.encode() + bytes([IAC, SE])
                    self.sock.send(is_)
                i = end + 2
            elif cmd == IAC:
                self.text += b"\xff"
                i += 2
            else:
                i += 2
        self.pending = buf[i:]

    def settle(self, quiet: float) -> None:
        """Read (and answer) whatever the server still sends until it has been silent for ``quiet`` s."""
        timeout = self.sock.gettimeout()
        self.sock.settimeout(quiet)
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    break
                self.feed(data)
        except TimeoutError:
            pass
        finally:
            self.sock.settimeout(timeout)

    def read_until(self, marker: bytes) -> bool:
        while marker not in self.text:
            data = self.sock.recv(4096)
            if not data:
                return False
            self.feed(data)
        return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("--port", type=int, default=23)
    ap.add_argument("--line", default="hello over telnet")
    ap.add_argument("--terminal", default="VT100")
    ap.add_argument("--quiet", type=float, default=0.3, help="seconds of server silence before typing")
    args = ap.parse_args()

    sock = socket.create_connection((args.host, args.port), timeout=10)
    session = Session(sock, args.terminal)
    if not session.read_until(b"type a line: "):
        print("the server closed before its prompt", flush=True)
        return 1
    # telnetd may still be settling options (TIMING-MARK, BINARY) and can flush the terminal's input when
    # a mode changes: type only once the server has been quiet for a moment, as a person would
    session.settle(args.quiet)
    sock.send(args.line.encode() + b"\r\n")  # the line, as a terminal sends it (CR LF)
    ok = session.read_until(b"you typed: " + args.line.encode())
    if not ok:
        print(f"no echo of the line; the server said: {session.text!r}", flush=True)
    while sock.recv(4096):  # the session ends: the server closes the connection
        pass
    sock.close()
    print(session.text.decode(errors="replace"), flush=True)
    print(f"negotiated: {sorted(session.answered)}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
