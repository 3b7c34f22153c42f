"""The HTML report: one self-contained file with inline SVG plots, inline CSS and no script.

Sections: headline findings written from the data, environment and toolchain, per-variant latency
with confidence intervals and verdicts, distributions, phase breakdown and fault attribution (when
the samples carry ``phases_ns``/``faults_by_region``), latency against page faults with the fitted
line, static structure (cross builds included), warnings, and methodology with the commands that
reproduce the run. Several records (a merge) give one column group per run, labelled by host and
OS. Everything shown comes from ``content`` (computed once for every format); this module only
formats it. Every string that comes from a record, a binary or a path is HTML-escaped, and a
Content Security Policy forbids scripts and fetches so that nothing in a report can reach the
network.
"""

from __future__ import annotations

import html as _html
from collections.abc import Mapping, Sequence
from typing import Any

from loadbench import merge, stats
from loadbench.model import Record
from loadbench.report import content as content_mod
from loadbench.report import figures, tables
from loadbench.report.content import ReportContent, RunContent


class Html(str):
    """Markup that is already safe; everything else is escaped on the way out."""

    __slots__ = ()


def _e(x: Any) -> str:
    return x if isinstance(x, Html) else _html.escape(str(x), quote=True)


_us = tables.fmt_us
_bytes = tables.fmt_bytes


_num = tables.fmt_num


def _table(
    head: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    *,
    groups: Sequence[tuple[str, int]] = (),
    lead: int = 1,
    cls: str = "",
    caption: str = "",
) -> Html:
    """A table; ``groups`` = (label, span) column groups after ``lead`` leading columns."""
    out = [f'<table class="{_e(cls)}">' if cls else "<table>"]
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    if groups:
        out.append(f'<colgroup span="{lead}"></colgroup>')
        out += [f'<colgroup span="{span}" class="grp"></colgroup>' for _, span in groups]
        out.append("<thead><tr>" + "".join(
            f'<th rowspan="2" scope="col">{_e(h)}</th>' for h in head[:lead]))
        out += [f'<th colspan="{span}" scope="colgroup" class="grp">{_e(g)}</th>'
                for g, span in groups]
        out.append("</tr><tr>" + "".join(f'<th scope="col">{_e(h)}</th>' for h in head[lead:]))
        out.append("</tr></thead>")
    else:
        out.append("<thead><tr>" + "".join(f'<th scope="col">{_e(h)}</th>' for h in head)
                   + "</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        cells = [f'<th scope="row">{_e(r[0])}</th>'] if r else []
        cells += [f"<td>{_e(c)}</td>" for c in r[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return Html("\n".join(out))


def _verdict_cell(v: stats.Verdict | None) -> Html:
    if v is None:
        return Html('<span class="v-none">n/a</span>')
    cls = {stats.Verdict.FASTER: "v-faster", stats.Verdict.SLOWER: "v-slower",
           stats.Verdict.FASTER_MAYBE_NEGLIGIBLE: "v-faster",
           stats.Verdict.SLOWER_MAYBE_NEGLIGIBLE: "v-slower"}.get(v, "v-same")
    return Html(f'<span class="{cls}">{_e(v)}</span>')


def _figure(svg: str, caption: str) -> Html:
    # svg comes from plots (matplotlib output, ids prefixed, labels drawn as paths).
    return Html(f'<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>')


# ------------------------------------------------------------------------------- sections


def _environment(runs: Sequence[RunContent]) -> Html:
    rows = [[key, *(dict(r.facts).get(key, "n/a") for r in runs)] for key, _ in runs[0].facts]
    return _table(["fact", *(r.label for r in runs)], rows, cls="facts")


def _variants_table(runs: Sequence[RunContent]) -> Html:
    names = list(dict.fromkeys(r.name for g in runs for r in g.rows))
    sub = ["median us (95% CI)", "ratio", "faults", "verdict"]
    rows = []
    for name in names:
        row: list[Any] = [name]
        for g in runs:
            r = g.row(name)
            c = g.comparison(name)
            if r is None:
                row += ["-", "", "", ""]
                continue
            if r.latency is None:
                row += [f"no successful launch ({r.failed} failed)", "", "", ""]
                continue
            ratio = r.ratio(g.baseline)
            row += [
                Html(f"{_e(_us(r.median_ns))}<br><small>{_e(_us(r.latency.ci95_low))} - "
                     f"{_e(_us(r.latency.ci95_high))}</small>"),
                "base" if name == g.baseline else (f"{ratio:.2f}x" if ratio else "n/a"),
                _num(r.faults_median),
                _verdict_cell(c.verdict) if c else ("baseline" if name == g.baseline else "n/a"),
            ]
        rows.append(row)
    bases = {g.baseline for g in runs}
    groups_spec = [(f"{g.label} (vs {g.baseline})" if len(bases) > 1 else g.label, len(sub))
                   for g in runs]
    return _table(["variant", *(sub * len(runs))], rows, groups=groups_spec, cls="variants")


def _details_table(g: RunContent) -> Html:
    sessions = g.record.spec.sessions > 1
    head = ["variant", "n ok", "failed", "warm-up", "median us",
            "95% CI us (sessions)" if sessions else "95% CI us (within run)",
            *(["95% CI us (within run)"] if sessions else []), "mean us", "SD us", "SEM us",
            "MAD us", "p5 / p95 / p99 us", "outliers low/high", "x floor",
            "faults minor/major", "max RSS", "user / sys us"]
    rows = []
    for r in g.rows:
        s = r.latency
        if s is None:
            why = ", ".join(f"{n} {k}" for k, n in sorted(r.failed_by_status.items()))
            rows.append([r.name, 0, f"{r.failed} ({why})", r.warmup,
                         *(["n/a"] * (len(head) - 4))])
            continue
        xf = r.ratios.get("floor")
        rows.append([
            r.name, r.n, r.failed, r.warmup, _us(s.median),
            f"{_us(s.ci95_low)} - {_us(s.ci95_high)}",
            *([f"{_us(s.within_ci95_low)} - {_us(s.within_ci95_high)}"] if sessions else []),
            _us(s.mean), _us(s.sd), _us(s.sem),
            _us(s.mad), f"{_us(s.p5)} / {_us(s.p95)} / {_us(s.p99)}",
            f"{s.outliers_low} / {s.outliers_high}", f"{xf:.2f}" if xf else "n/a",
            f"{_num(r.faults_minor_median)} / {_num(r.faults_major_median)}",
            _bytes(r.max_rss_median_bytes),
            f"{_us(r.user_median_ns)} / {_us(r.sys_median_ns)}",
        ])
    return _table(head, rows, cls="details")


def _comparisons_table(g: RunContent) -> Html:
    rows = [[c.name, f"{c.ratio:.3f}", f"{c.ratio_ci95[0]:.3f} - {c.ratio_ci95[1]:.3f}",
             c.ci_kind,
             f"{c.hl_shift / 1e3:+,.1f} ({c.hl_ci95[0] / 1e3:+,.1f} to {c.hl_ci95[1] / 1e3:+,.1f})",
             f"{c.p_holm:.2g}", f"{c.cliffs_delta:+.2f}", _verdict_cell(c.verdict)]
            for c in g.comparisons]
    return _table(["variant", "ratio of medians", "ratio 95% CI", "CI from",
                   "HL shift us (95% CI)", "p (Holm)", "Cliff's delta", "verdict"], rows)


def _static_table(runs: Sequence[RunContent]) -> Html:
    multi = len(runs) > 1
    entries = [(g.label, e) for g in runs for e in g.static_entries()]
    head = ["binary", *(["host"] if multi else []), "format", "GOOS/GOARCH", "file size",
            "mapped size", "segments", "alignment", "load commands", "relocations", "dynamic",
            "debug info", "Go", "measured"]
    rows = []
    for label, e in entries:
        s = e.get("summary") or {}
        lead = [e.get("name", "?"), *([label] if multi else [])]
        if not s or "error" in s:
            rows.append([*lead, s.get("error", "not inspected"), *([""] * (len(head) - 3
                                                                          - multi))])
            continue
        plat = f"{e['goos']}/{e['goarch']}" if e.get("goos") else "n/a"
        align = s.get("segment_alignment")
        rows.append([*lead, f"{s.get('format')} {s.get('arch')}", plat,
                     _bytes(s.get("file_size_bytes")), _bytes(s.get("mapped_size_bytes")),
                     _num(s.get("segments")), hex(align) if isinstance(align, int) else "n/a",
                     _num(s.get("load_commands")), _num(s.get("relocations")),
                     _num(s.get("dynamic")), _bytes(s.get("debug_bytes")),
                     s.get("go_version") or "n/a", "yes" if e.get("runnable") else "no"])
    return _table(head, rows, cls="static")


_METHOD = (
    "Every launch is a separate process: spawned, waited for with wait4 (or the platform's "
    "equivalent), and timed from just before the spawn to the return of the wait. Binaries are "
    "launched interleaved in a seeded random order after warm-up launches, so slow drifts of the "
    "machine spread over every variant and show up in a drift test instead of a bias. The "
    "launches are split into sessions; each starts by giving every binary one page-cache state "
    "(evicted and read back the way the kernel reads mapped files) and its own warm-up. Only "
    "launches that exited with status 0 count in latency figures; failures are counted by "
    "status. With one session, the median's 95% confidence interval comes from order "
    "statistics (distribution-free, conservative) and describes this run only; with several, "
    "it also spans a t-interval over the session medians, so it includes what changes from one "
    "session to the next. The mean is shown with its SD and its standard error (SEM), which is "
    "not a confidence interval. Comparisons use the ratio of medians (bootstrap CI, joined with "
    "a t-interval over per-session ratios when there are sessions), the Hodges-Lehmann shift "
    "with its distribution-free CI, Mann-Whitney U (and the session t-test) with Holm "
    "correction across the family, and Cliff's delta. Verdicts: equivalent when the whole "
    "ratio CI lies within the +-1% band; faster/slower when p (Holm) < 0.05 and the whole CI is "
    "beyond the band; 'maybe negligible' when significant with the CI reaching into the band; "
    "inconclusive otherwise. Outliers (Tukey fences) are counted, never removed. The cost "
    "model regresses each variant's median latency on its median page faults (one point per "
    "variant) and is stated only with at least 4 variants; shares of a difference explained "
    "by page faults multiply its slope by the difference in faults and are descriptive, not "
    "causal."
)

_CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--head:#f6f8fa;--accent:#0b5cad}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;
color:var(--fg);background:var(--bg);margin:0 auto;max-width:1320px;padding:1.2rem 1.6rem;
line-height:1.45;font-size:15px}
h1{font-size:1.7rem;margin:.2rem 0 .3rem}h2{font-size:1.3rem;margin:2rem 0 .6rem;
border-bottom:2px solid var(--line);padding-bottom:.2rem}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
p.meta,figcaption,.note{color:var(--muted);font-size:.9rem}
nav ul{display:flex;flex-wrap:wrap;gap:.3rem 1rem;padding:0;list-style:none;font-size:.9rem}
nav a{color:var(--accent);text-decoration:none}
ul.findings li{margin:.25rem 0}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.86rem;
font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:right;vertical-align:top}
thead th{background:var(--head);text-align:center}
tbody th{text-align:left;font-weight:600;white-space:nowrap}
table.facts td{text-align:left}table.static td{white-space:nowrap}
colgroup.grp{border-left:2px solid #8c959f}th.grp{border-left:2px solid #8c959f}
small{color:var(--muted)}
.v-faster{color:#116329;font-weight:600}.v-slower{color:#a40e26;font-weight:600}
.v-same,.v-none{color:var(--muted)}
figure{margin:.6rem 0 1.2rem}figure svg{max-width:100%;height:auto;display:block}
pre{background:var(--head);border:1px solid var(--line);padding:.6rem;overflow-x:auto;
font-size:.8rem;white-space:pre-wrap;word-break:break-all}
.scroll{overflow-x:auto}
ul.warnings li{color:#7d4e00}
@media print{
body{max-width:none;padding:0;font-size:10pt;color:#000}
nav{display:none}
h2{break-after:avoid-page}
figure,table{break-inside:avoid-page}
thead{display:table-header-group}
.scroll{overflow:visible}
@page{margin:12mm}
table{font-size:7.5pt;max-width:100%}
th,td{padding:.1rem .25rem;white-space:normal !important;overflow-wrap:anywhere}
a{color:#000;text-decoration:none}
}
"""


def _section(anchor: str, title: str, body: Sequence[str]) -> list[str]:
    return [f'<section id="{_e(anchor)}"><h2>{_e(title)}</h2>', *body, "</section>"]


def render(
    records: Sequence[Record],
    *,
    static: Sequence[Mapping[str, Any]] = (),
    manifest: Mapping[str, Any] | None = None,
    title: str = "loadbench report",
    labels: Sequence[str] | None = None,
    manifests: Sequence[Mapping[str, Any] | None] | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained HTML page for one record, or several side by side (one column group
    each, labelled by ``labels`` or by host and OS).

    ``static`` lists ``{"name", "runnable", "goos", "goarch", "summary"}`` for every built
    binary (cross builds included; bench.py's static.json); entries may carry ``host`` (a label)
    to tie them to one of several records, otherwise they belong to the first. ``manifest`` is
    the first record's build manifest; ``manifests`` gives one per record instead.
    """
    if not records:
        raise ValueError("no record to report")
    labs = list(labels) if labels is not None else merge.labels_for(records)
    if len(labs) != len(records):
        raise ValueError(f"{len(labs)} labels for {len(records)} records")
    mans = list(manifests) if manifests is not None else [manifest] + [None] * (len(records) - 1)
    runs = [(lab, rec, [e for e in static if e.get("host", labs[0]) == lab],
             mans[i] if i < len(mans) else None)
            for i, (lab, rec) in enumerate(zip(labs, records, strict=True))]
    return render_content(content_mod.report_content(runs, title=title, claims=claims))


def render_merged(merged: merge.MergedRecords, *, title: str = "loadbench report") -> str:
    """``render`` for a ``merge.MergedRecords``: each run's static entries and manifest kept."""
    return render_content(content_mod.merged_content(merged, title=title))


def _list(items: Sequence[str], cls: str) -> str:
    return f'<ul class="{cls}">' + "".join(f"<li>{_e(s)}</li>" for s in items) + "</ul>"


def _per_run(rc: ReportContent, fn: Any) -> list[str]:
    out = []
    for g in rc.runs:
        if rc.multi:
            out.append(f"<h3>{_e(g.label)}</h3>")
        out += fn(g)
    return out


def _summary_section(rc: ReportContent) -> list[str]:
    summ: list[str] = []
    if rc.multi:
        summ += ["<h3>Across hosts</h3>", _list(rc.cross_findings, "findings")]
        if rc.cross_caveats:
            summ.append(_list(rc.cross_caveats, "warnings"))
    summ += _per_run(rc, lambda g: [_list(g.summary, "findings")])
    return _section("summary", "Summary", summ)


def _variants_section(rc: ReportContent) -> list[str]:
    multi = rc.multi
    var: list[str] = [
        '<p class="note">Median wall time per launch in microseconds with its distribution-free '
        "95% confidence interval; ratio of medians to the baseline; median page faults per "
        "launch; verdict against the baseline (see Methodology).</p>",
        '<div class="scroll">', _variants_table(rc.runs), "</div>",
    ]
    for g in rc.runs:
        spec = figures.by_kind(figures.run_figures(g, multi)).get("ratios")
        if spec is not None:
            var.append(_figure(spec.render(), spec.caption))
    var += _per_run(rc, lambda g: [
        '<h3 class="sub">Details</h3>' if not multi else "",
        '<div class="scroll">', _details_table(g), "</div>",
        *(["<h3 class=\"sub\">Comparisons against " + _e(g.baseline) + "</h3>",
           '<div class="scroll">', _comparisons_table(g), "</div>"] if g.comparisons else []),
    ])
    return _section("variants", "Launch latency per variant", var)


def _distributions_section(rc: ReportContent) -> list[str]:
    dist: list[str] = []
    for g in rc.runs:
        spec = figures.by_kind(figures.run_figures(g, rc.multi)).get("latency-ecdf")
        if spec is not None:
            dist.append(_figure(spec.render(), spec.caption))
    return _section("distributions", "Distributions",
                    dist or ['<p class="note">No successful launch to plot.</p>'])


def _phase_parts(g: RunContent, multi: bool) -> list[str]:
    names = list(g.phase_names)
    spec = figures.by_kind(figures.run_figures(g, multi)).get("phases")
    if spec is None:
        return []
    trows = [[v, *(_us(med.get(p)) if p in med else "n/a" for p in names),
              _us(med.get("total"))] for v, med in g.phases.items()]
    return [*([f"<h3>{_e(g.label)}</h3>"] if multi else []), _figure(spec.render(), spec.caption),
            '<div class="scroll">', _table(["variant", *(f"{p} us" for p in names), "total us"],
                                           trows), "</div>"]


def _region_parts(g: RunContent, multi: bool) -> list[str]:
    spec = figures.by_kind(figures.run_figures(g, multi)).get("fault-regions")
    if spec is None:
        return []
    segs = list(g.region_names)
    trows = [[v, str(g.region_launches.get(v, 0)), *(f"{reg.get(s, 0.0):,.1f}" for s in segs)]
             for v, reg in g.regions.items()]
    return [*([f"<h3>{_e(g.label)}</h3>"] if multi else []), _figure(spec.render(), spec.caption),
            '<div class="scroll">', _table(["variant", "traced launches", *segs], trows), "</div>"]


def _cost_parts(g: RunContent, multi: bool) -> list[str]:
    out = [f"<h3>{_e(g.label)}</h3>"] if multi else []
    spec = figures.by_kind(figures.run_figures(g, multi)).get("latency-vs-faults")
    if spec is not None:
        out.append(_figure(spec.render(), spec.caption))
    if g.correlation is not None:
        m = g.correlation.model
        items = [m.message]
        if m.enough:
            for feat, fit in m.fault_fits.items():
                fr2 = "n/a" if fit.r2 is None else f"{fit.r2:.2f}"
                items.append(f"faults vs {feat}: slope {fit.slope:.3g} per unit (95% CI "
                             f"{fit.slope_ci95[0]:.3g} to {fit.slope_ci95[1]:.3g}), R^2 {fr2}")
        out.append(_list(items, "note"))
    return out


def _page(rc: ReportContent, body: list[str], nav: Sequence[tuple[str, str]]) -> str:
    runs = rc.runs
    ids = ", ".join(f"{g.record.run_id} ({g.label})" if rc.multi else g.record.run_id
                    for g in runs)
    version = runs[0].record.loadbench_version or "?"
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # No script, no fetch of any kind: the report is data and must stay inert.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="loadbench {_e(version)}">',
        f"<title>{_e(rc.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{_e(rc.title)}</h1>",
        f'<p class="meta">Run{"s" if rc.multi else ""} {_e(ids)}. Generated by loadbench '
        f"{_e(version)} from the raw per-launch samples.</p>",
        "<nav><ul>" + "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in nav)
        + "</ul></nav></header>",
        "<main>",
    ]
    return "\n".join([*head, *body, "</main>", "</body>", "</html>", ""])


def render_content(rc: ReportContent) -> str:
    multi = rc.multi
    body = [*_summary_section(rc),
            *_section("environment", "Environment and toolchain",
                      ['<div class="scroll">', _environment(rc.runs), "</div>"]),
            *_variants_section(rc), *_distributions_section(rc)]
    phases = [x for g in rc.runs for x in _phase_parts(g, multi)]
    regions = [x for g in rc.runs for x in _region_parts(g, multi)]
    if phases:
        body += _section("phases", "Phase breakdown", phases)
    if regions:
        body += _section("regions", "Fault attribution by region", regions)
    body += _section("cost", "Latency against page faults",
                     [x for g in rc.runs for x in _cost_parts(g, multi)])
    for t in (*rc.cross_tables, *(x for g in rc.runs for x in g.extra_tables)):
        body += _section(t.title.lower().replace(" ", "-"), t.title, [
            f'<p class="note">{_e(t.intro)}</p>', '<div class="scroll">',
            _table(list(t.head), [list(r) for r in t.rows]), "</div>"])
    body += _section("static", "Static structure", [
        '<p class="note">Segments are what the loader maps (ELF PT_LOAD, Mach-O LC_SEGMENT_64, '
        "PE sections); alignment is the largest segment alignment; relocations are ELF dynamic "
        "relocations or PE base relocation entries. Cross-compiled builds are inspected, not "
        "run.</p>", '<div class="scroll">', _static_table(rc.runs), "</div>"])
    body += _section("warnings", "Warnings: drift, outliers, failures", _per_run(rc, lambda g: [
        _list([c.text for c in g.caveats], "warnings") if g.caveats else
        '<p class="note">None: no failed launches, outliers, drift or warm-up effect.</p>']))
    body += _section("method", "Methodology and how to reproduce", [
        f"<p>{_e(_METHOD)}</p>",
        *_per_run(rc, lambda g: [f"<pre>{_e(chr(10).join(g.commands))}</pre>"])])
    nav = [("summary", "Summary"), ("environment", "Environment"), ("variants", "Variants"),
           ("distributions", "Distributions"), *([("phases", "Phases")] if phases else []),
           *([("regions", "Fault regions")] if regions else []), ("cost", "Faults"),
           ("static", "Static structure"), ("warnings", "Warnings"), ("method", "Methodology")]
    return _page(rc, body, nav)


def headline_findings(record: Record) -> list[str]:
    """The summary sentences the report opens with, as plain text (not escaped)."""
    return content_mod.headline_findings(record)
