"""Grading answers against the run's own capture: tolerant comparison, `lab check`, teacher API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab.cli.main import main
from lab.errors import UsageError
from lab.labs.grading import grade, same

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("expected", "given"),
    [
        (1460, 1460),
        (1460, "1460"),
        (1460, " 1460 bytes"),
        (31, "0x1f"),
        (31, "0X1F"),
        (3735928559, "deadbeef"),
        ("server", "Server"),
        ("server", " the SERVER. "),
        ([64, 63, 62], "64, 63, 62"),
        ([64, 63], [64, "63"]),
        ([0, 1256, 1480], "[0 1256 1480]"),
        (True, "yes"),
        (False, "no"),
        (0.5, "0.5004"),
    ],
)
def test_same_is_tolerant(expected: object, given: object) -> None:
    assert same(expected, given)


@pytest.mark.parametrize(
    ("expected", "given"),
    [
        (1460, 1461),
        (1460, "fourteen sixty"),
        (74565, "12345"),
        ("server", "client"),
        ([64, 63], "64"),
        ([64, 63], "63, 64"),
        (True, "maybe"),
        (1460, None),
        (1460, True),
    ],
)
def test_same_rejects_wrong_answers(expected: object, given: object) -> None:
    assert not same(expected, given)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(DATA / "tcp-echo", target)
    return target


def right_answers(run: Path) -> dict:
    packets = [json.loads(line) for line in (run / "packets.jsonl").read_text().splitlines()]
    syn = next(p for p in packets if p["role"]["code"] == "syn")
    return {
        "syn-seq": hex(syn["tcp"]["seq_raw"]),
        "synack-ack": syn["tcp"]["seq_raw"] + 1,
        "client-port": str(syn["tcp"]["sport"]),
        "syn-mss": "1460 bytes",
    }


def test_grade_api_for_teachers(run_dir: Path) -> None:
    result = grade(run_dir, right_answers(run_dir))
    assert result.all_correct, result.summary()
    wrong = {**right_answers(run_dir), "syn-mss": 1400, "colour": "blue"}
    del wrong["client-port"]
    result = grade(run_dir, wrong)
    marks = {m.id: m for m in result.marks}
    assert not result.all_correct and result.correct == 2
    assert marks["syn-mss"].expected == 1460 and not marks["syn-mss"].ok
    assert marks["client-port"].reason == "no answer given"
    assert result.unknown == ("colour",)
    text = result.summary()
    assert "MISSING client-port: no answer given (capture says" in text and "given None" not in text
    assert "WRONG   syn-mss: given 1400, capture says 1460" in text


def test_lab_check_cli(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("".join(f"{k}: {v!r}\n" for k, v in right_answers(run_dir).items()))
    assert main(["check", str(run_dir), str(good)]) == 0
    assert "4/4 correct" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**right_answers(run_dir), "syn-seq": 1}))
    assert main(["check", str(run_dir), str(bad), "--json"]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["correct"] == 3 and not report["all_correct"]
    assert err.strip() == "lab: 1 of 4 answers not correct"


def test_lab_check_bad_inputs(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text("- not a mapping\n")
    assert main(["check", str(run_dir), str(answers)]) == 2
    assert "answers must be a mapping" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "nope"), str(answers)]) == 2
    (run_dir / "packets.jsonl").write_text("{broken\n")
    with pytest.raises(UsageError, match="line 1: invalid JSON"):
        grade(run_dir, {})
    (run_dir / "lab.yaml").unlink()
    with pytest.raises(UsageError, match="no lab.yaml"):
        grade(run_dir, {})
