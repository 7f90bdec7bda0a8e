"""Hostile YAML for the loaders: PyYAML's safe loader expands aliases, so a 1 KB file can stand for billions
of values. Every file the project reads (lab files, topology files, answers) must refuse it fast, with its
line; the YAML, topology and lab-file tests all use this one generator.
"""

from __future__ import annotations


def alias_bomb(levels: int = 12, width: int = 10) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the one before: width**levels values."""
    lines = ["a0: &a0 [" + ",".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"
