"""Evaluate a finished lab run: its expected observations, its questions' answers, and its story.

The runner calls ``evaluate(spec, packets, calls)`` after the capture is analyzed (observations and story,
for the student); grading calls ``key`` on the evidence it re-analyzed itself (answers, for the teacher).
A check or question that cannot cope with the records (a field missing from an older run, say) is
reported as failed / unanswered with the reason, never raised: one bad check must not hide the others;
a story that cannot be told from them says so in its place.
"""

from __future__ import annotations

import inspect
import ipaddress
from pathlib import Path
from typing import Any

from lab.labs.extensions import Functions, load_functions
from lab.labs.spec import LabSpec
from lab.labs.story import tell
from lab.records import CallRecord, PacketRecord

Packets = list[PacketRecord]
Calls = list[CallRecord]
Records = list[dict[str, Any]]  # routes.jsonl's events: no schema yet


def evaluate(
    spec: LabSpec,
    packets: Packets,
    calls: Calls,
    routes: Records | None = None,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """Returns ``{"observations": [{check, params, label, ok, detail}], "unanswered": [{id, reason}],
    "story": str}`` -- never the answers: everything here ends up in files a student reads.

    ``label`` is the check as the lab file wrote it (``role_count(role=syn, count=1)``). ``routes`` (the
    run's route events) go to the checks that take them (``lab.labs.routingchecks``). One observation
    is added by itself, failed, when traffic of a traced call cannot be in the capture (``capture_complete``,
    see ``uncaptured_calls``): a lab must not pass on half a conversation. ``unanswered`` names each
    question whose answer function found nothing in this capture: a broken lab file, which fails the run.
    """
    functions = load_functions(spec.functions, str(spec.source))
    observations = []
    for check in spec.observations:
        try:
            fn = functions.checks[check.name]
            ok, detail = fn(packets, calls, **dict(check.params), **_context(fn, routes, run_dir))
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
    missing = uncaptured_calls(packets, calls)
    if missing:
        more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
        observations.append(
            {
                "check": "capture_complete",
                "params": {},
                "label": "capture_complete (automatic)",
                "ok": False,
                "detail": f"{missing[0]}{more} is not in the capture: the run captures its nodes' addresses "
                "and links only; on a loopback run a socket bound to 0.0.0.0 answers from 127.0.0.1, so bind "
                "it to its node's address ({ip[NODE]} in the lab file)",
            }
        )
    _, unanswered = key(spec, packets, calls, functions, run_dir)
    return {
        "observations": observations,
        "unanswered": [{"id": qid, "reason": why} for qid, why in unanswered.items()],
        "story": _story(packets, calls, spec.title),
    }


def _story(packets: Packets, calls: Calls, title: str) -> str:
    """The story (``lab.labs.story.tell``), or one line saying why these records cannot tell it."""
    try:
        return tell(packets, calls, title)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        return f"# {title}\n\nthe story could not be told from these records: {type(err).__name__}: {err}\n"


UDP_SENDS = {"send", "sendto", "sendmsg", "sendmmsg", "write", "writev"}


def uncaptured_calls(packets: Packets, calls: Calls) -> list[str]:
    """Calls that put traffic on a loopback address the capture cannot see, as ``h2 sendto() #7 to ...``.

    A loopback run captures ``lo`` filtered on its nodes' 127.x addresses; a socket bound to 0.0.0.0
    answers a datagram from 127.0.0.1, to 127.0.0.1, which the filter leaves out (and a namespace's own
    ``lo`` is never captured). Without this the lab would silently show half a conversation: a UDP
    datagram or a TCP connect() to 127/8 or ::1 that no captured packet is attributed to is named.
    """
    attributed = {cid for p in packets for cid in p["cause"].get("calls", [])}
    out = []
    for c in calls:
        if c["id"] in attributed or c["error"]:
            continue
        if c["call"] in UDP_SENDS and c["dgram"] is not None:
            peer = c["dgram"]["peer"]
        elif c["call"] in ("connect", "connect_ex") and c["type"] == "SOCK_STREAM":
            peer = c["peer"] if c["ret"] in (0, None) else None
        else:
            continue
        if peer and _is_loopback(peer[0]):
            out.append(f"{c['node']} {c['call']}() #{c['id']} to {peer[0]}:{peer[1]}")
    return out


def _is_loopback(addr: object) -> bool:
    try:
        return ipaddress.ip_address(str(addr)).is_loopback
    except ValueError:
        return False


def answers(spec: LabSpec, packets: Packets, calls: Calls) -> dict[str, Any]:
    """Each question's answer from this capture (None: the capture does not contain it). The key: only
    grading (the teacher's side) calls this; no output of a run holds it."""
    return key(spec, packets, calls)[0]


def _context(fn: Any, routes: Records | None, run_dir: Path | None) -> dict[str, Any]:
    """The run's extra evidence a check or answer asks for by parameter name: ``routes`` (route events),
    ``run_dir`` (files a lab step wrote beside the capture, e.g. the ppp lab's link.pcapng)."""
    wanted = inspect.signature(fn).parameters
    extra: dict[str, Any] = {}
    if "routes" in wanted:
        extra["routes"] = routes
    if "run_dir" in wanted:
        extra["run_dir"] = run_dir
    return extra


def key(
    spec: LabSpec,
    packets: Packets,
    calls: Calls,
    functions: Functions | None = None,
    run_dir: Path | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(answers, problems): each auto-marked question's answer, and why a question has none.

    A question whose function finds nothing (``udp_port`` with ``index: 5`` in a capture of one datagram)
    is a lab-file problem named here with its parameters; manual questions have no key at all.
    """
    functions = functions or load_functions(spec.functions, str(spec.source))
    out: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for q in spec.questions:
        if q.manual:
            continue
        call = _label(q.answer, q.params)
        try:
            fn = functions.answers[q.answer]
            out[q.id] = fn(packets, calls, **dict(q.params), **_context(fn, None, run_dir))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            out[q.id] = None
            problems[q.id] = f"{call} could not be computed from this capture ({type(err).__name__}: {err})"
            continue
        if out[q.id] is None:
            problems[q.id] = f"{call} found nothing in this capture (check the question's parameters)"
    return out, problems


def _label(name: str, params: Any) -> str:
    """``role_count(role=syn, count=1)``: the check as the lab file wrote it."""
    args = ", ".join(f"{k}={v}" for k, v in dict(params).items())
    return f"{name}({args})" if args else name
