"""Connect to a port where nothing listens: the peer's kernel answers the SYN with a RST.

connect_ex() returns the errno instead of raising: ECONNREFUSED, which is 111 on Linux (other systems
number it differently, e.g. WSAECONNREFUSED 10061 on Windows). connect() raises ConnectionRefusedError.
Exits 0 when both were refused.
"""

import argparse
import errno
import socket


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    args = ap.parse_args()

    a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    code = a.connect_ex((args.host, args.port))  # SYN out, RST back: returns the errno
    print(f"connect_ex() returned {code} ({errno.errorcode.get(code, 'OK')})", flush=True)
    a.close()

    b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        b.connect((args.host, args.port))  # the same, as an exception
        refused = False
    except ConnectionRefusedError as err:
        print(f"connect() raised {type(err).__name__}: [Errno {err.errno}] {err.strerror}", flush=True)
        refused = True
    finally:
        b.close()
    return 0 if code == errno.ECONNREFUSED and refused else 1


if __name__ == "__main__":
    raise SystemExit(main())
