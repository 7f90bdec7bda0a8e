"""Student submissions for the classroom tests, made from recorded runs as honest students and others would.

The recorded runs (tests/classroom/data) are real ``lab run`` outputs, so bundling, grading and cheating
checks are tested on evidence a real capture produced, without root and without running a lab.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import yaml

from lab.classroom.bundle import submit

RECORDED_RUNS = Path(__file__).resolve().parent.parent / "classroom" / "data"  # one directory per lab


def student_run(tmp: Path, student: str, lab: str = "tcp-echo") -> Path:
    """A copy of a recorded run as if ``student`` had made it (the manifest names who ran it)."""
    run = tmp / f"run-{student}-{lab}"
    shutil.copytree(RECORDED_RUNS / lab, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["student"] = student
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return run


def hand_in(tmp: Path, run: Path, answers: dict[str, Any], out: Path) -> Path:
    """Write ``answers`` beside ``run`` and submit both: the bundle's path in ``out``."""
    path = tmp / f"answers-{run.name}.yaml"
    path.write_text(yaml.safe_dump(answers))
    out.mkdir(exist_ok=True)
    return submit(run, path, out)


def right_answers(run: Path) -> dict[str, Any]:
    """The tcp-echo key, read from the run's own SYN (what an honest student would answer)."""
    packets = [json.loads(line) for line in (run / "packets.jsonl").read_text().splitlines()]
    syn = next(p for p in packets if p["role"]["code"] == "syn")
    return {"syn-seq": syn["tcp"]["seq_raw"], "synack-ack": syn["tcp"]["seq_raw"] + 1,
            "client-port": syn["tcp"]["sport"], "syn-mss": 1460}


def raw_bundle(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A tar.gz written member by member, exactly as given (for hostile bundles)."""
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, data: bytes = b"", **attrs: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    """One tar member named ``name`` holding ``data``; ``attrs`` set any TarInfo field (type, mode, link)."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, (data if info.isreg() else None)


Member = tuple[tarfile.TarInfo, bytes | None]


def evidence_members(run: Path, answers: bytes = b"syn-mss: 1460\n") -> list[Member]:
    """The members of an honest bundle of ``run``."""
    names = ["manifest.json", "capture.pcapng", "lab.yaml"] + [
        p.relative_to(run).as_posix() for p in sorted((run / "traces").rglob("*")) if p.is_file()
    ]
    return [member(n, (run / n).read_bytes()) for n in names] + [member("answers.yaml", answers)]


CLASS = RECORDED_RUNS / "class"  # four real tcp-echo runs by ann, ben, cat and eve, raw evidence only


def class_run(tmp: Path, student: str) -> Path:
    """A copy of the recorded run of ``student`` (one of CLASS), each with its own capture."""
    run = tmp / f"run-{student}"
    shutil.copytree(CLASS / student, run)
    return run
