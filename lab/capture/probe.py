"""Probe frames: how the lab proves a capture is live.

A probe is a broadcast Ethernet frame with Ethertype 0x88B5 (IEEE 802 local experimental) whose payload
starts with ``LABPROBE``. No stack answers it, so it adds exactly one frame per probe to the capture, and
the analysis marks it as the lab's own (role ``lab-probe``). Run as ``python -m lab.capture.probe TOKEN
IFNAME...`` inside the namespace that owns the interfaces: an AF_PACKET socket must be opened in that
namespace.

The payload is ``LABPROBE <token> <ifname>\\0``. The capture confirms an interface by finding exactly that
byte string in its file; the leading magic and the trailing NUL make the match exact at both ends, so the
probe of ``r1-eth10`` can never confirm ``r1-eth1`` (a plain substring test would).
"""

from __future__ import annotations

import errno
import socket
import sys
import time

PROBE_ETHERTYPE = 0x88B5
PROBE_MAGIC = b"LABPROBE"
PROBE_END = b"\0"
_MIN_FRAME = 60  # Ethernet minimum without FCS; shorter frames are padded with NULs
_SRC_MAC = bytes.fromhex("020000000001")  # locally administered: never a real NIC's address


def probe_payload(token: bytes, ifname: str) -> bytes:
    """The payload of the probe for ``ifname``: also the exact needle searched for in the capture file."""
    return PROBE_MAGIC + b" " + token + b" " + ifname.encode() + PROBE_END


def probe_frame(token: bytes, ifname: str) -> bytes:
    """A whole broadcast frame carrying ``probe_payload(token, ifname)``, padded to the minimum size."""
    frame = b"\xff" * 6 + _SRC_MAC + PROBE_ETHERTYPE.to_bytes(2, "big") + probe_payload(token, ifname)
    return frame.ljust(_MIN_FRAME, b"\0")


TEMPFAIL = 75  # exit status of a probe sender whose frames the kernel could not queue this time
_BUSY = (errno.ENOBUFS, errno.EAGAIN)
_BUSY_TRIES = 10


def send_probes(ifnames: list[str], token: bytes) -> bool:
    """Send one probe on each interface; each carries its interface's name so each can be confirmed.

    Returns False when a frame could not be queued even after a few short retries (ENOBUFS: the veth's
    peer is swamped by other traffic on a loaded machine): the caller sends probes again on its next round
    instead of calling the capture broken. Any other error is raised.
    """
    sent_all = True
    for ifname in ifnames:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((ifname, 0))
            for attempt in range(_BUSY_TRIES):
                try:
                    sock.send(probe_frame(token, ifname))
                    break
                except OSError as err:
                    if err.errno not in _BUSY:
                        raise
                    time.sleep(0.002 * (attempt + 1))
            else:
                sent_all = False
    return sent_all


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m lab.capture.probe TOKEN IFNAME...", file=sys.stderr)
        return 2
    return 0 if send_probes(argv[1:], argv[0].encode()) else TEMPFAIL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
