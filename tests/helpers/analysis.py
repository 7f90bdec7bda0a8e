"""Analyzing a capture through both analysis paths (the fast path and the general one), which must agree.

The fast path is an optimisation of the general path, not a second opinion: every test that builds a
capture for an edge case runs it through both and compares the outputs byte for byte, so a case handled in
one path only fails where it was built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.analysis.pipeline import analyze_capture
from tests.helpers.records import load_jsonl

COMPARED_OUTPUTS = ("packets.jsonl", "annotated.pcapng", "conversations.jsonl")


def analyze_both_paths(src: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """Analyze ``src`` into ``tmp_path/fast`` and ``tmp_path/slow``; assert the outputs are the same bytes
    and return the packet records."""
    analyze_capture(src, tmp_path / "fast")
    analyze_capture(src, tmp_path / "slow", fast_path=False)
    for out in COMPARED_OUTPUTS:
        assert (tmp_path / "fast" / out).read_bytes() == (tmp_path / "slow" / out).read_bytes(), out
    return load_jsonl(tmp_path / "fast" / "packets.jsonl")
