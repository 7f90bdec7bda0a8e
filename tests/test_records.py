"""The record schema: the shipped JSON Schema is what lab.records says, and every writer's records validate.

Writers covered: the analysis's general path, fast path and render process (corpus captures, with and
without the render process), the runner with the Python tracer (tcp-echo), strace's converter (curl in a
live network), a routed run's forwarded copies (tests/labs/data/routed), and a lab.network() capture.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jsonschema
import pytest

from lab.analysis.pipeline import analyze_capture
from lab.records import CAUSE_RULES, RECORDS, SCHEMA_DIR, is_cause_rule, json_schema, shipped_schema
from tests.helpers.records import validate_dir, validator


def test_shipped_schema_is_what_the_classes_say() -> None:
    for name in RECORDS:
        shipped = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
        assert shipped == json_schema(name), f"lab/schema/{name}.schema.json is stale: python -m lab.records"
        jsonschema.Draft202012Validator.check_schema(shipped)


def test_the_schema_refuses_what_it_should() -> None:
    assert list(validator("packet").iter_errors({"number": 1}))  # fields missing
    assert list(validator("call").iter_errors({"id": "1"}))
    assert list(validator("report").iter_errors({"lab": None, "ok": True}))  # no schema_version, no counts
    assert list(validator("summary").iter_errors({"schema_version": 1, "packets": "12"}))


def test_a_cause_rule_outside_the_vocabulary_is_refused() -> None:
    v = jsonschema.Draft202012Validator(shipped_schema("packet")["$defs"]["Cause"])
    cause = {"source": "inferred", "text": "connect()", "calls": [], "answers": None}
    assert not list(v.iter_errors({**cause, "rule": "syn-connect"}))
    assert not list(v.iter_errors({**cause, "rule": "tcp-data-offset+fin-close"}))  # data with FIN
    for old in ("tcp-syn-connect", "syn-connect+", "syn-connect+nonsense", "SYN-CONNECT"):
        assert list(v.iter_errors({**cause, "rule": old})), old


def _rule_literals() -> dict[str, str]:
    """Every literal rule name the package passes to its cause builder (``make_cause``), by place."""
    root = Path(__file__).resolve().parent.parent / "lab"
    found = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "make_cause"
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)):
                found[node.args[1].value] = f"{path.relative_to(root.parent)}:{node.lineno}"
    return found


def test_every_rule_the_code_names_is_in_the_vocabulary() -> None:
    found = _rule_literals()
    assert len(found) > 30  # the walk saw the rule modules
    unknown = {rule: where for rule, where in found.items() if not is_cause_rule(rule)}
    assert not unknown, f"cause rules missing from lab.records.CAUSE_RULES: {unknown}"
    assert all(meaning.strip() for meaning in CAUSE_RULES.values())


@pytest.mark.parametrize("render_process", [False, True], ids=["one-process", "render-process"])
def test_analysis_records_validate_on_the_corpus(corpus_dir: Path, tmp_path: Path,
                                                render_process: bool) -> None:
    checked = {"packet": 0, "conversation": 0}
    pcaps = sorted((corpus_dir / "pcaps").iterdir())
    assert pcaps
    for pcap in pcaps:
        out = tmp_path / pcap.name
        try:
            analyze_capture(pcap, out, progress=False, render_process=render_process)
        except Exception as err:  # noqa: BLE001 - files the analysis refuses write nothing to validate
            if type(err).__name__ != "PcapFormatError":
                raise
            continue
        counts = validate_dir(out)
        assert counts["summary"] == 1, out  # every analysis writes its summary
        checked["packet"] += counts["packet"]
        checked["conversation"] += counts["conversation"]
    assert checked["packet"] > 1000 and checked["conversation"] > 50


def test_general_path_records_validate(corpus_dir: Path, tmp_path: Path) -> None:
    pcap = corpus_dir / "pcaps" / "zeek__tcp_retransmit-fast009.pcap"
    analyze_capture(pcap, tmp_path, progress=False, fast_path=False, render_process=False)
    counts = validate_dir(tmp_path)
    assert counts["packet"] > 0 and counts["summary"] == 1
