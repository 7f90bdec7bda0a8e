"""The JSON encoder of the analysis's records: one, so every writer gives the same bytes.

orjson (a declared dependency) is ~10x faster than the stdlib encoder and gives the same bytes for our
records, except that it refuses an integer beyond 64 bits, which a corrupt capture can produce (a
timestamp field of garbage): such a record goes through the stdlib encoder, which takes any int (``dumps``).

``dumps64`` is orjson itself, for values that cannot hold such an int (floats, strings, lists of strings,
header fields of at most 32 bits): the fast path encodes a few of them per packet, and a wrapper's extra
call per value costs more there than the encoding.

orjson's result keeps the whole buffer it encoded into (4 KiB and more, however short the JSON): bytes that
are kept -- in a cache, or in an output buffer until it is written -- are made by ``dumps_kept``, an
exact-size copy (a conversations.jsonl buffer of 1 MiB of lines held 8 MiB).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["dumps", "dumps64", "dumps_kept"]

_stdlib = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
dumps64: Callable[[Any], bytes] = orjson.dumps


def dumps(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON bytes."""
    try:
        return dumps64(obj)
    except TypeError:  # an int beyond 64 bits: the stdlib encoder takes any int
        return _stdlib(obj).encode("utf-8")


def dumps_kept(obj: Any) -> bytes:
    """``dumps(obj)`` in bytes of its own size, for bytes that are kept (see the module docstring)."""
    return memoryview(dumps(obj)).tobytes()
