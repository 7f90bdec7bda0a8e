"""The hostile-YAML loader: bombs, depth, size, NUL, encoding, booleans -- each refused in one line."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from lab.yamlfile import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    YamlFileError,
    line_at,
    line_of,
    parse_yaml,
    read_yaml_file,
)
from tests.helpers.yamlbombs import alias_bomb


def one_line(text: str) -> bool:
    return "\n" not in text and "Traceback" not in text


def test_a_1kb_alias_bomb_is_refused_fast_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 1024
    start = time.monotonic()
    with pytest.raises(YamlFileError) as err:
        read_yaml_file(path)
    assert time.monotonic() - start < 5  # a generous bound: the unguarded loader runs 30-40 s or dies
    assert one_line(str(err.value)) and str(path) in str(err.value)
    assert "YAML bomb" in str(err.value) and err.value.line is not None


def test_merge_keys_and_small_aliases_still_work() -> None:
    data = parse_yaml("base: &b {kind: host}\nnodes:\n  - {<<: *b, name: h1}\n  - {<<: *b, name: h2}\n")
    assert data["nodes"] == [{"kind": "host", "name": "h1"}, {"kind": "host", "name": "h2"}]


DEEP = ["[" * 1000 + "]" * 1000, "".join("  " * i + f"k{i}:\n" for i in range(1000)),
        "{a: " * 1000 + "1" + "}" * 1000]


@pytest.mark.parametrize("text", DEEP)
def test_a_thousand_levels_of_nesting_is_one_line_not_a_recursion_error(text: str) -> None:
    with pytest.raises(YamlFileError, match=f"nested more than {MAX_DEPTH} levels deep") as err:
        parse_yaml(text, "deep.yaml")
    assert one_line(str(err.value)) and re.match(r"deep\.yaml:\d+: nested", str(err.value))


def test_depth_is_counted_through_aliases() -> None:
    nested = "[" * 40 + "]" * 40
    text = f"a: &a {nested}\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n"
    with pytest.raises(YamlFileError, match=r"alias \*a nests more than"):
        parse_yaml(text)
    parse_yaml(f"a: &a {nested}\nb: [*a]\n")  # within the limit


def test_booleans_are_yaml_1_2_and_names_stay_strings() -> None:
    data = parse_yaml("names: [yes, no, on, off, y, n]\nflag: true\nother: False\n")
    assert data == {"names": ["yes", "no", "on", "off", "y", "n"], "flag": True, "other": False}


def test_size_nul_encoding_and_file_kinds(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    cases = {big: "more than the limit", tmp_path: "not a regular file (a directory)",
             Path("/dev/zero"): "not a regular file (a device)", tmp_path / "missing.yaml": "cannot read"}
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"a: 1\nb: \x00\n")
    cases[nul] = "nul.yaml:2: a NUL character"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    cases[latin] = "latin.yaml:2: not UTF-8"
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    cases[fifo] = "not a regular file (a FIFO)"
    for path, message in cases.items():
        with pytest.raises(YamlFileError) as err:
            read_yaml_file(path)
        assert message in str(err.value) and one_line(str(err.value)), (path, str(err.value))
    assert len(cases) == 7


def test_syntax_errors_say_the_line() -> None:
    with pytest.raises(YamlFileError, match=r"^x\.yaml:3: invalid YAML") as err:
        parse_yaml("a: 1\nb: [1, 2\n", "x.yaml")
    assert one_line(str(err.value))


def test_mappings_remember_their_lines() -> None:
    data = parse_yaml("a: 1\nsteps:\n  - name: x\n    run: [y]\n")
    assert line_of(data, "steps") == 2 and line_of(data["steps"][0]) == 3
    assert line_of(data["steps"][0], "run") == 4 and line_of([1]) is None


def test_lists_remember_the_lines_of_their_items() -> None:
    text = "nodes:\n  - h1\n  - {name: h2,\n     kind: x}\nlinks: [[a, b],\n  [c, d]]\n"
    data = parse_yaml(text)
    assert data["nodes"] == ["h1", {"name": "h2", "kind": "x"}] and isinstance(data["nodes"], list)
    assert line_of(data["nodes"], 0) == 2 and line_of(data["links"], 1) == 6 and line_of(data["links"]) == 5
    assert line_at(data, "nodes", 1, "kind") == 4  # the value's own key
    assert line_at(data, "nodes", 1, "ipv4") == 3  # no such key: the node's line
    assert line_at(data, "nodes", 7) == 1 and line_at(data, "nodes", 0, "x") == 2
