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
@click.option("--figures", "figures_dir", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help="Also write every plot as its own file in DIR (the Markdown "
              "report links them).")
@click.option("--figure-format", type=click.Choice(["svg", "pdf", "png"]), default="svg",
              show_default=True, help="SVG and PDF keep their text as text.")
def report(inputs: tuple[str, ...], fmt: str, output: str | None, title: str,
           figures_dir: str | None, figure_format: str) -> None:
    """Render records (result folders, record.json files or merged files) as a self-contained
    HTML page with inline SVG plots, or as Markdown. Several runs sit side by side per host."""
    import os

    from loadbench import merge, storage
    from loadbench.report import content, figures, html, markdown

    rc = content.merged_content(merge.load_inputs(inputs), title=title)
    links: dict[str, str] = {}
    if figures_dir:
        base = Path(output).resolve().parent if output else Path.cwd()
        for path in figures.write_figures(rc, figures_dir, figure_format):
            links[path.stem] = os.path.relpath(path.resolve(), base)
            click.echo(f"figure: {path}", err=True)
    text = html.render_content(rc) if fmt == "html" else markdown.render_content(rc, links)
    if output:
        storage.write_text_atomic(output, text)
        click.echo(f"report: {output}", err=True)
    else:
        click.echo(text)


@click.command()
@click.argument("record_path", metavar="RECORD")
@click.option("--format", "fmt", type=click.Choice(["pyperf", "hyperfine", "csv", "markdown"]),
              required=True)
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), required=True)
@click.option("--select", "select", multiple=True, metavar="GLOB",
              help="Only measurements whose name matches (repeatable), e.g. 'web-R*' for an "
              "alignment sweep that hyperfine's plot_parametrized can plot.")
def export(record_path: str, fmt: str, output: str, select: tuple[str, ...]) -> None:
    """Export a record for other tools: a pyperf BenchmarkSuite (`python -m pyperf stats`,
    `compare_to`), hyperfine's --export-json shape, CSV with one row per launch, or the
    Markdown report."""
    from loadbench import storage
    from loadbench.report import exports

    rec = storage.load_record(record_path)
    for w in exports.export(rec, fmt, output, select):
        warn(w)
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
