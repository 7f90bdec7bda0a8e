"""What a finished run (or a ``lab analyze`` output) left on disk, read once for every renderer.

The records are written by other stages that keep evolving (new cause fields, a ``lost`` block, a
``capture`` block in report.json, runs cut short), so everything here is read defensively: a missing
optional file is an empty value, a line that is not JSON is skipped and counted, never guessed at. Nothing
is invented: a renderer draws what the records say, or says that they do not say it.

Why the records stay plain dicts here, read with ``.get``, and not the typed records of ``lab.records``
that the lab's own checks, questions and story read directly: ``lab show`` and the page open any directory
a user points them at -- a hand-edited run, one from an older version, a ``lab analyze`` of a foreign
capture -- and a damaged record must cost one line of the drawing, not a traceback. Validating every
record against the shipped schema at this boundary would make typed access safe, but jsonschema takes
about 0.4 ms a packet here (some 90 s of CPU for a 209,606-packet capture whose page takes 4.4 s); so the
renderers (``ladder``, ``hops``, ``html``) stay defensive.

What is never read into a rendering: the ``answers`` block a report.json may carry (a student opens the
page; the questions are shown, their answers are not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lab.errors import UsageError
from lab.paths import RunPaths
from lab.yamlfile import YamlFileError, read_yaml_file


@dataclass
class RunRecords:
    """One run's records. ``report`` is report.json (a lab run) or summary.json (``lab analyze``)."""

    root: Path
    calls: list[dict[str, Any]]
    report: dict[str, Any]
    summary: dict[str, Any]
    lab: dict[str, Any] = field(default_factory=dict)  # the run's copy of its lab.yaml (concept, questions)
    story: str = ""
    partial: str | None = None  # why the run was cut short (RunPaths.partial_reason), None when complete
    skipped: list[int] = field(default_factory=lambda: [0])  # lines that were not JSON objects

    def iter_packets(self) -> Iterator[dict[str, Any]]:
        """packets.jsonl in frame order, streamed: a 200,000-packet analysis is never held in memory."""
        return iter_jsonl(RunPaths(self.root).packets, self.skipped)

    @property
    def is_lab_run(self) -> bool:
        return bool(self.report.get("lab"))

    @property
    def nodes_info(self) -> dict[str, dict[str, Any]]:
        nodes = self.report.get("nodes")
        return nodes if isinstance(nodes, dict) else {}

    @property
    def title(self) -> str:
        if self.is_lab_run:
            return f"{self.report.get('lab')}: {self.report.get('title') or ''}".rstrip(": ")
        return f"lab analyze {self.summary.get('file') or self.root.name}"

    @property
    def capture_file(self) -> Path | None:
        """The frames' bytes: the raw capture of a run, else the annotated copy (same frames, same order)."""
        paths = RunPaths(self.root)
        for candidate in (paths.capture, paths.annotated):
            if candidate.is_file():
                return candidate
        return None


def iter_jsonl(path: Path, skipped: list[int]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a .jsonl file; a line that is not a JSON object is counted in ``skipped[0]``."""
    try:
        fh = path.open("rb")  # bytes straight to orjson: decoding 300 MB of text first costs seconds
    except FileNotFoundError:
        return
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror}") from None
    with fh:
        for line in fh:
            if line.isspace():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                skipped[0] += 1
                continue
            if isinstance(obj, dict):
                yield obj
            else:
                skipped[0] += 1


def _json_file(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not a readable JSON file ({err})") from None
    return obj if isinstance(obj, dict) else {}


def _lab_yaml(path: Path) -> dict[str, Any]:
    """The lab description's text parts; the lab loader already validated it when the run started."""
    try:  # lab.yamlfile: a run directory can come from anyone; no alias bombs, no deep nesting
        obj = read_yaml_file(path)
    except YamlFileError:
        return {}
    if not isinstance(obj, dict):
        return {}
    questions = [{"id": str(q.get("id", "")), "text": str(q.get("text", ""))}
                 for q in obj.get("questions") or [] if isinstance(q, dict)]
    return {"concept": str(obj.get("concept") or ""), "summary": str(obj.get("summary") or ""),
            "questions": questions}


def load_run(root: Path) -> RunRecords:
    """Read a run directory (``lab run``) or an analysis directory (``lab analyze``).

    Raises:
        UsageError: not a directory, or no packets.jsonl in it.
    """
    paths = RunPaths(Path(root))
    if not paths.root.is_dir():
        raise UsageError(f"no run directory at {root}")
    if not paths.packets.is_file():
        raise UsageError(f"{root} has no packets.jsonl: not a lab run or analysis output")
    skipped = [0]
    calls = list(iter_jsonl(paths.calls, skipped))
    report = _json_file(paths.report)
    report.pop("answers", None)  # never rendered: a student opens these pages
    summary = _json_file(paths.summary) or report.get("summary") or {}
    try:
        story = paths.story.read_text(encoding="utf-8", errors="replace")
    except OSError:
        story = ""
    return RunRecords(paths.root, calls, report, summary if isinstance(summary, dict) else {},
                      _lab_yaml(paths.lab_file), story, paths.partial_reason(), skipped)
