"""Verbs that read records and compute: ``stats``, ``compare`` and ``correlate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from loadbench.cli.common import NON_NEGATIVE, fail, json_out


def print_stats(record: Any, as_json: bool, path: Path | None = None,
                baseline: str | None = None) -> None:
    """A record's per-variant figures and caveats, as a table or JSON."""
    from loadbench.report.content import run_content

    c = run_content(record, baseline=baseline, analyse=False)
    baselines = list(c.ratio_baselines) if not baseline else [baseline]
    if as_json:
        json_out({
            "run_id": record.run_id,
            "complete": record.complete,
            "end_reason": record.end_reason,
            "baselines": baselines,
            "probe_overhead": dict(record.probe.overhead),
            "cpu_steal_pct": record.host.get("cpu_steal_pct"),
            "cpu_steal_pct_max_batch": record.host.get("cpu_steal_pct_max_batch"),
            "measurements": [r.to_json() for r in c.rows],
            "caveats": [{"kind": w.kind, "subject": w.subject, "text": w.text}
                        for w in c.caveats],
        })
        return
    click.echo(f"run {record.run_id}: {record.end_reason}" + (f"; record: {path}" if path else ""))
    kind = next((r.latency.ci_kind for r in c.rows if r.latency is not None), "within-run")
    label = "95% CI us" + (" (sessions)" if kind == "sessions" else " (this run)")
    click.echo(f"{'variant':<24s} {'n':>5s} {'fail':>4s} {'median us':>10s} {label:>21s} "
               + " ".join(f"{'x ' + b:>9s}" for b in baselines)
               + f" {'faults':>7s} {'maxRSS KiB':>10s}")
    for r in c.rows:
        s = r.latency
        if s is None:
            click.echo(f"{r.name:<24s} {0:>5d} {r.failed:>4d}  (no successful launch)")
            continue
        ratios = " ".join(f"{r.ratios.get(b, float('nan')):>9.2f}" for b in baselines)
        click.echo(f"{r.name:<24s} {r.n:>5d} {r.failed:>4d} {s.median / 1e3:>10.1f} "
                   f"{s.ci95_low / 1e3:>10.1f}-{s.ci95_high / 1e3:<10.1f} {ratios} "
                   f"{_fixed(r.faults_median, 1, 7)} {_fixed(r.max_rss_median_bytes, 1024, 10)}")
    for w in c.caveats:
        if w.kind in ("emulated", "steal", "drift", "warmup", "incomplete", "failed", "within-run",
                      "cache"):
            click.echo(f"warning: {w.text}")


def _fixed(value: float | None, unit: int, width: int) -> str:
    """A whole number right-aligned in ``width``; n/a for a field that was not measured."""
    return f"{'n/a':>{width}s}" if value is None else f"{value / unit:>{width}.0f}"


@click.command()
@click.argument("record_path", metavar="RECORD")
@click.option("--baseline", default=None, help="Measurement to compute ratios against.")
@click.option("--json", "as_json", is_flag=True)
def stats(record_path: str, baseline: str | None, as_json: bool) -> None:
    """Per-measurement statistics of a record (recomputed from its raw samples)."""
    from loadbench import storage

    record = storage.load_record(record_path)
    if baseline and baseline not in [m.name for m in record.measurements]:
        fail(
            f"--baseline {baseline!r} is not in the record; it has: "
            f"{', '.join(m.name for m in record.measurements)}"
        )
    print_stats(record, as_json, None, baseline)


@click.command()
@click.argument("records", nargs=-1, required=True, metavar="RECORD [RECORD2]")
@click.option(
    "--baseline",
    default=None,
    help="Measurement the others are compared with (default: the first).",
)
@click.option(
    "--band",
    type=NON_NEGATIVE,
    default=1.0,
    show_default=True,
    metavar="PCT",
    help="Practical-significance band: a ratio CI inside +-PCT% is 'equivalent'. A smaller "
    "band needs about (old/new)^2 times the launches to resolve.",
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
        json_out({"band_pct": band, "comparisons": [c.to_json() for c in comps],
                   "caveats": caveats})
        return
    click.echo(f"{'variant':<24s} {'baseline':<16s} {'ratio':>7s} {'95% CI':>17s} "
               f"{'CI from':<10s} {'HL shift us':>12s} {'p (Holm)':>9s} {'delta':>6s}  verdict")
    for c in comps:
        click.echo(f"{c.name:<24s} {c.baseline:<16s} {c.ratio:>7.3f} "
                   f"{c.ratio_ci95[0]:>8.3f}-{c.ratio_ci95[1]:<8.3f} {c.ci_kind:<10s} "
                   f"{c.hl_shift / 1e3:>12.1f} {c.p_holm:>9.2g} {c.cliffs_delta:>6.2f}  "
                   f"{c.verdict}")
    click.echo(f"verdicts (band +-{band:g}%): equivalent = the whole CI inside the band; "
               "faster/slower = p (Holm) < 0.05 and the whole CI beyond it; 'maybe negligible' "
               "= significant, the CI reaching into the band; inconclusive = neither")
    if any(c.ci_kind == "within-run" for c in comps):
        click.echo("note: CIs marked within-run describe this run's sampling only; measure "
                   "with --sessions 3 or more for CIs that include the variation between "
                   "sessions")
    for caveat in caveats:
        click.echo(f"caveat: {caveat}")


@click.command()
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
        json_out(res.to_json())
        return
    sweep = res.sweep
    if sweep is not None:
        lat, flt = sweep.latency_us_per_doubling, sweep.faults_per_doubling
        levels = ", ".join(f"{n} {a:#x}" for n, a in sweep.variants.items())
        click.echo(f"alignment sweep ({levels}; {sweep.n_launches} launches):")
        click.echo(f"  latency {lat.slope:+.2f} us per doubling of the alignment (95% CI "
                   f"{lat.slope_ci95[0]:+.2f} to {lat.slope_ci95[1]:+.2f})")
        click.echo(f"  faults  {flt.slope:+.2f} per doubling of the alignment (95% CI "
                   f"{flt.slope_ci95[0]:+.2f} to {flt.slope_ci95[1]:+.2f})")
    m = res.model
    click.echo(f"{m.n} variants: " + ", ".join(p.name for p in res.points))
    if not m.enough or m.us_per_fault is None:
        click.echo(m.message)
        return
    u = m.us_per_fault
    r2 = "n/a" if u.r2 is None else f"{u.r2:.3f}"
    click.echo(f"median latency explained by median page faults: {u.value:.3f} us per fault "
               f"(95% CI {u.ci95[0]:.3f} to {u.ci95[1]:.3f}), R^2 {r2}, n={u.n} variants; "
               "a descriptive fit, not a causal estimate")
    for label, fits, unit in (("latency", m.latency_fits, 1e3), ("faults", m.fault_fits, 1.0)):
        scale = "us" if unit == 1e3 else "faults"
        for feat, f in fits.items():
            fr2 = "n/a" if f.r2 is None else f"{f.r2:.2f}"
            click.echo(f"  {label:>7s} ~ {feat:<20s} slope {f.slope / unit:.4g} {scale}/unit "
                       f"(95% CI {f.slope_ci95[0] / unit:.4g} to {f.slope_ci95[1] / unit:.4g}), "
                       f"R^2 {fr2}")
    if m.constant_features:
        click.echo("  constant across these variants (no effect measurable): "
                   + ", ".join(m.constant_features))


COMMANDS = (stats, compare, correlate)
