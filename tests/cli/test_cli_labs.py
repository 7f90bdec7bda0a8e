"""`lab labs` (list, --json, show) and `lab labs run-all`'s index, with a recording fake runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.cli import labs as cli_labs
from lab.cli.main import main
from lab.errors import LabRunError
from lab.labs.spec import CATALOGUE, load_lab
from lab.runner import Failure, RunResult


def test_lab_labs_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[: len(CATALOGUE)]]
    assert names == list(CATALOGUE)
    assert all(len(line.split(None, 1)) == 2 for line in lines[: len(CATALOGUE)])  # each has a description
    assert main(["labs", "list"]) == 0 and capsys.readouterr().out.splitlines()[0] == lines[0]


def test_lab_labs_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == list(CATALOGUE)
    assert all(d["summary"] and d["questions"] for d in data)


def test_lab_labs_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labs", "show", "mtu"]) == 0
    out = capsys.readouterr().out
    assert "Fragment Offset" in out and "offsets-r1:" in out
    assert main(["labs", "show", "nope"]) == 2
    assert "unknown lab 'nope'" in capsys.readouterr().err


class FakeRunner:
    """Records what run-all asked for and returns reports shaped like lab.runner's."""

    def __init__(self, fail: str | None = None) -> None:
        self.runs: list[tuple[str, Path]] = []
        self.fail = fail

    def __call__(self, spec, out: Path):  # noqa: ANN001, ANN204
        self.runs.append((spec.name, out))
        if spec.name == self.fail:
            raise LabRunError(f"lab '{spec.name}' failed: boom")
        obs = [{"check": c.name, "label": c.name, "ok": True, "detail": ""} for c in spec.observations]
        report = {
            "observations": obs,
            "coverage": {"explained": 5, "total": 5},
        }
        return RunResult(out, report)


def test_run_all_index(tmp_path: Path) -> None:
    runner = FakeRunner(fail="udp-echo")
    rows = [cli_labs._run_one(runner, load_lab(n), tmp_path / n) for n in ("tcp-echo", "udp-echo")]
    index = cli_labs.write_index(tmp_path, rows)
    assert [r["ok"] for r in rows] == [True, False]
    assert runner.runs == [("tcp-echo", tmp_path / "tcp-echo"), ("udp-echo", tmp_path / "udp-echo")]
    text = index.read_text()
    assert (
        "| tcp-echo | ok | 7/7 | 5/5 | 4/4 | 0.0 |" in text and "FAILED: lab 'udp-echo' failed: boom" in text
    )
    assert json.loads((tmp_path / "index.json").read_text())["labs"][1]["error"].endswith("boom")


def test_run_all_marks_incomplete_coverage_as_failed(tmp_path: Path) -> None:
    def partial(spec, out):  # noqa: ANN001, ANN202
        result = FakeRunner()(spec, out)
        result.report["coverage"] = {"explained": 4, "total": 5}
        return result

    row = cli_labs._run_one(partial, load_lab("tcp-echo"), tmp_path)
    assert not row["ok"]


def test_run_all_marks_a_failed_program_as_failed(tmp_path: Path) -> None:
    def server_died(spec, out):  # noqa: ANN001, ANN202
        result = FakeRunner()(spec, out)
        result.failures = [Failure("step", "step 'server' on h2 exited 1, expected 0")]
        return result

    row = cli_labs._run_one(server_died, load_lab("tcp-echo"), tmp_path)
    assert not row["ok"] and row["failed"] == ["step 'server' on h2 exited 1, expected 0"]
    assert "- tcp-echo: step 'server' on h2 exited 1" in cli_labs.write_index(tmp_path, [row]).read_text()


def test_run_all_reads_the_verdict_by_kind_not_by_text(tmp_path: Path) -> None:
    """An observation's failure is counted once (from the report's observations), a question's is listed
    as unanswered, whatever their texts say."""
    def mixed(spec, out):  # noqa: ANN001, ANN202
        result = FakeRunner()(spec, out)
        result.report["observations"][0]["ok"] = False
        first = result.report["observations"][0]["check"]
        result.failures = [Failure("observation", f"{first} did not hold"),
                           Failure("question", "'q1' found nothing (packet(s) not explained)")]
        return result

    spec = load_lab("tcp-echo")
    row = cli_labs._run_one(mixed, spec, tmp_path)
    assert not row["ok"]
    assert row["failed"] == [spec.observations[0].name, "'q1' found nothing (packet(s) not explained)"]
    assert row["unanswered"] == ["'q1' found nothing (packet(s) not explained)"]


def test_show_a_minimal_user_lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """summary, title and concept are optional: a file with name, topology and steps loads and shows."""
    path = tmp_path / "mini.yaml"
    path.write_text("name: mini\ntopology: two-hosts\nsteps:\n  - {name: c, node: h1, run: [\"true\"]}\n")
    spec = load_lab(path)
    assert (spec.summary, spec.concept, spec.title) == ("", "", "mini")
    assert main(["labs", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "- c: h1: true" in out and f"lab run {path}" in out and "has no 'concept'" in out
    assert main(["labs", "show", "udp-echo"]) == 0
    assert "lab run udp-echo --loopback" in capsys.readouterr().out


def test_lab_labs_checks_lists_every_function(capsys: pytest.CaptureFixture[str]) -> None:
    from lab.labs.checks import CHECKS
    from lab.labs.questions import QUESTIONS

    assert main(["labs", "checks", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert set(table["checks"]) == set(CHECKS) and set(table["answers"]) == set(QUESTIONS)
    assert table["checks"]["role_count"]["params"]["count"] is None
    assert table["checks"]["rst_answers_syn"]["required"] == ["port"]
    assert all(d["doc"] for d in [*table["checks"].values(), *table["answers"].values()])
    assert main(["labs", "checks"]) == 0
    assert "rst_answers_syn(port)" in capsys.readouterr().out


def test_readme_documents_the_format() -> None:
    readme = (Path(__file__).resolve().parents[2] / "lab" / "labs" / "README.md").read_text()
    for key in ("background", "ready", "expect_exit", "trace", "wait", "{ip[NODE]}", "{labdir}", "lab check"):
        assert key in readme, key


def test_readme_example_lab_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "lab" / "labs" / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my-echo.yaml").write_text(example)
    spec = load_lab(tmp_path / "my-echo.yaml")
    assert spec.name == "my-echo" and spec.steps[0].ready is not None and spec.steps[-1].wait == "server"
