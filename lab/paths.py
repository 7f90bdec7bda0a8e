"""RunPaths: the one owner of where a run's artifacts live, and of the rules that keep them honest.

Every stage writes into a run directory (``captures/<name>-<UTC timestamp>/`` by default); naming the
files in one place keeps the CLI, the runner, the analyzer and the tests agreeing on them.

Three rules, kept here so every writer follows the same ones:

* **A run directory belongs to one run.** ``claim_run_dir`` refuses a directory that already holds
  anything (a second run into the same ``--out`` would merge its call logs with the first's), and claims
  an empty or new one by creating its ``PARTIAL`` marker exclusively, so two runs started at once cannot
  both have it.
* **Outputs appear complete or not at all.** ``write_atomic`` writes under a temporary name and renames;
  a reader never sees half a report.
* **An unfinished run says so.** ``PARTIAL`` exists from the claim until the run's last output is in
  place; an interrupted or failed run rewrites it with the reason; ``partial_reason()`` reads it (a run
  killed outright still has the ``running`` marker of a process that is gone, which it reports as such).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError, UsageError
from lab.interrupts import signal_of

PARTIAL = "PARTIAL"
_RUNNING = "running: pid "

CAPTURES_DIR = Path("captures")


def utc_stamp() -> str:
    """A filesystem-safe UTC timestamp, sortable, e.g. ``20261125T203955Z``."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def default_out_dir(name: str, base: Path = CAPTURES_DIR, *, create: bool = True) -> Path:
    """``captures/<name>-<UTC timestamp>``, created here: two runs in the same second each get their own
    (``-2``, ``-3``...) because creating the directory is the claim, not a check before it.

    ``create=False`` only names a free directory, for a verb that may still refuse its input.
    """
    stem = f"{name}-{utc_stamp()}"
    if not create:
        n = 1
        while (base / (stem if n == 1 else f"{stem}-{n}")).exists():
            n += 1
        return base / (stem if n == 1 else f"{stem}-{n}")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {base}: {err.strerror}") from None
    for n in range(1, 1000):
        candidate = base / (stem if n == 1 else f"{stem}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise UsageError(f"cannot create output directory {candidate}: {err.strerror}") from None
        return candidate
    raise UsageError(f"cannot create output directory: {base / stem}-* all exist")


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def capture(self) -> Path:
        """The raw capture, exactly as dumpcap wrote it (merged across capture points)."""
        return self.root / "capture.pcapng"

    @property
    def annotated(self) -> Path:
        """Same packets and timestamps as ``capture``, each with a packet comment."""
        return self.root / "annotated.pcapng"

    @property
    def calls(self) -> Path:
        return self.root / "calls.jsonl"

    @property
    def packets(self) -> Path:
        return self.root / "packets.jsonl"

    @property
    def conversations(self) -> Path:
        """One JSON object per TCP/UDP conversation (client, server, handshake, teardown)."""
        return self.root / "conversations.jsonl"

    @property
    def summary(self) -> Path:
        """The analysis summary: conversations, layers seen, roles, coverage."""
        return self.root / "summary.json"

    @property
    def story(self) -> Path:
        """The classic socket-flow story next to what was observed."""
        return self.root / "story.md"

    @property
    def routes(self) -> Path:
        """Route events of a dynamically routed run (routing daemons installing/removing routes)."""
        return self.root / "routes.jsonl"

    @property
    def ladder(self) -> Path:
        return self.root / "ladder.txt"

    @property
    def page(self) -> Path:
        """The report page: one offline HTML file (sequence diagram, packets, topology)."""
        return self.root / "report.html"

    @property
    def lab_file(self) -> Path:
        """The lab file the run ran, copied in, so the run can be graded and re-explained without it."""
        return self.root / "lab.yaml"

    @property
    def manifest(self) -> Path:
        """The classroom manifest: the SHA-256 of every file of a student's run (``lab submit``)."""
        return self.root / "manifest.json"

    @property
    def report(self) -> Path:
        return self.root / "report.json"

    @property
    def topology(self) -> Path:
        """The run's topology as node-link JSON (networkx), so the run can be read without its lab file."""
        return self.root / "topology.json"

    @property
    def traces_dir(self) -> Path:
        """Per-process raw call logs (tracer and strace) before they are merged into ``calls.jsonl``."""
        return self.root / "traces"

    @property
    def logs_dir(self) -> Path:
        """stdout/stderr of every program the lab ran."""
        return self.root / "logs"

    @property
    def frr_dir(self) -> Path:
        """The routing daemons' configuration and sockets of a dynamically routed run."""
        return self.work_dir / "frr"

    @property
    def work_dir(self) -> Path:
        """Raw material: dumpcap's per-namespace files and logs, the analysis before its outputs are
        renamed into place."""
        return self.root / "work"

    @property
    def partial_marker(self) -> Path:
        """Present while the run is not complete; its text says why (``partial_reason``)."""
        return self.root / PARTIAL

    def partial_reason(self) -> str | None:
        """Why this run directory is not a complete run, or None when it is.

        ``lab show``, ``lab check`` and the report call this. A marker left by a process that no longer
        exists (SIGKILL, a power cut) is reported as such rather than as still running.
        """
        try:
            text = self.partial_marker.read_text(errors="replace").strip()
        except FileNotFoundError:
            return None
        except OSError as err:
            return f"unreadable {PARTIAL} marker ({err.strerror})"
        if text.startswith(_RUNNING):
            from lab.emulation.state import process_alive  # lazy: lab show need not import emulation

            fields = text[len(_RUNNING):].split()
            try:
                pid, start = int(fields[0]), int(fields[2]) if len(fields) > 2 else None
            except (ValueError, IndexError):
                return f"the run did not finish ({text[:200]})"
            if process_alive(pid, start):
                return f"still running (pid {pid})"
            return f"the run (pid {pid}) ended without finishing: killed, or the machine stopped"
        return text.splitlines()[0][:500] if text else "the run did not finish"

    def mark_partial(self, reason: str) -> None:
        """Say why the run is incomplete (one line); replaces the ``running`` marker atomically."""
        write_atomic(self.partial_marker, " ".join(reason.split()) + "\n")

    def mark_complete(self) -> None:
        """The last output is in place: the run directory is a complete run."""
        self.partial_marker.unlink(missing_ok=True)

    def make(self) -> RunPaths:
        """Create the run directory; an impossible place is the user's to fix, named in one line."""
        for d in (self.root, self.traces_dir, self.logs_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise UsageError(f"cannot create output directory {d}: {err.strerror}") from None
        return self


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` under a temporary name in the same directory, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def claim_out_dir(out: Path | None, name: str) -> Path:
    """A new output directory, marked as running: ``captures/<name>-<UTC timestamp>/`` or ``out``.

    ``out`` must not exist yet or be empty -- a directory that holds anything is refused, never merged
    into. The claim is the exclusive creation of the ``PARTIAL`` marker, and emptiness is checked after
    it: of two runs started into the same directory at once, or one started as another finishes, exactly
    one keeps it.

    Raises:
        UsageError: ``out`` holds files, is not a directory, cannot be created, or another run claimed it.
    """
    from lab.emulation.state import process_start  # lazy: only a run claims a directory

    root = default_out_dir(name) if out is None else Path(out)
    flag = "--out " if out is not None else ""
    if root.exists() and not root.is_dir():
        raise UsageError(f"{flag}{root}: exists and is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd: int | None = os.open(root / PARTIAL, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        fd = None
    except OSError as err:
        raise UsageError(f"cannot create output directory {root}: {err.strerror}") from None
    held = sorted(p.name for p in root.iterdir() if p.name != PARTIAL or fd is None)
    if fd is None or held:
        if fd is not None:
            os.close(fd)
            (root / PARTIAL).unlink(missing_ok=True)
        shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise UsageError(
            f"{flag}{root} is not empty ({shown}): a run never writes into another run's directory; "
            "choose a new or empty directory, or leave out --out for a fresh captures/<name>-<time>/"
        )
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{_RUNNING}{os.getpid()} start {process_start(os.getpid())}\n")
    return root


def claim_run_dir(out: Path | None, name: str) -> RunPaths:
    """``claim_out_dir`` for one lab run, with its ``traces/`` and ``logs/`` created."""
    return RunPaths(claim_out_dir(out, name)).make()


class Phase:
    """What a run is doing, for the reason an interrupted or failed run leaves in its PARTIAL marker."""

    def __init__(self, now: str = "setup") -> None:
        self.now = now


@contextmanager
def marked_partial(paths: RunPaths, phase: Phase) -> Iterator[None]:
    """The directory is complete only if the block ends normally: then its PARTIAL marker goes.

    Otherwise the marker says why (the signal or error, and the phase it cut short), a report.json
    already written gets ``"partial": true`` and ``partial_reason``, and the exception goes on -- a signal
    with a note saying where the partial outputs are, for the CLI's one line.
    """
    try:
        yield
    except BaseException as err:
        sig = signal_of(err)
        if sig is not None:
            what = "interrupted by SIGINT" if sig == signal.SIGINT else "terminated by SIGTERM"
        elif isinstance(err, LabError):
            what = f"failed ({err})"
        else:
            what = f"failed ({type(err).__name__}: {err})"
        reason = f"{what} during {phase.now}"
        with contextlib.suppress(OSError, ValueError):  # the directory itself may be what failed
            paths.mark_partial(reason)
            if paths.report.exists():  # cut short after the report: it must not claim a finished run
                report = json.loads(paths.report.read_text())
                report.update(partial=True, partial_reason=reason)
                write_atomic(paths.report, json.dumps(report, indent=2) + "\n")
        if sig is not None:
            err.add_note(f"partial outputs in {paths.root} (marked {PARTIAL})")
        raise
    paths.mark_complete()
