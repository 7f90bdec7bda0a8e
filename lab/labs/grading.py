"""Grading: a student's answers against the key recomputed from the raw evidence of their run.

Every student captures different sequence numbers and ports, so there is no fixed answer key: the key is
recomputed per run, by the teacher's side only, from what the run cannot easily fake -- its capture and
its call logs, re-analyzed here (``lab.classroom.evidence``) -- against the **teacher's** lab file, never
the copy inside the run. The run's manifest is checked on the way (``lab.classroom.manifest``): a changed
file, a capture that disagrees with the call logs, a run of another lab file or a partial run is flagged.

What is printed for a student (``Grade.summary``, ``Grade.feedback``) never contains the key; only
``Grade.to_json(key=True)`` (the teacher's table) does. Matching follows ``lab.classroom.matching.TYPES``.

For teachers with pytest (see also the ``lab.classroom.pytest_plugin`` fixtures)::

    from lab.labs.grading import grade
    def test_student_answers():
        result = grade("captures/tcp-echo-20261125T210000Z", "answers/alice.yaml", lab="tcp-echo.yaml")
        assert result.all_correct, result.summary()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lab.classroom import evidence as raw
from lab.classroom.hints import capture_ports, hints_for
from lab.classroom.manifest import Manifest, changed_files, is_evidence, read_manifest, sha256_file
from lab.classroom.matching import Verdict, match
from lab.errors import UsageError
from lab.labs.evaluate import key as compute_key
from lab.labs.questions import CHOICES
from lab.labs.spec import CATALOGUE, LabSpec, did_you_mean, lab_path, load_lab
from lab.paths import RunPaths
from lab.yamlfile import YamlFileError, read_yaml_file

STATUS = ("right", "wrong", "missing", "manual", "no-key")


@dataclass(frozen=True)
class Mark:
    """One question: what the student said and the verdict. ``expected`` is the key: teacher-only."""

    id: str
    text: str
    given: Any
    status: str  # one of STATUS
    reason: str = ""
    hints: tuple[str, ...] = ()
    expected: Any = field(default=None, repr=False)  # the key: never in a repr pytest or a log may print

    @property
    def ok(self) -> bool:
        return self.status == "right"

    def line(self) -> str:
        """The mark as a student may read it: never the expected value."""
        label = {"right": "ok     ", "wrong": "WRONG  ", "missing": "MISSING", "manual": "MANUAL ",
                 "no-key": "NO KEY "}[self.status]
        text = f"  {label} {self.id}"
        if self.status in ("right", "wrong"):
            text += f": given {self.given!r}"
        if self.reason:
            text += f" ({self.reason})"
        return text + "".join(f"\n            hint: {h}" for h in self.hints)


@dataclass(frozen=True)
class Grade:
    lab: str
    marks: tuple[Mark, ...]
    unknown: tuple[str, ...] = ()  # answer ids that are no question of this lab, with a suggestion
    student: str | None = None
    flags: tuple[str, ...] = ()  # tamper evidence: changed evidence, capture vs calls, another lab, partial
    problems: tuple[str, ...] = ()  # the lab file's own problems (a question without a key)
    notes: tuple[str, ...] = ()  # derived files changed after the run: reported, not read, not held against
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def marked(self) -> tuple[Mark, ...]:
        """The automatically marked questions (manual ones are the teacher's to read)."""
        return tuple(m for m in self.marks if m.status != "manual")

    @property
    def correct(self) -> int:
        return sum(m.ok for m in self.marks)

    @property
    def total(self) -> int:
        return len(self.marked)

    @property
    def manual(self) -> tuple[Mark, ...]:
        return tuple(m for m in self.marks if m.status == "manual")

    @property
    def trusted(self) -> bool:
        return not self.flags and not self.problems

    @property
    def all_correct(self) -> bool:
        return self.trusted and self.correct == self.total and not self.unknown

    def summary(self) -> str:
        who = f" (student {self.student})" if self.student else ""
        lines = [f"{self.lab}{who}: {self.correct}/{self.total} correct"
                 + (f", {len(self.manual)} for the teacher to read" if self.manual else "")]
        lines += [m.line() for m in self.marks]
        lines += [f"  ?       {u}" for u in self.unknown]
        lines += [f"  FLAG    {f}" for f in self.flags]
        lines += [f"  LAB     {p}" for p in self.problems]
        lines += [f"  NOTE    {n}" for n in self.notes]
        return "\n".join(lines)

    def feedback(self) -> str:
        """Markdown for the student: marks, hints and flags, never the key."""
        who = f" -- {self.student}" if self.student else ""
        out = [f"# {self.lab}{who}", "", f"Score: {self.correct}/{self.total}", ""]
        for m in self.marks:
            said = f" -- you said {m.given!r}" if m.given is not None else ""
            out.append(f"- **{m.id}**: {m.status}{said}" + (f" ({m.reason})" if m.reason else ""))
            out += [f"  - hint: {h}" for h in m.hints]
        if self.unknown:
            out += ["", "Answers to no question of this lab:"] + [f"- {u}" for u in self.unknown]
        if self.flags:
            out += ["", "Your submission was flagged for the teacher:"] + [f"- {f}" for f in self.flags]
        return "\n".join(out) + "\n"

    def to_json(self, *, key: bool = False) -> dict[str, Any]:
        """The grade as data; ``key=True`` adds each question's expected answer (for the teacher only)."""
        def mark(m: Mark) -> dict[str, Any]:
            d = {"id": m.id, "text": m.text, "given": m.given, "status": m.status, "ok": m.ok,
                 "reason": m.reason, "hints": list(m.hints)}
            return {**d, "expected": m.expected} if key else d

        return {
            "lab": self.lab,
            "student": self.student,
            "correct": self.correct,
            "total": self.total,
            "all_correct": self.all_correct,
            "trusted": self.trusted,
            "marks": [mark(m) for m in self.marks],
            "unknown": list(self.unknown),
            "flags": list(self.flags),
            "problems": list(self.problems),
            "notes": list(self.notes),
            **self.extra,
        }


def read_answers(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping ``question id -> answer`` (read with the same limits as every input)."""
    p = Path(path)
    try:  # YAML is a superset of JSON; lab.yamlfile refuses bombs, deep nesting and huge files
        raw = read_yaml_file(p)
    except YamlFileError as err:
        raise UsageError(f"answers: {err}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{p}: answers must be a mapping of question id to answer")
    return {str(k): v for k, v in raw.items()}


def teacher_lab(lab: str | Path | LabSpec | None, manifest: Manifest | None) -> LabSpec:
    """The teacher's lab file: ``lab`` if given, else the shipped catalogue lab the run names.

    A run's own ``lab.yaml`` is never used to grade it: it is the student's copy.
    """
    if isinstance(lab, LabSpec):
        return lab
    if lab is not None:
        return load_lab(lab)
    name = manifest.lab if manifest else None
    if name not in CATALOGUE:
        raise UsageError("grade against the teacher's lab file: pass --lab LAB.yaml (this run is not of a "
                         "shipped catalogue lab)")
    return load_lab(lab_path(name))


def audit(
    root: Path, manifest: Manifest, spec: LabSpec, *, evidence_only: bool = False
) -> tuple[list[str], list[str]]:
    """(flags, notes) of a run: every file that changed since the run is reported; a change to the raw
    evidence grading reads (capture, call logs, lab file), another lab, a different lab file or a partial
    run is a flag; a change to a derived file (report.json, packets.jsonl...) only a note, since grading
    never reads those (``lab show --html`` rewrites report.html, for one)."""
    changes = changed_files(root, manifest, evidence_only=evidence_only)
    flags = [c for c in changes if is_evidence(c.split(":", 1)[0])]
    notes = [f"{c} -- a derived file, not used for grading" for c in changes if c not in flags]
    if manifest.lab != spec.name:
        flags.append(f"this is a run of lab '{manifest.lab}', not of '{spec.name}'")
    elif manifest.lab_sha256 != sha256_file(spec.source):
        flags.append("the run's lab file differs from the teacher's (run with another version of the lab)")
    reason = RunPaths(root).partial_reason()
    if reason:
        flags.append(f"partial run: {reason}")
    return flags, notes


def grade(
    run_dir: str | Path,
    given: Mapping[str, Any] | str | Path,
    lab: str | Path | LabSpec | None = None,
    *,
    evidence_only: bool = False,
) -> Grade:
    """Grade ``given`` (a mapping, or a YAML/JSON file of one) against the key of ``run_dir``'s raw evidence.

    ``lab`` is the teacher's lab file (path, catalogue name or spec); without it, the shipped lab the run
    names. ``evidence_only``: the run is an unpacked bundle (raw evidence only, no derived files).

    Raises:
        UsageError: not a run directory, no manifest, evidence that cannot be analyzed, a bad answers file.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise UsageError(f"run directory not found: {root}")
    manifest = read_manifest(root)
    spec = teacher_lab(lab, manifest)
    answers = dict(given) if isinstance(given, Mapping) else read_answers(given)
    flags, notes = audit(root, manifest, spec, evidence_only=evidence_only)
    packets, calls, errors = raw.reanalyze(root, manifest)
    flags += [f"capture and call logs disagree: {line}" for line in raw.inconsistencies(packets, calls)]
    flags += [f"capture: {e}" for e in errors]
    if manifest.lab != spec.name:  # another lab's capture holds no key to this lab's questions
        expected: dict[str, Any] = {}
        problems: dict[str, str] = {}
    else:
        expected, problems = compute_key(spec, packets, calls, run_dir=root)
    graded = grade_answers(
        spec, expected, answers, ports=capture_ports(packets), student=manifest.student, flags=tuple(flags),
        problems=tuple(f"question '{q}': {why}" for q, why in problems.items()),
    )
    return replace(graded, notes=tuple(notes))


def grade_answers(
    spec: LabSpec,
    expected: Mapping[str, Any],
    given: Mapping[str, Any],
    *,
    ports: frozenset[int] = frozenset(),
    student: str | None = None,
    flags: tuple[str, ...] = (),
    problems: tuple[str, ...] = (),
) -> Grade:
    """Mark each question of ``spec``; the key is ``expected`` (question id -> value)."""
    marks = []
    for q in spec.questions:
        answer = given.get(q.id)
        if q.manual:
            marks.append(Mark(q.id, q.text, answer, "manual", "collected for the teacher to read"))
        elif q.id not in given or answer is None or (isinstance(answer, str) and not answer.strip()):
            marks.append(Mark(q.id, q.text, None, "missing", "no answer given", expected=expected.get(q.id)))
        elif expected.get(q.id) is None:
            marks.append(Mark(q.id, q.text, answer, "no-key", "this run's capture holds no answer to this "
                              "question: the teacher will mark it"))
        else:
            want = expected[q.id]
            verdict: Verdict = match(want, answer, q.type, CHOICES.get(q.answer, ()))
            hints = () if verdict.ok else tuple(hints_for(q, answer, want, ports))
            marks.append(Mark(q.id, q.text, answer, "right" if verdict.ok else "wrong", verdict.reason, hints,
                              want))
    ids = [q.id for q in spec.questions]
    unknown = tuple(
        f"{u}: not a question of this lab{did_you_mean(u, ids)}" for u in sorted(set(given) - set(ids))
    )
    return Grade(spec.name, tuple(marks), unknown, student, flags, problems)


def same(expected: Any, given: Any) -> bool:
    """Whether a student's ``given`` answer means ``expected`` (the rules of ``matching.TYPES``)."""
    return match(expected, given).ok
