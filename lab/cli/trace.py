"""``lab trace -- CMD ARGS...``: run one command with every socket call recorded (calls.jsonl)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import click

from lab.errors import LabRunError, ToolMissingError, UsageError
from lab.paths import RunPaths, default_out_dir
from lab.tracing import is_python_command, merge_traces, wrap_command
from lab.tracing.summary import format_summary, summarize
from lab.tracing.wrap import check_node


@click.command("trace", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--out", "out", type=click.Path(path_type=Path), help="Output directory "
              "(default captures/trace-<UTC timestamp>/).")
@click.option("--node", default=None, help="Node name stamped on every record [default: $LAB_NODE, set by "
              "`lab exec`, else local].")
@click.option("--timeout", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds before the command is stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (the command's stdout "
              "then goes to logs/stdout.txt).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def trace_cmd(
    out: Path | None, node: str | None, timeout: float, as_json: bool, command: tuple[str, ...]
) -> None:
    """Run COMMAND with every socket call recorded, then summarize them.

    Python programs (`python3 prog.py`, `python3 -m http.server`) are recorded from inside by the lab's
    tracer; anything else (curl, nc, dig) runs under strace. Both write the same calls.jsonl:

        lab trace -- curl -s http://127.0.0.1:8000/
        lab trace --json -- python3 client.py
    """
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("trace: no command given (usage: lab trace [OPTIONS] -- CMD ARGS...)")
    prog = argv[0]
    if shutil.which(prog) is None and not (os.sep in prog and os.access(prog, os.X_OK)):
        raise UsageError(f"trace: command not found: {prog}")
    node = node or os.environ.get("LAB_NODE") or "local"
    check_node(node)
    if not is_python_command(argv) and shutil.which("strace") is None:
        raise ToolMissingError("strace", f"to trace {prog}")
    out = out or default_out_dir("trace")
    paths = RunPaths(out).make()  # an impossible --out is a one-line UsageError
    argv2, env_add = wrap_command(argv, paths.traces_dir, node)
    stdout = open(paths.logs_dir / "stdout.txt", "wb") if as_json else None  # noqa: SIM115
    try:
        status = _run(argv2, {**os.environ, **env_add}, stdout, timeout)
    finally:
        if stdout is not None:
            stdout.close()
    records = merge_traces(paths.traces_dir, paths.calls)
    summary = summarize(records)
    summary.update({"out": str(paths.root), "calls": str(paths.calls), "status": status,
                    "tracer": "python" if is_python_command(argv) else "strace"})
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(format_summary(summary))
        click.echo(f"calls: {paths.calls}")
    if status is None:
        raise LabRunError(f"{prog} still running after {timeout:g} s; stopped (trace kept in "
                          f"{paths.root})")
    if status != 0:
        raise LabRunError(f"{prog} exited with status {status} (trace kept in {paths.root})")


def _run(argv: list[str], env: dict[str, str], stdout, timeout: float) -> int | None:
    """Run in its own process group, so a timeout or Ctrl-C stops everything the command started."""
    proc = subprocess.Popen(argv, env=env, stdout=stdout, start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        return None
    except KeyboardInterrupt:
        _stop(proc)
        raise


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


COMMANDS = [trace_cmd]
