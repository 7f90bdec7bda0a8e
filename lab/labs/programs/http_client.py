"""GET a URL with urllib: DNS-free (an IP address), one TCP connection, one request, one response."""

import argparse
import urllib.request


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    args = ap.parse_args()

    with urllib.request.urlopen(args.url, timeout=10) as resp:
        body = resp.read()
        print(f"HTTP {resp.status} {resp.reason}, {len(body)} bytes, Server: {resp.headers['Server']}")
        return 0 if resp.status == 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
