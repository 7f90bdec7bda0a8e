"""The readers of records pass a type checker against the record types (``lab.records``).

A reader annotates what it reads as ``PacketRecord``, ``CallRecord``, ``ReportRecord``...; mypy then
checks every key it reads exists in the schema, that a nullable value is tested before use, and that a
record handed on is the type the callee reads. This is what makes "the readers use the schema" true of
the code rather than of a convention: renaming a record field breaks this test at every reader.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

READERS = [
    "lab/analysis/attribution",
    "lab/labs/checks.py", "lab/labs/protocol_checks.py", "lab/labs/routingchecks.py", "lab/labs/story.py",
    "lab/labs/questions.py", "lab/labs/evaluate.py", "lab/labs/evidence.py", "lab/labs/grading.py",
    "lab/classroom",
    "lab/report",
    "lab/tracing/calltext.py", "lab/tracing/steps.py", "lab/tracing/summary.py",
    "lab/runs.py", "lab/identity.py", "lab/explain.py", "lab/watch.py",
]
"""Every module that reads packets.jsonl, calls.jsonl, conversations.jsonl or report.json records."""


def test_the_readers_type_check(repo: Path) -> None:
    for path in READERS:
        assert (repo / path).exists(), f"{path}: listed as a reader but missing (moved? update READERS)"
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.fail("mypy is not installed: `make setup` installs the dev dependencies")
    proc = subprocess.run([mypy, "--no-error-summary", *READERS], cwd=repo, capture_output=True, text=True,
                          timeout=600)
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert proc.returncode == 0 and not errors, "\n".join(errors or [proc.stdout, proc.stderr])
