"""No reader in the package hides a missing key behind ``x.get("k") or {}``.

The records have one schema (``lab.records``): a key the schema requires is read directly, so a writer
that forgot it fails loudly where it is read; a key that may be absent is read once with ``.get`` and
handled there. ``x.get("k") or {}`` (or ``()``, ``[]``, ``""``) does neither: it turns a missing key, a
null and an empty value into the same thing and lets the reader go on with a record no writer produces.
This scan finds the pattern anywhere in ``lab/`` (records, and the lab and topology files read into
typed specs the same way).
"""

from __future__ import annotations

import ast
from pathlib import Path

import lab

EMPTY = (ast.Dict, ast.Tuple, ast.List)


def _is_empty_literal(node: ast.expr) -> bool:
    if isinstance(node, EMPTY):
        return not getattr(node, "elts", None) and not getattr(node, "keys", None)
    return isinstance(node, ast.Constant) and node.value == ""


def _hidden_defaults(tree: ast.AST) -> list[int]:
    """Lines with ``<expr>.get(...) or <empty literal>``."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)):
            continue
        for left, right in zip(node.values, node.values[1:], strict=False):
            func = left.func if isinstance(left, ast.Call) else None
            is_get = isinstance(func, ast.Attribute) and func.attr == "get"
            if is_get and _is_empty_literal(right):
                lines.append(left.lineno)
    return lines


def test_the_scan_finds_the_pattern() -> None:
    found = _hidden_defaults(ast.parse('a = rec.get("ip") or {}\nb = x.get("k") or ()\nc = y.get("k", [])\n'
                                       'd = z.get("k") or "" \ne = w.get("k") or "x"\n'))
    assert found == [1, 2, 4]


def test_no_reader_hides_a_missing_key() -> None:
    root = Path(lab.__file__).parent
    sources = sorted(root.rglob("*.py"))
    assert len(sources) > 50  # the whole package, not an empty glob
    offenders = [f"{path.relative_to(root.parent)}:{line}" for path in sources
                 for line in _hidden_defaults(ast.parse(path.read_text(), str(path)))]
    assert not offenders, "x.get(k) or <empty>: read the key directly or handle its absence:\n" + "\n".join(
        offenders)
