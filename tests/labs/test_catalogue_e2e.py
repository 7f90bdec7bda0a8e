"""Every lab of the catalogue, run for real (namespaces, capture, tracing): its own expected observations
hold, every packet is explained, and every question is answered from the capture."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.labs.spec import list_labs

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
    assert set(report["answers"]) == {q.id for q in spec.questions}
    unanswered = [qid for qid, value in report["answers"].items() if value is None]
    assert not unanswered, unanswered
    assert (result.out / "lab.yaml").is_file()


LOOPBACK_LABS = [lab for lab in LABS if lab.loopback]


@pytest.mark.root  # capturing on lo still needs CAP_NET_RAW
@pytest.mark.parametrize("spec", LOOPBACK_LABS, ids=[lab.name for lab in LOOPBACK_LABS])
def test_loopback_lab_checks_itself(spec, tmp_path: Path) -> None:  # noqa: ANN001
    result = runner.run_lab(spec, tmp_path / spec.name, loopback=True)
    failed = [f"{o['label']}: {o['detail']}" for o in result.report["observations"] if not o["ok"]]
    assert not failed, failed
    assert all(value is not None for value in result.report["answers"].values()), result.report["answers"]
