"""Verbs that are tools beside the pipeline: ``etl`` (Windows traces, offline) and ``doctor``."""

from __future__ import annotations

import click

from loadbench.cli.common import fail, json_out


@click.group()
def etl() -> None:
    """Offline analysis of Windows ETW traces (.etl, or a .zip holding one), on any OS."""


@etl.command("summarize")
@click.argument("trace", metavar="TRACE.etl[.zip]")
@click.option("--pid", type=int, default=None, help="Only this process id.")
@click.option("--json", "as_json", is_flag=True)
def etl_summarize(trace: str, pid: int | None, as_json: bool) -> None:
    """Processes with lifetime, image loads and hard faults, decoded by loadbench's own ETL
    reader (XPRESS-compressed buffers included)."""
    from loadbench.etl import EtlError, render_text, summarize

    try:
        summary = summarize(trace, pid=pid)
    except EtlError as e:
        fail(str(e))
    except FileNotFoundError:
        fail(f"{trace}: no such file")
    if pid is not None and not summary.processes:
        fail(f"no process with pid {pid} in {trace}")
    if as_json:
        json_out(summary.to_json())
    else:
        click.echo(render_text(summary))


@click.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> None:
    """What this machine can measure, and what to do about each gap."""
    from loadbench import doctor as doc

    checks = doc.checks()
    if as_json:
        json_out([c.to_json() for c in checks])
        return
    for c in checks:
        mark = "ok  " if c.ok else "MISS"
        click.echo(f"[{mark}] {c.name}: {c.detail}")
        if not c.ok and c.fix:
            click.echo(f"       -> {c.fix}")


COMMANDS = (etl, doctor)
