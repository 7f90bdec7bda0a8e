"""Grading: a student's answers against the answers computed from the same run's own capture.

Every student captures different sequence numbers and ports, so there is no answer key: the key is
recomputed from the run directory (``lab.yaml``, ``packets.jsonl``, ``calls.jsonl``). Comparison is
tolerant the way a teacher would be: ``0x1f`` equals ``31``, ``"TCP"`` equals ``"tcp"``, ``"64, 63"``
equals ``[64, 63]``, ``"1460 bytes"`` equals ``1460``.

For teachers with pytest::

    from lab.labs.grading import grade
    def test_student_answers():
        result = grade("captures/tcp-echo-20261125T210000Z", "answers/alice.yaml")
        assert result.all_correct, result.summary()
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.errors import UsageError
from lab.labs.evaluate import answers as compute_answers
from lab.labs.spec import LabSpec, load_lab
from lab.yamlfile import YamlFileError, read_yaml_file

Records = list[dict[str, Any]]


@dataclass(frozen=True)
class Mark:
    """One question: what the capture says, what the student said, and whether they agree."""

    id: str
    text: str
    expected: Any
    given: Any
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Grade:
    lab: str
    marks: tuple[Mark, ...]
    unknown: tuple[str, ...] = ()  # answer ids that are no question of this lab

    @property
    def correct(self) -> int:
        return sum(m.ok for m in self.marks)

    @property
    def all_correct(self) -> bool:
        return self.correct == len(self.marks) and not self.unknown

    def summary(self) -> str:
        lines = [f"{self.lab}: {self.correct}/{len(self.marks)} correct"]
        for m in self.marks:
            if m.reason == "no answer given":
                lines.append(f"  MISSING {m.id}: no answer given (capture says {m.expected!r})")
                continue
            status = "ok     " if m.ok else "WRONG  "
            lines.append(
                f"  {status} {m.id}: given {m.given!r}, capture says {m.expected!r}"
                + (f" ({m.reason})" if m.reason else "")
            )
        lines += [f"  ?       {u}: not a question of this lab" for u in self.unknown]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "correct": self.correct,
            "total": len(self.marks),
            "all_correct": self.all_correct,
            "marks": [m.__dict__ for m in self.marks],
            "unknown": list(self.unknown),
        }


def load_run(run_dir: str | Path) -> tuple[LabSpec, Records, Records]:
    """The lab spec copy and the evidence of a finished run."""
    root = Path(run_dir)
    if not root.is_dir():
        raise UsageError(f"run directory not found: {root}")
    spec_file = root / "lab.yaml"
    if not spec_file.is_file():
        raise UsageError(f"{root}: no lab.yaml (is this the output directory of `lab run`?)")
    spec = load_lab(spec_file, check_topology=False)
    return spec, read_jsonl(root / "packets.jsonl"), read_jsonl(root / "calls.jsonl")


def read_jsonl(path: Path) -> Records:
    if not path.is_file():
        raise UsageError(f"{path}: missing (the run did not finish its analysis)")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise UsageError(f"{path}: line {n}: invalid JSON: {err.msg}") from None
    return out


def read_answers(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping ``question id -> answer``."""
    p = Path(path)
    try:  # YAML is a superset of JSON; lab.yamlfile refuses bombs, deep nesting and huge files
        raw = read_yaml_file(p)
    except YamlFileError as err:
        raise UsageError(f"answers: {err}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{p}: answers must be a mapping of question id to answer")
    return {str(k): v for k, v in raw.items()}


def grade(run_dir: str | Path, given: Mapping[str, Any] | str | Path) -> Grade:
    """Grade ``given`` (a mapping, or a YAML/JSON file of one) against the run's own capture."""
    spec, packets, calls = load_run(run_dir)
    answers = dict(given) if isinstance(given, Mapping) else read_answers(given)
    expected = compute_answers(spec, packets, calls)
    return grade_answers(spec, expected, answers)


def grade_answers(spec: LabSpec, expected: Mapping[str, Any], given: Mapping[str, Any]) -> Grade:
    marks = []
    for q in spec.questions:
        want = expected.get(q.id)
        if q.id not in given:
            marks.append(Mark(q.id, q.text, want, None, False, "no answer given"))
        elif want is None:
            marks.append(
                Mark(q.id, q.text, None, given[q.id], False, "this capture does not contain the answer")
            )
        else:
            marks.append(Mark(q.id, q.text, want, given[q.id], same(want, given[q.id])))
    unknown = tuple(sorted(set(given) - {q.id for q in spec.questions}))
    return Grade(spec.name, tuple(marks), unknown)


# -- tolerant comparison -----------------------------------------------------------------------------
_NUMBER = re.compile(r"^\s*([-+]?(?:0x[0-9a-f]+|\d+(?:\.\d+)?|[0-9a-f]+))\b", re.IGNORECASE)


def same(expected: Any, given: Any) -> bool:
    """Whether a student's ``given`` answer means ``expected``."""
    if isinstance(expected, bool):
        return _as_bool(given) is expected
    if isinstance(expected, int | float):
        value = _as_number(given, prefer_hex=False)
        if value is not None and _num_eq(expected, value):
            return True
        alt = _as_number(given, prefer_hex=True)
        return alt is not None and _num_eq(expected, alt)
    if isinstance(expected, list | tuple):
        items = _as_list(given)
        return (
            items is not None
            and len(items) == len(expected)
            and all(same(e, g) for e, g in zip(expected, items, strict=True))
        )
    return _norm(given) == _norm(expected)


def _num_eq(a: float, b: float) -> bool:
    return a == b if isinstance(a, int) and float(b).is_integer() else abs(a - b) <= 1e-3 * max(1.0, abs(a))


def _as_number(value: Any, *, prefer_hex: bool) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        return None
    m = _NUMBER.match(value.strip().replace("_", ""))
    if not m:
        return None
    token = m.group(1).lower()
    try:
        if token.lstrip("+-").startswith("0x"):
            return int(token, 16)
        if prefer_hex and re.search("[a-f]", token):  # bare hex like "a1b2c3d4", as Wireshark shows it
            return int(token, 16)
        return float(token) if "." in token else int(token, 10)
    except ValueError:
        return None


def _as_list(value: Any) -> list | None:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        return [v for v in re.split(r"[,\s;]+", value.strip().strip("[]")) if v]
    if isinstance(value, int | float):
        return [value]
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _norm(value)
    return {
        "yes": True,
        "true": True,
        "y": True,
        "1": True,
        "no": False,
        "false": False,
        "n": False,
        "0": False,
    }.get(text)


def _norm(value: Any) -> str:
    text = re.sub(r"\s+", " ", str(value).strip().strip(".").lower())
    return re.sub(r"^(the|a|an) ", "", text)
