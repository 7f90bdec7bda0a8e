"""How many packets each capture point received and how many it lost: loss is measured, never silent.

dumpcap drops packets when its kernel buffer overflows (a fast sender, a slow disk, a busy CPU) and says so
only in two places, both read here:

* the pcapng **Interface Statistics Block** it writes when it stops (``isb_ifrecv`` = packets handed to
  dumpcap, ``isb_ifdrop`` = packets the kernel dropped for lack of buffer, ``isb_osdrop`` = dropped by the
  OS elsewhere);
* its log, whose last line per interface reads ``Packets received/dropped on interface 'h1-eth0':
  38579/99137 (pcap:99137/dumpcap:0/flushed:0/ps_ifdrop:0) (28.0%)`` -- the only place for the packets
  dumpcap itself could not write (``dumpcap:``, ``flushed:``).

Both sources are read and the larger loss wins. An interface with neither (dumpcap killed before it could
write them) has unknown statistics, and a capture with an unknown interface is not complete: nobody can
say that nothing was lost.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

_SHB = 0x0A0D0D0A
_IDB = 0x00000001
_ISB = 0x00000005
_ISB_IFRECV, _ISB_IFDROP, _ISB_OSDROP = 4, 5, 7

_LOG_LINE = re.compile(
    r"Packets received/dropped on interface '(?P<iface>[^']*)': (?P<received>\d+)/(?P<dropped>\d+)"
    r"(?: \(pcap:(?P<pcap>\d+)/dumpcap:(?P<dumpcap>\d+)/flushed:(?P<flushed>\d+)"
    r"(?:/ps_ifdrop:(?P<ps_ifdrop>\d+))?\))?"
)


@dataclass(frozen=True)
class InterfaceCounts:
    """What one capture point saw: ``received`` packets handed to dumpcap, ``dropped`` packets lost.

    ``None`` means unknown (no statistics block and no log line for this interface).
    """

    received: int | None
    dropped: int | None

    @property
    def known(self) -> bool:
        return self.received is not None and self.dropped is not None


@dataclass(frozen=True)
class CaptureStats:
    """Per capture point (by its label, e.g. ``h1-eth0``) counts, and what they mean for the run."""

    per_interface: dict[str, InterfaceCounts]

    @property
    def dropped(self) -> int:
        """Packets known to be lost, over every capture point."""
        return sum(c.dropped or 0 for c in self.per_interface.values())

    @property
    def unknown(self) -> list[str]:
        """Capture points whose statistics could not be read: their loss is unknown."""
        return [label for label, c in self.per_interface.items() if not c.known]

    @property
    def complete(self) -> bool:
        """True only when every point's counts are known and none dropped a packet."""
        return bool(self.per_interface) and not self.unknown and self.dropped == 0

    def as_dict(self) -> dict[str, object]:
        """The report.json form: ``dropped``, ``per_interface`` (label -> received, dropped), ``complete``."""
        return {
            "dropped": self.dropped,
            "per_interface": {
                label: {"received": c.received, "dropped": c.dropped}
                for label, c in self.per_interface.items()
            },
            "complete": self.complete,
            "unknown": self.unknown,
        }

    def problem(self) -> str | None:
        """One sentence saying what was lost where and what to do; None for a complete capture."""
        if self.complete:
            return None
        parts = []
        lossy = {label: c for label, c in self.per_interface.items() if c.dropped}
        if lossy:
            where = ", ".join(
                f"{c.dropped} of {c.dropped + (c.received or 0)} on {label}" for label, c in lossy.items()
            )
            parts.append(
                f"the capture lost {self.dropped} packet(s) ({where}): dumpcap's buffer overflowed, so the "
                "analysis covers an incomplete capture"
            )
        if self.unknown:
            parts.append(
                f"no capture statistics for {', '.join(self.unknown)} (dumpcap stopped before writing "
                "them): loss there is unknown"
            )
        return (
            "; ".join(parts)
            + "; rerun with a larger capture buffer (--capture-buffer MIB), a short snap length "
            "(--snaplen 128) or a slower rate"
        )

    def header_line(self) -> str:
        """The one line for the ladder/story header: ``capture: complete ...`` or what was lost."""
        if self.complete:
            total = sum(c.received or 0 for c in self.per_interface.values())
            return f"capture: complete ({total} packets received, 0 dropped)"
        lossy = [f"{c.dropped} on {label}" for label, c in self.per_interface.items() if c.dropped]
        text = f"capture: INCOMPLETE, {self.dropped} packets dropped"
        if lossy:
            text += f" ({', '.join(lossy)})"
        if self.unknown:
            text += f"; statistics unknown on {', '.join(self.unknown)}"
        return text


def read_isb(path: Path) -> dict[int, InterfaceCounts]:
    """Interface index (within the file, over all its sections) -> counts of its last statistics block.

    Streams the file block by block, reading only section, interface and statistics blocks (packet blocks
    are skipped by seeking), so a capture of hundreds of megabytes costs no memory. A truncated or
    unreadable tail ends the walk quietly: what was read before stays; an interface without a statistics
    block is absent from the result.
    """
    out: dict[int, InterfaceCounts] = {}
    try:
        fh = path.open("rb")
    except OSError:
        return out
    with fh:
        endian, base, in_section = "<", 0, 0
        while len(head := fh.read(8)) == 8:
            if struct.unpack_from("<I", head)[0] == _SHB:
                magic = fh.read(4)
                fh.seek(-4, 1)
                endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
                base += in_section
                in_section = 0
            btype, blen = struct.unpack(endian + "II", head)
            if blen < 12 or blen % 4:
                break
            if btype == _IDB:
                in_section += 1
            if btype == _ISB and blen >= 24:
                body = fh.read(blen - 8)
                if len(body) != blen - 8:
                    break
                iid = struct.unpack_from(endian + "I", body)[0]
                opts = _options(body[12:-4], endian)
                received = opts.get(_ISB_IFRECV)
                dropped = None
                if _ISB_IFDROP in opts or _ISB_OSDROP in opts:
                    dropped = opts.get(_ISB_IFDROP, 0) + opts.get(_ISB_OSDROP, 0)
                out[base + iid] = InterfaceCounts(received, dropped)
            else:
                fh.seek(blen - 8, 1)
    return out


def _options(raw: bytes, endian: str) -> dict[int, int]:
    """The 64-bit counter options of a statistics block (others are skipped)."""
    out: dict[int, int] = {}
    pos = 0
    while pos + 4 <= len(raw):
        code, length = struct.unpack_from(endian + "HH", raw, pos)
        if code == 0:
            break
        if length == 8 and pos + 12 <= len(raw):
            out[code] = struct.unpack_from(endian + "Q", raw, pos + 4)[0]
        pos += 4 + ((length + 3) & ~3)
    return out


def read_log(text: str) -> dict[str, InterfaceCounts]:
    """Interface name -> counts from dumpcap's closing lines; ``dropped`` includes dumpcap's own losses."""
    out: dict[str, InterfaceCounts] = {}
    for m in _LOG_LINE.finditer(text):
        dropped = int(m["dropped"])
        if m["pcap"] is not None:
            own = int(m["pcap"]) + int(m["dumpcap"]) + int(m["flushed"]) + int(m["ps_ifdrop"] or 0)
            dropped = max(dropped, own)
        out[m["iface"]] = InterfaceCounts(int(m["received"]), dropped)
    return out


def combine(isb: InterfaceCounts | None, log: InterfaceCounts | None) -> InterfaceCounts:
    """One interface's counts from both sources: the larger loss and the larger receive count win."""
    known = [c for c in (isb, log) if c is not None and c.known]
    if not known:
        return InterfaceCounts(None, None)
    return InterfaceCounts(
        max(c.received or 0 for c in known), max(c.dropped or 0 for c in known)
    )
