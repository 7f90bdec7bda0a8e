"""lab grade over a folder of generated submissions: right, wrong, hedged, tampered, another lab, junk."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from lab.cli.main import main
from tests.helpers.submissions import (
    CLASS,
    class_run,
    evidence_members,
    hand_in,
    raw_bundle,
    right_answers,
    student_run,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Real runs of four students, each with its own capture, and the usual trouble."""
    subs = tmp_path / "hand-ins"
    runs = {s: class_run(tmp_path, s) for s in ("ann", "ben", "cat", "eve")}
    hand_in(tmp_path, runs["ann"], right_answers(runs["ann"]), subs)
    hedged = {**right_answers(runs["ben"]), "syn-seq": 0, "client-port": "1460 or 1448"}
    hand_in(tmp_path, runs["ben"], hedged, subs)
    hand_in(tmp_path, runs["cat"], {"syn-mss": "MSS=1460 (1500-40)"}, subs)
    hand_in(tmp_path, student_run(tmp_path, "dan", "udp-echo"), right_answers(runs["ann"]), subs)  # other lab
    # eve edits her capture after the run and packs the bundle herself (lab submit would refuse)
    eve = runs["eve"]
    data = bytearray((eve / "capture.pcapng").read_bytes())
    data[-8] ^= 0x01
    (eve / "capture.pcapng").write_bytes(bytes(data))
    eve_answers = json.dumps(right_answers(eve)).encode()
    raw_bundle(subs / "eve-tcp-echo.tar.gz", evidence_members(eve, answers=eve_answers))
    # fay hands in ann's run with her own id written into its manifest (the manifest is not signed)
    (tmp_path / "fay").mkdir()
    fay = class_run(tmp_path / "fay", "ann")
    manifest = json.loads((fay / "manifest.json").read_text())
    (fay / "manifest.json").write_text(json.dumps({**manifest, "student": "fay"}))
    hand_in(tmp_path, fay, right_answers(fay), subs)
    (subs / "junk.tar.gz").write_bytes(b"not a bundle")
    return subs


@pytest.fixture
def teacher(tmp_path: Path) -> Path:
    path = tmp_path / "teacher" / "tcp-echo.yaml"
    path.parent.mkdir()
    shutil.copyfile(CLASS / "ann" / "lab.yaml", path)
    return path


def test_lab_grade_writes_the_table_and_feedback(folder: Path, teacher: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = folder.parent / "grades"
    assert main(["grade", "--lab", str(teacher), str(folder), "--out", str(out)]) == 1
    said, err = capsys.readouterr()
    assert said.strip() == (f"tcp-echo: 7 bundle(s): 2 graded, 4 flagged, 1 refused; mean 2.5/4; "
                            f"outputs in {out}")
    assert "5 of 7 bundle(s) need the teacher's attention" in err
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert sorted(rows) == ["ann", "ben", "cat", "dan", "eve", "fay", "junk"]
    assert (rows["ben"]["status"], rows["ben"]["score"]) == ("graded", "2")
    ben_cells = (rows["ben"]["syn-seq"], rows["ben"]["client-port"], rows["ben"]["why-synack-ack"])
    assert ben_cells == ("0", "0", "manual")
    assert (rows["cat"]["score"], rows["cat"]["syn-mss"], rows["cat"]["syn-seq"]) == ("1", "1", "missing")
    assert rows["dan"]["status"] == "flagged" and "run of lab 'udp-echo'" in rows["dan"]["flags"]
    assert rows["eve"]["status"] == "flagged"
    assert "capture.pcapng: changed after the run" in rows["eve"]["flags"]
    for copier, source in (("ann", "fay"), ("fay", "ann")):  # who copied whom is the teacher's to find out
        assert (rows[copier]["status"], rows[copier]["score"]) == ("flagged", "4")
        assert f"the same capture (byte for byte) as the bundle of {source}" in rows[copier]["flags"]
    assert rows["junk"]["status"] == "refused" and "not a readable tar.gz" in rows["junk"]["flags"]
    doc = json.loads((out / "grades.json").read_text())
    graded = [s for s in doc["submissions"] if s.get("marks")]
    assert all(m["expected"] is not None for m in graded[0]["marks"] if m["status"] != "manual")
    # one feedback file per student, with hints, never the key (unless it is the student's own answer)
    files = sorted(p.stem for p in (out / "feedback").iterdir())
    assert files == ["ann", "ben", "cat", "dan", "eve", "fay", "junk"]
    ben = (out / "feedback" / "ben.md").read_text()
    assert "relative sequence number" in ben and "names more than one value" in ben
    checked = 0
    for sub in graded:
        given = json.dumps([m.get("given") for m in sub["marks"]])
        text = (out / "feedback" / f"{sub['student']}.md").read_text()
        for m in sub["marks"]:
            if m["expected"] is None or str(m["expected"]) in given:
                continue
            assert str(m["expected"]) not in text, (sub["student"], m)
            checked += 1
    assert checked >= 5  # ben (2 wrong), cat (3 unanswered)
    assert "could not be graded" in (out / "feedback" / "junk.md").read_text()


def test_lab_grade_json_and_bad_folders(folder: Path, teacher: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", "--lab", str(teacher), str(folder), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["lab"] == "tcp-echo" and len(doc["submissions"]) == 7
    assert (folder / "grades" / "grades.csv").is_file()  # the default output directory
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["grade", "--lab", str(teacher), str(empty)]) == 2
    assert "no bundles" in capsys.readouterr().err
    assert main(["grade", "--lab", str(teacher), str(tmp_path / "nope")]) == 2
