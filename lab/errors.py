"""The one exception tree of the lab.

Library code raises these; only the CLI turns them into a one-line message and an exit code, so that a
user never sees a traceback for a problem that is theirs (bad input, missing privileges, missing tools)::

    LabError                      exit 1   anything the user can act on
    ├── UsageError                exit 2   bad arguments or an unknown name
    ├── TopologyError             exit 3   a topology file or graph that cannot be realized
    ├── PrivilegeError            exit 4   needs root (network namespaces)
    ├── ToolMissingError          exit 5   tshark/dumpcap/strace/ip missing: run `make setup`
    ├── EmulationError            exit 6   the kernel refused a step (netns, veth, route, qdisc)
    ├── CaptureError              exit 7   a capture did not start, or lost its readiness probes
    ├── PcapFormatError           exit 8   a capture file that cannot be read (or only partly)
    ├── TraceError                exit 9   a socket-call log that cannot be recorded or parsed
    └── LabRunError               exit 10  a lab's program failed or its expectations were not met

An error about a file carries where it is, as fields rather than text: ``file``, ``line`` (1-based, when
the format has lines: YAML marks give them) and ``key`` (the path to the value, dotted: ``nodes.h2.kind``,
``links.3.loss``, ``steps.2.node``; list items are counted from 1, as every message counts them). All of
them render the same one line, the compiler's ``FILE:LINE: KEY: problem``::

    topologies/x.yaml:12: nodes.h2.kind: unknown kind 'swich' (expected one of host, router, switch)
    topologies/x.graphml (graphml read by networkx: no line numbers): nodes.h2.kind: unknown kind ...

``no_line`` says why a file error has no line (a format that keeps none), so that its absence is stated,
not silent. A caller that knows more (the file, the line of a key) fills the fields in with ``locate``.
"""

from __future__ import annotations

from collections.abc import Callable


def one_line(text: str) -> str:
    """``text`` with every unprintable character escaped (a newline as ``\\n``, ESC as ``\\x1b``): a
    message stays one line and cannot drive the terminal, whatever a file put in a key or a name."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def where_text(file: str | None, line: int | None = None, key: str | None = None,
               no_line: str | None = None) -> str:
    """``FILE:LINE: KEY`` (or ``FILE (NO_LINE): KEY``), the parts that are known; "" when none is."""
    place = file or ""
    if file and line:
        place = f"{file}:{line}"
    elif file and no_line:
        place = f"{file} ({no_line})"
    return ": ".join(p for p in (place, key) if p)


class LabError(Exception):
    """Base of every error the user can act on; ``str(err)`` is the one-line message.

    ``problem`` is what is wrong; ``file``, ``line``, ``key`` and ``no_line`` where (module docstring).
    """

    exit_code = 1

    def __init__(self, problem: str = "", *, file: str | None = None, line: int | None = None,
                 key: str | None = None, no_line: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        self.no_line = no_line

    def __str__(self) -> str:
        where = where_text(self.file, self.line, self.key, self.no_line)
        return one_line(f"{where}: {self.problem}" if where else self.problem)

    def locate(self, *, file: str | None = None, lines: Callable[[str], int | None] | None = None,
               no_line: str | None = None) -> LabError:
        """Fill in what the raiser did not know: the file, the line of ``key`` (``lines(key)``), or why
        there is no line. Fields already set are kept. Returns ``self``, to ``raise err.locate(...)``."""
        if self.file is None and file is not None:
            self.file = str(file)
        if self.file is not None and self.line is None:
            if lines is not None and self.key is not None:
                self.line = lines(self.key)
            if self.line is None and self.no_line is None:
                self.no_line = no_line
        return self


class UsageError(LabError):
    exit_code = 2


class TopologyError(LabError):
    """A topology that cannot be realized: ``file`` (alias ``source``), ``line``, ``key`` and the problem."""

    exit_code = 3

    def __init__(self, problem: str, *, source: str | None = None, file: str | None = None,
                 line: int | None = None, key: str | None = None, no_line: str | None = None) -> None:
        super().__init__(problem, file=file if file is not None else source, line=line, key=key,
                         no_line=no_line)

    @property
    def source(self) -> str | None:
        return self.file


class PrivilegeError(LabError):
    exit_code = 4


class ToolMissingError(LabError):
    exit_code = 5

    def __init__(self, tool: str, purpose: str = "") -> None:
        self.tool = tool
        why = f" (needed {purpose})" if purpose else ""
        super().__init__(f"{tool} is not installed{why}; run `make setup`")


class EmulationError(LabError):
    exit_code = 6


class CaptureError(LabError):
    exit_code = 7


class PcapFormatError(LabError):
    exit_code = 8


class TraceError(LabError):
    exit_code = 9


class LabRunError(LabError):
    exit_code = 10
