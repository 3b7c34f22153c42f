"""Verbs that launch things: ``run`` (any binaries), ``bench`` (the main job) and ``trace``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from loadbench.cli.analyse import print_stats
from loadbench.cli.common import (
    EXIT_INTERRUPTED,
    POSITIVE,
    FiniteFloat,
    Progress,
    affinity_option,
    cache_option,
    exit_if_interrupted,
    export_options,
    fail,
    go_options,
    json_option,
    json_out,
    out_dir_option,
    parse_env,
    parse_probe_opts,
    probe_option,
    quiet_option,
    seed_option,
    sessions_option,
    write_exports,
)


def _argv() -> list[str]:
    return ["loadbench", *sys.argv[1:]]


@click.command()
@click.argument("binaries", nargs=-1, metavar="BINARY|COMMAND...")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue the incomplete record in this directory to its requested count.")
@click.option("--name", "names", multiple=True, help="Variant label per binary, in order.")
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Launches per binary.")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True,
              help="Warm-up launches per binary.")
@seed_option
@out_dir_option
@probe_option
@click.option("--timeout", type=FiniteFloat(min=0.001), default=10.0, show_default=True,
              help="Per-launch timeout (s), at least 0.001.")
@cache_option
@sessions_option(1, "Split the launches into this many sessions (page cache normalised, warm-up "
                 "and a fresh schedule each); with 2 or more the median's CI includes the "
                 "variation between sessions.")
@click.option("--target-ci", type=POSITIVE, default=None, metavar="PCT",
              help="Stop when every median's 95% CI half-width is below PCT% (--runs caps).")
@click.option("--max-seconds", type=POSITIVE, default=None, help="Time budget for measuring.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE",
              help="Add to the minimal target environment (repeatable).")
@click.option("--arg", "args", multiple=True, help="Argument passed to every binary.")
@click.option("--show-output", is_flag=True, help="Let targets write to this terminal.")
@click.option("--probe-opt", "probe_opts", multiple=True, metavar="KEY=VALUE",
              help="A probe setting (repeatable), e.g. launcher=python for the rusage probe.")
@affinity_option
@export_options
@quiet_option
@json_option
def run(binaries: tuple[str, ...], resume_dir: str | None, names: tuple[str, ...], runs: int,
        warmup: int, seed: int | None, out_dir: str | None, probe: str, timeout: float,
        cache: str, sessions: int, target_ci: float | None, max_seconds: float | None,
        env_pairs: tuple[str, ...], args: tuple[str, ...], show_output: bool,
        probe_opts: tuple[str, ...], affinity: str | None, export_hyperfine: str | None,
        export_pyperf: str | None, export_csv: str | None, export_markdown: str | None,
        quiet: bool, as_json: bool) -> None:
    """Launch binaries or commands interleaved and record every launch.

    Each argument is a binary, a program name looked up on PATH, or a command line in quotes
    ('python3 -S -c pass'), split as a POSIX shell splits words: no shell runs it.
    """
    from loadbench import runner

    if resume_dir:
        if binaries:
            fail("--resume continues the binaries of the stored record; pass no BINARIES")
        if affinity:
            fail("--resume pins to the CPUs the record was made on; leave --affinity out")
        ctx = click.get_current_context()
        given = [f"--{n.replace('_', '-')}" for n in ("runs", "warmup", "seed", "sessions",
                                                       "timeout", "cache", "target_ci", "probe")
                 if ctx.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT]
        given += [o for o, v in (("--env", env_pairs), ("--arg", args), ("--name", names),
                                 ("--probe-opt", probe_opts)) if v]
        if given:
            fail(f"--resume continues the record's own schedule; {', '.join(given)} cannot "
                 "change it (--max-seconds sets a budget for this resume); start a new run "
                 "to measure differently")
        from loadbench import bench as bench_mod

        record = runner.resume(resume_dir, argv=_argv(), progress=Progress(quiet or as_json),
                               max_seconds=max_seconds)
        print_stats(record, as_json, Path(resume_dir) / "record.json")
        write_exports(resume_dir, {"hyperfine": export_hyperfine, "pyperf": export_pyperf,
                                   "csv": export_csv, "markdown": export_markdown})
        if bench_mod.is_bench_dir(resume_dir):  # its reports must cover what was just added
            report = bench_mod.write_reports(Path(resume_dir), record)
            if not as_json:
                click.echo(f"report: {report}")
        exit_if_interrupted(record)
        return
    if not binaries:
        fail("no binaries to run; pass at least one path (or --resume DIR)")
    if names and len(names) != len(binaries):
        fail(f"got {len(names)} --name for {len(binaries)} binaries; give one per binary")
    targets = [runner.target_from_command(b, args) for b in binaries]
    if names:
        targets = [replace(t, name=n) for t, n in zip(targets, names, strict=True)]
    labels = [t.name for t in targets]
    if len(set(labels)) != len(labels):
        fail("two binaries have the same name; label them with --name")
    options = runner.RunOptions(
        runs=runs, warmup=warmup, seed=seed, probe=probe, timeout_s=timeout, cache=cache,
        sessions=sessions, target_ci_pct=target_ci, max_seconds=max_seconds,
        env=parse_env(env_pairs),
        show_output=show_output, probe_settings=parse_probe_opts(probe_opts),
        affinity=runner.parse_cpus(affinity) if affinity else None)
    out = Path(out_dir) if out_dir else Path("results") / runner.new_run_id()
    files = {"hyperfine": export_hyperfine, "pyperf": export_pyperf, "csv": export_csv,
             "markdown": export_markdown}
    try:
        record = runner.run(targets, out, options, argv=_argv(),
                            progress=Progress(quiet or as_json))
    except runner.RunError:
        write_exports(out, files)  # what was measured before the run failed
        raise
    print_stats(record, as_json, out / "record.json")
    write_exports(out, files)
    exit_if_interrupted(record)


@click.command()
@click.option("--quick", is_flag=True, help="Fewer launches and cross builds (< 3 min).")
@click.option("--preset", default="default", show_default=True,
              help="Matrix: a preset name (default, seed) or a TOML file.")
@out_dir_option
@probe_option
@click.option("--runs", type=click.IntRange(min=1), default=None,
              help="Launches per binary (default 300; quick 40).")
@click.option("--warmup", type=click.IntRange(min=0), default=None,
              help="Warm-up launches per binary (default 20; quick 5).")
@seed_option
@cache_option
@sessions_option(None, "Sessions the launches are split into (default 3).")
@go_options
@affinity_option
@export_options
@quiet_option
@json_option
def bench(quick: bool, preset: str, out_dir: str | None, probe: str, runs: int | None,
          warmup: int | None, seed: int | None, cache: str, sessions: int | None,
          go: str | None, go_from_path: bool, affinity: str | None,
          export_hyperfine: str | None, export_pyperf: str | None, export_csv: str | None,
          export_markdown: str | None, quiet: bool, as_json: bool) -> None:
    """The main job: build the default matrix, measure it, write record.json and report.md."""
    from loadbench import bench as bench_mod
    from loadbench import runner

    out = Path(out_dir) if out_dir else bench_mod.default_out_dir()
    files = {"hyperfine": export_hyperfine, "pyperf": export_pyperf, "csv": export_csv,
             "markdown": export_markdown}
    try:
        res = bench_mod.bench(out, quick=quick, preset=preset, probe=probe, runs=runs,
                              warmup=warmup, seed=seed, go=go, go_from_path=go_from_path,
                              cache=cache, sessions=sessions, affinity=affinity, argv=_argv(),
                              progress=Progress(quiet or as_json))
    except runner.RunError:
        write_exports(out, files)
        raise
    print_stats(res.record, as_json, res.out_dir / "record.json")
    write_exports(res.out_dir, files)
    exit_if_interrupted(res.record)
    if not as_json:
        click.echo(f"report: {res.report_path}")


@click.command("trace")
@click.argument("binary")
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True,
              help="Traced launches.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where trace.json and launches.json go (default: results/trace-<run-id>).")
@click.option("--arg", "args", multiple=True, help="Argument passed to the binary.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE",
              help="Add to the minimal target environment (repeatable).")
@cache_option
@click.option("--inittrace", is_flag=True, help="Go: also summarise GODEBUG=inittrace=1 launches.")
@click.option("--no-calibrate", is_flag=True, help="Skip measuring the tracing inflation.")
@click.option("--probe", "probe", type=click.Choice(["auto", "bpf", "perf"]), default="auto",
              show_default=True,
              help="auto: bpf where available (counts in the kernel, a fraction of perf's "
                   "observer effect), else perf.")
@click.option("--fault-instants/--no-fault-instants", default=None,
              help="Beside a bpf trace, a few perf launches for every fault as an instant in "
                   "trace.json (default: when perf is available).")
@json_option
def trace(binary: str, runs: int, out_dir: str | None, args: tuple[str, ...],
          env_pairs: tuple[str, ...], cache: str, inittrace: bool, no_calibrate: bool,
          probe: str, fault_instants: bool | None, as_json: bool) -> None:
    """Trace a few launches: phases, where page faults land, and a Chrome/Perfetto
    trace-event timeline (trace.json)."""
    from loadbench import runner
    from loadbench import trace as trace_mod

    out = Path(out_dir) if out_dir else Path("results") / f"trace-{runner.new_run_id()}"
    result = trace_mod.trace(binary, runs, out, args=args, env=parse_env(env_pairs), cache=cache,
                             inittrace=inittrace, calibrate=not no_calibrate, probe=probe,
                             fault_instants=fault_instants)
    if as_json:
        json_out(trace_mod.summary_json(result))
    else:
        click.echo(trace_mod.render_summary(result))
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)


COMMANDS = (run, bench, trace)
