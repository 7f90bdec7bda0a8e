"""The no-key assertion used on every catalogued run can fail: it catches an answers block and a pairing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.answerkey import assert_no_key_in_outputs


def test_an_answers_block_or_a_pairing_is_caught(tmp_path: Path) -> None:
    questions = [{"id": "syn-seq", "text": "The raw sequence number of the SYN?"}]
    (tmp_path / "report.json").write_text(json.dumps({"questions": questions, "answers": {"syn-seq": 5}}))
    with pytest.raises(AssertionError):
        assert_no_key_in_outputs(tmp_path, {"syn-seq": 5})
    (tmp_path / "report.json").write_text(json.dumps({"questions": questions}))
    assert assert_no_key_in_outputs(tmp_path, {"syn-seq": 5}) == 2  # report.json and stdout read
    (tmp_path / "story.md").write_text("the seq was 5 (fine: the capture's facts)\n")
    assert assert_no_key_in_outputs(tmp_path, {"syn-seq": 5}) == 3
    with pytest.raises(AssertionError, match="stdout pairs question syn-seq"):
        assert_no_key_in_outputs(tmp_path, {"syn-seq": 5}, printed='WRONG syn-seq: given 0, "syn-seq": 5')
