"""Write the telnet lab's inetd.conf: inetd listens on the telnet port and runs telnetd per connection.

telnetd (inetutils) is an inetd service: it talks Telnet on its standard input and output, which inetd
connects to each accepted TCP connection. The configuration names absolute paths, known only at run time,
hence this small writer instead of a fixed file.
"""

import argparse
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="the inetd.conf to write")
    ap.add_argument("--telnetd", default="/usr/sbin/telnetd")
    ap.add_argument("--session", required=True, help="program telnetd runs instead of /bin/login")
    args = ap.parse_args()
    if any(c.isspace() for c in args.telnetd + args.session):
        print(f"inetd.conf cannot name a path with spaces: {args.session!r}", flush=True)
        return 2
    # service socket-type protocol wait|nowait user server-program arguments...
    line = f"telnet stream tcp nowait root {args.telnetd} telnetd -h -E {args.session}\n"
    Path(args.out).write_text(line)
    print(line, end="", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
