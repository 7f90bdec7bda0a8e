"""RunPaths: the one owner of where a run's artifacts live.

Every stage writes into a run directory (``captures/<name>-<UTC timestamp>/`` by default); naming the
files in one place keeps the CLI, the runner, the analyzer and the tests agreeing on them.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from lab.errors import UsageError

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

    def make(self) -> RunPaths:
        """Create the run directory; an impossible place is the user's to fix, named in one line."""
        for d in (self.root, self.traces_dir, self.logs_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise UsageError(f"cannot create output directory {d}: {err.strerror}") from None
        return self
