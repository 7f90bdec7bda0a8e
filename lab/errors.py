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
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the user can act on; ``str(err)`` is the one-line message."""

    exit_code = 1


class UsageError(LabError):
    exit_code = 2


class TopologyError(LabError):
    """A topology that cannot be realized. The message names the file, node or link, and the problem."""

    exit_code = 3

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


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
