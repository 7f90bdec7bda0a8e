"""Seeded mutations of capture files, for the fuzz tests: flips, overwritten length fields, cuts, splices.

Mutations aim where readers go wrong: the length and type fields of pcapng blocks and pcap record headers
(found by walking the file as written), the file header, and random bytes anywhere. Deterministic for a
given seed, so a failing case can be replayed by its id.
"""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

INTERESTING32 = (0, 1, 3, 4, 7, 8, 11, 12, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                 0xFFFFFFFF, 0xFFFFFFFC, 65535, 65536, 262144, 1 << 24)


def field_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the header fields worth hitting: block type/length and EPB/IDB fields (pcapng),
    or record lengths (pcap). Byte order is ignored: hitting the field is what matters."""
    out: list[tuple[int, int]] = [(0, 4), (4, 4), (8, 4), (12, 4), (16, 4), (20, 4)]
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        pos = 0
        while pos + 12 <= len(data) and len(out) < 400:
            btype, blen = struct.unpack_from(order + "II", data, pos)
            out += [(pos, 4), (pos + 4, 4), (pos + 8, 4)]
            if btype in (1, 6):  # IDB: link type, snaplen; EPB: interface, lengths
                out += [(pos + 8, 2), (pos + 12, 4), (pos + 16, 4), (pos + 20, 4), (pos + 24, 4)]
            if blen < 12 or blen % 4:
                break
            out.append((pos + blen - 4, 4))
            pos += blen
    elif len(data) >= 24:
        order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        out += [(16, 4), (20, 4)]
        pos = 24
        while pos + 16 <= len(data) and len(out) < 400:
            _s, _f, caplen, _w = struct.unpack_from(order + "IIII", data, pos)
            out += [(pos, 4), (pos + 8, 4), (pos + 12, 4)]
            pos += 16 + caplen
    return [(o, n) for o, n in out if o + n <= len(data)]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three mutations of ``data``."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not buf:
            break
        kind = rng.random()
        fields = field_offsets(bytes(buf))
        if kind < 0.45 and fields:  # a header field set to an interesting value
            off, size = rng.choice(fields)
            value = rng.choice(INTERESTING32) & ((1 << (8 * size)) - 1)
            buf[off:off + size] = value.to_bytes(size, rng.choice(("little", "big")))
        elif kind < 0.65:  # bit flips
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
        elif kind < 0.75:  # cut short
            del buf[rng.randrange(len(buf)):]
        elif kind < 0.85:  # bytes inserted or removed (shifts every later block)
            i = rng.randrange(len(buf))
            if rng.random() < 0.5:
                buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                del buf[i:i + rng.randint(1, 8)]
        elif kind < 0.95 and fields:  # a span copied over another place (a duplicated header)
            a, _ = rng.choice(fields)
            b, _ = rng.choice(fields)
            span = bytes(buf[a:a + rng.randint(4, 64)])
            buf[b:b + len(span)] = span
        else:  # random bytes anywhere
            i = rng.randrange(len(buf))
            n = rng.randint(1, 16)
            buf[i:i + n] = bytes(rng.randrange(256) for _ in range(n))
    return bytes(buf)


def mutants(sources: list[Path], count: int, seed: int, out_dir: Path) -> list[tuple[str, Path]]:
    """``count`` mutated files (id, path) from ``sources``, gzip-compressed now and then like the input."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for k in range(count):
        src = sources[k % len(sources)]
        raw = src.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = mutate(raw, rng)
        gz = rng.random() < 0.1
        path = out_dir / f"m{k:04d}-{src.name.split('.')[0]}.{'pcap.gz' if gz else 'bin'}"
        path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
        made.append((f"{seed}:{k}:{src.name}", path))
    return made
