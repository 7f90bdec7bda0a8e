"""The pytest plugin as a teacher uses it: a ten-line grading suite run over a folder of bundles."""

from __future__ import annotations

import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.helpers.submissions import CLASS, class_run, hand_in, right_answers, student_run

pytest_plugins = ["pytester"]

SUITE = '''
def test_evidence_is_consistent(submission):
    assert submission.status == "graded", submission.refused or submission.grade.flags

def test_answer(lab_answer):
    assert lab_answer.ok, lab_answer.feedback

def test_the_run_is_there(lab_run, teacher_lab):
    assert (lab_run / "capture.pcapng").is_file() and teacher_lab.name == "tcp-echo"
'''


def test_the_plugin_is_registered_as_pytest11() -> None:
    found = [e for e in entry_points(group="pytest11") if e.value == "lab.classroom.pytest_plugin"]
    assert found, "pip install -e . (make setup) registers the pytest11 entry point from pyproject.toml"


@pytest.fixture
def classroom(tmp_path: Path) -> tuple[Path, Path]:
    subs = tmp_path / "hand-ins"
    ann, ben = class_run(tmp_path, "ann"), class_run(tmp_path, "ben")
    hand_in(tmp_path, ann, right_answers(ann), subs)
    hand_in(tmp_path, ben, {**right_answers(ben), "syn-mss": "1460 or 1448"}, subs)
    hand_in(tmp_path, student_run(tmp_path, "dan", "udp-echo"), right_answers(ann), subs)
    lab = tmp_path / "tcp-echo.yaml"
    shutil.copyfile(CLASS / "ann" / "lab.yaml", lab)
    return lab, subs


def test_a_teachers_suite_gets_one_test_per_question_per_student(
    pytester: pytest.Pytester, classroom: tuple[Path, Path]
) -> None:
    lab, subs = classroom
    pytester.makepyfile(test_grades=SUITE)
    result = pytester.runpytest_subprocess("--lab-file", str(lab), "--submissions", str(subs), "-v")
    # 3 students x (1 evidence + 5 questions + 1 run) = 21 tests; the free-text question is skipped
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed", 0), outcomes.get("failed", 0), outcomes.get("skipped", 0)) == (12, 6, 3)
    for line in (
        "*test_evidence_is_consistent?ann? PASSED*",
        "*test_answer?ann-syn-seq? PASSED*",
        "*test_answer?ben-syn-mss? FAILED*",
        "*test_answer?ben-syn-seq? PASSED*",
        "*test_answer?dan-udp-echo-syn-seq? FAILED*",
        "*test_evidence_is_consistent?dan-udp-echo? FAILED*",
    ):
        result.stdout.fnmatch_lines([line])
    # failed: ben's hedge; dan's bundle (another lab) and its 4 answers
    result.stdout.fnmatch_lines(["*names more than one value*", "*run of lab 'udp-echo'*"])
    # pytest prints the failing Answer (its repr): the key is not in it (ben's wrong MSS would show it)
    text = result.stdout.str()
    assert "ben:  WRONG   syn-mss: given '1460 or 1448'" in text and "expected" not in text


def test_without_its_options_the_plugin_says_what_to_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_grades=SUITE)
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    said = result.stdout.str() + result.stderr.str()
    assert "lab grading: pass --submissions (or set lab_submissions in the ini file)" in said


def test_an_unrelated_suite_is_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    assert pytester.runpytest_subprocess().parseoutcomes() == {"passed": 1}
