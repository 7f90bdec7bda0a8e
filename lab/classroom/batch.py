"""``lab grade``: every bundle of a folder against the teacher's lab file, in one table.

Each bundle is unpacked by the hostile-input rules of ``bundle`` into a directory of its own, its key
recomputed from its raw evidence (``lab.labs.grading.grade``), and its student's answers marked. A bundle
that cannot be opened or analyzed is *refused* with the reason; one whose evidence is inconsistent,
changed, of another lab or of another version of the lab file is *flagged*: its marks are still
computed, so the teacher can decide. Bundles are also held against each other: a student id twice, and
one capture in the bundles of two students (the manifest is not signed: its student id can be rewritten),
flag every bundle involved. Outputs, in the output directory:

- ``grades.csv``: one row per bundle: student, status, score, one column per question (1, 0, ``manual``,
  ``missing``), flags;
- ``grades.json``: the same with every mark, the teacher's key and the manual answers to read;
- ``feedback/<student>.md``: what to hand back to each student (marks and hints, never the key).
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.classroom.bundle import answers_of, unpack
from lab.classroom.manifest import sha256_file
from lab.errors import LabError, UsageError
from lab.labs.grading import Grade, grade
from lab.labs.spec import LabSpec
from lab.paths import RunPaths

MAX_BUNDLES = 10_000


@dataclass
class Submission:
    """One bundle's outcome: its grade, or why it was refused."""

    bundle: Path
    grade: Grade | None = None
    refused: str = ""
    notes: list[str] = field(default_factory=list)
    run: Path | None = None  # the unpacked run, when the caller asked to keep it
    capture_sha256: str = ""  # of the capture as handed in: two students' bundles may not share one

    @property
    def student(self) -> str:
        """The manifest's (validated) student id, else the bundle's file name made safe as a file name."""
        if self.grade and self.grade.student:
            return self.grade.student
        stem = self.bundle.name.removesuffix(".tar.gz")
        return re.sub(r"[^A-Za-z0-9._@-]", "_", stem).lstrip(".") or "bundle"

    @property
    def status(self) -> str:
        if self.grade is None:
            return "refused"
        return "flagged" if self.grade.flags or self.notes else "graded"


def grade_bundle(bundle: Path, lab: LabSpec, workdir: Path | None = None) -> Submission:
    """Unpack and grade one bundle; a bad bundle is a refused ``Submission``, never an exception.

    ``workdir`` keeps the unpacked run (the pytest plugin's ``lab_run``); otherwise it is removed.
    """
    sub = Submission(Path(bundle))
    with tempfile.TemporaryDirectory(prefix="lab-bundle-") as tmp:
        root = workdir or Path(tmp) / "run"
        root.mkdir(parents=True, exist_ok=True)
        sub.run = workdir
        try:
            unpack(sub.bundle, root)
            sub.capture_sha256 = sha256_file(RunPaths(root).capture)
            sub.grade = grade(root, answers_of(root), lab, evidence_only=True)
        except LabError as err:
            sub.refused = str(err)
    return sub


def bundles_in(folder: Path) -> list[Path]:
    """The ``*.tar.gz`` regular files directly in ``folder``, sorted (links and subfolders are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"submissions folder not found: {folder}")
    found = sorted(p for p in folder.iterdir() if p.name.endswith(".tar.gz") and not p.is_symlink())
    if not found:
        raise UsageError(f"{folder}: no bundles (*.tar.gz written by `lab submit`)")
    if len(found) > MAX_BUNDLES:
        raise UsageError(f"{folder}: more than {MAX_BUNDLES} bundles")
    return found


def grade_folder(folder: Path, lab: LabSpec) -> list[Submission]:
    return grade_bundles(bundles_in(folder), lab)


def grade_bundles(bundles: list[Path], lab: LabSpec, workdir: Path | None = None) -> list[Submission]:
    """Grade each bundle, then hold them against each other: one student twice, one capture twice.

    ``workdir``: keep each unpacked run under it (``run1``, ``run2``...), for the pytest plugin.
    """
    subs = [grade_bundle(b, lab, workdir / f"run{i}" if workdir else None) for i, b in enumerate(bundles, 1)]
    counts = Counter(s.student for s in subs if s.grade)
    by_capture: dict[str, list[Submission]] = {}
    for s in subs:
        if s.grade and counts[s.student] > 1:
            s.notes.append(f"student {s.student} handed in {counts[s.student]} bundles")
        if s.grade:
            by_capture.setdefault(s.capture_sha256, []).append(s)
    for same in by_capture.values():  # a classmate's run with the student id changed in its manifest
        owners = sorted({s.student for s in same})
        if len(owners) > 1:
            for s in same:
                others = ", ".join(o for o in owners if o != s.student)
                s.notes.append(f"the same capture (byte for byte) as the bundle of {others}")
    return subs


def summary_line(lab: LabSpec, subs: list[Submission], out: Path) -> str:
    status = Counter(s.status for s in subs)
    graded = [s.grade for s in subs if s.grade]
    total = graded[0].total if graded else 0
    mean = sum(g.correct for g in graded) / len(graded) if graded else 0.0
    return (
        f"{lab.name}: {len(subs)} bundle(s): {status['graded']} graded, {status['flagged']} flagged, "
        f"{status['refused']} refused; mean {mean:.1f}/{total}; outputs in {out}"
    )


def write_outputs(lab: LabSpec, subs: list[Submission], out: Path) -> dict[str, Any]:
    """grades.csv, grades.json and feedback/<student>.md in ``out``; returns the JSON document."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    qids = [q.id for q in lab.questions]
    with (out / "grades.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "bundle", "status", "score", "total", *qids, "flags"])
        for s in subs:
            if s.grade is None:
                writer.writerow([s.student, s.bundle.name, "refused", "", "", *[""] * len(qids), s.refused])
                continue
            by_id = {m.id: m for m in s.grade.marks}
            cells = [_cell(by_id[q].status) if q in by_id else "" for q in qids]
            writer.writerow([s.student, s.bundle.name, s.status, s.grade.correct, s.grade.total, *cells,
                             "; ".join([*s.grade.flags, *s.grade.problems, *s.notes])])
    doc = {
        "lab": lab.name,
        "lab_file": str(lab.source),
        "questions": [{"id": q.id, "text": q.text, "manual": q.manual} for q in lab.questions],
        "submissions": [
            {"student": s.student, "bundle": s.bundle.name, "status": s.status, "refused": s.refused or None,
             "notes": s.notes, **(s.grade.to_json(key=True) if s.grade else {})}
            for s in subs
        ],
    }
    (out / "grades.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    used: Counter[str] = Counter()
    for s in subs:
        used[s.student] += 1
        name = s.student if used[s.student] == 1 else f"{s.student}-{used[s.student]}"
        text = s.grade.feedback() if s.grade else (
            f"# {lab.name} -- {s.bundle.name}\n\nYour bundle could not be graded: {s.refused}\n")
        if s.notes:
            text += "".join(f"\nNote: {n}\n" for n in s.notes)
        (out / "feedback" / f"{name}.md").write_text(text)
    return doc


def _cell(status: str) -> str:
    return {"right": "1", "wrong": "0"}.get(status, status)
