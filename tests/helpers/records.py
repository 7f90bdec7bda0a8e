"""Reading a run's outputs and checking them against the record schema (lab/schema, made from lab/records.py).

Every test that produces records (an analysis, a traced run, a live network, a catalogue lab) validates
them here, so a writer that drifts from the schema fails where it wrote, not in a reader far away.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from lab.records import shipped_schema

FILES = {"packet": "packets.jsonl", "call": "calls.jsonl", "conversation": "conversations.jsonl"}
DOCUMENTS = {"report": "report.json", "summary": "summary.json"}


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of one JSONL file, blank lines skipped."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_record(validator: jsonschema.Draft202012Validator, record: object, where: str) -> None:
    """Assert that ``record`` validates; the failure names ``where`` (file:line), the field and the fix."""
    errors = sorted(validator.iter_errors(record), key=str)
    assert not errors, (
        f"{where}: {errors[0].json_path}: {errors[0].message} -- a writer and the schema disagree: a new "
        "field belongs in lab/records.py, then `python -m lab.records`")


def validate_dir(out: Path) -> dict[str, int]:
    """Validate every record of a run directory (the JSONL files line by line, report.json and summary.json
    whole); returns how many of each kind were checked, so the caller can assert that some were."""
    counts = {}
    for kind, name in FILES.items():
        validator = jsonschema.Draft202012Validator(shipped_schema(kind))
        path = out / name
        n = 0
        if path.is_file():
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                check_record(validator, json.loads(line), f"{path}:{lineno}")
                n += 1
        counts[kind] = n
    for kind, name in DOCUMENTS.items():
        path = out / name
        counts[kind] = 0
        if path.is_file():
            validator = jsonschema.Draft202012Validator(shipped_schema(kind))
            check_record(validator, json.loads(path.read_text()), str(path))
            counts[kind] = 1
    return counts
