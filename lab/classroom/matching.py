"""What counts as a right answer: one table per answer type, the same for every lab and every teacher.

A teacher must be able to defend each mark, so the rules are few, written down once (``TYPES``, and
the table in ``lab/labs/README.md``) and each carries examples that the tests run:

- **number**: ``1460``, ``"1460 bytes"``, ``"MSS=1460"``, ``"2,841,617,389"``, ``"0x5a"``, ``"a97d1f2d"`` (hex
  with at least one digit), ``"port 42954 (ephemeral)"``: labels, units and remarks in parentheses are
  ignored. Naming two different numbers is a hedge and is wrong: ``"1460 or 1448"``, ``"42954, 5000"``,
  ``"1000-2000"`` (a range), ``"1460 (or 1448)"``.
- **list**: ordered; ``"64->63->62->61"``, ``"64 → 63"``, ``"64, 63, 62"``, ``"[64 63 62]"``, a YAML list.
  Items are separated by arrows, commas or semicolons (or by spaces when there are none of those), so
  thousands separators are not allowed inside a list. Each item is marked as a number or a word.
- **range**: two numbers, low and high: ``"0-1479"``, ``"0..1479"``, ``"0 to 1479"``, ``[0, 1479]``.
- **text**: case, surrounding whitespace, a leading article, a trailing full stop and a remark in
  parentheses do not matter; a sentence naming the answer is accepted when the question's choices are
  known and no other choice is named (``"the server sends first"``; ``"server or client"`` is wrong).
- **yesno**: yes/no, true/false, y/n; a sentence starting with one of them and not naming the other.
- **manual**: free text a teacher reads; never marked automatically.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

HEDGE_WORDS = re.compile(r"\b(or|either|maybe|perhaps|probably|possibly|unsure|not sure)\b|[?/]")
PARENS = re.compile(r"\([^()]*\)")
THOUSANDS = re.compile(r"(?<![\d,.])(\d{1,3})((?:,\d{3})+)(?![\d,])")
WORD = re.compile(r"-?[0-9a-z]+(?:\.\d+)?")
UNITS = {
    "b", "byte", "bytes", "s", "sec", "secs", "second", "seconds", "ms", "us", "µs", "ns", "kb", "kib",
    "hop", "hops", "packet", "packets", "segment", "segments", "datagram", "datagrams", "x", "st", "nd",
    "rd", "th",
}
ARTICLES = re.compile(r"^(the|a|an) ")
LIST_SEPARATORS = re.compile(r"\s*(?:->|→|=>|>|,|;)\s*")
RANGE_SEPARATORS = re.compile(r"\s*(?:\.\.|–|—|-|\bto\b|,)\s*")


@dataclass(frozen=True)
class Verdict:
    """Whether an answer is right, and why not in the student's own terms (never the expected value)."""

    ok: bool
    reason: str = ""


RIGHT = Verdict(True)


# -- numbers -----------------------------------------------------------------------------------------
def numbers_in(text: str) -> list[float]:
    """Every number a text names, outside remarks in parentheses; thousands separators and units allowed."""
    text = PARENS.sub(" ", text.lower())
    text = THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(",", ""), text)
    text = re.sub(r"(?<=\d)_(?=\d)", "", text)
    out: list[float] = []
    for word in WORD.findall(text):
        value = _number_word(word)
        if value is not None:
            out.append(value)
    return out


def _number_word(word: str) -> float | None:
    sign = -1 if word.startswith("-") else 1
    word = word.lstrip("-")
    if re.fullmatch(r"0x[0-9a-f]+", word):
        return sign * int(word, 16)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-zµ]*)", word)
    if m and (not m.group(2) or m.group(2) in UNITS):
        return sign * (float(m.group(1)) if "." in m.group(1) else int(m.group(1)))
    if re.fullmatch(r"[0-9a-f]+", word) and re.search(r"\d", word) and re.search(r"[a-f]", word):
        return sign * int(word, 16)  # bare hex, as a hex dump shows it
    return None


def _hedged(text: str) -> bool:
    """A remark in parentheses that offers an alternative: ``1460 (or 1448?)``."""
    return any(HEDGE_WORDS.search(m.group(0).lower()) for m in PARENS.finditer(text))


def _num_eq(expected: float, value: float) -> bool:
    if isinstance(expected, int) and float(value).is_integer():
        return int(value) == expected
    return abs(expected - value) <= 1e-3 * max(1.0, abs(expected))


def match_number(expected: Any, given: Any) -> Verdict:
    if isinstance(given, bool) or given is None:
        return Verdict(False, "not a number")
    if isinstance(given, int | float):
        return Verdict(_num_eq(expected, given))
    if not isinstance(given, str):
        return Verdict(False, "not a number")
    found = list(dict.fromkeys(numbers_in(given)))
    if not found:
        return Verdict(False, "no number in this answer")
    if len(found) > 1 or _hedged(given):
        return Verdict(False, "names more than one value: give one answer")
    return Verdict(_num_eq(expected, found[0]))


# -- words -------------------------------------------------------------------------------------------
def norm(value: Any) -> str:
    text = re.sub(r"\s+", " ", str(value).strip().strip(".").lower())
    return ARTICLES.sub("", text)


def match_text(expected: Any, given: Any, choices: Sequence[str] = ()) -> Verdict:
    if given is None or isinstance(given, list | dict):
        return Verdict(False, "not a word or a sentence")
    want, said = norm(expected), norm(given)
    if isinstance(given, str) and _hedged(given):
        return Verdict(False, "names more than one value: give one answer")
    if said == want or norm(PARENS.sub(" ", str(given))) == want:  # "239.1.2.3 (the group)"
        return RIGHT
    others = [c for c in map(norm, choices) if c != want]
    named = lambda word: re.search(rf"\b{re.escape(word)}\b", said) is not None  # noqa: E731
    if others and named(want):
        if any(named(o) for o in others) or HEDGE_WORDS.search(said):
            return Verdict(False, "names more than one value: give one answer")
        return RIGHT
    return Verdict(False)


YES = {"yes", "true", "y", "1"}
NO = {"no", "false", "n", "0"}


def match_yesno(expected: Any, given: Any) -> Verdict:
    if isinstance(given, bool):
        return Verdict(given is bool(expected))
    words = re.findall(r"[a-z0-9]+", PARENS.sub(" ", str(given).lower()))
    if not words or words[0] not in YES | NO:
        return Verdict(False, "answer yes or no")
    said = words[0] in YES
    if any(w in (NO if said else YES) for w in words[1:]):
        return Verdict(False, "names more than one value: give one answer")
    return Verdict(said is bool(expected))


# -- sequences ---------------------------------------------------------------------------------------
def split_list(given: Any) -> list[Any] | None:
    if isinstance(given, list | tuple):
        return list(given)
    if isinstance(given, int | float) and not isinstance(given, bool):
        return [given]
    if not isinstance(given, str):
        return None
    text = PARENS.sub(" ", given).strip().strip("[]{}").strip()
    parts = LIST_SEPARATORS.split(text) if LIST_SEPARATORS.search(text) else text.split()
    return [p for p in (part.strip() for part in parts) if p]


def match_list(expected: Sequence[Any], given: Any) -> Verdict:
    items = split_list(given)
    if items is None or isinstance(given, str) and _hedged(given):
        return Verdict(False, "not a list" if items is None else "names more than one value: give one answer")
    if len(items) != len(expected):
        return Verdict(False, f"{len(items)} item(s) given; count the values again")
    for i, (want, item) in enumerate(zip(expected, items, strict=True), 1):
        verdict = match(want, item)
        if not verdict.ok:
            return Verdict(False, f"item {i} ({item}): {verdict.reason or 'wrong'}")
    return RIGHT


def match_range(expected: Sequence[Any], given: Any) -> Verdict:
    if isinstance(given, str):
        text = PARENS.sub(" ", given)
        parts = [p for p in RANGE_SEPARATORS.split(text.strip().strip("[]")) if p.strip()]
        values = [numbers_in(p) for p in parts]
        if len(values) != 2 or any(len(v) != 1 for v in values):
            return Verdict(False, "give a range as LOW-HIGH")
        given = [v[0] for v in values]
    return match_list(expected, given)


# -- the table ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerType:
    """One row of the table: how a type is matched, with examples that pass and fail (tested)."""

    name: str
    accepts: str
    right: tuple[tuple[Any, Any], ...]  # (expected, given) pairs marked right
    wrong: tuple[tuple[Any, Any], ...]  # (expected, given) pairs marked wrong
    match: Callable[..., Verdict] | None


TYPES: dict[str, AnswerType] = {
    t.name: t
    for t in (
        AnswerType(
            "number",
            "one number: thousands separators, hex (0x.. or with a digit), units, labels, remarks in ( )",
            ((1460, "MSS=1460 (1500-40)"), (2841617389, "2,841,617,389"), (42954, "port 42954 (ephemeral)"),
             (1460, "1460 bytes"), (31, "0x1f"), (2841617389, "a95fa3ed"), (3, "3s"), (1460, 1460)),
            ((1460, "1460 or 1448"), (42954, "42954, 5000"), (1460, "1448-1460"), (1460, "1460 (or 1448?)"),
             (1460, "fourteen sixty"), (74565, "12345"), (1460, True)),
            match_number,
        ),
        AnswerType(
            "list",
            "ordered values separated by arrows, commas, semicolons (or spaces when none of those)",
            (([64, 63, 62, 61], "64->63->62->61"), ([64, 63], "64 → 63"), ([0, 1480, 2960], "0, 1480, 2960"),
             ([0, 1480], "[0 1480]"), ([64, 63], [64, "63"])),
            (([64, 63], "63, 64"), ([64, 63], "64"), ([64, 63], "64, 63 or 62"), ([0, 1480], "0, 1,480")),
            match_list,
        ),
        AnswerType(
            "range",
            "two numbers LOW-HIGH: a-b, a..b, a to b, [a, b]",
            (([0, 1479], "0-1479"), ([0, 1479], "0 to 1479"), ([0, 1479], [0, 1479])),
            (([0, 1479], "0-1480"), ([0, 1479], "0"), ([0, 1479], "0-1479-2000")),
            match_range,
        ),
        AnswerType(
            "text",
            "a word: case, spaces, a leading article, a final full stop ignored; a sentence naming only it",
            (("server", "Server"), ("server", " the SERVER. "), ("server", "the server sends first"),
             ("239.1.2.3", "239.1.2.3 (the group)")),
            (("server", "client"), ("server", "server or client"), ("server", "the server or the client"),
             ("239.1.2.3", "239.1.2.3 (or 239.1.2.4)")),
            match_text,
        ),
        AnswerType(
            "yesno",
            "yes/no, true/false, y/n; a sentence that starts with one and does not name the other",
            ((True, "yes"), (True, "Yes, because the window is full"), (False, "no"), (True, True)),
            ((True, "maybe"), (True, "yes or no"), (False, "yes")),
            match_yesno,
        ),
        AnswerType("manual", "free text, collected for the teacher; never marked automatically", (), (),
                   None),
    )
}


def infer_type(expected: Any) -> str:
    """The type of a computed answer, when the question does not name one."""
    if isinstance(expected, bool):
        return "yesno"
    if isinstance(expected, int | float):
        return "number"
    if isinstance(expected, list | tuple):
        return "list"
    return "text"


def match(expected: Any, given: Any, kind: str | None = None, choices: Sequence[str] = ()) -> Verdict:
    """Whether ``given`` means ``expected`` by the rules of ``kind`` (default: inferred from ``expected``)."""
    kind = kind or infer_type(expected)
    if given is None:
        return Verdict(False, "no answer given")
    if kind == "text":
        return match_text(expected, given, choices)
    rule = TYPES[kind].match
    if rule is None:
        raise ValueError(f"answer type {kind!r} is not marked automatically")
    return rule(expected, given)
