"""The one table of what counts as a right answer: each documented example holds; the README shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.classroom.matching import TYPES, match, numbers_in

RIGHT = [(t.name, e, g) for t in TYPES.values() for e, g in t.right]
WRONG = [(t.name, e, g) for t in TYPES.values() for e, g in t.wrong]
CHOICES = ("server", "client")


def test_every_auto_marked_type_has_examples_both_ways() -> None:
    marked = [t for t in TYPES.values() if t.match is not None]
    assert len(marked) == 5 and all(t.right and t.wrong for t in marked)
    assert len(RIGHT) >= 20 and len(WRONG) >= 15


@pytest.mark.parametrize(("kind", "expected", "given"), RIGHT, ids=[f"{k}:{g!r}" for k, _, g in RIGHT])
def test_documented_right_answers_pass(kind: str, expected: object, given: object) -> None:
    assert match(expected, given, kind, CHOICES).ok


@pytest.mark.parametrize(("kind", "expected", "given"), WRONG, ids=[f"{k}:{g!r}" for k, _, g in WRONG])
def test_documented_wrong_answers_fail(kind: str, expected: object, given: object) -> None:
    assert not match(expected, given, kind, CHOICES).ok


@pytest.mark.parametrize(
    "given", ["1460 or 1448", "42954, 5000", "1460/1448", "1460 (maybe 1448)", "1,460 or 1,448", "1460-1448"]
)
def test_two_candidate_values_are_a_hedge(given: str) -> None:
    verdict = match(1460, given)
    assert not verdict.ok and verdict.reason == "names more than one value: give one answer"
    assert not match(1448, given).ok and not match(42954, given).ok


@pytest.mark.parametrize(
    "given", ["MSS=1460 (1500-40)", "2,841,617,389", "64->63->62->61", "port 42954 (ephemeral)"]
)
def test_the_issues_honest_formats_pass(given: str) -> None:
    expected = {"MSS": 1460, "2,8": 2841617389, "64-": [64, 63, 62, 61], "por": 42954}[given[:3]]
    assert match(expected, given).ok


def test_numbers_in_reads_separators_units_and_hex() -> None:
    assert numbers_in("2,841,617,389 bytes") == [2841617389]
    assert numbers_in("0x1F and 3s (or 4)") == [31, 3]
    assert numbers_in("h1-eth0 ipv4 mss") == []  # names with digits are not numbers


def test_manual_questions_are_never_auto_marked() -> None:
    with pytest.raises(ValueError, match="not marked automatically"):
        match("because", "because", "manual")


def test_the_readme_documents_the_table() -> None:
    readme = (Path(__file__).parents[2] / "lab" / "labs" / "README.md").read_text()
    section = readme.split("## Answer matching", 1)[1]
    for t in TYPES.values():
        assert f"| {t.name} |" in section, t.name
    for example in ("MSS=1460 (1500-40)", "2,841,617,389", "64->63->62->61", "1460 or 1448", "42954, 5000"):
        assert example in section, example
