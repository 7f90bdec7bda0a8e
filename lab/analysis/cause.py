"""The one builder of a packet's ``cause`` record (``lab.records.Cause``).

Both kinds of rules build their causes here: the call-log attribution (``analysis.attribution``) and the
packet-only inference (``analysis.roles``); the rule names are ``lab.records.CAUSE_RULES``. It lives
outside the attribution package so that an analysis without a call log (the fast path's roles) does not
import the call-log rules.

``calls`` lists the calls that produced a packet (source ``call``); a packet the kernel sent on its own
lists the calls it acts for, or answers, under ``related`` instead — a SYN-ACK is not produced by listen().
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lab.records import CallRecord

__all__ = ["make_cause"]


def make_cause(
    source: str, rule: str, text: str, calls: Iterable[CallRecord] = (), answers: int | None = None,
    **extra: Any
) -> dict[str, Any]:
    """A ``cause`` record (``lab.records.Cause``); ``extra`` fields are kept unless empty."""
    ids = [c["id"] for c in calls if "id" in c]
    # "calls" are the calls that produced the packet; a kernel packet only acts for (or answers) calls
    out: dict[str, Any] = {
        "source": source,
        "rule": rule,
        "text": text,
        "calls": ids if source == "call" else [],
        "answers": answers,
    }
    if source != "call" and ids:
        out["related"] = ids
    if extra:
        out.update({k: v for k, v in extra.items() if v not in (None, [], "")})
    return out
