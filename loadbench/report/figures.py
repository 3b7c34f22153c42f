"""The report's figures, listed once from the content: the HTML report draws them inline and
``loadbench report --figures DIR`` writes each as its own file (SVG or PDF with real text, or
PNG) for a paper, and the Markdown report links them.

A ``FigureSpec`` names a figure (its file stem), says what it shows (the caption) and draws it
on demand (``render``): to an inline SVG string, or to a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadbench.errors import display as _d
from loadbench.report import plots
from loadbench.report.content import MAX_REGIONS, ReportContent, RunContent


@dataclass(frozen=True, slots=True)
class FigureSpec:
    name: str  # file stem: <run label>-<kind>
    kind: str  # ratios, latency-ecdf, phases, fault-regions, latency-vs-faults
    caption: str
    draw: Callable[..., str]  # draw(uid=..., to=None | (path, fmt)) -> svg text or path

    def render(self, to: plots.Output | None = None) -> str:
        return self.draw(uid=self.name, to=to)


def _stem(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "run"


def _ok(m: Any, column: str) -> Any:
    return m.columns.np_column(column)[m.columns.ok_mask()]


def run_figures(g: RunContent, multi: bool) -> list[FigureSpec]:
    """Every figure of one run, in report order."""
    # Names reach matplotlib as text: bytes that are not UTF-8 (lone surrogates) made it fail.
    suffix = f" ({_d(g.label)})" if multi else ""
    base = _d(g.baseline or "")
    lead = f"{_stem(g.label)}-" if multi else ""
    out: list[FigureSpec] = []
    forest = [(_d(c.name), c.ratio, c.ratio_ci95[0], c.ratio_ci95[1], str(c.verdict))
              for c in g.comparisons]
    if forest:
        out.append(FigureSpec(
            f"{lead}ratios", "ratios",
            f"Each variant's ratio of medians to {g.baseline} with its 95% CI; the shaded band "
            f"is +-{g.band_pct:g}%." + (f" {g.label}." if multi else ""),
            lambda uid, to, rows=forest: plots.forest(
                rows, band=g.band_pct / 100, uid=uid, to=to,
                title=f"Ratio of medians to {base}{suffix}",
                xlabel=f"median / median of {base} (95% CI)")))
    series = {_d(m.name): _ok(m, "wall_ns") / 1000 for m in g.record.measurements if m.has_ok()}
    if series:
        out.append(FigureSpec(
            f"{lead}latency-ecdf", "latency-ecdf",
            "Fraction of successful launches at or below each latency; a curve further left is "
            "faster, a flatter one is noisier." + (f" {g.label}." if multi else ""),
            lambda uid, to: plots.ecdf(series, uid=uid, to=to, xlabel="launch latency (us)",
                                       title=f"Launch latency, empirical CDF{suffix}")))
    names = list(g.phase_names)
    if g.phases and names:
        rows_us = {_d(v): {p: med.get(p, 0.0) / 1000 for p in names}
                   for v, med in g.phases.items()}
        out.append(FigureSpec(
            f"{lead}phases", "phases",
            "Median duration of each traced phase per variant; medians of phases do not add up "
            "exactly to the median total.",
            lambda uid, to: plots.stacked_bars(rows_us, names, uid=uid, to=to,
                                               xlabel="microseconds (median of each phase)",
                                               title=f"Launch phases{suffix}")))
    if g.regions:
        segs = [_d(r) for r in g.region_names]
        regions = {_d(v): {_d(r): n for r, n in by.items()} for v, by in g.regions.items()}
        out.append(FigureSpec(
            f"{lead}fault-regions", "fault-regions",
            f"Mean page faults per launch by memory region (top {MAX_REGIONS}; the rest as "
            "'other'), from traced launches.",
            lambda uid, to: plots.stacked_bars(regions, segs, uid=uid, to=to,
                                               xlabel="page faults per launch (mean)",
                                               title=f"Where page faults land{suffix}")))
    launches = {_d(m.name): ((_ok(m, "faults_minor") + _ok(m, "faults_major")).astype(float),
                         _ok(m, "wall_ns") / 1000)
                for m in g.record.measurements if m.has_ok()}
    meds = {_d(r.name): (float(r.faults_median), r.median_ns / 1000) for r in g.rows
            if r.median_ns is not None and r.faults_median is not None}
    f = g.latency_fit
    if meds:
        r2 = "" if f is None or f.r2 is None else f", R² {f.r2:.2f}"
        out.append(FigureSpec(
            f"{lead}latency-vs-faults", "latency-vs-faults",
            "Faint dots are launches, outlined points the variants' medians (one marker shape "
            "each); the dashed line is the least-squares fit over the medians, which describes "
            "and does not explain causes" + (" (not drawn: too few variants)." if not f else "."),
            lambda uid, to: plots.scatter_fit(
                launches, meds, (f.slope, f.intercept) if f else None, uid=uid, to=to,
                xlabel="page faults per launch", ylabel="latency (us)",
                title=f"Latency against page faults{suffix}",
                fit_label=f"fit: {f.slope:.2f} us per fault{r2}" if f else "")))
    return out


def report_figures(rc: ReportContent) -> list[FigureSpec]:
    return [f for g in rc.runs for f in run_figures(g, rc.multi)]


def write_figures(rc: ReportContent, folder: str | Path, fmt: str = "svg") -> list[Path]:
    """Every figure of ``rc`` as its own file in ``folder`` (created); their paths."""
    from loadbench.errors import OutputError

    if fmt not in plots.FIGURE_FORMATS:
        raise OutputError(f"figure format {fmt!r}: choose one of {', '.join(plots.FIGURE_FORMATS)}")
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the folder for the figures ({e.strerror})",
                          e.strerror) from None
    paths = []
    for spec in report_figures(rc):
        p = out / f"{spec.name}.{fmt}"
        spec.render((str(p), fmt))
        paths.append(p)
    return paths


def by_kind(specs: Sequence[FigureSpec]) -> dict[str, FigureSpec]:
    return {s.kind: s for s in specs}
