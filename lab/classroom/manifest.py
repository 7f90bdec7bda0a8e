"""A run's manifest: every file of the run with its SHA-256, who ran it and which lab file it ran.

``lab run`` writes ``manifest.json`` as its last step; grading recomputes every hash and names each file
that changed, went missing or appeared. The manifest also carries what re-analysing the raw evidence
needs besides the files themselves (the nodes' addresses and which capture point is which node), so the
key can be recomputed from ``capture.pcapng`` and ``traces/`` alone.

What it proves and what it does not: a hash catches an edit made after the run by someone who did not
also rewrite the manifest. A student controls their machine and this code, so they can forge a whole
consistent run; the consistency check between the capture and the call logs (``evidence``) makes that
harder, not impossible.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import UsageError
from lab.paths import PARTIAL, RunPaths

IN_RUN = RunPaths(Path())  # a run's files by their names inside the run directory
MANIFEST = IN_RUN.manifest.name
EVIDENCE_FILES = (IN_RUN.capture.name, IN_RUN.lab_file.name)
TRACES = IN_RUN.traces_dir.name
FORMAT = "lab-run-manifest/1"
STUDENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
HASH_CHUNK = 1 << 20


def check_student(student: str) -> str:
    """A student id as a file name can carry it: letters, digits, ``._@-``, at most 64 characters."""
    if not isinstance(student, str) or not STUDENT_RE.fullmatch(student):
        raise UsageError(
            f"invalid student id {student!r}: use letters, digits and . _ @ - (at most 64, first a letter "
            "or digit)"
        )
    return student


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` of a run (see ``write_manifest`` for the fields)."""

    lab: str
    lab_sha256: str
    files: dict[str, dict[str, Any]]
    student: str | None = None
    run_id: str = ""
    loopback: bool = False
    created: str = ""
    nodes: dict[str, Any] = field(default_factory=dict)
    capture_points: dict[str, str] = field(default_factory=dict)
    loss_rules: list[dict[str, str]] = field(default_factory=list)  # emulated loss per link (a, b, rule)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "lab": self.lab,
            "lab_sha256": self.lab_sha256,
            "student": self.student,
            "run_id": self.run_id,
            "loopback": self.loopback,
            "created": self.created,
            "nodes": self.nodes,
            "capture_points": self.capture_points,
            "loss_rules": self.loss_rules,
            "files": self.files,
        }


def run_files(root: Path) -> dict[str, dict[str, Any]]:
    """Every regular file under ``root`` but the manifest, as ``relative path -> {sha256, size}``."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel in (MANIFEST, PARTIAL) or path.is_symlink() or not path.is_file():  # PARTIAL goes at the end
            continue
        out[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return out


def write_manifest(
    root: Path,
    *,
    lab: str,
    lab_file: Path,
    nodes: dict[str, Any],
    capture_points: dict[str, str],
    run_id: str = "",
    loopback: bool = False,
    student: str | None = None,
    loss_rules: list[dict[str, str]] | None = None,
) -> Manifest:
    """Hash every file of the finished run in ``root`` and write ``manifest.json`` (last, atomically)."""
    manifest = Manifest(
        lab=lab,
        lab_sha256=sha256_file(lab_file),
        files=run_files(root),
        student=check_student(student) if student is not None else None,
        run_id=run_id,
        loopback=loopback,
        created=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        nodes=nodes,
        capture_points=capture_points,
        loss_rules=list(loss_rules) if loss_rules is not None else [],
    )
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest.as_dict(), indent=2, default=str) + "\n")
    tmp.replace(root / MANIFEST)
    return manifest


def read_manifest(root: Path) -> Manifest:
    """The manifest of the run in ``root``; a missing or malformed one is a ``UsageError`` naming it."""
    path = root / MANIFEST
    if not path.is_file():
        raise UsageError(f"{root}: no {MANIFEST} (a run made before manifests, or not a run directory)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"{path}: not a readable manifest: {err}") from None
    except RecursionError:
        raise UsageError(f"{path}: not a readable manifest: nested too deeply") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise UsageError(f"{path}: not a lab run manifest (format {FORMAT} expected)")
    files = raw.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("sha256"), str)
        for k, v in files.items()
    ):
        raise UsageError(f"{path}: 'files' must map each file to its sha256")
    student = raw.get("student")
    if student is not None:
        try:
            check_student(student)
        except UsageError as err:
            raise UsageError(f"{path}: {err}") from None
    nodes, points = _field(raw, "nodes", {}), _field(raw, "capture_points", {})
    if not isinstance(nodes, dict) or not isinstance(points, dict):
        raise UsageError(f"{path}: 'nodes' and 'capture_points' must be mappings")
    rules = _field(raw, "loss_rules", [])
    if not isinstance(rules, list) or not all(
        isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("a", "b", "rule")) for r in rules
    ):
        raise UsageError(f"{path}: 'loss_rules' must be a list of {{a, b, rule}}")
    if not isinstance(raw.get("lab"), str) or not isinstance(raw.get("lab_sha256"), str):
        raise UsageError(f"{path}: 'lab' and 'lab_sha256' must be strings")
    return Manifest(
        lab=raw["lab"],
        lab_sha256=raw["lab_sha256"],
        files=files,
        student=student,
        run_id=str(_field(raw, "run_id", "")),
        loopback=bool(raw.get("loopback")),
        created=str(_field(raw, "created", "")),
        nodes=nodes,
        capture_points={str(k): str(v) for k, v in points.items()},
        loss_rules=[{k: r[k] for k in ("a", "b", "rule")} for r in rules],
    )


def _field(raw: dict[str, Any], key: str, default: Any) -> Any:
    """A manifest field that an older manifest may lack or leave null: ``default`` then."""
    value = raw.get(key)
    return default if value is None else value


def is_evidence(rel: str) -> bool:
    """The raw evidence a bundle carries and grading reads: the capture, the call logs (``traces/*`` and one
    level down, ``traces/py/*`` where an unprivileged program's tracer writes), the lab file."""
    return rel in EVIDENCE_FILES or (rel.startswith(f"{TRACES}/") and rel.count("/") <= 2)


def changed_files(root: Path, manifest: Manifest, *, evidence_only: bool = False) -> list[str]:
    """Each file that differs from the manifest, as one line: changed, missing, or not in the manifest.

    ``evidence_only`` limits the check to the raw evidence (a bundle carries it, not the derived files).
    """
    keep = is_evidence if evidence_only else (lambda rel: True)
    present = {rel: v for rel, v in run_files(root).items() if keep(rel)}
    wanted = {rel: v for rel, v in manifest.files.items() if keep(rel)}
    problems = []
    for rel in sorted(wanted):
        if rel not in present:
            problems.append(f"{rel}: missing (listed in the manifest)")
        elif present[rel]["sha256"] != wanted[rel]["sha256"]:
            problems.append(f"{rel}: changed after the run (its SHA-256 differs from the manifest)")
    added = sorted(set(present) - set(wanted))
    problems += [f"{rel}: added after the run (not in the manifest)" for rel in added]
    return problems
