"""Benchmark: `lab grade` over a class of 30 bundles -- unpack, re-analyze the raw evidence, mark.

The bundles are made from the recorded tcp-echo run of the test data (``tests/classroom/data``), one per
student id, as ``lab submit`` writes them (so all share one capture: each is flagged as a copy, which
costs nothing extra). Timed: ``grade_folder`` + ``write_outputs`` (what ``lab grade``
does), the shortest of three runs, and per bundle.

Run: ``.venv/bin/python -m bench grade``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "tests" / "classroom" / "data" / "tcp-echo"
STUDENTS = 30


def _class_folder(tmp: Path) -> Path:
    from lab.classroom.bundle import submit

    subs = tmp / "hand-ins"
    subs.mkdir()
    answers = tmp / "answers.yaml"
    answers.write_text("syn-seq: 0\nsyn-mss: 1460 bytes\n")
    for i in range(STUDENTS):
        run = tmp / f"run{i}"
        shutil.copytree(RUN, run)
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["student"] = f"student{i:02d}"
        (run / "manifest.json").write_text(json.dumps(manifest))
        submit(run, answers, subs)
    return subs


def main() -> int:
    from lab.classroom.batch import grade_folder, write_outputs
    from lab.labs.spec import load_lab

    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        subs = _class_folder(Path(tmp))
        lab = load_lab(RUN / "lab.yaml")
        times = []
        for _ in range(3):
            start = time.perf_counter()
            graded = grade_folder(subs, lab)
            write_outputs(lab, graded, Path(tmp) / "grades")
            times.append(time.perf_counter() - start)
        # every bundle holds the same capture, so each is flagged as a copy: graded all the same
        assert len(graded) == STUDENTS and not [s.refused for s in graded if s.refused]
    best = min(times)
    print(f"lab grade: {STUDENTS} bundles in {best:.2f} s ({best / STUDENTS * 1000:.0f} ms per bundle, "
          f"best of 3)")
    return 0
