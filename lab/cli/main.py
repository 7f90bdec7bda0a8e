"""The ``lab`` command: a click group whose verbs live in one module each."""

from __future__ import annotations

import importlib
import os
import select
import shlex
import signal
import subprocess
import sys

import click

from lab import __version__
from lab.errors import LabError
from lab.interrupts import Terminated, describe, signal_of, signals_raise

# verb -> module exposing it in COMMANDS. Modules are imported only when their verb is used, so that
# `lab analyze` does not pay for networkx and `lab show` does not pay for the analyzer.
VERBS = {
    "run": "run",
    "show": "run",
    "labs": "labs",
    "check": "labs",
    "submit": "labs",
    "grade": "labs",
    "up": "topo",
    "exec": "topo",
    "down": "topo",
    "clean": "topo",
    "ps": "topo",
    "topo": "topo",
    "trace": "trace",
    "analyze": "analyze",
    "explain": "live",
    "watch": "live",
}


class _Unwound(BaseException):
    """Carries a KeyboardInterrupt past click, which would print an empty line and turn it into Abort."""

    def __init__(self, err: BaseException) -> None:
        super().__init__()
        self.err = err


class _LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as err:
            raise _Unwound(err) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = VERBS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"lab.cli.{module_name}")
        return next((c for c in module.COMMANDS if c.name == cmd_name), None)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lab")
def cli() -> None:
    """Network lab: real namespaces, real sockets, every packet explained.

    Typical use: `lab run tcp-echo` builds two hosts, runs a TCP echo server and client, captures the
    link and writes an annotated pcapng, packets.jsonl, calls.jsonl and a ladder diagram.
    """


def _stdout_closed() -> bool:
    """Whether our stdout is a pipe or socket whose reader has gone (``lab show DIR | head -1``).

    Asked of the descriptor itself, so an EPIPE from some other pipe (a child's stdin) is not mistaken for
    the reader of our output having had enough."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


def _quiet_exit_on_closed_stdout() -> int:
    """Exit 0 without a word: the reader took what it wanted. Later writes and the interpreter's final
    flush go to /dev/null, so Python does not print "Exception ignored ... BrokenPipeError" at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ is not None else 1)
    finally:
        os.close(devnull)
    return 0


def _command_text(cmd: object, limit: int = 160) -> str:
    text = shlex.join(map(str, cmd)) if isinstance(cmd, list | tuple) else str(cmd)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a LabError becomes ``lab: <message>`` on stderr and its exit code, never a traceback.

    A closed stdout pipe (``lab show DIR | head -1``) is a normal end: exit 0, silently. click itself turns
    an EPIPE into ``sys.exit(1)`` (its only SystemExit when not standalone), so a SystemExit while our stdout
    has lost its reader is that case.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()  # an EPIPE surfaces here, not as a warning at interpreter exit
    except BrokenPipeError as err:
        if _stdout_closed():
            return _quiet_exit_on_closed_stdout()
        click.echo(f"lab: {err}", err=True)
        return 1
    except SystemExit:
        if _stdout_closed():
            return _quiet_exit_on_closed_stdout()
        raise
    return code


def _interrupted(err: BaseException) -> int:
    """One line for SIGINT/SIGTERM (with what the command added, e.g. where its partial outputs are)."""
    click.echo(f"lab: {describe(err)}", err=True)
    return 128 + (signal_of(err) or signal.SIGINT)


def _main(argv: list[str] | None) -> int:
    try:
        # without standalone mode click returns ctx.exit(n)'s code (or the command's return value);
        # SIGINT and SIGTERM unwind every verb the same way (lab.interrupts), ending here in one line
        with signals_raise():
            code = cli.main(args=argv, prog_name="lab", standalone_mode=False)
    except LabError as err:
        click.echo(f"lab: {err}", err=True)
        return err.exit_code
    except _Unwound as wrapped:
        return _interrupted(wrapped.err)
    except (KeyboardInterrupt, Terminated) as err:
        return _interrupted(err)
    except click.exceptions.Abort:
        click.echo("lab: interrupted (SIGINT)", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except subprocess.TimeoutExpired as err:  # a library call that should have mapped it to a LabError
        click.echo(f"lab: {_command_text(err.cmd)} timed out after {err.timeout:g}s", err=True)
        return 1
    except BrokenPipeError:
        raise  # main() decides whether it was our stdout
    except OSError as err:
        click.echo(f"lab: {err}", err=True)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
