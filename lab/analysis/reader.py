"""Streaming capture reader: pcap and pcapng, either byte order, gzip or not, in large buffered chunks.

Why not scapy: its per-packet object model runs at a few thousand packets per second. Here a record is a
plain tuple cut out of a 1 MiB buffer with precompiled ``struct`` formats, so reading costs about a
microsecond per packet and memory stays flat however long the file is.

What the reader yields (``CaptureReader.records()``), in file order:

* ``bytes`` -- a pcapng block that is not a packet (SHB, IDB, NRB, ISB, custom, unknown), raw and
  unchanged, so that the annotated writer can copy it;
* ``Record`` -- a packet: ``(iface, ts_ns, caplen, wirelen, data, hdr, opts, comments)`` where ``hdr`` is
  the 20 bytes of an EPB body before the data (interface id, timestamp, lengths, in the section's byte
  order; ``None`` for pcap input), ``opts`` the raw EPB options without the end marker (``b""`` if none),
  and ``comments`` the opt_comment strings already present.

A truncated or malformed file stops the iteration and leaves one message in ``reader.errors`` (what was
read before the break stays valid, as with tshark). A file that cannot be read at all (not a capture,
unsupported link type in a pcap header) raises ``PcapFormatError``.
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from lab.analysis.linktypes import LINKTYPE_NAMES, SUPPORTED_LINKTYPES
from lab.analysis.pcapngopts import keep_options
from lab.errors import PcapFormatError

CHUNK = 1 << 20
MAX_RECORD = 256 << 20  # larger claimed record lengths mean a corrupt file, not a huge packet
# The largest packet tshark reads for every link type the decoder knows (WTAP_MAX_PACKET_SIZE_STANDARD):
# a larger one would make annotated.pcapng unreadable, so the reader stops there, as tshark does.
MAX_CAPLEN = 262_144

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
    b"\x34\xcd\xb2\xa1": ("<", 1000),  # Kuznetzov "modified" pcap: 8 more bytes per record header
    b"\xa1\xb2\xcd\x34": (">", 1000),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
# The decompression budget (``lab analyze --max-ratio``): a gzip input may inflate to at most this many
# times the compressed bytes read so far (at least RATIO_FLOOR of them). Real captures compress 2-20x;
# 200 MB of zeros after a pcap header compress to 200 KB (1000x) and would make gigabytes of output.
DEFAULT_MAX_RATIO = 100
RATIO_FLOOR = 16 << 10


def check_inflation(path: Path, max_ratio: float | None, probe: int = 8 << 20) -> None:
    """Raise PcapFormatError if a gzip file's first ``probe`` decompressed bytes already break the
    decompression budget: a bomb is then refused before any output exists (``CaptureReader`` keeps
    checking while it reads, for a bomb that starts later in the file)."""
    if not max_ratio:
        return
    with open(path, "rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            return
        raw.seek(0)
        inflated = 0
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                while inflated < probe and (chunk := gz.read(CHUNK)):
                    inflated += len(chunk)
                    packed = raw.tell()
                    if inflated > max_ratio * max(packed, RATIO_FLOOR):
                        raise PcapFormatError(_bomb_message(path, max_ratio, inflated, packed))
        except (OSError, EOFError, zlib.error):
            return  # corrupt data: the reader says where, with what it could read before


def _bomb_message(path: Path, max_ratio: float, inflated: int, packed: int) -> str:
    return (f"{path}: decompresses to more than {max_ratio:g} times its compressed size ({inflated:,} bytes "
            f"from the first {packed:,}): a decompression bomb? stopped (raise the limit with --max-ratio "
            "if this is a real capture)")


def check_capture_path(path: Path) -> None:
    """Raise PcapFormatError unless ``path`` is a regular file: one line for a missing file, a directory,
    a FIFO or a device (a FIFO or /dev/zero would block or never end; analysis reads the file twice)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise PcapFormatError(f"{path}: no such capture file") from None
    except OSError as err:
        raise PcapFormatError(f"{path}: cannot open: {err.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise PcapFormatError(f"{path}: is a directory, not a capture file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a character device" if stat.S_ISCHR(st.st_mode)
                else "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "not a regular file")
        raise PcapFormatError(f"{path}: {kind}, not a capture file (save the capture to a file first)")


@dataclass
class Interface:
    """One capture interface: a pcap file has one, a pcapng section one per IDB."""

    index: int  # global, across sections
    linktype: int
    name: str | None = None
    snaplen: int = 0
    tsresol: int = 6
    section: int = 0
    local_id: int = 0
    label: str = ""  # if_name, or the global index as a string

    def __post_init__(self) -> None:
        self.label = self.name or str(self.index)


class Record(NamedTuple):
    iface: Interface
    ts_ns: int | None
    caplen: int
    wirelen: int
    data: bytes
    hdr: bytes | None
    opts: bytes
    comments: tuple[str, ...]


_new = tuple.__new__  # builds a Record without NamedTuple's Python-level __new__ (hot path)


@dataclass
class CaptureInfo:
    """What the file header(s) said; filled in while reading."""

    format: str = ""  # "pcap" | "pcapng"
    gzip: bool = False
    byte_order: str = "<"
    ts_divisor: int = 1000  # pcap: fraction unit in ns
    modified: bool = False
    interfaces: list[Interface] = field(default_factory=list)
    sections: int = 0


def _open(path: Path) -> tuple[BinaryIO, bool]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - the reader owns and closes it
    except OSError as err:
        raise PcapFormatError(f"{path}: cannot open: {err.strerror}") from err
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), True  # type: ignore[return-value]
    return raw, False


def _tsresol_factor(code: int) -> tuple[int, int]:
    """(multiplier, divisor) that turn timestamp ticks into nanoseconds for an if_tsresol byte."""
    if code & 0x80:
        return 1_000_000_000, 1 << (code & 0x7F)
    exp = code
    if exp <= 9:
        return 10 ** (9 - exp), 1
    return 1, 10 ** (exp - 9)


class CaptureReader:
    """Iterate the records of one capture file; see the module docstring for what it yields."""

    def __init__(self, path: Path | str, *, max_ratio: float | None = None) -> None:
        """``max_ratio``: the decompression budget of a gzip input (see DEFAULT_MAX_RATIO); None or 0 for
        none. Exceeding it raises PcapFormatError from ``records()``."""
        self.path = Path(path)
        self.info = CaptureInfo()
        self.errors: list[str] = []
        self.bytes_read = 0  # decompressed bytes consumed, for progress
        self.file_size = self.path.stat().st_size if self.path.exists() else 0
        self.max_ratio = max_ratio or None
        self._inflated = 0  # decompressed bytes read so far (gzip input)

    # -- buffered input -------------------------------------------------------------------------------
    def records(self) -> Iterator[Record | bytes]:
        fh, is_gz = _open(self.path)
        self.info.gzip = is_gz
        self._fh = fh
        self._raw = fh.fileobj if is_gz else fh  # type: ignore[attr-defined]
        try:
            try:
                head = fh.read(4)
            except (OSError, EOFError, zlib.error) as err:
                raise PcapFormatError(f"{self.path}: cannot read: {err}") from err
            if len(head) < 4:
                raise PcapFormatError(f"{self.path}: not a capture file (only {len(head)} bytes)")
            if head == PCAPNG_SHB:
                self.info.format = "pcapng"
                yield from self._pcapng(head)
            elif head in PCAP_MAGICS:
                self.info.format = "pcap"
                yield from self._pcap(head)
            else:
                raise PcapFormatError(
                    f"{self.path}: not a pcap or pcapng file (magic {head.hex()}; gzip={is_gz})")
        finally:
            fh.close()

    def fraction_read(self) -> float:
        """How far through the file (compressed bytes for gzip), for progress display."""
        try:
            pos = self._raw.tell() if self.info.gzip else self.bytes_read
        except (AttributeError, OSError, ValueError):
            return 0.0
        return min(1.0, pos / self.file_size) if self.file_size else 0.0

    def _read(self, n: int) -> bytes:
        try:
            data = self._fh.read(n)
        except (OSError, EOFError, zlib.error) as err:
            self.errors.append(f"{self.path}: compressed data is corrupt after {self.bytes_read} bytes: "
                               f"{err}")
            return b""
        if self.max_ratio is not None and self.info.gzip:  # once per chunk, not per packet
            self._inflated += len(data)
            try:
                packed = self._raw.tell()
            except (OSError, ValueError):
                packed = self.file_size
            if self._inflated > self.max_ratio * max(packed, RATIO_FLOOR):
                raise PcapFormatError(_bomb_message(self.path, self.max_ratio, self._inflated, packed)
                                      + "; the outputs written so far are incomplete")
        return data

    # -- pcap -----------------------------------------------------------------------------------------
    def _pcap(self, magic: bytes) -> Iterator[Record]:
        order, divisor = PCAP_MAGICS[magic]
        info = self.info
        info.byte_order, info.ts_divisor = order, divisor
        info.modified = magic in (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34")
        rest = self._read(20)
        if len(rest) < 20:
            raise PcapFormatError(f"{self.path}: pcap file header cut short ({4 + len(rest)} of 24 bytes)")
        _vmaj, _vmin, _tz, _sig, snaplen, ltfield = struct.unpack(order + "HHiIII", rest)
        linktype = ltfield & 0xFFFF
        if linktype not in SUPPORTED_LINKTYPES:
            raise PcapFormatError(f"{self.path}: unsupported link type {linktype} "
                                  f"({LINKTYPE_NAMES.get(linktype, 'unknown')})")
        iface = Interface(0, linktype, None, snaplen, 9 if divisor == 1 else 6)
        info.interfaces.append(iface)
        hlen = 24 if info.modified else 16
        unpack = struct.Struct(order + "IIII").unpack_from
        mul = 1000 if divisor == 1000 else 1
        buf = b""
        pos = 0
        consumed = 24
        number = 0
        read = self._read
        while True:
            if len(buf) - pos < hlen:
                more = read(CHUNK)
                buf = buf[pos:] + more
                consumed += pos
                pos = 0
                self.bytes_read = consumed
                if len(buf) < hlen:
                    if buf:
                        self.errors.append(f"{self.path}: file cut short in a record header after packet "
                                           f"{number} (offset {consumed})")
                    return
            sec, frac, caplen, wirelen = unpack(buf, pos)
            if caplen > MAX_CAPLEN:
                self.errors.append(f"{self.path}: record {number + 1} claims {caplen} captured bytes, more "
                                   f"than {MAX_CAPLEN} (offset {consumed + pos}); file is corrupt, stopped "
                                   "there")
                return
            end = pos + hlen + caplen
            if end > len(buf):
                more = read(max(CHUNK, end - len(buf)))
                buf = buf[pos:] + more
                consumed += pos
                end -= pos
                pos = 0
                self.bytes_read = consumed
                if end > len(buf):
                    self.errors.append(f"{self.path}: file cut short in the middle of packet {number + 1} "
                                       f"(needs {caplen} bytes, {len(buf) - hlen} present)")
                    return
            number += 1
            yield _new(Record, (iface, sec * 1_000_000_000 + frac * mul, caplen, wirelen,
                         buf[pos + hlen:end], None, b"", ()))
            pos = end

    # -- pcapng ---------------------------------------------------------------------------------------
    def _pcapng(self, first4: bytes) -> Iterator[Record | bytes]:
        info = self.info
        buf = first4 + self._read(CHUNK)
        pos = 0
        consumed = 0
        order = "<"
        h2 = struct.Struct("<II").unpack_from
        epb = struct.Struct("<IIIII").unpack_from
        ifaces: list[Interface] = []
        factors: list[tuple[int, int]] = []
        fast_ifaces: list[tuple[Interface, int, int]] = []  # (interface, multiplier, divisor) by id
        epb7 = struct.Struct("<IIIIIII").unpack_from  # block type and length + the EPB fields, at once
        number = 0
        read = self._read
        nbuf = len(buf)
        while True:
            # the common case first: a whole, well-formed EPB of a known interface, without options
            if nbuf - pos >= 28:
                btype, blen, iid, tsh, tsl, caplen, wirelen = epb7(buf, pos)
                end = pos + blen
                if (btype == 6 and end <= nbuf and blen == 32 + ((caplen + 3) & ~3) and iid < len(ifaces)
                        and caplen <= MAX_CAPLEN):
                    iface, mul, div = fast_ifaces[iid]
                    ts = ((tsh << 32) | tsl) * mul
                    number += 1
                    yield _new(Record, (iface, ts // div if div != 1 else ts, caplen, wirelen,
                                        buf[pos + 28:pos + 28 + caplen], buf[pos + 8:pos + 28], b"", ()))
                    pos = end
                    continue
            if nbuf - pos < 12:
                more = read(CHUNK)
                buf = buf[pos:] + more
                nbuf = len(buf)
                consumed += pos
                pos = 0
                self.bytes_read = consumed
                if nbuf < 12:
                    if buf:
                        self.errors.append(f"{self.path}: file cut short in a block header after packet "
                                           f"{number} (offset {consumed})")
                    return
            btype, blen = h2(buf, pos)
            if btype == 0x0A0D0D0A:  # SHB (the same bytes in either order): its byte order rules from here
                bom = buf[pos + 8:pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    self.errors.append(f"{self.path}: section header at offset {consumed + pos} has a bad "
                                       f"byte-order magic {bom.hex()}; stopped after packet {number}")
                    return
                h2 = struct.Struct(order + "II").unpack_from
                epb = struct.Struct(order + "IIIII").unpack_from
                epb7 = struct.Struct(order + "IIIIIII").unpack_from
                btype, blen = h2(buf, pos)
            if blen < 12 or blen % 4 or blen > MAX_RECORD:
                self.errors.append(f"{self.path}: block at offset {consumed + pos} has a bad length {blen}; "
                                   f"stopped after packet {number}")
                return
            end = pos + blen
            if end > nbuf:
                more = read(max(CHUNK, end - nbuf))
                buf = buf[pos:] + more
                nbuf = len(buf)
                consumed += pos
                end -= pos
                pos = 0
                self.bytes_read = consumed
                if end > nbuf:
                    self.errors.append(f"{self.path}: file cut short in the middle of a block after packet "
                                       f"{number} (block needs {blen} bytes, {len(buf) - pos} present)")
                    return
            if struct.unpack_from(order + "I", buf, end - 4)[0] != blen:  # tshark checks both lengths
                self.errors.append(f"{self.path}: block at offset {consumed + pos} has different lengths at "
                                   f"its start and end; stopped after packet {number}")
                return
            if btype == 0x0A0D0D0A and blen < 28 or btype == 1 and blen < 20:
                what = "section header" if btype != 1 else "interface"
                self.errors.append(f"{self.path}: {what} block at offset {consumed + pos} is only {blen} "
                                   f"bytes; stopped after packet {number}")
                return
            if btype == 6 or btype == 2:  # EPB, obsolete PB
                if blen < 32:
                    self.errors.append(f"{self.path}: packet block at offset {consumed + pos} is only {blen} "
                                       f"bytes, too short for its header; stopped after packet {number}")
                    return
                if btype == 6:
                    iid, tsh, tsl, caplen, wirelen = epb(buf, pos + 8)
                    hdr = buf[pos + 8:pos + 28]
                else:
                    _x, tsh, tsl, caplen, wirelen = epb(buf, pos + 8)
                    (iid,) = struct.unpack_from(order + "H", buf, pos + 8)
                    hdr = struct.pack(order + "IIIII", iid, tsh, tsl, caplen, wirelen)
                dend = pos + 28 + caplen
                if dend > end - 4 or iid >= len(ifaces) or caplen > MAX_CAPLEN:
                    why = ("captured length exceeds its block" if dend > end - 4
                           else f"unknown interface {iid}" if iid >= len(ifaces)
                           else f"{caplen} captured bytes, more than {MAX_CAPLEN}")
                    self.errors.append(f"{self.path}: packet {number + 1} (offset {consumed + pos}): {why}; "
                                       f"stopped there")
                    return
                iface = ifaces[iid]
                mul, div = factors[iid]
                ticks = (tsh << 32) | tsl
                ts = ticks * mul // div if div != 1 else ticks * mul
                oend = end - 4
                ostart = pos + ((dend - pos + 3) & ~3)
                if ostart < oend:
                    opts, comments = _options(buf[ostart:oend], order)
                else:
                    opts, comments = b"", ()
                number += 1
                yield _new(Record, (iface, ts, caplen, wirelen, buf[pos + 28:dend], hdr, opts, comments))
            elif btype == 3:  # SPB: no timestamp, no interface id (interface 0), no options
                (wirelen,) = struct.unpack_from(order + "I", buf, pos + 8)
                if not ifaces:
                    self.errors.append(f"{self.path}: simple packet block before any interface; stopped")
                    return
                iface = ifaces[0]
                caplen = min(wirelen, blen - 16)
                if iface.snaplen:
                    caplen = min(caplen, iface.snaplen)
                if caplen > MAX_CAPLEN:
                    self.errors.append(f"{self.path}: packet {number + 1} (offset {consumed + pos}): "
                                       f"{caplen} captured bytes, more than {MAX_CAPLEN}; stopped there")
                    return
                number += 1
                hdr = struct.pack(order + "IIIII", 0, 0, 0, caplen, wirelen)
                yield Record(iface, None, caplen, wirelen, buf[pos + 12:pos + 12 + caplen], hdr, b"", ())
            else:
                block = buf[pos:end]
                if btype == 0x0A0D0D0A:
                    vmaj, vmin = struct.unpack_from(order + "HH", buf, pos + 12)
                    if vmaj != 1 or vmin not in (0, 2):  # the versions tshark reads (1.2 is read as 1.0)
                        self.errors.append(f"{self.path}: section {info.sections + 1} has unsupported pcapng "
                                           f"version {vmaj}.{vmin}; stopped after packet {number}")
                        return
                    info.sections += 1
                    info.byte_order = order
                    ifaces = []
                    factors = []
                    fast_ifaces = []
                elif btype == 1:  # IDB
                    linktype, _res, snaplen = struct.unpack_from(order + "HHI", buf, pos + 8)
                    name, tsresol = _idb_options(buf[pos + 16:end - 4], order)
                    iface = Interface(len(info.interfaces), linktype, name, snaplen, tsresol,
                                      info.sections - 1, len(ifaces))
                    ifaces.append(iface)
                    info.interfaces.append(iface)
                    factors.append(_tsresol_factor(tsresol))
                    fast_ifaces.append((iface, *factors[-1]))
                    if linktype not in SUPPORTED_LINKTYPES:
                        what = (f"{self.path}: interface {iface.index} has unsupported link type {linktype} "
                                f"({LINKTYPE_NAMES.get(linktype, 'unknown')})")
                        if number == 0:  # like tshark: nothing read yet, the file is unreadable
                            raise PcapFormatError(what)
                        self.errors.append(f"{what}; stopped after packet {number}")
                        return
                yield block
            pos = end


def _options(raw: bytes, order: str) -> tuple[bytes, tuple[str, ...]]:
    """Split EPB options: return the well-formed ones without opt_endofopt (``pcapngopts.keep_options``:
    what is returned can always be written back), and the comment strings."""
    kept, _dropped = keep_options(raw, order, 6)
    comments: list[str] = []
    p = 0
    hdr = struct.Struct(order + "HH").unpack_from
    while p + 4 <= len(kept):
        code, olen = hdr(kept, p)
        if code == 1:
            comments.append(kept[p + 4:p + 4 + olen].decode("utf-8", "replace"))
        p += 4 + ((olen + 3) & ~3)
    return kept, tuple(comments)


def _idb_options(raw: bytes, order: str) -> tuple[str | None, int]:
    name = None
    tsresol = 6
    p = 0
    hdr = struct.Struct(order + "HH").unpack_from
    while p + 4 <= len(raw):
        code, olen = hdr(raw, p)
        if code == 0:
            break
        val = raw[p + 4:p + 4 + olen]
        if code == 2:
            name = val.rstrip(b"\0").decode("utf-8", "replace") or None
        elif code == 9 and olen >= 1:
            tsresol = val[0]
        p += 4 + ((olen + 3) & ~3)
    return name, tsresol
