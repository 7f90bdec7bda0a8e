"""The analysis's one JSON encoder: the same bytes whichever entry point, any int, and kept bytes that hold
no more memory than their length."""

from __future__ import annotations

import json
import tracemalloc

from lab.analysis.jsonline import dumps, dumps64, dumps_kept

RECORD = {"number": 7, "ts_ns": 1_796_428_414_233_476_823, "t": 0.043941074, "summary": "a -> b TCP [SYN]",
          "layers": [{"name": "Ethernet", "offset": 0}], "app": None, "analysis": [], "text": "é ✓"}


def test_entry_points_give_the_same_compact_utf8_bytes() -> None:
    want = json.dumps(RECORD, separators=(",", ":"), ensure_ascii=False).encode()
    assert dumps(RECORD) == dumps64(RECORD) == dumps_kept(RECORD) == want


def test_an_int_beyond_64_bits_goes_through_the_stdlib_encoder() -> None:
    rec = dict(RECORD, ts_ns=1 << 70)  # a timestamp field of garbage in a corrupt capture
    want = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()
    assert dumps(rec) == dumps_kept(rec) == want


def _held(make: object) -> int:
    """Bytes still allocated after ``make()`` returned its result (the result kept alive)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()  # type: ignore[operator]
        held = tracemalloc.get_traced_memory()[0] - before
        assert kept == dumps(RECORD)
        return held
    finally:
        tracemalloc.stop()


def test_kept_bytes_hold_only_their_length() -> None:
    size = len(dumps(RECORD))
    assert _held(lambda: dumps_kept(RECORD)) < size + 128
    # what dumps_kept is for: orjson's own result keeps the buffer it encoded into
    assert _held(lambda: dumps(RECORD)) > 2 * size
