"""What a renderer may rely on in a record, checked once where the record is read.

The renderers (``ladder``, ``hops``, ``html``) read every record by subscript, as ``lab.records`` types
them. They open any directory a user points them at (a lab run, an older run, a ``lab analyze`` of a foreign
capture, a hand-edited file), so the loader (:mod:`lab.report.records`) checks each record first against a
``Shape``: the keys its schema requires are there, the blocks that are records themselves (``ip``, ``tcp``,
``cause``, each of ``layers``...) are objects with their own required keys, null only where the schema
allows null, and the values a renderer computes with (frame numbers, times, lengths, TCP numbers, TTLs)
are integers. The shapes are derived from the TypedDicts, so a key added to the schema is checked here
without a second list to keep.

Why not the shipped JSON Schema itself: jsonschema takes about 0.4 ms a record, some 90 s for a
200,000-packet capture whose page takes a few seconds. A ``Check`` is the shape turned into one small
Python function (generated once, as ``collections.namedtuple`` generates its class) that answers "good or
not" in about 4 microseconds a packet; only a bad record is walked again, by ``problem``, to say what is
wrong and where. What neither checks (a string where the schema says a string, the vocabulary of
``cause.rule``) only ever reaches the page or the ladder as text; every writer of the lab is validated
against the full schema by the tests (tests/test_records.py).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple, NotRequired, Required, Union


@dataclass(frozen=True)
class Shape:
    """The checkable part of one TypedDict: required keys, integer leaves, nested records."""

    name: str
    required: frozenset[str]
    ints: tuple[tuple[str, bool], ...]  # (key, null allowed)
    blocks: tuple[tuple[str, Shape, bool, bool], ...]  # (key, shape, null allowed, a list of them)


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """The annotation without Required/NotRequired/Annotated, and whether it allows null."""
    while typing.get_origin(hint) in (Required, NotRequired, Annotated):
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        return (args[0] if len(args) == 1 else hint), nullable
    return hint, False


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def shape_of(record: type) -> Shape:
    """The Shape of a TypedDict of ``lab.records`` (or of this package's views of report.json)."""
    ints: list[tuple[str, bool]] = []
    blocks: list[tuple[str, Shape, bool, bool]] = []
    for key, hint in typing.get_type_hints(record, include_extras=True).items():
        tp, nullable = _unwrap(hint)
        if tp is int:
            ints.append((key, nullable))
        elif _is_record(tp):
            blocks.append((key, shape_of(tp), nullable, False))
        elif typing.get_origin(tp) is list and _is_record(typing.get_args(tp)[0]):
            blocks.append((key, shape_of(typing.get_args(tp)[0]), nullable, True))
    return Shape(record.__name__, frozenset(record.__required_keys__),  # type: ignore[attr-defined]
                 tuple(ints), tuple(blocks))


class Problem(NamedTuple):
    """What is wrong with a record: ``key`` the dotted path to it ("" for the record itself; list items
    counted from 1) and ``text`` what is wrong there."""

    key: str
    text: str

    def __str__(self) -> str:
        return f"{self.key}: {self.text}" if self.key else self.text


def problem(value: Any, shape: Shape, at: str = "") -> Problem | None:
    """What is wrong with ``value`` as a record of ``shape`` (``at``: the key path so far), or None.

    The common case, a good record, costs a subset test of its keys and one look at each leaf it names.
    """
    where = at.rstrip(".")
    if value.__class__ is not dict:
        return Problem(where, f"{_kind(value)}, not an object ({shape.name})")
    if not shape.required <= value.keys():
        missing = ", ".join(sorted(shape.required - value.keys()))
        them = "it" if "," not in missing else "them"
        return Problem(where, f"no {missing} ({shape.name} requires {them})")
    for key, nullable in shape.ints:
        v = value.get(key)  # a NotRequired key may be absent: absent and null are both "no value"
        if v.__class__ is not int and not (v is None and (nullable or key not in value)) and not _huge(v):
            return Problem(f"{at}{key}", f"{_kind(v)}, not an integer")
    for key, sub, nullable, many in shape.blocks:
        v = value.get(key)
        if v is None:
            if key in value and not nullable:
                return Problem(f"{at}{key}", f"null, not an object ({sub.name})")
            continue
        if many:
            if v.__class__ is not list:
                return Problem(f"{at}{key}", f"{_kind(v)}, not a list of {sub.name}")
            for i, item in enumerate(v):
                found = problem(item, sub, f"{at}{key}.{i + 1}.")
                if found:
                    return found
        else:
            found = problem(v, sub, f"{at}{key}.")
            if found:
                return found
    return None


class Check:
    """A record kind's test: ``ok(value)`` fast, and ``problem(value)`` (slower), which decides when ``ok``
    says no (it also accepts the rare integer beyond 64 bits) and says why."""

    def __init__(self, record: type) -> None:
        self.shape = shape_of(record)
        self.ok = _compile(self.shape)

    def problem(self, value: Any, at: str = "") -> Problem | None:
        """What is wrong with ``value``, or None; ``at`` (``nodes.h1.``) is put before the key named."""
        return problem(value, self.shape, at)


def _compile(shape: Shape) -> Any:
    """``problem(value, shape) is None`` as one straight-line function (no per-key loop, no recursion)."""
    names: dict[str, frozenset[str]] = {}
    lines: list[str] = []

    def emit(sh: Shape, var: str, indent: str) -> None:
        req = f"R{len(names)}"
        names[req] = sh.required
        lines.append(f"{indent}if {var}.__class__ is not dict or not {req} <= {var}.keys(): return False")
        # the integers' classes, in two sets tested at once: must be int (a NotRequired key may be
        # absent: read with an int default) and int or null (nullable keys)
        ints, nullable_ints = [], []
        for key, nullable in sh.ints:
            if nullable:
                get = f"{var}[{key!r}]" if key in sh.required else f"{var}.get({key!r})"
                nullable_ints.append(f"{get}.__class__")
            else:
                get = f"{var}[{key!r}]" if key in sh.required else f"{var}.get({key!r}, 0)"
                ints.append(f"{get}.__class__")
        for classes, allowed in ((ints, "INT"), (nullable_ints, "INT_OR_NULL")):
            if len(classes) == 1:
                test = f"{classes[0]} not in {allowed}"
            elif classes:
                test = f"not {{{', '.join(classes)}}} <= {allowed}"
            else:
                continue
            lines.append(f"{indent}if {test}: return False")
        for key, sub, nullable, many in sh.blocks:
            tmp = f"v{len(lines)}"
            lines.append(f"{indent}{tmp} = {var}[{key!r}]" if key in sh.required else
                         f"{indent}{tmp} = {var}.get({key!r})")
            lines.append(f"{indent}if {tmp} is None:")
            lines.append(f"{indent}    {'pass' if nullable else f'if {key!r} in {var}: return False'}")
            if many:
                item = f"v{len(lines)}"
                lines.append(f"{indent}elif {tmp}.__class__ is not list: return False")
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    for {item} in {tmp}:")
                emit(sub, item, indent + "        ")
            else:
                lines.append(f"{indent}else:")
                emit(sub, tmp, indent + "    ")

    emit(shape, "value", "    ")
    source = "def ok(value):\n" + "\n".join(lines) + "\n    return True\n"
    scope: dict[str, Any] = {**names, "INT": frozenset({int}), "INT_OR_NULL": frozenset({int, type(None)})}
    exec(compile(source, f"<check of {shape.name}>", "exec"), scope)  # noqa: S102 -- our own text
    return scope["ok"]


def _huge(value: Any) -> bool:
    """An integer too large for 64 bits, which orjson reads as a float (a pcap's bogus timestamp in ns):
    the schema's integer, kept as the analysis wrote it."""
    return value.__class__ is float and value.is_integer() and abs(value) >= 2**63


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    return {str: "a string", int: "an integer", float: "a number with a fraction", list: "a list",
            dict: "an object"}.get(
        type(value), type(value).__name__)
