"""lab submit writes a bundle of raw evidence; unpacking one treats it as hostile input."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from lab.classroom import bundle as bundle_mod
from lab.classroom.batch import grade_bundle
from lab.classroom.bundle import unpack
from lab.cli.main import main
from lab.errors import UsageError
from lab.labs.spec import load_lab
from tests.helpers.submissions import (
    RECORDED_RUNS,
    evidence_members,
    hand_in,
    member,
    raw_bundle,
    right_answers,
    student_run,
)


@pytest.fixture
def teacher(tmp_path: Path) -> object:
    path = tmp_path / "teacher" / "tcp-echo.yaml"
    path.parent.mkdir()
    path.write_bytes((RECORDED_RUNS / "tcp-echo" / "lab.yaml").read_bytes())
    return load_lab(path)


def test_submit_bundles_the_raw_evidence_and_the_answers(tmp_path: Path, teacher) -> None:  # noqa: ANN001
    run = student_run(tmp_path, "carol")
    path = hand_in(tmp_path, run, right_answers(run), tmp_path / "out")
    assert path.name.startswith("carol-tcp-echo-") and path.name.endswith(".tar.gz")
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert names[:3] == ["manifest.json", "capture.pcapng", "lab.yaml"] and names[-1] == "answers.yaml"
    assert [n for n in names if n.startswith("traces/")] and "packets.jsonl" not in names
    sub = grade_bundle(path, teacher)
    assert sub.status == "graded" and sub.grade.all_correct and sub.student == "carol", sub.refused


def test_submit_cli_and_its_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = student_run(tmp_path, "dave")
    answers = tmp_path / "a.yaml"
    answers.write_text("syn-mss: 1460\n")
    assert main(["submit", str(run), "--answers", str(answers), "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert Path(out.strip()).is_file()
    assert "no answer to 'syn-seq'" in err
    answers.write_text("SYN-SEQ: 1\nsyn-mss: 1460\n")
    assert main(["submit", str(run), "--answers", str(answers), "--out", str(tmp_path / "again")]) == 2
    assert "output directory not found" in capsys.readouterr().err
    (tmp_path / "again").mkdir()
    assert main(["submit", str(run), "--answers", str(answers), "--out", str(tmp_path / "again")]) == 0
    assert "'SYN-SEQ' is not a question of this lab; did you mean 'syn-seq'?" in capsys.readouterr().err
    (run / "capture.pcapng").write_bytes(b"forged")
    assert main(["submit", str(run), "--answers", str(answers), "--out", str(tmp_path)]) == 2
    assert "evidence changed since it was made (capture.pcapng: changed" in capsys.readouterr().err
    anonymous = student_run(tmp_path, "x")
    manifest = (anonymous / "manifest.json").read_text().replace('"student": "x"', '"student": null')
    (anonymous / "manifest.json").write_text(manifest)
    assert main(["submit", str(anonymous), "--answers", str(answers)]) == 2
    assert "run the lab again with --student ID" in capsys.readouterr().err


def test_a_student_id_is_validated(tmp_path: Path) -> None:
    from lab.classroom.manifest import check_student

    assert check_student("alice.b-2@uni") == "alice.b-2@uni"
    for bad in ("../alice", "alice\n", "", "a" * 65, "-x", "al ice"):
        with pytest.raises(UsageError, match="invalid student id"):
            check_student(bad)


LINK = tarfile.SYMTYPE
HOSTILE = [
    ("absolute", lambda ev: [member("/etc/passwd", b"x"), *ev], "escapes the bundle"),
    ("dotdot", lambda ev: [member("traces/../../x", b"x"), *ev], "escapes the bundle"),
    ("symlink", lambda ev: [member("traces/calls-x.jsonl", type=LINK, linkname="/etc/shadow"), *ev],
     "is a link"),
    ("hardlink", lambda ev: [member("traces/h", type=tarfile.LNKTYPE, linkname="manifest.json"), *ev],
     "is a link"),
    ("device", lambda ev: [member("traces/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3), *ev],
     "is a device"),
    ("fifo", lambda ev: [member("traces/fifo", type=tarfile.FIFOTYPE), *ev], "is a FIFO"),
    ("directory", lambda ev: [member("traces", type=tarfile.DIRTYPE), *ev], "is a directory"),
    ("foreign", lambda ev: [*ev, member("lab_functions.py", b"import os\n")], "not part of a lab bundle"),
    ("too-deep", lambda ev: [*ev, member("traces/py/a/calls-h1-1.jsonl", b"")], "not part of a lab bundle"),
    ("duplicate", lambda ev: [*ev, ev[0]], "appears twice"),
    ("missing", lambda ev: ev[1:], "missing manifest.json"),
    ("no-traces", lambda ev: [m for m in ev if not m[0].name.startswith("traces/")], "no call logs"),
]


@pytest.mark.parametrize(("case", "build", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bundles_are_refused_with_one_line(tmp_path: Path, teacher, case: str, build,  # noqa: ANN001
                                                   message: str) -> None:
    path = raw_bundle(tmp_path / f"{case}.tar.gz", build(evidence_members(RECORDED_RUNS / "tcp-echo")))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UsageError) as err:
        unpack(path, dest)
    assert message in str(err.value) and path.name in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "x").exists() and not any(p.is_symlink() for p in dest.rglob("*"))
    sub = grade_bundle(path, teacher)
    assert sub.status == "refused" and message in sub.refused


def test_oversized_and_too_many_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ev = evidence_members(RECORDED_RUNS / "tcp-echo")
    monkeypatch.setattr(bundle_mod, "MAX_TEXT_BYTES", 1000)
    big = raw_bundle(tmp_path / "big.tar.gz", ev)  # the manifest is over 1000 bytes
    (tmp_path / "d1").mkdir()
    with pytest.raises(UsageError, match="member manifest.json is larger than"):
        unpack(big, tmp_path / "d1")
    monkeypatch.setattr(bundle_mod, "MAX_TEXT_BYTES", 16 << 20)
    monkeypatch.setattr(bundle_mod, "MAX_MEMBERS", 5)
    many = raw_bundle(tmp_path / "many.tar.gz", ev + [member(f"traces/x{i}", b"") for i in range(5)])
    (tmp_path / "d2").mkdir()
    with pytest.raises(UsageError, match="more than 5 members"):
        unpack(many, tmp_path / "d2")


def test_garbage_and_hostile_contents(tmp_path: Path, teacher) -> None:  # noqa: ANN001
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 10)
    assert "not a readable tar.gz bundle" in grade_bundle(junk, teacher).refused
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [".encode() + b", ".join([f"*{chr(97 + i)}".encode()] * 10) + b"]\n"
        for i in range(8))
    path = raw_bundle(tmp_path / "bomb.tar.gz", evidence_members(RECORDED_RUNS / "tcp-echo", answers=bomb))
    assert "answers.yaml in the bundle" in grade_bundle(path, teacher).refused
    ev = evidence_members(RECORDED_RUNS / "tcp-echo")
    forged = [member("manifest.json", b'{"format": "lab-run-manifest/1", "files": 3}'), *ev[1:]]
    path = raw_bundle(tmp_path / "manifest.tar.gz", forged)
    assert "'files' must map each file" in grade_bundle(path, teacher).refused
    lying = [member("capture.pcapng", b"\n\r\r\n" + b"\0" * 60) if m[0].name == "capture.pcapng" else m
             for m in ev]
    sub = grade_bundle(raw_bundle(tmp_path / "cap.tar.gz", lying), teacher)
    assert sub.status in ("refused", "flagged")
    assert sub.refused or any("capture.pcapng: changed" in f for f in sub.grade.flags)


@pytest.mark.parametrize(
    ("case", "log"),
    [
        ("deep-json", b"[" * 100_000 + b"]" * 100_000 + b"\n"),
        ("not-records", b'{"id": 1, "call": 5, "t_start_ns": "soon", "local": {"x": 1}}\n'),
        ("binary", bytes(range(256)) * 10),
    ],
)
def test_hostile_call_logs_are_refused_or_flagged_never_a_traceback(tmp_path: Path, teacher,  # noqa: ANN001
                                                                    case: str, log: bytes) -> None:
    ev = [m for m in evidence_members(RECORDED_RUNS / "tcp-echo") if not m[0].name.startswith("traces/")]
    path = raw_bundle(tmp_path / f"{case}.tar.gz", [*ev, member("traces/calls-h1-1.jsonl", log)])
    sub = grade_bundle(path, teacher)
    assert sub.status in ("refused", "flagged"), sub
    assert sub.refused or any("added after the run" in f for f in sub.grade.flags)


def test_a_deeply_nested_manifest_is_refused(tmp_path: Path, teacher) -> None:  # noqa: ANN001
    ev = evidence_members(RECORDED_RUNS / "tcp-echo")
    deep = [member("manifest.json", b"[" * 200_000 + b"]" * 200_000), *ev[1:]]
    sub = grade_bundle(raw_bundle(tmp_path / "deep.tar.gz", deep), teacher)
    assert sub.status == "refused" and "manifest" in sub.refused
