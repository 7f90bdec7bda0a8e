"""A finished run's ladder redrawn for a terminal (``lab show DIR``): from its records, filtered, cut to
the terminal's width. ladder.txt keeps the full-width ladder the run drew."""

from __future__ import annotations

from pathlib import Path

from lab.errors import UsageError
from lab.report import hops
from lab.report.ladder import LadderFilter, Lane, cut_to_width, render_ladder, route_notes
from lab.report.records import load_run


def run_ladder(run_dir: Path, keep: LadderFilter, width: int | None) -> str:
    """The ladder of the lab run in ``run_dir``; ``width`` None keeps every line whole.

    Raises:
        UsageError: not a lab run (an analysis directory has no nodes to draw lanes for: use --html).
    """
    records = load_run(run_dir)
    nodes = records.nodes_info
    if not nodes:
        raise UsageError(f"{run_dir}: not a lab run (no nodes in report.json); lab show {run_dir} --html "
                         "draws an analysis")
    lanes = [Lane(n, info["kind"]) for n, info in nodes.items() if info["kind"] != "switch"]
    report = records.report
    routes = report.get("routes", []) if report is not None else []  # NotRequired: a lab run without routing
    text = render_ladder(records.iter_packets(), records.calls, lanes, hops.mac_nodes_from(nodes),
                         ip_nodes=hops.ip_nodes_from(nodes), title=records.title,
                         links=hops.link_ends_from(nodes), keep=keep, notes=route_notes(routes))
    return text if width is None else cut_to_width(text, width)
