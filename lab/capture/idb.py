"""Give each pcapng Interface Description Block a name of our choosing (``if_name``, option 2).

Only IDBs are rewritten; every other block is copied byte for byte, so packet bytes and timestamps are
untouched. Handles both byte orders, section by section.
"""

from __future__ import annotations

import struct
from pathlib import Path

from lab.errors import PcapFormatError

_SHB = 0x0A0D0D0A
_IDB = 0x00000001
_OPT_IF_NAME = 2


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def _rewrite_idb(body: bytes, endian: str, name: str) -> bytes:
    """body = the IDB without type/length words; returns the new body with if_name set to ``name``."""
    fixed, options = body[:8], body[8:-4]
    out = bytearray(fixed)
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, pos)
        if code == 0:  # opt_endofopt
            break
        value = options[pos + 4 : pos + 4 + length]
        pos += 4 + _pad4(length)
        if code == _OPT_IF_NAME:
            continue
        out += struct.pack(endian + "HH", code, length) + value + b"\0" * (_pad4(length) - length)
    raw = name.encode()
    out += struct.pack(endian + "HH", _OPT_IF_NAME, len(raw)) + raw + b"\0" * (_pad4(len(raw)) - len(raw))
    out += struct.pack(endian + "HH", 0, 0)
    return bytes(out)


def rename_interfaces(path: Path, names: list[str]) -> None:
    """Set the if_name of the file's IDBs, in file order, to ``names`` (extra IDBs keep theirs)."""
    data = path.read_bytes()
    out = bytearray()
    pos = 0
    endian = "<"
    idb_index = 0
    while pos + 12 <= len(data):
        btype_le = struct.unpack_from("<I", data, pos)[0]
        if btype_le == _SHB:
            magic = data[pos + 8 : pos + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(endian + "II", data, pos)
        if blen < 12 or pos + blen > len(data):
            raise PcapFormatError(f"{path}: truncated pcapng block at byte {pos}")
        block = data[pos : pos + blen]
        if btype == _IDB and idb_index < len(names):
            body = _rewrite_idb(block[8:], endian, names[idb_index])
            new_len = len(body) + 12
            block = struct.pack(endian + "II", btype, new_len) + body + struct.pack(endian + "I", new_len)
            idb_index += 1
        elif btype == _IDB:
            idb_index += 1
        out += block
        pos += blen
    path.write_bytes(bytes(out))
