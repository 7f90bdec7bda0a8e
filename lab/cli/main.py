"""The ``lab`` command: a click group whose verbs live in one module each."""

from __future__ import annotations

import importlib
import sys

import click

from lab import __version__
from lab.errors import LabError

# verb -> module exposing it in COMMANDS. Modules are imported only when their verb is used, so that
# `lab analyze` does not pay for networkx and `lab show` does not pay for the analyzer.
VERBS = {
    "run": "run",
    "show": "run",
    "labs": "labs",
    "check": "labs",
    "up": "topo",
    "exec": "topo",
    "down": "topo",
    "clean": "topo",
    "ps": "topo",
    "topo": "topo",
    "trace": "trace",
    "analyze": "analyze",
}


class _LazyGroup(click.Group):
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a LabError becomes ``lab: <message>`` on stderr and its exit code, never a traceback."""
    try:
        cli.main(args=argv, prog_name="lab", standalone_mode=False)
    except LabError as err:
        click.echo(f"lab: {err}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("lab: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("lab: interrupted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except OSError as err:
        if err.errno == 32:  # EPIPE: `lab show | head` is not an error
            return 0
        click.echo(f"lab: {err}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
