"""Where a key is in YAML text, found independently of ``lab.yamlfile``: the expected lines of error tests.

Two oracles: ``marked_line`` (the line a test author marked with ``# <-`` in a hand-written file) and
``yaml_line`` (a walk over PyYAML's composed nodes, for generated files), so that an error's line is checked
against the text rather than against the code that computed it.
"""

from __future__ import annotations

import yaml

MARK = "# <-"


def marked_line(text: str) -> int:
    """The 1-based line that carries ``MARK``; exactly one line must."""
    lines = [i for i, line in enumerate(text.splitlines(), 1) if MARK in line]
    assert len(lines) == 1, f"mark the offending line with exactly one {MARK!r}: {lines}"
    return lines[0]


def yaml_line(text: str, key: str) -> int:
    """The line of the dotted ``key`` (``steps.2.node``, list items counted from 1), or of the deepest
    enclosing value the text has (a key that is missing is reported where its parent is)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    line = node.start_mark.line + 1
    for part in key.split(".") if key else []:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not found:
                break
            k, node = found[-1]
            line = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and 1 <= int(part) <= len(node.value):
            node = node.value[int(part) - 1]
            line = node.start_mark.line + 1
        else:
            break
    return line
