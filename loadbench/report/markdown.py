"""The Markdown report: formats a ``content.ReportContent``, computes nothing of its own.

One run: summary, host and toolchain, per-variant latency with CIs, warnings, comparisons, the
cost model, phases and fault regions when traced, the auxiliary tables (claims, Go versions,
size by section), static structure and the commands that reproduce the run. Several runs
(``render_merged``): one side-by-side table with a group of columns per host, the caveats of
comparing them, then each run's report under its label. Every string from a record, a binary or
a path is escaped for Markdown, including HTML, which GitHub would otherwise render.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from loadbench.model import Record
from loadbench.report import content as content_mod
from loadbench.report.content import ReportContent, RunContent
from loadbench.report.tables import fmt_bytes, fmt_num, fmt_us

_ESCAPED = ("\\", "|", "`", "*", "_", "<", ">", "[", "]", "#", "&")


def _esc(text: Any) -> str:
    """Make text from binaries and paths safe inside a Markdown table cell or list item."""
    s = str(text)
    for ch in _ESCAPED:
        s = s.replace(ch, "\\" + ch)
    return " ".join(s.splitlines())


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render(record: Record, *, static: Sequence[Mapping[str, Any]] = (),
           manifest: Mapping[str, Any] | None = None, claims: Mapping[str, Any] | None = None,
           title: str = "loadbench report") -> str:
    """Markdown for one record. ``static`` lists ``{"name", "runnable", "summary", ...}`` for
    every built binary (cross builds included); without it the measured binaries' summaries
    are used."""
    rc = content_mod.report_content([("", record, static, manifest)], title=title,
                                    claims=claims)
    return render_content(rc)


def render_merged(merged: Any, *, title: str = "loadbench report") -> str:
    """Markdown for a ``merge.MergedRecords``: side by side, then each run's own report."""
    return render_content(content_mod.merged_content(merged, title=title))


def render_content(rc: ReportContent, figure_links: Mapping[str, str] | None = None) -> str:
    """``figure_links`` maps figure names (``figures.FigureSpec.name``) to where their files
    are, relative to the report: each run's section then links its figures."""
    links = dict(figure_links or {})
    if not rc.multi:
        return "\n".join(_run(rc.runs[0], rc.title, level=1, links=links, multi=False))
    lines = [f"# {_esc(rc.title)}", "", *_side_by_side(rc)]
    for run in rc.runs:
        lines += _run(run, run.label, level=2, links=links, multi=True)
    return "\n".join(lines) + "\n"


def _side_by_side(rc: ReportContent) -> list[str]:
    head = ["variant"]
    for run in rc.runs:
        head += [f"{run.label}: median us (95% CI)", f"{run.label}: x {run.baseline}",
                 f"{run.label}: verdict"]
    names = list(dict.fromkeys(r.name for run in rc.runs for r in run.rows))
    body = []
    for name in names:
        cells = [_esc(name)]
        for run in rc.runs:
            r = run.row(name)
            if r is None or r.latency is None:
                cells += ["n/a", "", ""]
                continue
            ratio = r.ratio(run.baseline)
            c = run.comparison(name)
            cells += [f"{fmt_us(r.median_ns)} ({fmt_us(r.latency.ci95_low)} - "
                      f"{fmt_us(r.latency.ci95_high)})",
                      "base" if name == run.baseline else (f"{ratio:.2f}" if ratio else "n/a"),
                      str(c.verdict) if c else ("baseline" if name == run.baseline else "n/a")]
        body.append(cells)
    lines = ["## Side by side", "",
             "Median launch latency per variant on each host, with the distribution-free 95% CI "
             "of the median, the ratio of medians to the baseline and the verdict against it "
             "(see each run's report below).", "",
             *_table([_esc(h) for h in head], body), ""]
    if rc.cross_findings:
        lines += [f"- {_esc(s)}" for s in rc.cross_findings] + [""]
    if rc.cross_caveats:
        lines += ["Caveats:", ""] + [f"- {_esc(c)}" for c in rc.cross_caveats] + [""]
    for t in rc.cross_tables:
        lines += [f"## {_esc(t.title)}", "", t.intro, "",
                  *_table([_esc(x) for x in t.head], [[_esc(x) for x in r] for r in t.rows]),
                  ""]
    return lines


def _run(c: RunContent, title: str, *, level: int, links: Mapping[str, str] | None = None,
         multi: bool = False) -> list[str]:
    h1, h2 = "#" * level, "#" * (level + 1)
    rec = c.record
    lines = [f"{h1} {_esc(title)}", "",
             f"Run `{rec.run_id}`, {rec.created_utc}; "
             f"{'complete' if rec.complete else '**incomplete**'} ({_esc(rec.end_reason)}).", ""]
    lines += [f"{h2} Summary", ""] + [f"- {_esc(s)}" for s in c.summary] + [""]
    lines += [f"{h2} Host and toolchain", ""]
    lines += _table(["fact", "value"], [[k, _esc(v)] for k, v in c.facts]) + [""]
    lines += _latency(c, h2)
    lines += [f"{h2} Warnings", ""]
    lines += [f"- {_esc(w.text)}" for w in c.caveats] or [
        "- none: no failed launches, no significant drift, no warm-up effect"]
    lines.append("")
    lines += _comparisons(c, h2)
    lines += _phases(c, h2)
    lines += _cost(c, h2)
    for t in c.extra_tables:
        lines += [f"{h2} {t.title}", "", t.intro, "",
                  *_table([_esc(x) for x in t.head], [[_esc(x) for x in r] for r in t.rows]),
                  ""]
    lines += _static(c, h2)
    lines += _figure_links(c, h2, links or {}, multi)
    # A fence longer than any run of backticks inside it: no name or path can close it early.
    longest = max((len(m) for line in c.commands for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    lines += [f"{h2} Reproduce", "", f"{fence}sh", *c.commands, fence, ""]
    return lines


def _figure_links(c: RunContent, h2: str, links: Mapping[str, str], multi: bool) -> list[str]:
    from loadbench.report import figures

    shown = [(s, links[s.name]) for s in figures.run_figures(c, multi) if s.name in links]
    if not shown:
        return []
    out = [f"{h2} Figures", ""]
    for spec, where in shown:
        out += [f"![{_esc(spec.caption)}]({where.replace(' ', '%20')})", "", _esc(spec.caption),
                ""]
    return out


def _latency(c: RunContent, h2: str) -> list[str]:
    sessions = c.record.spec.sessions > 1
    ci_note = (f"The CI is between the {c.record.spec.sessions} sessions (a t-interval over the "
               "session medians, joined with the within-run CI): it includes what changes from "
               "one session to the next; the within-run CI beside it does not."
               if sessions else "The CI describes sampling within this run only (one session).")
    out = [f"{h2} Launch latency, faults and memory per variant", "",
           f"Medians of the {c.measured_as}; the latency with a 95% confidence interval of the "
           f"median. {ci_note} Ratios are of medians. SEM is the standard error of the mean, not "
           "a confidence interval.", ""]
    head = ["variant", "n ok", "failed", "median us",
            "95% CI us (sessions)" if sessions else "95% CI us (within run)"]
    head += ["95% CI us (within run)"] if sessions else []
    head += ["mean us (SD; SEM)"]
    head += [f"x {_esc(b)}" for b in c.ratio_baselines]
    head += ["faults (minor/major)", "max RSS"]
    body = []
    for r in c.rows:
        s = r.latency
        if s is None:
            body.append([_esc(r.name), "0", str(r.failed)] + ["n/a"] * (len(head) - 3))
            continue
        cells = [_esc(r.name), str(r.n), str(r.failed), fmt_us(s.median),
                 f"{fmt_us(s.ci95_low)} - {fmt_us(s.ci95_high)}"]
        if sessions:
            cells.append(f"{fmt_us(s.within_ci95_low)} - {fmt_us(s.within_ci95_high)}")
        cells.append(f"{fmt_us(s.mean)} ({fmt_us(s.sd)}; {fmt_us(s.sem)})")
        cells += [f"{r.ratios[b]:.2f}" if b in r.ratios else "n/a" for b in c.ratio_baselines]
        cells += [f"{fmt_num(r.faults_median)} ({fmt_num(r.faults_minor_median)}/"
                  f"{fmt_num(r.faults_major_median)})", fmt_bytes(r.max_rss_median_bytes)]
        body.append(cells)
    return [*out, *_table(head, body), ""]


VERDICT_RULE = ("The verdict follows one decision table: *equivalent* when the whole ratio CI "
                "lies within the band; *faster*/*slower* when p (Holm) < 0.05 and the whole CI "
                "is beyond the band; *faster*/*slower, maybe negligible* when p (Holm) < 0.05 "
                "and the CI is on one side of 1 but reaches into the band; *inconclusive* "
                "otherwise.")


def _comparisons(c: RunContent, h2: str) -> list[str]:
    if not c.comparisons:
        return []
    k = max(x.sessions for x in c.comparisons)
    how = (f"With {k} sessions the ratio CI joins a t-interval over the per-session ratios "
           "(paired: the binaries ran interleaved in every session) with the within-run "
           "bootstrap, and p is the larger of the session t-test's and Mann-Whitney U's."
           if k > 1 else "With one session the CI and p describe this run only.")
    out = [f"{h2} Comparisons", "",
           f"Every variant against {_esc(c.baseline)}: ratio of medians with its 95% CI, "
           "Hodges-Lehmann shift with its distribution-free CI, p-value with Holm correction "
           f"across the family, Cliff's delta. {how} {VERDICT_RULE} The band is "
           f"+-{c.band_pct:g}%.", ""]
    rows = [[_esc(x.name), f"{x.ratio:.3f}", f"{x.ratio_ci95[0]:.3f} - {x.ratio_ci95[1]:.3f}",
             x.ci_kind, f"{x.hl_shift / 1e3:+,.1f} ({x.hl_ci95[0] / 1e3:+,.1f} to "
             f"{x.hl_ci95[1] / 1e3:+,.1f})", f"{x.p_holm:.2g}", f"{x.cliffs_delta:+.2f}",
             f"**{x.verdict}**"] for x in c.comparisons]
    return [*out, *_table(["variant", "ratio", "ratio 95% CI", "CI from", "HL shift us (95% CI)",
                           "p (Holm)", "Cliff's delta", "verdict"], rows), ""]


def _phases(c: RunContent, h2: str) -> list[str]:
    out: list[str] = []
    if c.phases and c.phase_names:
        rows = [[_esc(v), *(fmt_us(med.get(p)) if p in med else "n/a" for p in c.phase_names),
                 fmt_us(med.get("total"))] for v, med in c.phases.items()]
        out += [f"{h2} Phase breakdown", "",
                f"Median duration of each phase traced by the {_esc(c.record.probe.name)} "
                "probe, per variant; medians of phases do not add up exactly to the median "
                "total.", "",
                *_table(["variant", *(f"{p} us" for p in c.phase_names), "total us"], rows), ""]
    if c.regions:
        rows = [[_esc(v), str(c.region_launches.get(v, 0)),
                 *(f"{reg.get(s, 0.0):,.1f}" for s in c.region_names)]
                for v, reg in c.regions.items()]
        out += [f"{h2} Fault attribution by region", "",
                f"Mean page faults per launch by memory region (top {content_mod.MAX_REGIONS}; "
                "the rest as 'other'), from traced launches.", "",
                *_table(["variant", "traced launches", *map(_esc, c.region_names)], rows), ""]
    return out


def _cost(c: RunContent, h2: str) -> list[str]:
    corr = c.correlation
    out = [f"{h2} Cost vs structure", "",
           "Across the measured variants (one point per variant: median latency, median "
           "faults), least-squares fits with t-based 95% CIs. Few variants that differ in "
           "several ways at once make these descriptive, not causal.", ""]
    if corr is None:
        return []
    sweep = corr.sweep
    sweep_lines = []
    if sweep is not None:
        lat, flt = sweep.latency_us_per_doubling, sweep.faults_per_doubling
        levels = ", ".join(f"{n} {a:#x}" for n, a in sweep.variants.items())
        sweep_lines = [
            f"- Alignment sweep ({_esc(levels)}; {sweep.n_launches} launches, per-launch fit on "
            f"log2 of the alignment): latency {lat.slope:+.2f} us per doubling (95% CI "
            f"{lat.slope_ci95[0]:+.2f} to {lat.slope_ci95[1]:+.2f}), faults {flt.slope:+.2f} "
            f"per doubling (95% CI {flt.slope_ci95[0]:+.2f} to {flt.slope_ci95[1]:+.2f})."]
    m = corr.model
    if not m.enough or m.us_per_fault is None:
        return [*out, f"- {_esc(m.message)}", *sweep_lines, ""]
    u = m.us_per_fault
    r2 = "n/a" if u.r2 is None else f"{u.r2:.2f}"
    out.append(f"- Median latency explained by median faults: **{u.value:.2f} us per fault** "
               f"(95% CI {u.ci95[0]:.2f} to {u.ci95[1]:.2f}), R^2 {r2}, n = {u.n} variants.")
    for feat, f in m.fault_fits.items():
        fr2 = "n/a" if f.r2 is None else f"{f.r2:.2f}"
        out.append(f"- Faults vs {feat}: slope {f.slope:.3g} per unit (95% CI "
                   f"{f.slope_ci95[0]:.3g} to {f.slope_ci95[1]:.3g}), R^2 {fr2}.")
    if m.constant_features:
        out.append("- Constant across these variants (effect not measurable here): "
                   + ", ".join(m.constant_features) + ".")
    return [*out, *sweep_lines, ""]


def _static(c: RunContent, h2: str) -> list[str]:
    out = [f"{h2} Static structure", "",
           "Segments are what the loader maps (ELF PT_LOAD, Mach-O LC_SEGMENT_64, PE sections); "
           "alignment is the largest segment alignment (Mach-O: the target's page size). "
           "Mapped size excludes Mach-O `__PAGEZERO`. Relocations: ELF dynamic relocations, "
           "PE base relocation entries.", ""]
    rows = []
    for e in c.static_entries():
        s = e.get("summary") or {}
        if not s or "error" in s:
            rows.append([_esc(e["name"]), _esc(s.get("error", "not inspected"))] + [""] * 9)
            continue
        rows.append([_esc(e["name"]), _esc(f"{s['format']} {s['arch']}"),
                     fmt_bytes(s["file_size_bytes"]), fmt_bytes(s["mapped_size_bytes"]),
                     fmt_num(s["segments"]), hex(s["segment_alignment"]),
                     fmt_num(s.get("load_commands")), fmt_num(s.get("relocations")),
                     fmt_num(s.get("dynamic")), fmt_bytes(s.get("debug_bytes")),
                     "yes" if e.get("runnable") else "no"])
    return [*out, *_table(["binary", "format", "file size", "mapped size", "segments",
                           "alignment", "load commands", "relocations", "dynamic",
                           "debug info", "measured"], rows), ""]
