"""Bundles: what a student hands in (``lab submit``) and how a teacher opens one (hostile input).

A bundle is one ``.tar.gz`` holding only what grading reads: ``manifest.json``, the raw ``capture.pcapng``,
the call logs ``traces/*`` (and one level down, ``traces/py/*``), the run's ``lab.yaml`` (to tell which lab
file the run ran) and the student's ``answers.yaml``. No derived file travels: the teacher re-analyzes the
raw evidence.

A teacher opens files written by others, so unpacking trusts nothing in the archive. Python 3.11.2 has
no ``tarfile.data_filter``, so its rules are applied here explicitly, and stricter: only the names above
(``NAME_RE``, full match), regular files only (no links, devices, FIFOs, directories needed), no absolute
path or ``..``, no duplicates, at most ``MAX_MEMBERS`` members, ``MAX_MEMBER_BYTES`` each and
``MAX_TOTAL_BYTES`` in all, counted from what is actually read (a header may lie), and each file is
written by us with our own mode. Nothing in a bundle is ever executed or imported.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

from lab.classroom.manifest import IN_RUN, MANIFEST, TRACES, changed_files, is_evidence, read_manifest
from lab.errors import UsageError

ANSWERS = "answers.yaml"
REQUIRED = (MANIFEST, IN_RUN.capture.name, IN_RUN.lab_file.name, ANSWERS)
NAME_RE = re.compile(
    "(?:" + "|".join(re.escape(name) for name in REQUIRED)
    + rf"|{TRACES}/(?:[A-Za-z0-9][A-Za-z0-9_-]{{0,40}}/)?[A-Za-z0-9][A-Za-z0-9._-]{{0,120}})"
)
MAX_MEMBERS = 1000
MAX_MEMBER_BYTES = 256 << 20
MAX_TEXT_BYTES = 16 << 20  # everything but the capture
MAX_TOTAL_BYTES = 512 << 20
MAX_BUNDLE_BYTES = 512 << 20
CHUNK = 1 << 20


def bundle_name(student: str, lab: str, created: str) -> str:
    stamp = re.sub(r"[^0-9TZ]", "", created) or "run"
    return f"{student}-{lab}-{stamp}.tar.gz"


def submit(run_dir: Path, answers_file: Path, out_dir: Path | None = None) -> Path:
    """Write the bundle of the run in ``run_dir`` with the student's ``answers_file``; returns its path.

    Refuses a run without a student id (``lab run --student ID``), a run whose evidence changed since it
    was made, and an answers file that is not a mapping.
    """
    from lab.labs.grading import read_answers

    root = Path(run_dir)
    if not root.is_dir():
        raise UsageError(f"run directory not found: {root}")
    manifest = read_manifest(root)
    if not manifest.student:
        raise UsageError(f"{root}: the run records no student: run the lab again with --student ID")
    changed = changed_files(root, manifest, evidence_only=True)
    if changed:
        raise UsageError(f"{root}: the run's evidence changed since it was made ({changed[0]})")
    read_answers(answers_file)  # validated here; the file's own bytes travel
    target = Path(out_dir or Path.cwd())
    if not target.is_dir():
        raise UsageError(f"output directory not found: {target}")
    path = target / bundle_name(manifest.student, manifest.lab, manifest.created)
    files = [MANIFEST] + sorted(rel for rel in manifest.files if is_evidence(rel))
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for rel in files:
                _add(tar, rel, (root / rel).read_bytes())
            _add(tar, ANSWERS, Path(answers_file).read_bytes())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def unpack(bundle: Path, dest: Path) -> Path:
    """Unpack ``bundle`` into the empty directory ``dest`` by the rules above; returns ``dest``.

    Raises:
        UsageError: naming the bundle and the first member or limit it broke.
    """
    bundle = Path(bundle)
    where = bundle.name
    try:
        size = bundle.stat().st_size
    except OSError as err:
        raise UsageError(f"{where}: cannot read: {err.strerror}") from None
    if not bundle.is_file():
        raise UsageError(f"{where}: not a regular file")
    if size > MAX_BUNDLE_BYTES:
        raise UsageError(f"{where}: larger than {MAX_BUNDLE_BYTES >> 20} MiB")
    seen: set[str] = set()
    total = 0
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            for n, member in enumerate(_members(tar), 1):
                if n > MAX_MEMBERS:
                    raise UsageError(f"{where}: more than {MAX_MEMBERS} members")
                name = _check_member(member, where, seen)
                limit = MAX_MEMBER_BYTES if name == IN_RUN.capture.name else MAX_TEXT_BYTES
                if member.size > limit:
                    raise UsageError(f"{where}: member {name} is larger than {limit >> 20} MiB")
                total += member.size
                if total > MAX_TOTAL_BYTES:
                    raise UsageError(f"{where}: members add up to more than {MAX_TOTAL_BYTES >> 20} MiB")
                _extract(tar, member, dest / name, limit)
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise UsageError(f"{where}: not a readable tar.gz bundle ({type(err).__name__}: {err})") from None
    missing = [r for r in REQUIRED if r not in seen]
    if missing:
        raise UsageError(f"{where}: not a lab bundle: missing {', '.join(missing)}")
    if not any(name.startswith(f"{TRACES}/") for name in seen):
        raise UsageError(f"{where}: not a lab bundle: no call logs (traces/)")
    return dest


def _members(tar: tarfile.TarFile):  # noqa: ANN202 - a generator of TarInfo
    """Members one at a time (``getmembers`` would read every header of a huge archive first)."""
    while (member := tar.next()) is not None:
        yield member


def _check_member(member: tarfile.TarInfo, where: str, seen: set[str]) -> str:
    name = member.name
    if name.startswith("/") or "\\" in name or any(part == ".." for part in name.split("/")):
        raise UsageError(f"{where}: member {name!r} escapes the bundle (absolute path or '..')")
    if member.issym() or member.islnk():
        raise UsageError(f"{where}: member {name!r} is a link (a bundle holds regular files only)")
    if not member.isreg():
        kind = "device" if member.ischr() or member.isblk() else "FIFO" if member.isfifo() else (
            "directory" if member.isdir() else "special file")
        raise UsageError(f"{where}: member {name!r} is a {kind} (a bundle holds regular files only)")
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"{where}: member {name!r} is not part of a lab bundle")
    if name in seen:
        raise UsageError(f"{where}: member {name!r} appears twice")
    seen.add(name)
    return name


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, limit: int) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise UsageError(f"member {member.name!r} has no data")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("xb") as out:  # exclusive: never through a file or link that is already there
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise UsageError(f"member {member.name!r} is larger than {limit >> 20} MiB")
            out.write(chunk)
    path.chmod(0o644)


def answers_of(root: Path) -> dict:
    """The answers file of an unpacked bundle (read with the same limits as any answers file)."""
    from lab.labs.grading import read_answers

    try:
        return read_answers(root / ANSWERS)
    except UsageError as err:
        raise UsageError(f"{ANSWERS} in the bundle: {err}") from None

