"""Probe frames: how the lab proves a capture is live.

A probe is a broadcast Ethernet frame with Ethertype 0x88B5 (IEEE 802 local experimental) whose payload
starts with ``LABPROBE``. No stack answers it, so it adds exactly one frame per probe to the capture, and
the analysis marks it as the lab's own (role ``lab-probe``). Run as ``python -m lab.capture.probe IFNAME
TOKEN`` inside the namespace that owns the interface: an AF_PACKET socket must be opened in that namespace.
"""

from __future__ import annotations

import socket
import sys

PROBE_ETHERTYPE = 0x88B5
PROBE_MAGIC = b"LABPROBE"
_SRC_MAC = bytes.fromhex("020000000001")  # locally administered: never a real NIC's address


def probe_frame(token: bytes) -> bytes:
    payload = PROBE_MAGIC + b" " + token
    frame = b"\xff" * 6 + _SRC_MAC + PROBE_ETHERTYPE.to_bytes(2, "big") + payload
    return frame.ljust(60, b"\0")


def send_probes(ifnames: list[str], token: bytes) -> None:
    """Send one probe on each interface; the token carries the interface name so each can be confirmed."""
    for ifname in ifnames:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((ifname, 0))
            sock.send(probe_frame(token + b" " + ifname.encode()))


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m lab.capture.probe TOKEN IFNAME...", file=sys.stderr)
        return 2
    send_probes(argv[1:], argv[0].encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
