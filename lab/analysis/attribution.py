"""Packet -> socket call attribution (owned by the lead; the analysis pipeline calls it).

Interface (stable): ``Attributor(calls)`` is built once from the whole ``calls.jsonl`` of a run; then, for
every packet record in capture order (a packets.jsonl dict without ``cause``), ``cause(rec)`` returns the
``cause`` dict. It keeps per-connection state, so records must be fed in capture order, each exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Attributor:
    def __init__(self, calls: Iterable[dict[str, Any]]) -> None:
        self.calls = list(calls)

    def cause(self, rec: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("attribution lands with the first lab")
