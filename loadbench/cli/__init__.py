"""The command line: one module per group of verbs, each parsing options, calling one library
function and formatting what it returns.

The CLI is the only layer that prints or exits. Every error the library raises on purpose is a
``LoadbenchError`` and becomes one line on stderr (``loadbench: error: ...``) with exit code 2;
click's own usage errors are made one line too; Ctrl-C exits with 130. Anything else escaping is
a bug and keeps its traceback. Modules: ``build`` (build, inspect), ``measure`` (run, bench,
trace), ``analyse`` (stats, compare, correlate), ``publish`` (report, export, import, merge),
``tools`` (etl, doctor); ``common`` holds the shared option decorators and output helpers.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from loadbench import __version__
from loadbench.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, fail
from loadbench.errors import (
    DISPLAY_ERRORS,
    LoadbenchError,
    Terminated,
    register_display_errors,
)


class _Group(click.Group):
    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Click's own usage errors become one line too (click prints three by default)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx else "loadbench"
            click.echo(f"loadbench: error: {e.format_message()} (see: {cmd} --help)", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as e:
            click.echo(f"loadbench: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("loadbench: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
        sys.exit(0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LoadbenchError as e:
            fail(str(e))
        except KeyboardInterrupt:
            click.echo("loadbench: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Terminated as e:
            import signal

            click.echo(f"loadbench: terminated by {signal.Signals(e.signum).name}", err=True)
            sys.exit(128 + e.signum)


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loadbench")
def cli() -> None:
    """Measure what it costs the operating system to load and start a binary.

    Shell completion: eval "$(_LOADBENCH_COMPLETE=bash_source loadbench)" (zsh_source,
    fish_source for other shells).
    """


def _register() -> None:
    from loadbench.cli import analyse, build, measure, publish, tools

    for module in (build, measure, analyse, publish, tools):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    import signal

    # SIGTERM and SIGHUP would end Python on the spot, leaving a running `go build` or perf
    # behind: raise instead, so every cleanup runs (a run replaces these with a stop request).
    # A signal ignored by whoever started loadbench (`nohup`: SIGHUP) stays ignored.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is not signal.SIG_IGN:
            signal.signal(getattr(signal, name), _terminate)
    # a path or argument that is not UTF-8 prints as \xNN instead of failing the output
    register_display_errors()
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=DISPLAY_ERRORS)
    cli.main(args=argv, prog_name="loadbench")


__all__ = ["cli", "main"]
