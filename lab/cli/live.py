"""``lab explain RUN`` and ``lab watch RUN``: a network brought up by hand, explained on demand and live."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("explain")
@click.argument("run_id")
@click.option("--since", default=None,
              help="only packets from this many seconds after `lab up` (or an epoch time)")
@click.option("--last", default=None, help="only the last DURATION (30s, 2m, 500ms)")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="where to write (default: the session directory; a window: window-<time>/ inside it)")
def explain_cmd(run_id: str, since: str | None, last: str | None, out: Path | None) -> None:
    """Explain everything captured so far in run RUN_ID (a `lab up` session), as a lab run does:
    annotated.pcapng, packets.jsonl, calls.jsonl, ladder.txt, report.json and report.html."""
    from lab.live import explain

    target, explained = explain(run_id, since=since, last=last, out=out)
    cov = explained.coverage
    click.echo(f"{cov['total']} packets, {cov['explained']} explained by a call, the kernel or the lab "
               f"({cov['ratio']:.0%}); {len(explained.calls)} calls")
    click.echo(f"wrote {target}/ladder.txt, {target}/packets.jsonl, {target}/report.html")



@click.command("watch")
@click.argument("run_id")
@click.option("--node", default=None, help="only packets captured on this node's links")
@click.option("--filter", "filter_expr", default=None,
              help="space-separated terms, all must hold: tcp, udp, arp, icmp, dns..., port=N, host=ADDR, "
                   "role=CODE, mine (sent by a traced call)")
@click.option("--interval", default=0.25, show_default=True, type=click.FloatRange(0.05, 10),
              help="seconds between looks at the capture")
def watch_cmd(run_id: str, node: str | None, filter_expr: str | None, interval: float) -> None:
    """Show the packets of run RUN_ID (a `lab up` session) as they happen: layers, role, then the cause as
    soon as the call behind it is recorded ("cause pending" until then). Ctrl-C stops watching, not the
    network."""
    from lab.live import live_dir_of
    from lab.watch import parse_filter, watch

    live = live_dir_of(run_id)
    parse_filter(filter_expr)  # a bad filter is one line before anything is printed
    if node is not None and node not in live.session()["nodes"]:
        raise click.UsageError(f"run {run_id}: no node {node!r}")
    click.echo(f"watching run {run_id} ({live.root}); Ctrl-C stops watching, the network stays up")
    try:
        watch(live, node=node, filter_expr=filter_expr, emit=lambda line: click.echo(line), interval=interval)
    except KeyboardInterrupt:
        click.echo(f"stopped watching; run {run_id} is still up (lab down {run_id} ends it)", err=True)
        return
    click.echo(f"run {run_id} went down")


COMMANDS = [explain_cmd, watch_cmd]
