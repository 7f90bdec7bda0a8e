"""What a finished run (or a ``lab analyze`` output) left on disk, read once for every renderer.

This is the renderers' one boundary. ``lab show`` and the page open any directory a user points them at
-- a lab run, a run of an older version, a ``lab analyze`` of a foreign capture, a hand-edited file -- so
each record is checked here, once, against the schema (``lab.records``; the check is
:mod:`lab.report.shapes`): the keys it requires, its nested blocks, its integers, and a ``schema_version``
this version knows. A record that fails is one line naming the file, the line and what is wrong
(``UsageError``: exit 2, no traceback, no page written). Everything after this module reads the records
directly by subscript, as their types say; a key the schema marks NotRequired is read with one ``.get``.

report.json's ``nodes`` and ``observations`` (``lab.records.NodeInfo``, ``Observation``) are checked the
same way, node by node and observation by observation.

A missing optional file is an empty value (a ``lab analyze`` directory has no calls.jsonl or
report.json; a run cut short may lack some). What is never read into a rendering: the ``answers`` block a
report.json may carry (a student opens the page; the questions are shown, their answers are not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

import orjson

from lab.errors import UsageError
from lab.paths import RunPaths
from lab.records import (
    SCHEMA_VERSION,
    CallRecord,
    NodeInfo,
    Observation,
    PacketRecord,
    ReportRecord,
    SummaryRecord,
)
from lab.report.shapes import Check, Problem
from lab.yamlfile import YamlFileError, read_yaml_file

KNOWN_VERSIONS = frozenset({SCHEMA_VERSION})


class LabText(TypedDict):
    """The lab description's text parts a page shows (never the answers)."""

    concept: str
    summary: str
    questions: list[dict[str, str]]


PACKET, CALL, REPORT, SUMMARY = (Check(t) for t in (PacketRecord, CallRecord, ReportRecord, SummaryRecord))
NODE, OBSERVATION = Check(NodeInfo), Check(Observation)


@dataclass
class RunRecords:
    """One run's records. ``report`` is report.json (None for a ``lab analyze`` output), ``summary``
    summary.json (or the report's copy of it; None when neither is there)."""

    root: Path
    calls: list[CallRecord]
    report: ReportRecord | None
    summary: SummaryRecord | None
    lab: LabText = field(default_factory=lambda: LabText(concept="", summary="", questions=[]))
    story: str = ""
    partial: str | None = None  # why the run was cut short (RunPaths.partial_reason), None when complete

    def iter_packets(self) -> Iterator[PacketRecord]:
        """packets.jsonl in frame order, each record checked, streamed: a 200,000-packet analysis is never
        held in memory.

        Raises:
            UsageError: a line that is not a packet record of a known schema version (file and line named).
        """
        return iter_records(RunPaths(self.root).packets, PACKET)

    @property
    def is_lab_run(self) -> bool:
        return self.report is not None and bool(self.report["lab"])

    @property
    def nodes_info(self) -> dict[str, NodeInfo]:
        return self.report["nodes"] if self.report is not None else {}

    @property
    def title(self) -> str:
        if self.report is not None and self.report["lab"]:
            return f"{self.report['lab']}: {self.report['title']}".rstrip(": ")
        file = self.summary["file"] if self.summary is not None else ""
        return f"lab analyze {file or self.root.name}"

    @property
    def capture_file(self) -> Path | None:
        """The frames' bytes: the raw capture of a run, else the annotated copy (same frames, same order)."""
        paths = RunPaths(self.root)
        for candidate in (paths.capture, paths.annotated):
            if candidate.is_file():
                return candidate
        return None


def record_problem(obj: Any, check: Check) -> Problem | None:
    """Why ``obj`` is not a record the renderers can read, or None (the fast test first)."""
    if obj.__class__ is dict and "schema_version" not in obj:
        return Problem("", "no schema_version: written before the record schema (or not by lab); make it "
                           "again with this version (lab analyze, lab run)")
    found = None if check.ok(obj) else check.problem(obj)
    if found:
        return found
    if obj["schema_version"] in KNOWN_VERSIONS:
        return None
    known = ", ".join(str(v) for v in sorted(KNOWN_VERSIONS))
    return Problem("schema_version", f"{obj['schema_version']} is not one this lab reads ({known})")


def _error(path: Path, found: Problem, line: int | None = None) -> UsageError:
    """The one-line error: ``FILE:LINE: KEY: problem`` (lab.errors renders the fields)."""
    return UsageError(found.text, file=str(path), line=line, key=found.key or None)


def iter_records(path: Path, check: Check) -> Iterator[Any]:
    """The records of a .jsonl file, each checked (a missing file has none).

    Raises:
        UsageError: the file cannot be read, or a line is not such a record: ``FILE:LINE: KEY: problem``.
    """
    try:
        fh = path.open("rb")  # bytes straight to orjson: decoding 300 MB of text first costs seconds
    except FileNotFoundError:
        return
    except OSError as err:
        raise UsageError(f"cannot read: {err.strerror}", file=str(path)) from None
    ok, known = check.ok, KNOWN_VERSIONS
    with fh:
        for lineno, line in enumerate(fh, 1):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                if line.isspace():
                    continue
                raise UsageError(f"not JSON ({err}): a damaged or foreign file", file=str(path),
                                 line=lineno) from None
            if ok(obj) and obj["schema_version"] in known:  # the common case, inline
                yield obj
                continue
            found = record_problem(obj, check)
            if found:
                raise _error(path, found, lineno)
            yield obj


def _json_file(path: Path, check: Check) -> Any:
    """A checked JSON document, or None when the file is not there."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"not a readable JSON file ({err})", file=str(path)) from None
    found = record_problem(obj, check)
    if found:
        raise _error(path, found)
    return obj


def _check_report(path: Path, report: ReportRecord) -> None:
    """The open blocks the renderers read: each node and each observation."""
    for name, info in report["nodes"].items():
        found = NODE.problem(info, f"nodes.{name}.") if not NODE.ok(info) else None
        if found:
            raise _error(path, found)
    for i, obs in enumerate(report.get("observations", []), 1):  # NotRequired: a lab run's only
        found = OBSERVATION.problem(obs, f"observations.{i}.") if not OBSERVATION.ok(obs) else None
        if found:
            raise _error(path, found)


def _lab_text(path: Path) -> LabText:
    """The lab description's text parts; the lab loader already validated it when the run started (so a
    part that is missing or of another type here is left empty, not guessed at)."""
    try:  # lab.yamlfile: a run directory can come from anyone; no alias bombs, no deep nesting
        obj = read_yaml_file(path)
    except YamlFileError:
        obj = None
    if not isinstance(obj, dict):
        return LabText(concept="", summary="", questions=[])
    raw = obj["questions"] if isinstance(obj.get("questions"), list) else []
    questions = [{"id": str(q.get("id", "")), "text": str(q.get("text", ""))}
                 for q in raw if isinstance(q, dict)]
    concept, summary = obj.get("concept"), obj.get("summary")
    return LabText(concept=str(concept) if concept else "", summary=str(summary) if summary else "",
                   questions=questions)


def load_run(root: Path) -> RunRecords:
    """Read and check a run directory (``lab run``) or an analysis directory (``lab analyze``); packets
    are checked as they are streamed (``RunRecords.iter_packets``).

    Raises:
        UsageError: not a directory, no packets.jsonl in it, or a record that is not one (file, line).
    """
    paths = RunPaths(Path(root))
    if not paths.root.is_dir():
        raise UsageError(f"no run directory at {root}")
    if not paths.packets.is_file():
        raise UsageError(f"{root} has no packets.jsonl: not a lab run or analysis output")
    calls: list[CallRecord] = list(iter_records(paths.calls, CALL))
    report: ReportRecord | None = _json_file(paths.report, REPORT)
    if report is not None:
        # an older run's report.json may carry the answers: never rendered, a student opens these pages
        cast("dict[str, Any]", report).pop("answers", None)
        _check_report(paths.report, report)
    summary: SummaryRecord | None = _json_file(paths.summary, SUMMARY)
    if summary is None and report is not None:
        summary = report["summary"]
    try:
        story = paths.story.read_text(encoding="utf-8", errors="replace")
    except OSError:
        story = ""
    return RunRecords(paths.root, calls, report, summary, _lab_text(paths.lab_file), story,
                      paths.partial_reason())
