"""A tiny web server: Python's http.server (what `python3 -m http.server` runs), for N requests.

`python3 -m http.server` serves forever; the lab needs a server that exits by itself, so this serves
``--count`` requests with the same handler classes and then stops.
"""

import argparse
import functools
import http.server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0: all)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--directory", default=".")
    args = ap.parse_args()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=args.directory)
    with http.server.HTTPServer((args.host, args.port), handler) as httpd:
        for _ in range(args.count):
            httpd.handle_request()  # accept one connection, answer one request (HTTP/1.0), close
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
