"""The ``lab`` command: a click group whose verbs live in one module each."""

from __future__ import annotations

import sys

import click

from lab import __version__
from lab.cli import analyze, labs, run, topo, trace
from lab.errors import LabError

VERB_MODULES = (run, labs, topo, trace, analyze)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lab")
def cli() -> None:
    """Network lab: real namespaces, real sockets, every packet explained.

    Typical use: `lab run tcp-echo` builds two hosts, runs a TCP echo server and client, captures the
    link and writes an annotated pcapng, packets.jsonl, calls.jsonl and a ladder diagram.
    """


for _module in VERB_MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


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
