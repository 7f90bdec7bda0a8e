"""Evaluate a finished lab run: its expected observations, its questions' answers, and its story.

The runner calls ``evaluate(spec, packets, calls)`` after the capture is analyzed; ``lab check`` calls it
again from a run directory. A check or question that cannot cope with the records (a field missing
from an older run, say) is reported as failed / unanswered with the reason, never raised: one bad check
must not hide the results of the others.
"""

from __future__ import annotations

from typing import Any

from lab.labs.checks import CHECKS
from lab.labs.questions import QUESTIONS
from lab.labs.spec import LabSpec
from lab.labs.story import tell

Records = list[dict[str, Any]]


def evaluate(spec: LabSpec, packets: Records, calls: Records) -> dict[str, Any]:
    """Returns ``{"observations": [{check, params, label, ok, detail}], "answers": {...}, "story": str}``.

    ``label`` is the check as the lab file wrote it (``role_count(role=syn, count=1)``).
    """
    observations = []
    for check in spec.observations:
        try:
            ok, detail = CHECKS[check.name](packets, calls, **dict(check.params))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            ok, detail = False, f"could not evaluate from these records: {type(err).__name__}: {err}"
        observations.append(
            {
                "check": check.name,
                "params": dict(check.params),
                "label": _label(check.name, check.params),
                "ok": bool(ok),
                "detail": detail,
            }
        )
    return {
        "observations": observations,
        "answers": answers(spec, packets, calls),
        "story": tell(packets, calls, spec.title),
    }


def answers(spec: LabSpec, packets: Records, calls: Records) -> dict[str, Any]:
    """Each question's answer from this capture (None: the capture does not contain it)."""
    out: dict[str, Any] = {}
    for q in spec.questions:
        try:
            out[q.id] = QUESTIONS[q.answer](packets, calls, **dict(q.params))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            out[q.id] = None
    return out


def _label(name: str, params: Any) -> str:
    """``role_count(role=syn, count=1)``: the check as the lab file wrote it."""
    args = ", ".join(f"{k}={v}" for k, v in dict(params).items())
    return f"{name}({args})" if args else name
