"""The error tree's one line, ``FILE:LINE: KEY: problem``, rendered from fields the raisers fill in."""

from __future__ import annotations

import pytest

from lab import errors
from lab.errors import LabError, TopologyError, UsageError, where_text


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({}, "bad"),
        ({"file": "t.yaml"}, "t.yaml: bad"),
        ({"file": "t.yaml", "line": 12}, "t.yaml:12: bad"),
        ({"file": "t.yaml", "line": 12, "key": "nodes.h2.kind"}, "t.yaml:12: nodes.h2.kind: bad"),
        ({"file": "t.yaml", "key": "nodes.h2.kind"}, "t.yaml: nodes.h2.kind: bad"),
        (
            {"file": "t.gml", "key": "links.1", "no_line": "gml: no lines"},
            "t.gml (gml: no lines): links.1: bad",
        ),
        (
            {"file": "t.gml", "line": 3, "no_line": "gml: no lines"},
            "t.gml:3: bad",
        ),  # a line wins over the excuse
        ({"key": "steps"}, "steps: bad"),
    ],
)
def test_one_line_from_the_fields(fields: dict, text: str) -> None:
    err = LabError("bad", **fields)
    assert str(err) == text and err.problem == "bad"
    assert where_text(err.file, err.line, err.key, err.no_line) == text.removesuffix("bad").removesuffix(": ")


def test_locate_fills_in_only_what_is_missing() -> None:
    lines = {"nodes.h2": 4, "nodes.h2.kind": 5}
    err = TopologyError("unknown kind", key="nodes.h2.kind").locate(file="t.yaml", lines=lines.get)
    assert (err.file, err.line, str(err)) == ("t.yaml", 5, "t.yaml:5: nodes.h2.kind: unknown kind")
    kept = UsageError("x", file="inner.yaml", line=2, key="k").locate(file="outer.yaml", lines=lambda _k: 9)
    assert str(kept) == "inner.yaml:2: k: x"
    unknown = UsageError("x", key="k").locate(file="g.graphml", lines=lambda _k: None, no_line="no lines")
    assert str(unknown) == "g.graphml (no lines): k: x"


def test_a_newline_or_an_escape_in_a_key_or_a_name_stays_escaped_in_one_line() -> None:
    err = UsageError("unknown key 'a\nb'", file="x\n.yaml", line=3, key="nodes.\x1b[31mh1")
    assert str(err) == "x\\n.yaml:3: nodes.\\x1b[31mh1: unknown key 'a\\nb'"
    assert str(err).isprintable()


def test_topology_error_keeps_source_as_the_file() -> None:
    err = TopologyError("no hosts", source="t.yaml", key="nodes")
    assert err.source == err.file == "t.yaml" and str(err) == "t.yaml: nodes: no hosts"


def test_exit_codes_are_the_documented_ones() -> None:
    codes = {
        cls.__name__: cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, LabError)
    }
    assert codes == {
        "LabError": 1,
        "UsageError": 2,
        "TopologyError": 3,
        "PrivilegeError": 4,
        "ToolMissingError": 5,
        "EmulationError": 6,
        "CaptureError": 7,
        "PcapFormatError": 8,
        "TraceError": 9,
        "LabRunError": 10,
    }
    for name, code in codes.items():  # and the drawing in the module docstring says the same
        assert any(name in row and f"exit {code} " in row for row in (errors.__doc__ or "").splitlines()), (
            name
        )
