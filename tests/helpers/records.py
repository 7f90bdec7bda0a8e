"""The record schema's check, for every test: one validator per record kind, and a run's outputs read and
checked with it (lab/schema, made from lab/records.py).

Every test that produces records (an analysis, a traced run, a live network, a catalogue lab) validates
them here, so a writer that drifts from the schema fails where it wrote, not in a reader far away; every
record a test builds (``tests.helpers.builders``) is checked here too, with the same validators.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from lab.records import shipped_schema

FILES = {"packet": "packets.jsonl", "call": "calls.jsonl", "conversation": "conversations.jsonl"}
DOCUMENTS = {"report": "report.json", "summary": "summary.json"}


@cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    """The validator of one record kind (packet, call, conversation, report, summary), made once."""
    return jsonschema.Draft202012Validator(shipped_schema(kind))


def assert_valid(kind: str, record: object, where: str = "a fixture record") -> None:
    """Assert that ``record`` validates against the shipped schema of ``kind``; the failure names ``where``
    (file:line, or what built it), the field and the fix."""
    errors = sorted(validator(kind).iter_errors(record), key=str)
    assert not errors, (
        f"{where}: {errors[0].json_path}: {errors[0].message} -- a writer and the schema disagree: a new "
        "field belongs in lab/records.py, then `python -m lab.records`")


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of one JSONL file, blank lines skipped."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def validate_dir(out: Path) -> dict[str, int]:
    """Validate every record of a run directory (the JSONL files line by line, report.json and summary.json
    whole); returns how many of each kind were checked, so the caller can assert that some were."""
    counts = {}
    for kind, name in FILES.items():
        path = out / name
        n = 0
        if path.is_file():
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                assert_valid(kind, json.loads(line), f"{path}:{lineno}")
                n += 1
        counts[kind] = n
    for kind, name in DOCUMENTS.items():
        path = out / name
        counts[kind] = 0
        if path.is_file():
            assert_valid(kind, json.loads(path.read_text()), str(path))
            counts[kind] = 1
    return counts
