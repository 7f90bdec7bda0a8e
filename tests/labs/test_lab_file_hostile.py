"""Hostile lab files: each refused in one line naming the file (and its line when known), key and problem;
the lab name can never put a run outside captures/."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lab.cli.main import main
from lab.errors import UsageError
from lab.labs.spec import load_lab
from tests.helpers.labfiles import MINIMAL
from tests.helpers.yamlbombs import alias_bomb
from tests.helpers.yamlkeys import yaml_line


def step(**change: object) -> dict:
    data = copy.deepcopy(MINIMAL)
    data["steps"][1].update(change)
    return data


HOSTILE = [
    ("bomb", alias_bomb(), "YAML bomb"),
    ("deep", "name: x\nsteps: " + "[" * 1000 + "]" * 1000 + "\n", "nest"),
    ("name-absolute", dict(MINIMAL, name="/tmp/evil"), "name: '/tmp/evil' is not a name"),
    ("name-dotdot", dict(MINIMAL, name="../../.."), "is not a name"),
    ("name-newline", dict(MINIMAL, name="tcp\necho"), "is not a name"),
    ("name-slash", dict(MINIMAL, name="a/b"), "is not a name"),
    ("name-too-long", dict(MINIMAL, name="x" * 65), "is not a name"),
    ("step-name-newline", step(name="client\n"), "is not a name"),
    ("node-newline", step(node="h1\n"), "is not a node name"),
    ("argv-nul", step(run=["python3", "a\0b"]), "argument 2 contains a NUL character"),
    ("format-spec", step(run=["echo", "{labdir:>9999999999}"]), "has a conversion or format spec"),
    ("conversion", step(run=["echo", "{labdir!r}"]), "has a conversion or format spec"),
    ("attribute", step(run=["echo", "{labdir.__class__}"]), "unknown placeholder"),
    ("index-twice", step(run=["echo", "{ip[h1][0]}"]), "needs a node"),
    ("argv-bool", step(run=["echo", True]), "steps.2.run: must be a non-empty argv list"),
    ("timeout-nan", step(timeout=float("nan")), "steps.2.timeout: must be a positive number"),
    ("timeout-inf", step(timeout=float("inf")), "steps.2.timeout: must be a positive number"),
    ("timeout-huge", step(timeout=10**400), "steps.2.timeout: must be a positive number"),
    ("expect-exit-huge", step(expect_exit=10**30), "steps.2.expect_exit: must be an integer or null"),
    ("question-id-slash", dict(MINIMAL, questions=[{"id": "a/b", "text": "?", "answer": "syn_seq_raw"}]),
     "questions.1.id: 'a/b' is not a name"),
]


def _text(data: object) -> str:
    if isinstance(data, str):
        return data
    # JSON is YAML: it spells NaN, Infinity and huge integers the way the tests need (.nan would be YAML's)
    return json.dumps(data).replace("NaN", ".nan").replace("Infinity", ".inf")


@pytest.mark.parametrize(("data", "message"), [(d, m) for _, d, m in HOSTILE], ids=[i for i, _, _ in HOSTILE])
def test_hostile_lab_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: object,
                                      message: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(_text(data))
    with pytest.raises(UsageError) as err:
        load_lab(path)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text, text
    # and through the CLI: one line on stderr, the usage exit code, nothing created
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == UsageError.exit_code
    err_out = capsys.readouterr().err.strip()
    assert "\n" not in err_out and "Traceback" not in err_out and str(path) in err_out, err_out
    assert not (tmp_path / "out").exists()


def test_step_errors_say_the_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.yaml"
    path.write_text(_text(step(timeout=-1)).replace(', "', ',\n "'))
    line = yaml_line(path.read_text(), "steps.2.timeout")
    assert line > 1  # the file is spread over lines, so that the line says something
    with pytest.raises(UsageError, match=rf"^{path}:{line}: steps\.2\.timeout: must be a positive number"):
        load_lab(path)


def test_yaml_1_1_booleans_do_not_pass_as_booleans(tmp_path: Path) -> None:
    path = tmp_path / "yes.yaml"
    path.write_text(_text(MINIMAL).replace('"background": true', '"background": yes'))
    with pytest.raises(UsageError,
                       match=r"yes.yaml:\d+: steps\.1\.background: must be true or false, not 'yes'$"):
        load_lab(path)


@pytest.mark.parametrize(("content", "message"), [(b"\xff\xfe\x00binary", "not UTF-8"),
                                                  (b"{not json", "not JSON"), (b"", "not JSON")])
def test_show_json_on_a_damaged_report_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   content: bytes, message: str) -> None:
    (tmp_path / "report.json").write_bytes(content)
    assert main(["show", str(tmp_path), "--json"]) == UsageError.exit_code
    err = capsys.readouterr().err.strip()
    assert message in err and "report.json" in err and "\n" not in err and "Traceback" not in err, err


def test_a_fifo_lab_file_and_a_bomb_of_answers_are_one_line(tmp_path: Path) -> None:
    import os

    from lab.labs.grading import read_answers

    os.mkfifo(tmp_path / "lab.yaml")
    with pytest.raises(UsageError, match=r"not a regular file \(a FIFO\)"):
        load_lab(tmp_path / "lab.yaml")
    answers = tmp_path / "answers.yaml"
    answers.write_text(alias_bomb())
    with pytest.raises(UsageError, match="YAML bomb") as err:
        read_answers(answers)
    assert "\n" not in str(err.value) and str(answers) in str(err.value)
    answers.write_text("q1: yes\nq2: 3\n")
    assert read_answers(answers) == {"q1": "yes", "q2": 3}  # YAML 1.2: an answer "yes" stays the word
