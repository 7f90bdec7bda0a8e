"""``lab labs`` (the catalogue: list, show, run-all) and ``lab check`` (grade a student's answers)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from lab.errors import LabError, LabRunError, UsageError
from lab.labs.spec import LabSpec, lab_path, list_labs, load_lab
from lab.paths import Phase, RunPaths, claim_out_dir, marked_partial, write_atomic


@click.group("labs", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable list")
@click.pass_context
def labs(ctx: click.Context, as_json: bool) -> None:
    """The lab catalogue: `lab labs` lists it; `lab labs run-all` runs every lab (make labs)."""
    if ctx.invoked_subcommand is None:
        _print_list(as_json)


@labs.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable list")
def list_cmd(as_json: bool) -> None:
    """List the catalogue with one-line descriptions."""
    _print_list(as_json)


def _print_list(as_json: bool) -> None:
    specs = list_labs()
    if as_json:
        click.echo(json.dumps([_describe(s) for s in specs], indent=2))
        return
    width = max(len(s.name) for s in specs)
    for s in specs:
        click.echo(f"{s.name:<{width}}  {s.summary or s.title}")
    click.echo("\nrun one: make lab LAB=NAME (or lab run NAME); read its coursework: lab labs show NAME")


def _describe(s: LabSpec) -> dict[str, Any]:
    return {
        "name": s.name,
        "title": s.title,
        "summary": s.summary,
        "topology": str(s.topology_ref),
        "loopback": s.loopback,
        "observations": len(s.observations),
        "questions": [{"id": q.id, "text": q.text} for q in s.questions],
        "file": str(s.source),
    }


@labs.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def show_cmd(name: str, as_json: bool) -> None:
    """Print a lab's coursework: concept, what to run, what to look for, and its questions."""
    spec = load_lab(name)
    if as_json:
        click.echo(json.dumps({**_describe(spec), "concept": spec.concept}, indent=2))
        return
    if spec.concept.strip():
        click.echo(spec.concept.rstrip())
    else:  # a user's minimal lab file: say what it runs instead of printing nothing
        click.echo(f"# {spec.title or spec.name}\n")
        if spec.summary:
            click.echo(f"{spec.summary}\n")
        click.echo(f"(no coursework text: {spec.source} has no 'concept')\n\n## Steps")
        for step in spec.steps:
            what = f"wait for {step.wait}" if step.is_wait else f"{step.node}: {' '.join(step.run)}"
            click.echo(f"- {step.name}: {what}" + (" (background)" if step.background else ""))
    click.echo(f"\nRun it: lab run {_run_arg(spec)}"
               + (f"   (without root: lab run {_run_arg(spec)} --loopback)" if spec.loopback else ""))
    if spec.questions:
        click.echo("\n## Questions (answer from your own capture; check with `lab check RUN_DIR ANSWERS`, "
                   "hand in with `lab submit RUN_DIR --answers ANSWERS`)")
        for q in spec.questions:
            click.echo(f"- {q.id}: {q.text}")


def _run_arg(spec: LabSpec) -> str:
    """The catalogue name for a shipped lab, the file path for a user's own."""
    try:
        return spec.name if lab_path(spec.name).resolve() == spec.source.resolve() else str(spec.source)
    except LabError:
        return str(spec.source)


@labs.command("checks")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def checks_cmd(as_json: bool) -> None:
    """List the check and answer functions a lab file can name, with their parameters."""
    import inspect

    from lab.labs.checks import CHECKS
    from lab.labs.questions import QUESTIONS

    def describe(fn: Any) -> dict[str, Any]:
        params = list(inspect.signature(fn).parameters.values())[2:]  # after packets, calls
        return {
            "params": {p.name: (None if p.default is inspect.Parameter.empty else p.default) for p in params},
            "required": [p.name for p in params if p.default is inspect.Parameter.empty],
            "doc": " ".join((fn.__doc__ or "").split()),
        }

    table = {
        "checks": {n: describe(f) for n, f in CHECKS.items()},
        "answers": {n: describe(f) for n, f in QUESTIONS.items()},
    }
    if as_json:
        click.echo(json.dumps(table, indent=2, default=str))
        return
    for kind, entries in table.items():
        usage = "observations: {check: NAME, ...}" if kind == "checks" else "questions: answer: NAME"
        click.echo(f"# {kind} ({usage})")
        for name, d in entries.items():
            args = ", ".join(p if p in d["required"] else f"{p}={d['params'][p]!r}" for p in d["params"])
            click.echo(f"{name}({args})\n    {d['doc']}")
        click.echo("")


@labs.command("run-all")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="directory for all runs and the index: new or empty, a directory holding anything is refused "
    "(default captures/labs-<UTC timestamp>)",
)
@click.option("--only", multiple=True, help="run only these labs (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print the index as JSON")
def run_all_cmd(out: Path | None, only: tuple[str, ...], as_json: bool) -> None:
    """Run every lab of the catalogue and write index.md and index.json of the results."""
    try:
        from lab.runner import run_lab  # lazy: listing and showing labs need no runner
    except ImportError as err:
        raise UsageError(f"the lab runner is not available: {err}") from None
    specs = [load_lab(n) for n in only] if only else list_labs()
    root = claim_out_dir(out, "labs")  # a non-empty --out is refused: runs are never mixed
    phase = Phase("labs")
    with marked_partial(RunPaths(root), phase):
        rows = []
        for spec in specs:
            click.echo(f"== {spec.name}", err=True)
            phase.now = f"lab {spec.name}"
            rows.append(_run_one(run_lab, spec, root / spec.name))
        index = write_index(root, rows)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(index.read_text())
    failed = [r["name"] for r in rows if not r["ok"]]
    if failed:
        raise LabRunError(f"{len(failed)} of {len(rows)} labs failed ({', '.join(failed)}); see {index}")


def _run_one(run_lab: Any, spec: LabSpec, out: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"name": spec.name, "title": spec.title, "out": str(out), "error": None}
    start = time.monotonic()
    try:
        result = run_lab(spec, out)
    except LabError as err:
        row["seconds"] = round(time.monotonic() - start, 1)
        row.update(
            ok=False,
            error=str(err),
            observations_ok=0,
            observations_total=len(spec.observations),
            questions=sum(not q.manual for q in spec.questions),  # the auto-marked ones
            coverage=None,
            unanswered=[],
        )
        return row
    row["seconds"] = round(time.monotonic() - start, 1)
    report = result.report
    obs = report.get("observations", [])
    cov = report["coverage"]
    # the runner's verdict also holds what no observation covers: a program's exit status, a server never
    # ready, a step timed out; a lab whose programs failed is not "ok" because its checks happened to hold.
    # Observations and coverage are counted below from the report, so their failures are not repeated.
    obs_failed = [o.get("label") or o.get("check") for o in obs if not o.get("ok")]
    other = [f.text for f in result.failures if f.kind not in ("observation", "unexplained")]
    row.update(
        out=str(result.out),
        observations_ok=sum(1 for o in obs if o.get("ok")),
        observations_total=len(obs),
        failed=obs_failed + other,
        coverage=cov,
        questions=sum(not q.manual for q in spec.questions),  # the auto-marked ones
        unanswered=[f.text for f in result.failed("question")],
    )
    row["ok"] = (
        not other
        and row["observations_ok"] == row["observations_total"]
        and cov["explained"] == cov["total"]
    )
    return row


def write_index(root: Path, rows: list[dict[str, Any]]) -> Path:
    """index.json (the rows) and index.md (a table a student can read) in ``root``; returns index.md."""
    write_atomic(root / "index.json", json.dumps({"labs": rows}, indent=2) + "\n")
    lines = [
        "# Lab catalogue results",
        "",
        "| lab | result | observations | packets explained | answered | seconds | run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cov = r["coverage"]  # None: the lab did not run
        covtext = f"{cov['explained']}/{cov['total']}" if cov is not None else "-"
        asked = r["questions"]
        answered = asked - len(r["unanswered"])
        result = "ok" if r["ok"] else f"FAILED{': ' + r['error'] if r.get('error') else ''}"
        lines.append(
            f"| {r['name']} | {result} | {r['observations_ok']}/{r['observations_total']} | {covtext} | "
            f"{answered}/{asked} | {r.get('seconds', '-')} | {r['out']} |"
        )
    failed = [r for r in rows if r.get("failed")]
    if failed:
        lines += ["", "## Failed observations"]
        lines += [f"- {r['name']}: {f}" for r in failed for f in r["failed"]]
    path = root / "index.md"
    write_atomic(path, "\n".join(lines) + "\n")
    return path


@click.command("check")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("answers_file", type=click.Path(path_type=Path))
@click.option("--lab", "lab_file", metavar="LAB.yaml", default=None,
              help="the teacher's lab file (default: the shipped catalogue lab the run names)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable grades (never the key)")
def check(run_dir: Path, answers_file: Path, lab_file: str | None, as_json: bool) -> None:
    """Grade ANSWERS_FILE (YAML/JSON: question id -> answer) against the key of RUN_DIR.

    The key is recomputed from the run's raw evidence (capture.pcapng and traces/) against the teacher's
    lab file, never the run's own copy; the run's manifest is checked on the way. Nothing printed holds
    the key. Exit 0 when every answer is right and nothing is flagged, 1 otherwise.
    """
    from lab.labs.grading import grade

    partial = RunPaths(run_dir).partial_reason()
    if partial:  # answers graded against half a capture would be graded wrong
        raise UsageError(f"{run_dir} is a partial run ({partial}): run the lab again to completion")
    result = grade(run_dir, answers_file, lab_file)
    click.echo(json.dumps(result.to_json(), indent=2, default=str) if as_json else result.summary())
    if result.flags or result.problems:
        first = (result.flags or result.problems)[0]
        raise LabError(f"the run cannot be trusted as it is: {first}")
    if not result.all_correct:
        raise LabError(f"{result.total - result.correct} of {result.total} answers not correct")


@click.command("submit")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--answers", "answers_file", required=True, type=click.Path(path_type=Path),
              help="your answers (YAML/JSON: question id -> answer)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="where to write the bundle (default: the current directory)")
def submit(run_dir: Path, answers_file: Path, out_dir: Path | None) -> None:
    """Write one bundle (tar.gz) to hand in: the run's manifest, raw capture, call logs and your answers.

    The run must have been made with `lab run NAME --student ID` and be unchanged since.
    """
    from lab.classroom.bundle import submit as write_bundle
    from lab.labs.grading import read_answers
    from lab.labs.spec import did_you_mean

    path = write_bundle(run_dir, answers_file, out_dir)
    # a mistyped id would silently score nothing: say so now, while the student can still fix it
    ids = [q.id for q in load_lab(RunPaths(Path(run_dir)).lab_file, check_topology=False).questions]
    given = read_answers(answers_file)
    for qid in given:
        if qid not in ids:
            click.echo(f"lab: warning: {answers_file}: '{qid}' is not a question of this lab"
                       f"{did_you_mean(qid, ids)}", err=True)
    for qid in ids:
        if qid not in given:
            click.echo(f"lab: warning: {answers_file}: no answer to '{qid}'", err=True)
    click.echo(str(path))


@click.command("grade")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--lab", "lab_file", metavar="LAB.yaml", required=True, help="the teacher's lab file")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="where to write grades.csv, grades.json and feedback/ (default: FOLDER/grades)")
@click.option("--json", "as_json", is_flag=True, help="print grades.json (it holds the key: teacher only)")
def grade_cmd(folder: Path, lab_file: str, out_dir: Path | None, as_json: bool) -> None:
    """Grade every bundle (*.tar.gz from `lab submit`) in FOLDER against the teacher's lab file.

    Writes a score table (grades.csv, grades.json) and one feedback file per student, and prints a
    one-line summary. Exit 0 when every bundle was graded and none flagged, 1 otherwise.
    """
    from lab.classroom.batch import grade_folder, summary_line, write_outputs

    spec = load_lab(lab_file)
    subs = grade_folder(folder, spec)
    out = out_dir or Path(folder) / "grades"
    doc = write_outputs(spec, subs, out)
    click.echo(json.dumps(doc, indent=2, default=str) if as_json else summary_line(spec, subs, out))
    attention = [s for s in subs if s.status != "graded"]
    if attention:
        raise LabError(f"{len(attention)} of {len(subs)} bundle(s) need the teacher's attention "
                       f"(refused or flagged): see {out / 'grades.csv'}")


COMMANDS: list[click.Command] = [labs, check, submit, grade_cmd]
