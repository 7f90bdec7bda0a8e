"""``lab analyze FILE``: explain any capture, layer by layer, and write the same outputs as a lab run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lab.analysis.pipeline import DEFAULT_MAX_PACKETS
from lab.analysis.reader import DEFAULT_MAX_RATIO, check_capture_path
from lab.errors import UsageError
from lab.paths import default_out_dir


def render_summary(summary: dict[str, Any]) -> str:
    """The terminal summary: what was read, conversations, handshakes, layers seen, coverage."""
    hs = summary["handshakes"]
    td = summary["teardowns"]
    conv = summary["conversations"]
    lines = [
        f"{summary['file']}: {summary['packets']} packets ({summary['format']})",
        f"conversations: {conv['tcp']} TCP, {conv['udp']} UDP "
        f"({summary['udp_request_response_pairs']} UDP request/response pairs)",
        f"handshakes:    {hs['complete']} complete of {hs['tcp_streams']} TCP streams; "
        f"teardowns: {td['fin']} by FIN, {td['rst']} by RST",
        "layers seen:   " + ", ".join(f"{k} {v}" for k, v in summary["layers_seen"].items()),
    ]
    if summary["apps"]:
        lines.append("applications:  " + ", ".join(f"{k} {v}" for k, v in summary["apps"].items()))
    lines.append("roles:         " + ", ".join(f"{k} {v}" for k, v in summary["roles"].items()))
    lines.append("causes:        " + ", ".join(f"{k} {v}" for k, v in summary["cause_sources"].items())
                 + f"  (explained by a call, the kernel or the lab: {summary['coverage']:.1%}"
                 + ("; inferred = implied by the packet alone, give --calls for exact causes)"
                    if summary["cause_sources"].get("inferred") else ")"))
    for err in summary["errors"]:
        lines.append(f"warning: {err}")
    out = summary["outputs"]
    lines.append(f"wrote {out['annotated']}, {out['packets']}, {out['conversations']}")
    return "\n".join(lines)


@click.command("analyze")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output directory (default captures/analyze-<UTC time>).")
@click.option("--calls", "calls_path", type=click.Path(path_type=Path), default=None,
              help="calls.jsonl recorded elsewhere: exact attribution instead of inference.")
@click.option("--deep", is_flag=True, help="Also let tshark dissect every protocol Wireshark knows (slow).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--max-ratio", type=click.FloatRange(min=0), default=DEFAULT_MAX_RATIO, show_default=True,
              help="Stop when a gzip capture inflates to more than this many times the compressed bytes "
                   "read (a decompression bomb); 0: no limit.")
@click.option("--max-packets", type=click.IntRange(min=0), default=DEFAULT_MAX_PACKETS, show_default=True,
              help="Stop after this many packets; 0: no limit.")
@click.option("--html/--no-html", default=True, show_default=True,
              help="Also write report.html (on a 200,000-packet capture it takes about twice as long as the "
                   "analysis itself; `lab show DIR --html` writes it later).")
def analyze_cmd(file: Path, out: Path | None, calls_path: Path | None, deep: bool, as_json: bool,
                max_ratio: float, max_packets: int, html: bool) -> None:
    """Explain every packet of a capture (pcap/pcapng, gzip or not): layers, roles, flows.

    Writes annotated.pcapng (one comment per packet), packets.jsonl, conversations.jsonl,
    summary.json and report.html (the same, as pictures: open it in any browser, offline). Analysis is
    bounded (--max-ratio, --max-packets): past a limit it stops with one line and a non-zero exit, and
    the outputs written so far are incomplete.
    """
    from lab.analysis.attribution.calllog import read_call_log
    from lab.analysis.pipeline import analyze_capture

    calls = read_call_log(calls_path) if calls_path is not None else None
    out_dir = out if out is not None else default_out_dir("analyze", create=False)
    if not file.exists():
        raise UsageError(f"{file}: no such capture file")
    check_capture_path(file)  # a directory, a FIFO, a device: one line before anything is read
    result = analyze_capture(file, out_dir, calls=calls, deep=deep, max_ratio=max_ratio or None,
                             max_packets=max_packets or None)
    page = None
    if html:
        from lab.report.html.page import write_report

        page = write_report(out_dir)
    if as_json:
        click.echo(json.dumps({**result.summary, "report_html": str(page) if page else None}, indent=2))
    else:
        click.echo(render_summary(result.summary))
        if page is not None:
            click.echo(f"open in a browser: {page}")


COMMANDS = [analyze_cmd]
