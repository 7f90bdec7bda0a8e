"""Annotated pcapng writer: the input's blocks and packet bytes, each packet with one more comment.

A pcapng input is copied block by block (sections, interfaces, name resolution, statistics, secrets and
custom blocks, in their own byte order; a malformed option is left out, see ``clean_block``, and other
block types are not copied); every packet is rewritten as an Enhanced Packet Block with its
original header fields, data and options, plus an ``opt_comment``. Simple and obsolete packet blocks
become EPBs (a simple packet block has no timestamp: its EPB gets timestamp 0, the only way to attach a
comment). A pcap input becomes one little-endian section with one interface of the same link type,
snap length and timestamp resolution, so timestamps keep every digit.

Output is buffered and written in large chunks: at 100k packets/s small writes would dominate. The chunks
are handed to a ``BackgroundFile``: a thread whose ``write()`` system calls (which release the GIL) run on
the other core while the analysis goes on -- writing 200 MB of packets.jsonl costs ~0.5 s of a 2.5 s run.
"""

from __future__ import annotations

import queue
import struct
import threading
from pathlib import Path

from lab.analysis.pcapngopts import keep_options
from lab.analysis.reader import CaptureInfo, Record

FLUSH_AT = 1 << 20
_BOM_LE = b"\x4d\x3c\x2b\x1a"
FRAME = struct.Struct("<Q")  # the length in front of each chunk sent down a pipe
_PAD = (b"", b"\0", b"\0\0", b"\0\0\0")
_PAD_END = tuple(pad + b"\0\0\0\0" for pad in _PAD)  # comment padding, then the end-of-options option


class BackgroundFile:
    """A binary file written by a thread: ``write()`` queues a chunk (at most ``depth`` waiting, so memory
    stays bounded), ``close()`` waits for the last one and re-raises an error the thread met.

    ``target`` is a path or an open file descriptor (a pipe, see ``send_frame``).
    """

    def __init__(self, target: Path | str | int, depth: int = 3) -> None:
        self._fh = open(target, "wb")  # noqa: SIM115 - closed by the thread when close() is called
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        name = f"write fd {target}" if isinstance(target, int) else f"write {Path(target).name}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fh, get = self._fh, self._q.get
        try:
            while (chunk := get()) is not None:
                if self._error is None:
                    try:
                        fh.write(chunk)
                    except BaseException as err:  # noqa: BLE001 - handed to the caller in close()
                        self._error = err
        finally:
            try:
                fh.close()
            except OSError as err:  # a pipe whose reader is gone
                self._error = self._error or err

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(chunk)

    def send_frame(self, chunk: bytes) -> None:
        """Queue ``chunk`` with its length in front, for ``read_frame`` at the other end of a pipe."""
        self.write(FRAME.pack(len(chunk)) + chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error




# Non-packet blocks copied to annotated.pcapng: section, interface, name resolution, statistics,
# decryption secrets, custom. Others (systemd journal entries, block types this reader does not know)
# carry nothing about the packets and tshark validates some of them: they are left out.
COPIED_BLOCKS = frozenset({0x0A0D0D0A, 1, 4, 5, 0x0A, 0xBAD, 0x40000BAD})
# Non-packet blocks whose options tshark parses: block type -> bytes of fixed fields before the options.
# (NRB and DSB have variable fields first; they are walked in ``_options_start``.)
_FIXED = {0x0A0D0D0A: 16, 1: 8, 5: 12}


def _options_start(btype: int, body: bytes, order: str) -> int | None:
    """Where the options of a block body start, or None when its fixed fields are already malformed."""
    if btype in _FIXED:
        return _FIXED[btype] if len(body) >= _FIXED[btype] else None
    if btype == 4:  # NRB: records (type, length, value padded) up to an end record
        p = 0
        while p + 4 <= len(body):
            rtype, rlen = struct.unpack_from(order + "HH", body, p)
            value = body[p + 4:p + 4 + rlen]
            p += 4 + ((rlen + 3) & ~3)
            if p > len(body):
                return None
            if rtype == 0:
                return p
            # an address (4 or 16 bytes), then NUL-terminated names: tshark refuses anything else
            size = {1: 4, 2: 16}.get(rtype)
            if size is not None and (rlen <= size or value[-1:] != b"\0"):
                return None
        return None
    if btype == 0x0A:  # DSB: secrets type, length, secrets padded
        if len(body) < 8:
            return None
        (slen,) = struct.unpack_from(order + "I", body, 4)
        p = 8 + ((slen + 3) & ~3)
        return p if p <= len(body) else None
    return len(body)  # other blocks: no options that tshark reads


def clean_block(raw: bytes, order: str) -> bytes | None:
    """``raw`` (a whole non-packet pcapng block, lengths already checked by the reader), or a copy with
    only its well-formed options (``pcapngopts.keep_options``), or None to leave out a statistics, name
    resolution or secrets block whose fixed fields are malformed. tshark refuses a whole file for one such
    block; ``annotated.pcapng`` must always open."""
    (btype,) = struct.unpack_from(order + "I", raw, 0)
    if btype not in COPIED_BLOCKS:
        return None
    body = raw[8:-4]
    if btype in (0xBAD, 0x40000BAD) and len(body) < 4:  # a custom block starts with its PEN
        return None
    start = _options_start(btype, body, order)
    if start is None:
        return None if btype in (4, 5, 0x0A) else raw
    if start == len(body):
        return raw
    kept, dropped = keep_options(body[start:], order, btype)
    if not dropped:
        return raw
    new_body = body[:start] + (kept + struct.pack(order + "HH", 0, 0) if kept else b"")
    blen = len(new_body) + 12
    return struct.pack(order + "II", btype, blen) + new_body + struct.pack(order + "I", blen)


def _opt(order: str, code: int, value: bytes) -> bytes:
    pad = (-len(value)) & 3
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * pad


class AnnotatedWriter:
    """Write ``annotated.pcapng``: call ``block()`` for raw non-packet blocks and ``packet()`` per record."""

    def __init__(self, path: Path, info: CaptureInfo) -> None:
        self.path = path
        self.info = info
        self._fh = BackgroundFile(path)
        self._buf: list[bytes] = []
        self._size = 0
        self._order = "<"
        self._set_order("<")
        self._pcap_ifaces: dict[int, int] = {}  # pcap input: global interface index -> IDB id
        self._pcap_started = False

    def _set_order(self, order: str) -> None:
        self._order = order
        self._pack8 = struct.Struct(order + "II").pack
        self._hh = struct.Struct(order + "HH").pack
        self._i = struct.Struct(order + "I").pack
        self._ends: dict[int, tuple[bytes, bytes]] = {}  # block length -> its packed head and tail
        self._copts: dict[int, tuple[bytes, bytes]] = {}  # comment length -> its option header, padding

    def block(self, raw: bytes) -> None:
        """Copy a non-packet block (an SHB also sets the byte order of what follows): unchanged, unless
        its options are malformed (``clean_block``)."""
        if raw[:4] == b"\x0a\x0d\x0d\x0a":
            self._set_order("<" if raw[8:12] == _BOM_LE else ">")
        cleaned = clean_block(raw, self._order)
        if cleaned is not None:
            self._put(cleaned)

    def _pcap_header(self, rec: Record | None) -> None:
        if not self._pcap_started:
            self._pcap_started = True
            opts = _opt("<", 4, b"lab analyze (annotated copy of a pcap file)") + b"\0\0\0\0"
            body = _BOM_LE + struct.pack("<HHq", 1, 0, -1) + opts
            blen = len(body) + 12
            self._put(struct.pack("<II", 0x0A0D0D0A, blen) + body + struct.pack("<I", blen))
        if rec is None:  # a pcap file without packets still gets its interface
            if not self.info.interfaces:
                return
            iface = self.info.interfaces[0]
        else:
            iface = rec.iface
        tsres = 9 if self.info.ts_divisor == 1 else 6
        opts = _opt("<", 9, bytes([tsres])) + b"\0\0\0\0"
        body = struct.pack("<HHI", iface.linktype, 0, iface.snaplen) + opts
        self._put(struct.pack("<II", 1, len(body) + 12) + body + struct.pack("<I", len(body) + 12))
        self._pcap_ifaces[iface.index] = len(self._pcap_ifaces)

    def packet(self, rec: Record, comment: str) -> None:
        """Write one packet with ``comment`` as its new comment (its other options kept)."""
        iface, ts, caplen, wirelen, data, hdr, opts, _old = rec
        if hdr is None:  # pcap input
            iid = self._pcap_ifaces.get(iface.index)
            if iid is None:
                self._pcap_header(rec)
                iid = self._pcap_ifaces[iface.index]
            ts = ts or 0
            ticks = ts if self.info.ts_divisor == 1 else ts // 1000
            hdr = struct.pack("<IIIII", iid, ticks >> 32, ticks & 0xFFFFFFFF, caplen, wirelen)
        c = comment.encode("utf-8")
        clen = len(c)
        if clen > 65000:
            c = c[:65000]
            clen = 65000
        dpad = (-caplen) & 3  # caplen is len(data): the reader cuts each packet's data to it
        # block head and tail (12), EPB fields (20), data, options, comment option head (4) and end (4)
        total = 40 + caplen + dpad + len(opts) + clen + ((-clen) & 3)
        # a capture has few distinct block and comment lengths: their packed bytes are kept
        ends = self._ends.get(total)
        if ends is None:
            if len(self._ends) > 4096:
                self._ends.clear()
            ends = self._ends[total] = (self._pack8(6, total), self._i(total))
        copt = self._copts.get(clen)
        if copt is None:
            copt = self._copts[clen] = (self._hh(1, clen), _PAD_END[(-clen) & 3])
        # the pieces go into the buffer as they are: one join per megabyte, not one per packet
        self._buf += (ends[0], hdr, data, _PAD[dpad], opts, copt[0], c, copt[1], ends[1])
        self._size += total
        if self._size >= FLUSH_AT:
            self._fh.write(b"".join(self._buf))
            self._buf.clear()
            self._size = 0

    def _put(self, b: bytes) -> None:
        self._buf.append(b)
        self._size += len(b)
        if self._size >= FLUSH_AT:
            self._fh.write(b"".join(self._buf))
            self._buf.clear()
            self._size = 0

    def close(self) -> None:
        if self.info.format == "pcap" and not self._pcap_started:
            self._pcap_header(None)
        if self._buf:
            self._fh.write(b"".join(self._buf))
            self._buf.clear()
        self._fh.close()

