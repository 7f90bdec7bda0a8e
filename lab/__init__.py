"""lab: a network simulation and packet-capture lab that explains every packet.

The package is laid out by the stages a run's data passes through (see STYLE): ``topology`` describes,
``emulation`` realizes, ``tracing`` records socket calls, ``capture`` records packets, ``analysis`` decodes
and attributes them, ``report`` renders, ``labs`` is the catalogue and ``cli`` is the thin shell over it all.

As a library (the names below are the stable API)::

    import lab

    run = lab.run("tcp-echo")                  # a lab of the catalogue, or a lab file; -> Run
    run = lab.open("captures/tcp-echo-...")    # a finished run directory; -> Run
    run = lab.analyze("trace.pcapng")          # any capture; -> Run
    p = run.packet(9)                          # Packet: layers, role, cause (with its Call objects)
    p.scapy().summary(); p.pyshark()           # the frame through scapy / tshark
    for p in run.filter(role="data", node="h1"): ...
    with lab.network("routed") as net: ...     # a live network for a script (lab.session)

Importing ``lab`` is cheap: the heavy parts (networkx, scapy, the analysis) load when first used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.runs import Call, Conversation, Packet, Run
    from lab.runs import open_run as open  # noqa: A001 - lab.open(run_dir) reads as the issue spells it
    from lab.session import Session

__version__ = "0.1.0"
__all__ = ["Call", "Conversation", "Packet", "Run", "analyze", "network", "open", "run", "__version__"]
_FROM_RUNS = {"Call": "Call", "Conversation": "Conversation", "Packet": "Packet", "Run": "Run",
              "open": "open_run"}  # lab.open(run_dir) reads as the issue and the README spell it


def __getattr__(name: str) -> Any:
    """``lab.Run``, ``lab.open``, ...: ``lab.runs`` loads when one is first asked for, so that a command
    that only analyzes (``lab analyze``, every ``lab`` subcommand imports this package) does not import it
    and what it imports (html, tempfile, thread pools: ~15 ms of start-up and 2 MiB)."""
    if name in _FROM_RUNS:
        from lab import runs

        return getattr(runs, _FROM_RUNS[name])
    raise AttributeError(f"module 'lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM_RUNS))


def run(name_or_file: str | Path, out: str | Path | None = None, *, loopback: bool = False,
        **options: Any) -> Run:
    """Run a lab of the catalogue (``"tcp-echo"``) or a lab file end to end and return the finished run.

    A run whose programs failed, whose expected observations did not hold or that left a packet
    unexplained still returns: see ``Run.ok`` and ``Run.failures``. Needs root, like ``lab run``.

    Raises:
        LabError: the run could not take place (privileges, tools, a bad lab file).
    """
    from lab.runner import run_lab
    from lab.runs import Run

    result = run_lab(name_or_file, Path(out) if out is not None else None, loopback=loopback, **options)
    return Run(result.out)


def analyze(path: str | Path, calls: str | Path | list[dict[str, Any]] | None = None,
            out: str | Path | None = None) -> Run:
    """Explain any pcap/pcapng (gzip or not), as ``lab analyze`` does, and return the result as a ``Run``.

    Args:
        path: the capture.
        calls: a calls.jsonl recorded elsewhere (or its records): exact causes instead of inferred ones.
        out: the output directory (default ``captures/analyze-<UTC time>``).
    """
    import json

    from lab.analysis.pipeline import analyze_capture
    from lab.paths import RunPaths, default_out_dir
    from lab.runs import Run
    from lab.tracing.merge import load_calls

    records = load_calls(Path(calls)) if isinstance(calls, str | Path) else calls
    paths = RunPaths(Path(out) if out is not None else default_out_dir("analyze")).make()
    analyze_capture(Path(path), paths.root, calls=records)
    if records is not None:  # so that the Run's causes can name their Call objects
        paths.calls.write_text("".join(json.dumps(r) + "\n" for r in records))
    return Run(paths.root)


def network(topology: Any, *, loopback: bool = False, out: str | Path | None = None) -> Session:
    """A topology brought up for a ``with`` block, with traced programs and explained captures
    (``lab.session``)."""
    from lab.session import network as _network

    return _network(topology, loopback=loopback, out=out)
