"""A pytest plugin: a teacher's grading suite that reads like tests (registered as ``pytest11``).

Options ``--lab-file LAB.yaml`` (the teacher's lab file) and ``--submissions DIR`` (a folder of bundles
from ``lab submit``), or the ini keys ``lab_file`` and ``lab_submissions``. Fixtures:

- ``teacher_lab``: the teacher's ``LabSpec``;
- ``submission``: one per bundle (parametrized, id = the bundle's student): ``.student``, ``.status``
  (graded / flagged / refused), ``.grade`` (``lab.labs.grading.Grade``), ``.refused`` (why);
- ``lab_run``: the unpacked run directory of that submission (raw evidence, for your own checks);
- ``lab_answer``: one per question per bundle (id ``student-question``): ``.ok``, ``.feedback`` (the
  verdict and hints, never the key), ``.mark``; a free-text (manual) question is skipped with its answer.

A grading suite::

    # test_grades.py -- run: pytest --lab-file tcp-echo.yaml --submissions hand-ins/
    def test_evidence_is_consistent(submission):
        assert submission.status == "graded", submission.refused or submission.grade.flags

    def test_answer(lab_answer):
        assert lab_answer.ok, lab_answer.feedback

The plugin is inert until one of its fixtures is used; bundles are unpacked once per session, with the
hostile-input rules of ``lab.classroom.bundle``, and nothing in them is run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.classroom.batch import Submission, bundles_in, grade_bundles
from lab.errors import LabError
from lab.labs.grading import Mark
from lab.labs.spec import LabSpec, load_lab


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab-classroom", "grading lab submissions (lab.classroom.pytest_plugin)")
    group.addoption("--lab-file", dest="lab_file", default=None, metavar="LAB.yaml",
                    help="the teacher's lab file to grade against")
    group.addoption("--submissions", dest="lab_submissions", default=None, metavar="DIR",
                    help="a folder of bundles written by `lab submit`")
    parser.addini("lab_file", "the teacher's lab file to grade against", default="")
    parser.addini("lab_submissions", "a folder of bundles written by `lab submit`", default="")


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(name) or config.getini(name)
    if not value:
        flag = {"lab_file": "--lab-file", "lab_submissions": "--submissions"}[name]
        raise pytest.UsageError(f"lab grading: pass {flag} (or set {name} in the ini file)")
    return str(value)


class Classroom:
    """The session's teacher lab and graded bundles, each graded once, on first use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._spec: LabSpec | None = None
        self._graded: dict[Path, Submission] = {}
        self.workdir: Path | None = None

    @property
    def spec(self) -> LabSpec:
        if self._spec is None:
            try:
                self._spec = load_lab(_setting(self.config, "lab_file"))
            except LabError as err:
                raise pytest.UsageError(f"lab grading: {err}") from None
        return self._spec

    def bundles(self) -> list[Path]:
        try:
            return bundles_in(Path(_setting(self.config, "lab_submissions")))
        except LabError as err:
            raise pytest.UsageError(f"lab grading: {err}") from None

    def submission(self, bundle: Path) -> Submission:
        """The graded bundle; the whole folder is graded on first use, so that bundles are also held
        against each other (one student twice, one capture handed in by two students), as ``lab grade``."""
        if not self._graded:
            assert self.workdir is not None
            subs = grade_bundles(self.bundles(), self.spec, self.workdir)
            self._graded = {s.bundle: s for s in subs}
        return self._graded[bundle]

    def label(self, bundle: Path) -> str:
        """A test id before grading: ``student`` of ``student-LAB-stamp.tar.gz`` (``student-OTHERLAB`` for a
        bundle of another lab)."""
        stem = re.sub(r"-\d{8}T\d{6}Z$", "", bundle.name.removesuffix(".tar.gz"))
        return stem.removesuffix(f"-{self.spec.name}")


KEY = pytest.StashKey[Classroom]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[KEY] = Classroom(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "lab_answer" not in names and "submission" not in names:
        return
    room = metafunc.config.stash[KEY]
    bundles = room.bundles()
    if "lab_answer" in names:
        pairs = [(b, q.id) for b in bundles for q in room.spec.questions]
        metafunc.parametrize("lab_answer", pairs, indirect=True,
                             ids=[f"{room.label(b)}-{qid}" for b, qid in pairs])
    else:
        metafunc.parametrize("submission", bundles, indirect=True, ids=[room.label(b) for b in bundles])


@pytest.fixture(scope="session")
def _lab_classroom(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Classroom:
    room = request.config.stash[KEY]
    if room.workdir is None:
        room.workdir = tmp_path_factory.mktemp("lab-submissions")
    return room


@pytest.fixture(scope="session")
def teacher_lab(_lab_classroom: Classroom) -> LabSpec:
    """The teacher's lab file, loaded (its own functions module included)."""
    return _lab_classroom.spec


@pytest.fixture
def submission(request: pytest.FixtureRequest, _lab_classroom: Classroom) -> Submission:
    """One student's bundle, unpacked and graded against the teacher's lab file."""
    return _lab_classroom.submission(request.param)


@pytest.fixture
def lab_run(submission: Submission) -> Path:
    """The unpacked run of the submission: manifest.json, capture.pcapng, traces/, answers.yaml."""
    if submission.grade is None:
        pytest.fail(f"{submission.bundle.name}: refused: {submission.refused}", pytrace=False)
    assert submission.run is not None
    return submission.run


@dataclass(frozen=True)
class Answer:
    """One student's answer to one question: the verdict a student may read, never the key."""

    student: str
    question: str
    mark: Mark | None
    feedback: str
    trusted: bool = True  # False: the bundle was flagged (changed files, another lab, capture vs calls)

    @property
    def ok(self) -> bool:
        return self.mark is not None and self.mark.ok and self.trusted


@pytest.fixture
def lab_answer(request: pytest.FixtureRequest, _lab_classroom: Classroom) -> Any:
    """One question of one student's bundle; a refused or flagged bundle's answers are not ok."""
    bundle, qid = request.param
    sub = _lab_classroom.submission(bundle)
    if sub.grade is None:
        return Answer(sub.student, qid, None, f"bundle refused: {sub.refused}")
    mark = next(m for m in sub.grade.marks if m.id == qid)
    if mark.status == "manual":
        pytest.skip(f"{sub.student} {qid}: free text for the teacher to read: {mark.given!r}")
    flags = "".join(f"\n  FLAG {f}" for f in [*sub.grade.flags, *sub.notes])
    trusted = sub.status == "graded"
    return Answer(sub.student, qid, mark, f"{sub.student}:{mark.line()}{flags}", trusted=trusted)
