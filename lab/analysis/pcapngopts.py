"""Which pcapng options are written back: the ones whose length fits their block and their kind.

tshark refuses a whole file for one malformed option (an end-of-options option with a length, a verdict
of zero bytes, an option running past its block), so options copied from an input into annotated.pcapng
pass through ``keep_options`` first: a well-formed option is kept byte for byte, a malformed one is left
out, and the list ends at the first option that runs past the block (nothing after it can be trusted).
Lengths follow the pcapng specification; an option code not listed here keeps any length.
"""

from __future__ import annotations

import struct

ANY = (0, 0xFFFF)
_CUSTOM = {2988: (4, 0xFFFF), 2989: (4, 0xFFFF), 19372: (4, 0xFFFF), 19373: (4, 0xFFFF)}  # start with a PEN
# block type -> option code -> (shortest, longest) value length
OPTION_LENGTHS: dict[int, dict[int, tuple[int, int]]] = {
    0x0A0D0D0A: {1: ANY, 2: ANY, 3: ANY, 4: ANY, **_CUSTOM},  # SHB
    1: {1: ANY, 2: ANY, 3: ANY, 4: (8, 8), 5: (17, 17), 6: (6, 6), 7: (8, 8), 8: (8, 8), 9: (1, 1),  # IDB
        10: (4, 4), 11: (1, 0xFFFF), 12: ANY, 13: (1, 1), 14: (8, 8), 15: ANY, 16: (8, 8), 17: (8, 8),
        **_CUSTOM},
    5: {1: ANY, 2: (8, 8), 3: (8, 8), 4: (8, 8), 5: (8, 8), 6: (8, 8), 7: (8, 8), 8: (8, 8),  # ISB
        **_CUSTOM},
    6: {1: ANY, 2: (4, 4), 3: (1, 0xFFFF), 4: (8, 8), 5: (8, 8), 6: (4, 4), 7: (1, 0xFFFF),  # EPB
        **_CUSTOM},
}


def keep_options(raw: bytes, order: str, block_type: int) -> tuple[bytes, bool]:
    """The well-formed options of ``raw`` (an option list, with or without its end marker) without the end
    marker, and whether anything was left out."""
    lengths = OPTION_LENGTHS.get(block_type, {})
    hdr = struct.Struct(order + "HH").unpack_from
    kept: list[bytes] = []
    p, n = 0, len(raw)
    dropped = False
    while p + 4 <= n:
        code, olen = hdr(raw, p)
        nxt = p + 4 + ((olen + 3) & ~3)
        if nxt > n:  # runs past the block: it and everything after it go
            return b"".join(kept), True
        if code == 0:
            return b"".join(kept), dropped or olen != 0 or nxt != n
        low, high = lengths.get(code, ANY)
        if low <= olen <= high:
            kept.append(raw[p:nxt])
        else:
            dropped = True
        p = nxt
    return b"".join(kept), dropped or p != n
