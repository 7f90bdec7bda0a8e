"""The shape of a cause, and coverage: how many packets a run explained.

``make_cause`` is the one builder of a packet's ``cause`` record (``lab.analysis.cause``, outside this
package so that the packet-only rules of ``analysis.roles`` do not import the call-log rules); the rules of
this package import it from here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from lab.analysis.cause import make_cause
from lab.records import CallRecord, Cause, Coverage, PacketRecord

Call = CallRecord
"""A call record. A lab run's tracers write every key; a log given to ``lab analyze --calls`` is only sure to
have ``call``, ``t_start_ns`` and ``id`` (``calllog.read_call_log`` checks and numbers it), so the rules read
those three directly and every other key once with ``.get``, saying what its absence means."""
EXPLAINED = ("call", "kernel", "lab")
__all__ = ["EXPLAINED", "Call", "call_label", "coverage", "make_cause", "merge_causes", "packet_time"]


def packet_time(rec: PacketRecord) -> int:
    """The packet's capture time for rules that compare it with call times. A frame the capture gave no time
    (a pcapng Simple Packet Block) is placed at 0, before every call: time then matches it to none."""
    ts = rec["ts_ns"]
    return ts if ts is not None else 0


def call_label(call: Call) -> str:
    """``h1 sendto() #12``."""
    return f"{call.get('node', '?')} {call['call']}() #{call['id']}"  # a log made elsewhere may name no node


def merge_causes(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One packet, two reasons (data with FIN): keep both, the stronger source first, every link kept."""
    rank = {s: i for i, s in enumerate(("call", "kernel", "lab", "inferred", "unexplained"))}
    parts = sorted(parts, key=lambda p: rank.get(p["source"], 9))
    out = dict(parts[0])
    out["text"] = "; ".join(p["text"] for p in parts)
    out["rule"] = "+".join(p["rule"] for p in parts)
    for key in ("calls", "related", "consumed_by"):
        ids = list(dict.fromkeys(i for p in parts for i in p.get(key, ())))
        if ids or key == "calls":
            out[key] = ids
    out["answers"] = next((p["answers"] for p in parts if p.get("answers") is not None), None)
    if any(p["source"] not in EXPLAINED for p in parts):
        out["source"] = next(p["source"] for p in parts if p["source"] not in EXPLAINED)
    return out


def coverage(causes: Iterable[Cause | dict[str, Any]]) -> Coverage:
    """Packets explained / total, and the count per rule and per source: the report's honesty figure."""
    total = explained = 0
    by_rule: dict[str, int] = defaultdict(int)
    by_source: dict[str, int] = defaultdict(int)
    for cause in causes:
        total += 1
        source = cause["source"]
        explained += source in EXPLAINED
        by_rule[cause["rule"]] += 1
        by_source[source] += 1
    return Coverage(
        explained=explained,
        total=total,
        ratio=round(explained / total, 4) if total else 1.0,
        by_rule=dict(sorted(by_rule.items())),
        by_source=dict(sorted(by_source.items())),
    )
