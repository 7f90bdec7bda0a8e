"""Every lab of the catalogue, run for real (namespaces, capture, tracing): its own expected observations
hold, every packet is explained, every question is answered from the raw evidence (capture and call logs,
re-analyzed as grading does), and no output a student reads holds an answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.labs.grading import grade
from lab.labs.spec import list_labs
from tests.helpers.answerkey import assert_no_key_in_outputs
from tests.helpers.records import validate_dir

runner = pytest.importorskip("lab.runner", reason="runner not yet available")

LABS = list_labs()


@pytest.mark.root
@pytest.mark.parametrize("spec", LABS, ids=[lab.name for lab in LABS])
def test_lab_runs_and_checks_itself(spec, catalogue_run) -> None:  # noqa: ANN001
    result = catalogue_run(spec.name)  # shared with the sentence guards (test_sentences_guard.py)
    report = result.report
    failed = [f"{o['label']}: {o['detail']}" for o in report["observations"] if not o["ok"]]
    assert not failed, failed
    assert len(report["observations"]) == len(spec.observations)
    cov = report["coverage"]
    assert cov["total"] > 0 and cov["explained"] == cov["total"], report.get("failures")
    assert (result.out / "lab.yaml").is_file()
    counts = validate_dir(result.out)  # every lab's records, report and summary are in the shipped schema
    assert counts["report"] == counts["summary"] == 1 and counts["packet"] >= cov["total"]
    # the key, recomputed from the raw evidence alone, answers every question; the run is consistent
    graded = grade(result.out, {}, spec)
    assert graded.trusted, (graded.flags, graded.problems)
    key = {m.id: m.expected for m in graded.marks if m.status != "manual"}
    assert set(key) == {q.id for q in spec.questions if not q.manual}
    assert all(v is not None for v in key.values()), key
    assert_no_key_in_outputs(result.out, key)


LOOPBACK_LABS = [lab for lab in LABS if lab.loopback]


@pytest.mark.root  # capturing on lo still needs CAP_NET_RAW
@pytest.mark.parametrize("spec", LOOPBACK_LABS, ids=[lab.name for lab in LOOPBACK_LABS])
def test_loopback_lab_checks_itself(spec, tmp_path: Path) -> None:  # noqa: ANN001
    result = runner.run_lab(spec, tmp_path / spec.name, loopback=True)
    failed = [f"{o['label']}: {o['detail']}" for o in result.report["observations"] if not o["ok"]]
    assert not failed, failed
    assert "answers" not in result.report and not result.failures, result.failures
    graded = grade(result.out, {}, spec)  # a loopback run's evidence re-analyzes to the same key
    assert graded.trusted and all(m.expected is not None for m in graded.marks if m.status != "manual"), (
        graded.flags, graded.problems)
