"""Run directories without root: one run per directory, outputs complete or absent, partial runs marked.

Lab runs into a reused ``--out`` (which used to merge the first run's call logs into the second's) are
tested for real in tests/runner/test_outputs_signals.py; here the rules themselves, and the verbs that read
a run directory (``lab show``, ``lab check``, ``lab labs run-all``'s refusal).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.errors import CaptureError, UsageError
from lab.interrupts import Terminated, describe
from lab.paths import PARTIAL, Phase, RunPaths, claim_out_dir, claim_run_dir, marked_partial, write_atomic

REPO = Path(__file__).resolve().parents[2]

LAB = [sys.executable, "-m", "lab"]


def _lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LAB, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


# -- claiming ---------------------------------------------------------------------------------------------
def test_a_new_or_empty_directory_is_claimed_and_marked_running(tmp_path: Path) -> None:
    for out in (tmp_path / "new" / "run", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        paths = claim_run_dir(out, "x")
        assert paths.root == out and paths.traces_dir.is_dir() and paths.logs_dir.is_dir()
        assert (out / PARTIAL).read_text().startswith(f"running: pid {os.getpid()} start ")
        assert paths.partial_reason() == f"still running (pid {os.getpid()})"


def test_a_directory_holding_anything_is_refused_and_left_untouched(tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "traces").mkdir(parents=True)
    (out / "traces" / "calls-1.jsonl").write_text('{"call": "connect"}\n')
    with pytest.raises(UsageError, match=r"--out .*run is not empty \(traces\): a run never writes into"):
        claim_run_dir(out, "x")
    assert sorted(p.name for p in out.rglob("*")) == ["calls-1.jsonl", "traces"]  # no marker left behind


def test_of_two_claims_of_one_empty_directory_only_one_wins(tmp_path: Path) -> None:
    out = tmp_path / "run"
    claim_out_dir(out, "x")
    with pytest.raises(UsageError, match="is not empty"):
        claim_out_dir(out, "x")
    assert len(list(out.iterdir())) == 1  # the winner's marker only


def test_a_file_as_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        claim_out_dir(tmp_path / "f", "x")


def test_without_out_each_run_gets_a_fresh_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = claim_out_dir(None, "lab"), claim_out_dir(None, "lab")
    assert first != second and first.parent == second.parent == Path("captures")


# -- atomic outputs ---------------------------------------------------------------------------------------
def test_write_atomic_leaves_no_temporary_file_and_never_half_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, "old\n")

    def interrupted(self: Path, other: Path) -> None:
        assert self.read_text() == "new, complete\n"  # the whole new content exists, under another name
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new, complete\n")
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


# -- partial marking --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (KeyboardInterrupt(), "interrupted by SIGINT during capture"),
        (Terminated(143), "terminated by SIGTERM during capture"),
        (CaptureError("dumpcap stopped"), "failed (dumpcap stopped) during capture"),
    ],
)
def test_an_interrupted_or_failed_run_is_marked_with_why_and_when(
    tmp_path: Path, raised: BaseException, reason: str
) -> None:
    paths = claim_run_dir(tmp_path / "run", "x")
    write_atomic(paths.report, json.dumps({"lab": "x", "partial": False}))
    phase = Phase()
    with pytest.raises(type(raised)) as caught, marked_partial(paths, phase):
        phase.now = "capture"
        raise raised
    assert paths.partial_reason() == reason
    report = json.loads(paths.report.read_text())
    assert report["partial"] is True and report["partial_reason"] == reason
    if not isinstance(raised, CaptureError):  # a signal's one line says where the partial outputs are
        assert describe(caught.value).endswith(f"; partial outputs in {paths.root} (marked PARTIAL)")


def test_a_complete_run_loses_its_marker(tmp_path: Path) -> None:
    paths = claim_run_dir(tmp_path / "run", "x")
    with marked_partial(paths, Phase()):
        pass
    assert paths.partial_reason() is None and not (paths.root / PARTIAL).exists()


def test_a_marker_whose_process_is_gone_says_the_run_was_killed(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (tmp_path / PARTIAL).write_text(f"running: pid {child.pid} start 1\n")
    assert RunPaths(tmp_path).partial_reason() == (
        f"the run (pid {child.pid}) ended without finishing: killed, or the machine stopped"
    )


# -- verbs that read a run directory ----------------------------------------------------------------------
def _partial_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "ladder.txt").write_text("tcp-echo: a ladder\n")
    (run / PARTIAL).write_text("terminated by SIGTERM during analysis\n")
    return run


def test_lab_show_says_a_run_is_partial_on_stderr_and_keeps_stdout_clean(tmp_path: Path) -> None:
    run = _partial_run(tmp_path)
    done = _lab("show", str(run))
    assert done.returncode == 0 and done.stdout == "tcp-echo: a ladder\n"
    assert done.stderr == f"lab: {run} is a PARTIAL run: terminated by SIGTERM during analysis\n"
    (run / "ladder.txt").unlink()
    done = _lab("show", str(run))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"lab: {run} is a partial run (terminated by SIGTERM during analysis): it has no ladder.txt"
    )


def test_lab_check_refuses_to_grade_a_partial_run(tmp_path: Path) -> None:
    run = _partial_run(tmp_path)
    answers = tmp_path / "answers.yaml"
    answers.write_text("syn-seq: 1\n")
    done = _lab("check", str(run), str(answers))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"lab: {run} is a partial run (terminated by SIGTERM during analysis): "
        "run the lab again to completion"
    ]


def test_run_all_refuses_a_used_out_before_running_anything(tmp_path: Path) -> None:
    out = tmp_path / "all"
    (out / "tcp-echo" / "traces").mkdir(parents=True)
    (out / "tcp-echo" / "traces" / "calls-1.jsonl").write_text("{}\n")
    done = _lab("labs", "run-all", "--only", "tcp-echo", "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"lab: --out {out} is not empty (tcp-echo): a run never writes into another run's directory; "
        "choose a new or empty directory, or leave out --out for a fresh captures/<name>-<time>/"
    ]
    assert sorted(p.name for p in out.rglob("*")) == ["calls-1.jsonl", "tcp-echo", "traces"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_any_verb_ends_in_one_line_and_its_exit_code(tmp_path: Path, sig: int) -> None:
    """`lab show` blocked reading a FIFO (no network, no runner): the CLI's own handlers unwind it."""
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "ladder.txt")
    proc = subprocess.Popen(
        [*LAB, "show", str(run)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    writer = None
    try:
        deadline = time.monotonic() + 30
        while writer is None and time.monotonic() < deadline:  # a writer can open once the reader has
            try:
                writer = os.open(run / "ladder.txt", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.02)
        assert writer is not None, "lab show never opened the ladder"
        time.sleep(0.2)  # now blocked in read(), waiting for bytes that never come
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        if writer is not None:
            os.close(writer)
    name = "interrupted (SIGINT)" if sig == signal.SIGINT else "terminated (SIGTERM)"
    assert (proc.returncode, out, err) == (128 + sig, "", f"lab: {name}\n")



def test_an_interrupted_run_all_marks_its_directory_and_says_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lab.runner
    from lab.cli.main import main

    def interrupted(spec: object, out: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lab.runner, "run_lab", interrupted)
    out = tmp_path / "all"
    assert main(["labs", "run-all", "--only", "tcp-echo", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"lab: interrupted (SIGINT); partial outputs in {out} (marked PARTIAL)"
    assert RunPaths(out).partial_reason() == "interrupted by SIGINT during lab tcp-echo"
    assert not (out / "index.md").exists()
