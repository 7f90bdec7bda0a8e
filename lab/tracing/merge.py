"""Per-process call logs -> one ``calls.jsonl`` for the run.

Each traced process writes its own log (``calls-<node>-<pid>.jsonl`` from the Python tracer,
``strace-<node>-<n>.txt`` from strace) so that no two writers share a file. Merging orders all of them on
the one clock they share (CLOCK_REALTIME, the capture's clock) and numbers the calls 1.. in that order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lab.errors import TraceError
from lab.records import SCHEMA_VERSION
from lab.tracing.strace import parse_strace_file

if TYPE_CHECKING:
    from lab.records import CallRecord

FIELDS = ("id", "tracer", "node", "pid", "tid", "sock", "fd", "call", "args", "ret", "error", "exception",
          "t_start_ns", "t_end_ns", "family", "type", "local", "peer", "nbytes", "sent_before", "sent_after",
          "recv_before", "recv_after", "dgram")


def load_calls(path: Path) -> list[dict[str, Any]]:
    """Read a calls.jsonl (or one process's log). A final line cut short by a crash is skipped.

    Raises:
        TraceError: the file is missing, or a line in the middle is not a JSON object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise TraceError(f"{path}: cannot read call log: {err.strerror}") from err
    lines = text.split("\n")
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            if n == len(lines):  # no newline after it: the writer died mid-line
                break
            raise TraceError(f"{path}:{n}: not a JSON call record ({err.msg})") from err
        if not isinstance(rec, dict) or "call" not in rec or "t_start_ns" not in rec:
            raise TraceError(f"{path}:{n}: not a call record (needs 'call' and 't_start_ns')")
        records.append(rec)
    return records


def _strace_node(path: Path) -> str:
    stem = path.stem  # strace-<node>-<n>
    body = stem[len("strace-"):]
    node, _, n = body.rpartition("-")
    return node if node and n.isdigit() else body


def collect(trace_dir: Path) -> list[dict[str, Any]]:
    """All records of a trace directory, unsorted and unnumbered."""
    trace_dir = Path(trace_dir)
    if not trace_dir.is_dir():
        raise TraceError(f"{trace_dir}: trace directory does not exist")
    records: list[dict[str, Any]] = []
    # in-process tracer logs may sit one level down (traces/py/, the one directory of a run that an
    # unprivileged lab program writes): only regular files are read there, never a link it planted
    for path in sorted([*trace_dir.glob("calls-*.jsonl"), *trace_dir.glob("*/calls-*.jsonl")]):
        if path.is_symlink() or not path.is_file():
            continue
        records.extend(load_calls(path))
    for path in sorted(trace_dir.glob("strace-*.txt")):
        records.extend(parse_strace_file(path, node=_strace_node(path)))
    return records


_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def resolve_wildcard_locals(records: list[dict[str, Any]]) -> None:
    """Fill the local IP of sockets bound to a wildcard address, which strace cannot see after connect().

    The other end usually is traced too and names this socket as its peer (same port, talking to our
    local port), which gives the IP; failing that, a loopback peer implies the loopback source address.
    """
    by_end: dict[tuple[str, int], list] = {}
    for rec in records:
        local, peer = rec.get("local"), rec.get("peer")
        if isinstance(local, list) and isinstance(peer, list) and len(peer) == 2:
            by_end.setdefault((local[0], local[1]), []).append(peer)
    for rec in records:
        local, peer = rec.get("local"), rec.get("peer")
        if not (isinstance(local, list) and local[0] in _WILDCARD and isinstance(peer, list) and local[1]):
            continue
        ip = next((p[0] for p in by_end.get((peer[0], peer[1]), []) if p[1] == local[1] and p[0]), None)
        if ip is None and (peer[0] or "").startswith(("127.", "::1")):
            ip = _WILDCARD[local[0]] if peer[0] != "::1" else "::1"
        if ip is not None:
            rec["local"] = [ip, local[1]]


def merge_traces(trace_dir: Path, out: Path) -> list[CallRecord]:
    """Merge every per-process log under ``trace_dir`` into ``out`` (calls.jsonl); return the records.

    Records are sorted by ``t_start_ns`` (ties keep each log's own order) and numbered ``id`` 1.., with the
    fields in the documented order; wildcard local IPs are resolved (``resolve_wildcard_locals``).
    """
    records = sorted(collect(trace_dir), key=lambda r: r["t_start_ns"])
    resolve_wildcard_locals(records)
    merged = []
    for i, rec in enumerate(records, 1):
        rec.pop("id", None)
        rec.pop("schema_version", None)
        if any(k not in rec for k in FIELDS[1:]):  # a log from an older tracer: fill the missing fields
            rec = {k: rec.get(k) for k in FIELDS[1:]} | rec
        merged.append({"schema_version": SCHEMA_VERSION, "id": i, **rec})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for rec in merged:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    tmp.replace(out)
    return cast("list[CallRecord]", merged)  # every field filled above: complete records
