"""Grading one run: the key from the raw evidence and the teacher's lab file, never shown to the student.

The runs under tests/classroom/data are real `lab run` outputs (tcp-echo by student alice, udp-echo by bob)
with their manifests; grading re-analyzes their capture.pcapng and traces/ here, without root.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from lab.classroom.manifest import read_manifest
from lab.cli.main import main
from lab.errors import UsageError
from lab.labs.grading import grade, same
from lab.labs.grading import teacher_lab as teacher_lab_of
from lab.labs.spec import lab_path

DATA = Path(__file__).parents[1] / "classroom" / "data"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(DATA / "tcp-echo", target)
    return target


@pytest.fixture
def teacher_lab(tmp_path: Path) -> Path:
    """The teacher's own copy of the lab file, byte for byte the one the recorded run ran."""
    path = tmp_path / "teacher" / "tcp-echo.yaml"
    path.parent.mkdir()
    shutil.copyfile(DATA / "tcp-echo" / "lab.yaml", path)
    return path


def right_answers(run: Path) -> dict:
    """What a careful student reads off their own capture (from the derived files a student sees)."""
    packets = [json.loads(line) for line in (run / "packets.jsonl").read_text().splitlines()]
    syn = next(p for p in packets if p["role"]["code"] == "syn")
    return {
        "syn-seq": f"{syn['tcp']['seq_raw']:,}",
        "synack-ack": hex(syn["tcp"]["seq_raw"] + 1),
        "client-port": f"port {syn['tcp']['sport']} (ephemeral)",
        "syn-mss": "MSS=1460 (1500-40)",
    }


def test_right_answers_in_honest_formats(run_dir: Path, teacher_lab: Path) -> None:
    result = grade(run_dir, right_answers(run_dir), teacher_lab)
    assert result.all_correct and result.trusted, result.summary()
    assert result.student == "alice" and result.correct == result.total == 4


def test_hedged_answers_get_no_credit(run_dir: Path, teacher_lab: Path) -> None:
    answers = right_answers(run_dir)
    port = answers["client-port"].split()[1]
    hedged = {**answers, "syn-mss": "1460 or 1448", "client-port": f"{port}, 5000"}
    result = grade(run_dir, hedged, teacher_lab)
    marks = {m.id: m for m in result.marks}
    assert [m.id for m in result.marks if not m.ok] == ["client-port", "syn-mss"]
    assert "more than one value" in marks["syn-mss"].reason


def test_nothing_a_student_reads_holds_the_key(run_dir: Path, teacher_lab: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    server_port = _server_port(run_dir)
    wrong = {"syn-seq": 0, "synack-ack": 1, "client-port": server_port, "syn-mss": 1500}
    result = grade(run_dir, wrong, teacher_lab)
    keys = [m.expected for m in result.marks]
    assert len(keys) == 4 and all(k is not None for k in keys)
    answers = str(_write(run_dir, wrong))
    assert main(["check", "--lab", str(teacher_lab), str(run_dir), answers]) == 1
    assert main(["check", "--json", "--lab", str(teacher_lab), str(run_dir), answers]) == 1
    out, err = capsys.readouterr()
    student_sees = [result.summary(), result.feedback(), json.dumps(result.to_json()), out, err]
    for text in student_sees:
        for k in keys:
            assert str(k) not in text and hex(k) not in text, (k, text)
    assert json.dumps(result.to_json(key=True)).count("expected") == 4  # the teacher's table has it
    # and the classic mistakes got their hints
    marks = {m.id: m for m in result.marks}
    assert "relative sequence number" in marks["syn-seq"].hints[0]
    assert "other end" in marks["client-port"].hints[0]
    assert not marks["syn-mss"].hints or "headers" in marks["syn-mss"].hints[0]


def _server_port(run: Path) -> int:
    packets = [json.loads(line) for line in (run / "packets.jsonl").read_text().splitlines()]
    return next(p for p in packets if p["role"]["code"] == "syn")["tcp"]["dport"]


def _write(run: Path, answers: dict) -> Path:
    path = run.parent / "answers.yaml"
    path.write_text(yaml.safe_dump(answers))
    return path


def test_the_run_copy_of_the_lab_file_is_never_the_key(run_dir: Path, teacher_lab: Path) -> None:
    """Deleting the questions from the run's own lab.yaml gave '0/0 correct' and exit 0: no longer."""
    spec = yaml.safe_load((run_dir / "lab.yaml").read_text())
    spec["questions"] = []
    (run_dir / "lab.yaml").write_text(yaml.safe_dump(spec))
    result = grade(run_dir, {}, teacher_lab)
    assert result.total == 4 and result.correct == 0 and not result.all_correct
    assert any(f.startswith("lab.yaml: changed after the run") for f in result.flags), result.flags


@pytest.mark.parametrize(
    ("tamper", "flag"),
    [
        (lambda r: (r / "traces" / "extra.jsonl").write_text(""), "traces/extra.jsonl: added after the run"),
        (lambda r: _flip_last_byte(r / "capture.pcapng"), "capture.pcapng: changed after the run"),
        (lambda r: next((r / "traces").iterdir()).unlink(), "traces/calls-h"),
        (lambda r: (r / "lab.yaml").write_text("name: x\n"), "lab.yaml: changed after the run"),
    ],
    ids=["added-log", "capture", "deleted-log", "lab-file"],
)
def test_tampered_evidence_is_flagged(run_dir: Path, teacher_lab: Path, tamper, flag: str) -> None:  # noqa: ANN001
    tamper(run_dir)
    result = grade(run_dir, right_answers(DATA / "tcp-echo"), teacher_lab)
    assert any(f.startswith(flag) for f in result.flags), result.flags
    assert not result.all_correct  # right answers, but a run that cannot be trusted as it is


def test_changed_derived_files_are_reported_not_held_against(run_dir: Path, teacher_lab: Path) -> None:
    """report.json or packets.jsonl are never read by grading: a change is noted, the grade stands."""
    (run_dir / "report.json").write_text('{"answers": "forged"}')
    (run_dir / "packets.jsonl").unlink()
    result = grade(run_dir, right_answers(DATA / "tcp-echo"), teacher_lab)
    assert result.all_correct and not result.flags
    assert result.notes == (
        "packets.jsonl: missing (listed in the manifest) -- a derived file, not used for grading",
        "report.json: changed after the run (its SHA-256 differs from the manifest) -- a derived file, not "
        "used for grading",
    )
    assert "NOTE    report.json: changed after the run" in result.summary()


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_call_logs_that_disagree_with_the_capture_are_flagged(run_dir: Path, teacher_lab: Path) -> None:
    """A forged call log (and a manifest rewritten to match it) still disagrees with the wire."""
    from lab.classroom.manifest import run_files

    log = next((run_dir / "traces").glob("calls-h1-*.jsonl"))
    log.write_text(log.read_text().replace('"nbytes":10', '"nbytes":14'))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["files"] = run_files(run_dir)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    result = grade(run_dir, right_answers(DATA / "tcp-echo"), teacher_lab)
    assert [f for f in result.flags if "changed after the run" in f] == []
    disagree = [f for f in result.flags if f.startswith("capture and call logs disagree")]
    assert disagree and "the call logs say 14 bytes were sent, the capture carries 10" in disagree[0]


def test_a_different_lab_file_or_another_lab_is_flagged(run_dir: Path, teacher_lab: Path) -> None:
    teacher_lab.write_text(teacher_lab.read_text() + "\n# the teacher's newer version\n")
    result = grade(run_dir, right_answers(DATA / "tcp-echo"), teacher_lab)
    assert any("lab file differs from the teacher's" in f for f in result.flags)
    other = grade(DATA / "udp-echo", {}, teacher_lab)
    assert "this is a run of lab 'udp-echo', not of 'tcp-echo'" in other.flags


def test_a_question_without_a_key_is_a_lab_problem_named(run_dir: Path, tmp_path: Path) -> None:
    """udp_port with index 5 found nothing and the run said ok: now the question is named."""
    spec = yaml.safe_load((DATA / "tcp-echo" / "lab.yaml").read_text())
    spec["questions"].append({"id": "fifth-udp", "text": "Port of the 5th datagram?", "answer": "udp_port",
                              "index": 5})
    spec["questions"].append({"id": "why-rst", "text": "Why no RST?", "answer": "manual"})
    lab = tmp_path / "lab.yaml"
    lab.write_text(yaml.safe_dump(spec))
    result = grade(run_dir, {**right_answers(run_dir), "why-rst": "because close() drained"}, lab)
    assert result.problems == ("question 'fifth-udp': udp_port(index=5) found nothing in this capture "
                               "(check the question's parameters)",)
    marks = {m.id: m for m in result.marks}
    assert marks["fifth-udp"].status == "missing" and marks["why-rst"].status == "manual"
    assert marks["why-rst"].given == "because close() drained" and result.total == 5


def test_teacher_hints_and_mistakes(run_dir: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load((DATA / "tcp-echo" / "lab.yaml").read_text())
    q = next(q for q in spec["questions"] if q["id"] == "syn-mss")
    q.update(hint="Look at the SYN's options.", mistakes={1500: "1500 is the link MTU, not the MSS."})
    lab = tmp_path / "lab.yaml"
    lab.write_text(yaml.safe_dump(spec))
    result = grade(run_dir, {"syn-mss": "1500 bytes"}, lab)
    mark = next(m for m in result.marks if m.id == "syn-mss")
    assert mark.hints[0] == "1500 is the link MTU, not the MSS."
    assert mark.hints[-1] == "Look at the SYN's options."


def test_unknown_answer_ids_get_a_suggestion(run_dir: Path, teacher_lab: Path) -> None:
    result = grade(run_dir, {"SYN-SEQ": 1, "colour": "blue"}, teacher_lab)
    assert result.unknown == ("SYN-SEQ: not a question of this lab; did you mean 'syn-seq'?",
                              "colour: not a question of this lab")


def test_lab_check_cli(run_dir: Path, teacher_lab: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(run_dir, right_answers(run_dir))
    assert main(["check", "--lab", str(teacher_lab), str(run_dir), str(good)]) == 0
    assert "4/4 correct" in capsys.readouterr().out
    # without --lab: the shipped catalogue file is the teacher's, never the run's copy
    assert teacher_lab_of(None, read_manifest(run_dir)).source == lab_path("tcp-echo")
    _flip_last_byte(run_dir / "capture.pcapng")
    assert main(["check", "--lab", str(teacher_lab), str(run_dir), str(good)]) == 1
    assert "cannot be trusted as it is: capture.pcapng: changed after the run" in capsys.readouterr().err


def test_lab_check_bad_inputs(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text("- not a mapping\n")
    assert main(["check", str(run_dir), str(answers)]) == 2
    assert "answers must be a mapping" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "nope"), str(answers)]) == 2
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)))
    with pytest.raises(UsageError, match="answers: .*bomb.yaml"):
        grade(run_dir, bomb)
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(UsageError, match="answers: .*deep.yaml"):
        grade(run_dir, deep)
    (run_dir / "manifest.json").unlink()
    with pytest.raises(UsageError, match="no manifest.json"):
        grade(run_dir, {})


def test_a_users_own_lab_needs_the_teachers_file(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["lab"] = "my-own-lab"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert read_manifest(run_dir).lab == "my-own-lab"
    with pytest.raises(UsageError, match="pass --lab LAB.yaml"):
        grade(run_dir, {})


def test_same_keeps_its_meaning() -> None:
    assert same(1460, "1460 bytes") and not same(1460, "1460 or 1448")
