"""lab grade over a folder of generated submissions: right, wrong, hedged, tampered, another lab, junk."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from lab.cli.main import main
from tests.classroom.bundles import DATA, evidence_members, hand_in, raw_bundle, right_answers, student_run


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    subs = tmp_path / "hand-ins"
    good = right_answers(DATA / "tcp-echo")
    hand_in(tmp_path, student_run(tmp_path, "ann"), good, subs)
    hedged = {**good, "syn-seq": 0, "client-port": "1460 or 1448"}
    hand_in(tmp_path, student_run(tmp_path, "ben"), hedged, subs)
    hand_in(tmp_path, student_run(tmp_path, "cat"), {"syn-mss": "MSS=1460 (1500-40)"}, subs)
    hand_in(tmp_path, student_run(tmp_path, "dan", "udp-echo"), good, subs)  # ran another lab
    # eve edits her capture after the run and packs the bundle herself (lab submit would refuse)
    eve = student_run(tmp_path, "eve")
    data = bytearray((eve / "capture.pcapng").read_bytes())
    data[-8] ^= 0x01
    (eve / "capture.pcapng").write_bytes(bytes(data))
    raw_bundle(subs / "eve-tcp-echo.tar.gz", evidence_members(eve, answers=json.dumps(good).encode()))
    (subs / "junk.tar.gz").write_bytes(b"not a bundle")
    return subs


@pytest.fixture
def teacher(tmp_path: Path) -> Path:
    path = tmp_path / "teacher" / "tcp-echo.yaml"
    path.parent.mkdir()
    shutil.copyfile(DATA / "tcp-echo" / "lab.yaml", path)
    return path


def test_lab_grade_writes_the_table_and_feedback(folder: Path, teacher: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = folder.parent / "grades"
    assert main(["grade", "--lab", str(teacher), str(folder), "--out", str(out)]) == 1
    said, err = capsys.readouterr()
    assert said.strip() == (f"tcp-echo: 6 bundle(s): 3 graded, 2 flagged, 1 refused; mean 2.2/4; "
                            f"outputs in {out}")
    assert "3 of 6 bundle(s) need the teacher's attention" in err
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert len(rows) == 6
    assert (rows["ann"]["status"], rows["ann"]["score"]) == ("graded", "4")
    assert (rows["ben"]["score"], rows["ben"]["syn-seq"], rows["ben"]["client-port"]) == ("2", "0", "0")
    assert (rows["cat"]["score"], rows["cat"]["syn-mss"], rows["cat"]["syn-seq"]) == ("1", "1", "missing")
    assert rows["dan"]["status"] == "flagged" and "run of lab 'udp-echo'" in rows["dan"]["flags"]
    assert rows["eve"]["status"] == "flagged"
    assert "capture.pcapng: changed after the run" in rows["eve"]["flags"]
    assert rows["junk"]["status"] == "refused" and "not a readable tar.gz" in rows["junk"]["flags"]
    doc = json.loads((out / "grades.json").read_text())
    ann = next(s for s in doc["submissions"] if s["student"] == "ann")
    assert all(m["expected"] is not None for m in ann["marks"])  # the teacher's table holds the key
    # one feedback file per student, with hints and never the key
    files = sorted(p.stem for p in (out / "feedback").iterdir())
    assert files == ["ann", "ben", "cat", "dan", "eve", "junk"]
    ben = (out / "feedback" / "ben.md").read_text()
    assert "relative sequence number" in ben and "names more than one value" in ben
    given = {s["student"]: json.dumps([m.get("given") for m in s.get("marks", [])])
             for s in doc["submissions"]}
    checked = 0
    for m in ann["marks"]:  # every run here is a copy of one capture: one key for all
        for name in files:
            if str(m["expected"]) in given.get(name, ""):
                continue  # the student's own (right) answer, repeated back to them
            assert str(m["expected"]) not in (out / "feedback" / f"{name}.md").read_text(), (name, m)
            checked += 1
    assert checked >= 8  # ben (2 wrong), cat (3 unanswered), junk (4): the key never shown
    assert "could not be graded" in (out / "feedback" / "junk.md").read_text()


def test_lab_grade_json_and_bad_folders(folder: Path, teacher: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", "--lab", str(teacher), str(folder), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["lab"] == "tcp-echo" and len(doc["submissions"]) == 6
    assert (folder / "grades" / "grades.csv").is_file()  # the default output directory
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["grade", "--lab", str(teacher), str(empty)]) == 2
    assert "no bundles" in capsys.readouterr().err
    assert main(["grade", "--lab", str(teacher), str(tmp_path / "nope")]) == 2
