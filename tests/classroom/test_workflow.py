"""The class workflow for real: students run a lab (namespaces, capture, tracing), submit bundles, the teacher
grades the folder; a lab's own functions module and a question that finds nothing, on real runs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from lab.cli.main import main
from lab.labs.grading import grade
from lab.labs.spec import lab_path, load_lab
from tests.helpers.answerkey import assert_no_key_in_outputs

runner = pytest.importorskip("lab.runner")

FUNCTIONS = '''
from lab.labs import evidence as ev


def syn_window(packets, calls, port=None):
    """The TCP window of the client's first SYN."""
    syn = ev.first(packets, lambda p: ev.is_syn(p) and (port is None or ev.tcp(p)["dport"] == port))
    return int(syn["tcp"]["win"]) if syn else None


def one_syn(packets, calls):
    n = len({ev.conn_key(p) for p in packets if ev.is_syn(p)})
    return n == 1, f"{n} connection(s) opened"


ANSWERS = {"syn_window": syn_window}
CHECKS = {"one_syn": one_syn}
'''


def _teacher_lab(tmp: Path, extra_questions: list[dict], functions: str | None = None) -> Path:
    raw = yaml.safe_load(lab_path("tcp-echo").read_text())
    raw["questions"] += extra_questions
    if functions:
        (tmp / "extra.py").write_text(functions)
        raw["functions"] = "extra.py"
        raw["observations"].append({"check": "one_syn"})
    path = tmp / "tcp-echo.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.root
def test_run_submit_grade_for_real(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lab = _teacher_lab(tmp_path, [{"id": "syn-window", "text": "The SYN's window?", "answer": "syn_window"},
                                  {"id": "why", "text": "Why?", "answer": "manual"}], FUNCTIONS)
    subs = tmp_path / "hand-ins"
    subs.mkdir()
    monkeypatch.chdir(tmp_path)
    for student in ("s1", "s2"):
        out = tmp_path / f"run-{student}"
        assert main(["run", str(lab), "--student", student, "--out", str(out), "-q", "--json"]) == 0
        printed = capsys.readouterr().out
        report = json.loads(printed)
        key = {m.id: m.expected for m in grade(out, {}, lab).marks if m.expected is not None}
        assert len(key) == 5 and assert_no_key_in_outputs(out, key, printed=printed) >= 4
        assert "answers" not in report
        assert [q["id"] for q in report["questions"]][-2:] == ["syn-window", "why"]
        packets = [json.loads(line) for line in (out / "packets.jsonl").read_text().splitlines()]
        syn = next(p for p in packets if p["role"]["code"] == "syn")
        answers = {"syn-seq": syn["tcp"]["seq_raw"], "synack-ack": syn["tcp"]["seq_raw"] + 1,
                   "client-port": syn["tcp"]["sport"], "syn-mss": "1460 bytes",
                   "syn-window": syn["tcp"]["win"] if student == "s1" else "64240 or 65495", "why": "because"}
        (tmp_path / f"{student}.yaml").write_text(yaml.safe_dump(answers))
        answers_file = str(tmp_path / f"{student}.yaml")
        assert main(["submit", str(out), "--answers", answers_file, "--out", str(subs)]) == 0
        assert Path(capsys.readouterr().out.strip()).parent == subs
    assert main(["grade", "--lab", str(lab), str(subs)]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith("tcp-echo: 2 bundle(s): 2 graded, 0 flagged, 0 refused; mean 4.5/5"), summary
    rows = {r["student"]: r for r in csv.DictReader((subs / "grades" / "grades.csv").open())}
    assert (rows["s1"]["score"], rows["s1"]["syn-window"], rows["s1"]["why"]) == ("5", "1", "manual")
    assert (rows["s2"]["score"], rows["s2"]["syn-window"]) == ("4", "0")
    doc = json.loads((subs / "grades" / "grades.json").read_text())
    manual = [m for s in doc["submissions"] for m in s["marks"] if m["id"] == "why"]
    assert [m["given"] for m in manual] == ["because", "because"]  # collected for the teacher


@pytest.mark.root
def test_a_question_that_finds_nothing_fails_the_run(tmp_path: Path) -> None:
    lab = _teacher_lab(tmp_path, [{"id": "fifth-udp", "text": "?", "answer": "udp_port", "index": 5}])
    result = runner.run_lab(load_lab(lab), tmp_path / "run")
    assert [(f.kind, f.text) for f in result.failures] == [
        ("question", "question 'fifth-udp': udp_port(index=5) found nothing in this capture "
                     "(check the question's parameters)")]
    assert not result.report["ok"]
    graded = grade(tmp_path / "run", {}, lab)
    assert graded.problems and "fifth-udp" in graded.problems[0] and not graded.all_correct


def test_a_partial_run_is_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run marked partial (RunPaths.mark_partial) is flagged by grade() and refused by lab check."""
    from lab.paths import RunPaths

    run = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "data" / "tcp-echo", run)
    RunPaths(run).mark_partial("interrupted by SIGINT during the capture")
    graded = grade(run, {}, load_lab(run / "lab.yaml"))
    assert "partial run: interrupted by SIGINT during the capture" in graded.flags and not graded.all_correct
    answers = tmp_path / "a.yaml"
    answers.write_text("syn-mss: 1460\n")
    assert main(["check", "--lab", str(run / "lab.yaml"), str(run), str(answers)]) == 2
    assert "is a partial run (interrupted by SIGINT during the capture)" in capsys.readouterr().err
