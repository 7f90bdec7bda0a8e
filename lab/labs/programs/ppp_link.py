"""A point-to-point link between h1 and h2: real pppd where the kernel has PPP, crafted frames where not.

PPP (RFC 1661) runs over any serial byte stream; here a pseudo-terminal pair joins two pppd processes,
one in h1's namespace and one in h2's. They negotiate the link with LCP (MRU, magic number), then IP with
IPCP (addresses, Van Jacobson header compression), then carry IP: a ping crosses the link. pppd's
``record`` option keeps every byte of the serial line; this program turns h1's record into a pcapng with
the PPP link type (HDLC framing removed: flags, byte stuffing, FCS).

The kernel side of PPP (/dev/ppp, the ppp0 interface) needs CONFIG_PPP; SLIP and CSLIP need CONFIG_SLIP.
Where they are missing (this is checked, never assumed) the program says so in one line and writes an
*analysis exercise* instead: PPP, SLIP and CSLIP frames crafted with scapy, each labelled "crafted" in
the file (section and packet comments) — never passed off as captured. ``--out`` gets the pcapng and a
``.json`` beside it saying which of the two it is and why.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

LINKTYPE_PPP, LINKTYPE_SLIP = 9, 8
PEER_A, PEER_B = "198.19.0.1", "198.19.0.2"  # the lab's address space (198.18.0.0/15), off the topology


# -- detection ---------------------------------------------------------------------------------------------
def kernel_config() -> dict[str, str]:
    """CONFIG_* lines of the running kernel (from /proc/config.gz or /boot), empty when unreadable."""
    text = ""
    try:
        text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    except OSError:
        boot = Path(f"/boot/config-{os.uname().release}")
        text = boot.read_text() if boot.is_file() else ""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[2:].split()[0]] = "n"
    return out


def ppp_support() -> tuple[bool, str]:
    """Whether two pppd processes can run a PPP link here, and why not."""
    config = kernel_config()
    if shutil.which("pppd") is None:
        return False, "pppd is not installed"
    if Path("/dev/ppp").exists() or Path("/sys/module/ppp_generic").exists():
        return True, "the kernel has PPP (/dev/ppp)"
    if config.get("CONFIG_PPP") in ("y", "m"):
        loaded = subprocess.run(["modprobe", "ppp_generic"], capture_output=True, check=False, timeout=10)
        if loaded.returncode == 0 and Path("/dev/ppp").exists():
            return True, "the kernel has PPP (module ppp_generic loaded)"
        return False, "CONFIG_PPP is a module that could not be loaded (modprobe ppp_generic failed)"
    slip = "" if config.get("CONFIG_SLIP") in ("y", "m") else ", nor SLIP (CONFIG_SLIP unset)"
    return False, f"this kernel has no PPP (CONFIG_PPP unset, no /dev/ppp){slip}"


# -- pcapng ------------------------------------------------------------------------------------------------
def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def write_pcapng(path: Path, comment: str, interfaces: list[tuple[int, str]], frames: list) -> None:
    """``frames``: (interface index, time in ns, bytes, comment). Timestamps in nanoseconds."""
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(1, comment.encode()) + _option(0, b"")
    out = [_block(0x0A0D0D0A, shb)]
    for linktype, name in interfaces:
        idb = struct.pack("<HHI", linktype, 0, 65535) + _option(2, name.encode()) + _option(9, b"\x09")
        out.append(_block(1, idb + _option(0, b"")))
    for iface, t_ns, data, note in frames:
        epb = struct.pack("<IIIII", iface, t_ns >> 32, t_ns & 0xFFFFFFFF, len(data), len(data))
        epb += data + b"\0" * (-len(data) % 4) + _option(1, note.encode()) + _option(0, b"")
        out.append(_block(6, epb))
    path.write_bytes(b"".join(out))


# -- the live link -----------------------------------------------------------------------------------------
def unframe(stream: bytes) -> list[bytes]:
    """PPP frames out of an HDLC-like async byte stream (RFC 1662): split at 0x7e flags, undo 0x7d
    escapes, drop the 2-byte FCS."""
    frames, buf, escaped = [], bytearray(), False
    for b in stream:
        if b == 0x7E:
            if len(buf) > 2:
                frames.append(bytes(buf[:-2]))
            buf, escaped = bytearray(), False
        elif b == 0x7D:
            escaped = True
        else:
            buf.append(b ^ 0x20 if escaped else b)
            escaped = False
    return frames


def read_record(path: Path, start_ns: int) -> list[tuple[int, bytes, str]]:
    """pppd's ``record`` file: (time, frame, "sent"|"received") for every frame on the serial line.

    Format (pppdump): 1/2 + 2-byte length + bytes = data sent/received, 3/4 = end of sent/received
    data, 5 + 4 bytes / 6 + 1 byte = time elapsed in tenths of a second, 7 + 4 bytes = start time.
    """
    data, i, now = path.read_bytes(), 0, start_ns
    streams: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    out: list[tuple[int, bytes, str]] = []
    while i < len(data):
        code = data[i]
        i += 1
        if code in (1, 2):
            n = int.from_bytes(data[i : i + 2], "big")
            streams[code] += data[i + 2 : i + 2 + n]
            i += 2 + n
            last_flag = streams[code].rfind(b"\x7e")
            if last_flag > 0:
                for frame in unframe(bytes(streams[code][: last_flag + 1])):
                    out.append((now, frame, "sent" if code == 1 else "received"))
                del streams[code][:last_flag]
        elif code in (3, 4):
            continue
        elif code == 5:
            now += int.from_bytes(data[i : i + 4], "big") * 100_000_000
            i += 4
        elif code == 6:
            now += data[i] * 100_000_000
            i += 1
        elif code == 7:
            now = int.from_bytes(data[i : i + 4], "big") * 1_000_000_000
            i += 4
        else:
            break
    return out


def _wait_for_address(address: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = subprocess.run(
            ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False
        )
        if f"inet {address} " in shown.stdout or f"inet {address}/" in shown.stdout:
            return True
        time.sleep(0.1)
    return False


def ping(address: str, count: int) -> int:
    """Echo requests over the PPP link from a ping socket; returns the replies received."""
    # ping sockets are for the groups in ping_group_range (default: none, root included); h1's namespace only
    Path("/proc/sys/net/ipv4/ping_group_range").write_text("0 2147483647\n")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    sock.settimeout(2.0)
    got = 0
    for seq in range(1, count + 1):
        sock.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, seq) + b"over ppp", (address, 0))
        try:
            sock.recvfrom(1500)
            got += 1
        except TimeoutError:
            pass
    sock.close()
    return got


def live(peer_netns: str, out: Path) -> dict:
    """Two pppd over a pty pair (h1 here, h2 in ``peer_netns``), a ping across, the record as pcapng."""
    master, slave = os.openpty()
    record = out.with_suffix(".record")
    # no authentication (a lab cable), no modem lines, no keep-alive echoes; VJ compression offered
    common = ["nodetach", "noauth", "local", "nocrtscts", "nodefaultroute", "lcp-echo-interval", "0",
              "vj-max-slots", "16"]  # fmt: skip
    h1 = subprocess.Popen(["pppd", os.ttyname(slave), *common, f"{PEER_A}:{PEER_B}", "record", str(record)])
    h2 = subprocess.Popen(
        ["ip", "netns", "exec", peer_netns, "pppd", "notty", *common, f"{PEER_B}:{PEER_A}"],
        stdin=master,
        stdout=master,
    )
    start = time.time_ns()
    try:
        if not _wait_for_address(PEER_A, 15):
            raise SystemExit("pppd did not bring the link up within 15 s (see the step's log)")
        replies = ping(PEER_B, 3)
    finally:
        for proc in (h1, h2):
            proc.send_signal(signal.SIGTERM)  # pppd ends the link with LCP Terminate-Request/Ack
        for proc in (h1, h2):
            proc.wait(timeout=10)
    frames = read_record(record, start)
    note = "captured by pppd's record option on h1's end of the serial line"
    write_pcapng(
        out,
        f"PPP link h1-h2 {note}",
        [(LINKTYPE_PPP, "h1 ppp serial line")],
        [(0, t, f, f"{note}; {d} by h1") for t, f, d in frames],
    )
    return {"mode": "captured", "frames": len(frames), "replies": replies}


# -- the crafted exercise ----------------------------------------------------------------------------------
def crafted(out: Path, reason: str) -> dict:
    """PPP (LCP, IPCP, IP), SLIP and CSLIP frames built with scapy, every one labelled crafted."""
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.packet import Raw

    def lcp(code: int, ident: int, options: bytes = b"") -> bytes:
        return b"\xff\x03\xc0\x21" + struct.pack("!BBH", code, ident, 4 + len(options)) + options

    def ipcp(code: int, ident: int, options: bytes = b"") -> bytes:
        return b"\xff\x03\x80\x21" + struct.pack("!BBH", code, ident, 4 + len(options)) + options

    mru = b"\x01\x04\x05\xdc"  # MRU 1500
    magic_a, magic_b = b"\x05\x06\x1a\x2b\x3c\x4d", b"\x05\x06\x5e\x6f\x70\x81"
    vj = b"\x02\x06\x00\x2d\x0f\x01"  # IP-Compression-Protocol: Van Jacobson, 16 slots, slot id compressible

    def addr(ip: str) -> bytes:
        return b"\x03\x06" + socket.inet_aton(ip)

    echo = bytes(IP(src=PEER_A, dst=PEER_B, id=1) / ICMP(id=7, seq=1) / Raw(b"over ppp"))
    reply = bytes(IP(src=PEER_B, dst=PEER_A, id=2) / ICMP(type=0, id=7, seq=1) / Raw(b"over ppp"))
    ppp = [
        ("h1", lcp(1, 1, mru + magic_a)),
        ("h2", lcp(1, 1, mru + magic_b)),
        ("h2", lcp(2, 1, mru + magic_a)),
        ("h1", lcp(2, 1, mru + magic_b)),
        ("h1", ipcp(1, 1, vj + addr("0.0.0.0"))),  # "give me an address"
        ("h2", ipcp(1, 1, addr(PEER_B))),
        ("h2", ipcp(3, 1, addr(PEER_A))),  # Nak: "use this one"
        ("h1", ipcp(2, 1, addr(PEER_B))),
        ("h1", ipcp(1, 2, vj + addr(PEER_A))),
        ("h2", ipcp(2, 2, vj + addr(PEER_A))),
        ("h1", b"\xff\x03\x00\x21" + echo),
        ("h2", b"\xff\x03\x00\x21" + reply),
        ("h1", lcp(5, 2)),
        ("h2", lcp(6, 2)),
    ]
    slip = [("h1", 1, 0x40, b"", echo), ("h2", 0, 0x40, b"", reply)]
    # CSLIP: the first segment of a TCP connection goes uncompressed (it fills slot 1 of the compression
    # state), the next ones as Van Jacobson compressed headers: changes byte, slot, TCP checksum, deltas
    tcp = [
        bytes(IP(src=PEER_A, dst=PEER_B, id=10 + i) / TCP(sport=40600, dport=7, seq=1000 + 10 * i, ack=1,
                                                           flags="PA") / Raw(b"0123456789"))
        for i in range(3)
    ]  # fmt: skip
    cslip = [
        ("h1", 1, 0x70, b"", tcp[0]),
        ("h1", 1, 0xD8, bytes([0xD8, 1]) + tcp[1][36:38] + b"\x0a", tcp[1]),  # C, P, S changed: seq += 10
        ("h1", 1, 0x98, bytes([0x98]) + tcp[2][36:38] + b"\x0a", tcp[2]),  # same slot: no slot byte
    ]
    label = f"crafted with scapy by the ppp lab, not captured: {reason}"
    t0 = time.time_ns()
    frames = [(0, t0 + i * 1_000_000, data, f"{label}; sent by {who}") for i, (who, data) in enumerate(ppp)]
    for k, (who, direction, kind, chdr, datagram) in enumerate(slip):
        head = bytes([direction, kind]) + chdr[1:].ljust(14, b"\0")
        frames.append((1, t0 + (100 + k) * 1_000_000, head + datagram, f"{label}; SLIP, sent by {who}"))
    for k, (who, direction, kind, chdr, datagram) in enumerate(cslip):
        head = bytes([direction, kind]) + chdr[1:].ljust(14, b"\0")
        size = f"{len(chdr)} bytes" if chdr else "uncompressed"
        frames.append(
            (2, t0 + (200 + k) * 1_000_000, head + datagram, f"{label}; CSLIP ({size} header), sent by {who}")
        )
    write_pcapng(
        out,
        label,
        [
            (LINKTYPE_PPP, "crafted PPP h1-h2"),
            (LINKTYPE_SLIP, "crafted SLIP h1-h2"),
            (LINKTYPE_SLIP, "crafted CSLIP h1-h2"),
        ],  # fmt: skip
        frames,
    )
    return {"mode": "crafted", "frames": len(frames)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-netns", required=True, help="h2's network namespace (for its pppd)")
    ap.add_argument("--out", required=True, type=Path, help="the pcapng to write (and .json beside it)")
    ap.add_argument("--crafted", action="store_true", help="write the crafted exercise even if PPP works")
    args = ap.parse_args()

    supported, reason = ppp_support()
    if supported and not args.crafted:
        meta = live(args.peer_netns, args.out)
    else:
        why = reason if not supported else "asked for with --crafted"
        print(
            f"{why}: no PPP link can run here, so this lab analyzes crafted PPP/SLIP/CSLIP frames", flush=True
        )
        meta = crafted(args.out, why)
    meta["reason"] = reason
    args.out.with_suffix(".json").write_text(json.dumps(meta) + "\n")
    print(json.dumps(meta), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
