"""What a student can read of a run, and the assertion that none of it holds the answer key.

The key stays with the teacher: the classroom workflow and every catalogue lab's end-to-end run check their
outputs with the same rule, so a new output file or field that leaks an answer fails everywhere at once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

STUDENT_VISIBLE = ("report.json", "report.html", "ladder.txt", "story.md")
KEY_WORDS = {"answers", "answer", "expected", "key"}


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(map(str, value)) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def assert_no_key_in_outputs(run: Path, key: dict[str, Any], printed: str = "") -> int:
    """No answers block anywhere in report.json, each question listed with id and text only, and no output
    pairs a question id with its value. Returns how many outputs were read (the caller asserts > 0)."""
    report = json.loads((run / "report.json").read_text())
    assert not _keys(report) & KEY_WORDS, _keys(report) & KEY_WORDS
    assert all(set(q) == {"id", "text"} for q in report.get("questions", [])), report.get("questions")
    texts = {name: (run / name).read_text() for name in STUDENT_VISIBLE[1:] if (run / name).is_file()}
    texts["report.json"] = json.dumps(report.get("questions", []))
    texts["stdout"] = printed
    # an id that is also a field of the capture's own records (``mss``, ``group``) pairs with its value in
    # every packet view: that is the capture, which students are meant to read, not an answer sheet
    fields: set[str] = set()
    if (run / "packets.jsonl").is_file():
        for line in (run / "packets.jsonl").read_text().splitlines():
            fields |= _keys(json.loads(line)) if line.strip() else set()
    for name, text in texts.items():
        for qid, value in key.items():
            if qid in fields:
                continue
            shown = re.escape(str(value if not isinstance(value, list) else value[0]))
            pair = re.compile(rf"\b{re.escape(qid)}\b['\"]?\s*[:=]\s*['\"]?{shown}\b")  # syn-seq: 2841617389
            assert not pair.search(text), f"{name} pairs question {qid} with its answer"
    return len(texts)
