"""``lab run`` (a lab end to end) and ``lab show`` (redraw a finished run)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from lab.errors import LabRunError, UsageError
from lab.paths import RunPaths


def _outputs(paths: RunPaths) -> str:
    names = [paths.capture, paths.annotated, paths.calls, paths.packets, paths.conversations, paths.ladder,
             paths.story, paths.report, paths.page]
    return "\n".join(f"  {p}" for p in names if p.exists())


@click.command("run")
@click.argument("lab_name", metavar="NAME|FILE")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    help="Output directory: new or empty (a directory holding anything is refused, never mixed into). "
    "Default: a fresh captures/<lab>-<UTC timestamp>/.",
)
@click.option("--loopback", is_flag=True, help="Loopback topology: 127.x addresses, no root.")
@click.option(
    "--snaplen",
    type=int,
    default=None,
    metavar="BYTES",
    help="Keep only the first BYTES of each packet (e.g. 128 for bulk transfers): far less to write, so "
    "fewer drops; payload beyond it is not kept (UDP datagrams are then matched to calls by length, not "
    "content). Default: whole packets.",
)
@click.option(
    "--capture-buffer",
    "buffer_mib",
    type=int,
    default=None,
    metavar="MIB",
    help="dumpcap's kernel buffer per capture point, in MiB (default: 512 MiB shared by the run's "
    "capture points, 2 to 64 each).",
)
@click.option("--run-id", default=None, help="Name the run's namespaces (1-12 of [a-z0-9]); default random.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON instead of the ladder.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print progress.")
@click.option("--student", metavar="ID", default=None,
              help="Who runs it (letters, digits, . _ @ -): recorded in the run's manifest for `lab submit`.")
def run_cmd(
    lab_name: str,
    out: Path | None,
    loopback: bool,
    snaplen: int | None,
    buffer_mib: int | None,
    run_id: str | None,
    as_json: bool,
    quiet: bool,
    student: str | None,
) -> None:
    """Run a lab: build its network, capture, run its programs traced, explain every packet.

    Writes capture.pcapng, annotated.pcapng (a comment on every packet), calls.jsonl, packets.jsonl,
    ladder.txt, story.md and report.json, then prints the ladder. `lab labs` lists the catalogue.

    A run whose capture dropped packets fails (exit 10) and says how many were lost where; its report
    says the coverage is over an incomplete capture. Every output appears under its final name only when
    complete; until the run ends its directory holds a PARTIAL file, which an interrupted (Ctrl-C: exit
    130, SIGTERM: 143) or failed run keeps, with the reason (`lab show` says so).
    """
    from lab.capture import CaptureOptions
    from lab.emulation.names import check_run_id
    from lab.runner import run_lab

    options = CaptureOptions(buffer_mib=buffer_mib, snaplen=snaplen)
    result = run_lab(
        lab_name,
        out,
        loopback=loopback,
        log=None if quiet or as_json else sys.stderr,
        capture=options,
        student=student,
        run_id=check_run_id(run_id) if run_id else None,
    )
    report = result.report
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        click.echo(result.ladder)
        cov = report["coverage"]
        captured = report["capture"]
        over = (
            ""
            if captured["complete"]
            else f" over an INCOMPLETE capture ({captured.get('dropped', '?')} packets dropped)"
        )
        click.echo(
            f"packets: {report['packets']}  calls: {report['calls']}  explained: "
            f"{cov['explained']}/{cov['total']}{over}"
        )
        rules = ", ".join(f"{rule} {n}" for rule, n in cov["by_rule"].items())
        click.echo(f"attribution by rule: {rules}")
        for obs in report["observations"]:
            click.echo(f"  [{'ok' if obs['ok'] else 'FAILED'}] {obs['check']}: {obs['detail']}")
        click.echo(f"outputs in {result.out}/:\n{_outputs(result.paths)}")
        page = result.paths.page
        if page.exists():
            click.echo(f"open the report in a browser (offline, one file): {page}")
    if result.failures:
        raise LabRunError(
            f"lab '{report['lab']}' failed: {result.failures[0]}"
            + (f" (+{len(result.failures) - 1} more)" if len(result.failures) > 1 else "")
            + f"; outputs in {result.out}"
        )


@click.command("show")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the run's report.json.")
@click.option("--html", "as_html", is_flag=True,
              help="(Re)write the run's report.html (one self-contained page) and print its path.")
@click.option("--filter", "filters", multiple=True, metavar="FILTER",
              help="Keep only: conn=PORT|ADDR:PORT, proto=NAME, node=NAME, mine (what the programs "
                   "caused), background (show the kernel's IPv6 housekeeping). Repeatable.")
@click.option("--width", type=click.IntRange(min=20), default=None,
              help="Cut lines to this many characters (default: the terminal's width on a terminal).")
@click.option("--wide", is_flag=True, help="Never cut lines.")
def show_cmd(run_dir: Path, as_json: bool, as_html: bool, filters: tuple[str, ...], width: int | None,
             wide: bool) -> None:
    """Print the ladder of a finished run (its directory under captures/), or make its report.html.

    On a terminal the ladder is redrawn from the run's records and cut to the terminal's width; piped,
    ladder.txt is printed whole (unless --filter or --width is given).
    """
    paths = RunPaths(run_dir)
    if not paths.root.is_dir():
        raise UsageError(f"no run directory at {run_dir}")
    partial = paths.partial_reason()
    target = paths.report if as_json else paths.ladder
    if partial and not as_html and not target.exists():  # one line: nothing of it can be shown
        raise UsageError(f"{run_dir} is a partial run ({partial}): it has no {target.name}")
    if partial:  # on stderr: stdout stays the ladder (or JSON, or the page's path) alone
        click.echo(f"lab: {run_dir} is a PARTIAL run: {partial}", err=True)
    if as_html:  # a partial run's page shows what it has, marked partial
        from lab.report.html.page import write_report

        click.echo(write_report(paths.root))
        return
    if not as_json and (filters or width or (sys.stdout.isatty() and not wide)):
        from lab.report.ladder import LadderFilter
        from lab.report.terminal import run_ladder

        if width is None and not wide and sys.stdout.isatty():
            width = shutil.get_terminal_size().columns
        click.echo(run_ladder(paths.root, LadderFilter.parse(filters), None if wide else width).rstrip("\n"))
        return
    if not target.exists():
        raise UsageError(f"{run_dir} has no {target.name}: not a finished lab run")
    try:  # a damaged or foreign file is one line, not a traceback
        text = target.read_bytes().decode("utf-8")
        if as_json:
            json.loads(text)
    except UnicodeDecodeError as err:
        raise UsageError(f"{target}: not UTF-8 text (byte {err.start}): a damaged or foreign file") from None
    except (ValueError, RecursionError) as err:
        raise UsageError(f"{target}: not JSON ({err}): a damaged or foreign file") from None
    click.echo(text.rstrip("\n"))


COMMANDS = [run_cmd, show_cmd]
