"""Real lab runs interrupted and reused: one line, the right exit code, nothing left, partial outputs marked.

A signal (SIGINT or SIGTERM, chosen by a seeded generator: ``LAB_TEST_SEED``, printed on failure) is sent
at a random moment inside each phase of ``lab run``: bring-up (the run's record exists, its namespaces are
being made), capture start (network up, probes not yet confirmed), programs (a 2 s pause, then a transfer)
and analysis (a few thousand packets). After the run exits nothing of it may remain: no namespace or link
with its run id, no dumpcap/strace/program process, and its directory says why it is partial.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.emulation.names import state_dir

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.root
LAB = [sys.executable, "-m", "lab"]
SIGNALS_LAB = Path(__file__).with_name("data") / "signals.yaml"
SEED = int(os.environ.get("LAB_TEST_SEED", "1004"))
PROGRESS = ("network ", "capturing on ", "  ")  # what `lab run` prints while it works (stderr)


@dataclass
class Watched:
    """A `lab run` whose stderr lines are collected, each with the time it was read."""

    proc: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, test: object, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if test():  # type: ignore[operator]
                return
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the reader take the last lines
                pytest.fail(f"lab run ended before the moment came: {self.lines}")
            time.sleep(0.005)
        pytest.fail(f"the moment never came: {self.lines}")

    def printed(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for _, line in self.lines)


def _start(out: Path, run_id: str) -> Watched:
    proc = subprocess.Popen(
        [*LAB, "run", str(SIGNALS_LAB), "--out", str(out), "--run-id", run_id],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a "Ctrl-C" to the group reaches only this run
    )
    return Watched(proc)


def _leftovers(run_id: str, out: Path) -> list[str]:
    """Everything of this run still in the kernel or the process table."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    found += [f"namespace {ln.split()[0]}" for ln in netns.splitlines() if f"-{run_id}-" in ln]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    found += [f"link {ln.split()[0]}" for ln in links.splitlines() if run_id in ln]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(out) in cmdline or f"LAB_RUN={run_id}".encode() in environ:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    if (state_dir() / f"{run_id}.json").exists():
        found.append(f"run record {run_id}.json")
    return found


# (phase, what marks its start, the window after it in seconds: well inside the phase, which lasts about
# 0.5 s (bring-up, from its record to its namespaces), 0.8 s (capture start: probes), 2.5 s (programs: a
# 2 s pause first) and 2 s or more (analysis: from its first output line))
PHASES = [
    ("bring-up", "record", 0.2),
    ("capture start", "network ", 0.3),
    ("programs", "capturing on ", 1.2),
    ("analysis", "analysis output", 0.5),
]


@pytest.mark.parametrize(("phase", "after", "window"), PHASES, ids=[p[0] for p in PHASES])
def test_a_signal_at_a_random_moment_of_each_phase(
    tmp_path: Path, phase: str, after: str, window: float, require_tool: Callable[[str], str]
) -> None:
    require_tool("dumpcap")
    rng = random.Random(f"{SEED}-{phase}")
    sig = rng.choice([signal.SIGINT, signal.SIGTERM])
    delay = rng.uniform(0, window)
    # to the lab process alone (kill PID), or to its whole process group as a terminal's Ctrl-C does: then
    # the programs, ip and probe senders it runs get the signal too, some before the lab itself
    group = rng.random() < 0.5
    target = "group" if group else "process"
    why = f"seed {SEED}: {signal.Signals(sig).name} to the {target} {delay:.3f}s into {phase}"
    run_id = f"sig{os.getpid() % 10000}{PHASES.index((phase, after, window))}"
    out = tmp_path / "run"
    watched = _start(out, run_id)
    try:
        if after == "record":
            watched.wait_for(lambda: (state_dir() / f"{run_id}.json").exists())
        elif after == "analysis output":
            staged = out / "work" / "analysis" / "packets.jsonl"
            watched.wait_for(lambda: staged.exists() and staged.stat().st_size > 0)
        else:
            watched.wait_for(lambda: watched.printed(after))
        time.sleep(delay)
        sent_at = time.monotonic()
        if group:
            os.killpg(watched.proc.pid, sig)
        else:
            watched.proc.send_signal(sig)
        watched.proc.wait(timeout=90)
    finally:
        if watched.proc.poll() is None:
            watched.proc.kill()
            watched.proc.wait()
    time.sleep(0.2)  # the reader thread takes the last line
    expected = "lab: interrupted (SIGINT)" if sig == signal.SIGINT else "lab: terminated (SIGTERM)"
    assert watched.proc.returncode == 128 + sig, (why, watched.lines)
    after_signal = [ln for t, ln in watched.lines if t >= sent_at and not ln.startswith(PROGRESS)]
    assert len(after_signal) == 1 and after_signal[0].startswith(expected), (why, watched.lines)
    assert after_signal[0].endswith(f"; partial outputs in {out} (marked PARTIAL)"), why
    assert not [ln for _, ln in watched.lines if "Traceback" in ln], (why, watched.lines)
    assert _leftovers(run_id, out) == [], why
    reason = (out / "PARTIAL").read_text()
    assert reason.startswith(
        "interrupted by SIGINT during " if sig == signal.SIGINT else "terminated by SIGTERM during "
    ), (why, reason)
    # interrupted while the analysis ran (its outputs still staged in work/analysis): none under a final name
    if "during analysis" in reason:
        assert not (out / "packets.jsonl").exists(), "half an analysis, final name"
    # nothing under a final name is half written: what exists is whole
    if (out / "packets.jsonl").exists():
        for line in (out / "packets.jsonl").read_text().splitlines():
            json.loads(line)
    if (out / "report.json").exists():
        report = json.loads((out / "report.json").read_text())
        assert report["partial"] is True and report["partial_reason"] == reason.strip(), why
    shown = subprocess.run([*LAB, "show", str(out)], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert "partial run" in shown.stderr.lower(), (why, shown.stderr)


def test_a_second_run_into_the_same_out_is_refused_and_the_first_stays_whole(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    """Issue 10: the second `lab run tcp-echo --out D` merged the first run's traces into its own."""
    require_tool("dumpcap")
    out = tmp_path / "run"
    first = subprocess.run([*LAB, "run", "tcp-echo", "--out", str(out), "-q"], cwd=REPO, capture_output=True,
                           text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    assert not (out / "PARTIAL").exists()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    second = subprocess.run([*LAB, "run", "tcp-echo", "--out", str(out), "-q"], cwd=REPO, capture_output=True,
                            text=True, timeout=180)
    assert second.returncode == 2
    [line] = second.stderr.strip().splitlines()
    assert line.startswith(f"lab: --out {out} is not empty (") and "choose a new or empty directory" in line
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
