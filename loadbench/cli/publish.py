"""Verbs that publish records: ``report``, ``export``, ``import`` and ``merge``."""

from __future__ import annotations

from pathlib import Path

import click

from loadbench.cli.common import fail, warn


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="RECORD...")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html",
              show_default=True)
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), default=None,
              help="Write here (default: stdout).")
@click.option("--title", default="loadbench report", show_default=True)
def report(inputs: tuple[str, ...], fmt: str, output: str | None, title: str) -> None:
    """Render records (result folders, record.json files or merged files) as a self-contained
    HTML page with inline SVG plots, or as Markdown. Several runs sit side by side per host."""
    from loadbench import merge, storage
    from loadbench.report import html, markdown

    merged = merge.load_inputs(inputs)
    text = (html.render_merged if fmt == "html" else markdown.render_merged)(merged, title=title)
    if output:
        storage.write_text_atomic(output, text)
        click.echo(f"report: {output}", err=True)
    else:
        click.echo(text)


@click.command()
@click.argument("record_path", metavar="RECORD")
@click.option("--format", "fmt", type=click.Choice(["pyperf", "hyperfine", "csv"]),
              required=True)
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), required=True)
def export(record_path: str, fmt: str, output: str) -> None:
    """Export a record for other tools: a pyperf BenchmarkSuite (`python -m pyperf stats`,
    `compare_to`), hyperfine's --export-json shape, or CSV with one row per launch."""
    from loadbench import storage
    from loadbench.report import csv_export, hyperfine_export, pyperf_export

    rec = storage.load_record(record_path)
    if fmt == "pyperf" and any(m.has_ok() for m in rec.measurements):
        for m in rec.measurements:
            if not m.has_ok():
                warn(f"{m.name}: no successful launch; left out of the pyperf export")
    {"pyperf": pyperf_export.export, "hyperfine": hyperfine_export.export,
     "csv": csv_export.export}[fmt](rec, output)
    click.echo(f"{fmt}: {output}", err=True)


@click.group("import")
def import_() -> None:
    """Turn other tools' results into loadbench records."""


@import_.command("hyperfine")
@click.argument("path", metavar="FILE")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), required=True,
              help="Record file to write.")
@click.option("--name", "names", multiple=True, help="Measurement names, one per command.")
def import_hyperfine(path: str, output: str, names: tuple[str, ...]) -> None:
    """A hyperfine --export-json file as a record, to compare old hyperfine runs with
    loadbench runs (`loadbench compare`)."""
    from loadbench import storage
    from loadbench.report import hyperfine_export

    rec = hyperfine_export.import_record(path, names=list(names) or None)
    if Path(output).exists():
        fail(f"{output} exists already; choose another -o")
    storage.save_record(output, rec)
    click.echo(f"record: {output} ({len(rec.measurements)} measurements)", err=True)


@click.command("merge")
@click.argument("inputs", nargs=-1, required=True, metavar="RECORD...")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), required=True)
def merge_cmd(inputs: tuple[str, ...], output: str) -> None:
    """Merge runs (e.g. from several hosts) into one file that keeps each run's host."""
    from loadbench import merge

    merged = merge.load_inputs(inputs)
    merge.save_merged(output, merged)
    click.echo(f"merged {len(merged.runs)} runs: {output}", err=True)


COMMANDS = (report, export, import_, merge_cmd)
