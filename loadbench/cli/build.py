"""Verbs that make and read binaries: ``build`` (variant matrices) and ``inspect`` (structure)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from loadbench.cli.common import Progress, fail, go_options, json_option, json_out, quiet_option

_TARGETS = ["hello", "web", "cgo", "floor", "cmain"]


def flag_matrix(targets: tuple[str, ...], platforms: tuple[str, ...], sw: bool, pie: bool,
                quanta: tuple[str, ...]) -> dict[str, Any]:
    """``build``'s flags as a matrix for ``builder.matrix.expand``: every combination of the
    asked flavours for the Go targets; C targets are built once, natively."""
    from loadbench.builder import C_TARGETS

    for p in platforms:
        if p.count("/") != 1:
            fail(f"--platform {p!r}: expected GOOS/GOARCH, e.g. windows/amd64")
    for q in quanta:
        try:
            int(q, 0)
        except ValueError:
            fail(f"--quantum {q!r}: expected a number such as 0x10000")
    axes = [["", "sw"] if sw else [""], ["", "pie"] if pie else [""],
            ["", *(f"R={q}" for q in quanta)]]
    flavours = sorted({"+".join(t for t in (a, b, c) if t) for a in axes[0] for b in axes[1]
                       for c in axes[2]}, key=lambda f: (f.count("+"), f))
    go = [t for t in targets if t not in C_TARGETS]
    c = [t for t in targets if t in C_TARGETS]
    blocks: list[dict[str, Any]] = []
    if go:
        blocks.append({"targets": go, "platforms": list(platforms) or ["native"],
                       "flavours": flavours})
    if c:
        blocks.append({"targets": c})
    return {"description": "from the command line", "build": blocks}


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="build/loadbench",
              show_default=True, help="Where binaries and manifest.json go.")
@click.option("--quick", is_flag=True, help="The quick default matrix (fewer cross builds).")
@click.option("--preset", default="default", show_default=True,
              help="Matrix when no --target: a preset name (default, seed) or a TOML file.")
@click.option("--target", "targets", multiple=True, type=click.Choice(_TARGETS),
              help="Build these targets instead of the default matrix (repeatable).")
@click.option("--platform", "platforms", multiple=True, metavar="GOOS/GOARCH",
              help="Platforms for --target builds (repeatable; default: native).")
@click.option("--sw", is_flag=True, help="Also build with -ldflags='-s -w'.")
@click.option("--pie", is_flag=True, help="Also build with -buildmode=pie.")
@click.option("--quantum", "quanta", multiple=True, metavar="HEX",
              help="Also build with the linker's -R quantum (segment alignment), e.g. 0x10000.")
@go_options
@json_option
@quiet_option
def build(out_dir: str, quick: bool, preset: str, targets: tuple[str, ...],
          platforms: tuple[str, ...], sw: bool, pie: bool, quanta: tuple[str, ...],
          go: str | None, go_from_path: bool, as_json: bool, quiet: bool) -> None:
    """Build Go targets (and the C floor) in a variant matrix, cached by content."""
    from loadbench import builder
    from loadbench.builder.matrix import expand, load_matrix

    toolchain = builder.find_go(go, use_path=go_from_path)
    with_cc = builder.find_cc() is not None
    if targets:
        matrix = expand(flag_matrix(targets, platforms, sw, pie, quanta), name="command line",
                        with_cc=True, default_go_version=toolchain.version)
    else:
        matrix = load_matrix(preset, quick=quick, with_cc=with_cc,
                             default_go_version=toolchain.version)
    prog = Progress(quiet)
    manifest = builder.build(matrix.variants, out_dir, go=toolchain,
                             progress=lambda m: prog(0, 0, m))
    if as_json:
        json_out(manifest.to_json())
        return
    for b in manifest.built:
        click.echo(
            f"{b.name:32s} {os.path.getsize(b.path):>12,d} B  {b.goos}/{b.goarch}  "
            f"{'cached' if b.cached else f'{b.build_s:.1f} s'}  {b.path}"
        )
    for name, reason in manifest.skipped:
        click.echo(f"{name:32s} skipped: {reason}")
    click.echo(f"manifest: {Path(out_dir) / 'manifest.json'}")


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Full JSON (keys documented in README).")
def inspect(files: tuple[str, ...], as_json: bool) -> None:
    """Static structure of ELF, PE and Mach-O binaries (any binary, not only ours)."""
    from loadbench import inspector

    infos = []
    for info in inspector.inspect_isolated(list(files)):
        if isinstance(info, inspector.InspectError):
            raise info
        infos.append(info)
    if as_json:
        json_out(infos if len(infos) > 1 else infos[0])
        return
    for info in infos:
        for line in inspector.describe_lines(info):
            click.echo(line)


COMMANDS = (build, inspect)
