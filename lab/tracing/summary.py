"""A short account of a calls.jsonl: how many calls of each kind, and what each socket did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.records import CallRecord


def summarize(records: Iterable[CallRecord]) -> dict[str, Any]:
    """Calls by name and tracer, failed calls, and one line per socket (addresses, bytes each way)."""
    records = list(records)
    by_call = Counter(r["call"] for r in records)
    by_tracer = Counter(r["tracer"] for r in records)
    errors = Counter(r["error"] for r in records if r["error"])
    socks: dict[str, dict[str, Any]] = {}
    for r in records:
        sid = r["sock"]
        if sid is None:
            continue
        s = socks.setdefault(sid, {"sock": sid, "node": r["node"], "pid": r["pid"],
                                   "tracer": r["tracer"], "family": None, "type": None, "local": None,
                                   "peer": None, "calls": 0, "sent": 0, "received": 0})
        s["calls"] += 1
        for key, value in (("family", r["family"]), ("type", r["type"]), ("local", r["local"]),
                           ("peer", r["peer"])):
            if value is not None:
                s[key] = value
        s["sent"] = max(s["sent"], r["sent_after"] or 0)
        s["received"] = max(s["received"], r["recv_after"] or 0)
    return {"records": len(records), "by_call": dict(by_call.most_common()), "by_tracer": dict(by_tracer),
            "errors": dict(errors.most_common()), "sockets": list(socks.values())}


def _addr(a: Any) -> str:
    if isinstance(a, list) and len(a) == 2:
        host = f"[{a[0]}]" if a[0] and ":" in str(a[0]) else a[0]
        return f"{host}:{a[1]}"
    return "-" if a is None else str(a)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few human-readable lines."""
    if not summary["records"]:
        return "0 socket calls recorded (the command opened no socket)"
    lines = [f"{summary['records']} calls: " + ", ".join(f"{k} {v}" for k, v in summary["by_call"].items())]
    if summary["errors"]:
        lines.append("failed: " + ", ".join(f"{k} {v}" for k, v in summary["errors"].items()))
    lines.append(f"{len(summary['sockets'])} sockets:")
    for s in summary["sockets"]:
        kind = f"{(s['family'] or '?').removeprefix('AF_')}/{(s['type'] or '?').removeprefix('SOCK_')}"
        lines.append(f"  {s['sock']:<14} {s['node']:<6} {kind:<12} {_addr(s['local']):>22} -> "
                     f"{_addr(s['peer']):<22} sent {s['sent']} recv {s['received']} ({s['calls']} calls)")
    return "\n".join(lines)
