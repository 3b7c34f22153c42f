"""The HTML report: one self-contained file with inline SVG plots, inline CSS and no script.

Sections: headline findings written from the data, environment and toolchain, per-variant latency
with confidence intervals and verdicts, distributions, phase breakdown and fault attribution (when
the samples carry ``phases_ns``/``faults_by_region``), latency against page faults with the fitted
line, static structure (cross builds included), warnings, and methodology with the commands that
reproduce the run. Several records (a merge) give one column group per run, labelled by host and
OS. Every figure is recomputed from raw samples through ``tables``, ``analysis`` and ``stats``;
every string that comes from a record, a binary or a path is HTML-escaped, and a Content Security
Policy forbids scripts and fetches so that nothing in a report can reach the network.
"""

from __future__ import annotations

import html as _html
import math
import shlex
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadbench import analysis, merge, stats
from loadbench.model import Record
from loadbench.report import plots, tables

# Phases as the perf probe names them, in the order they happen; others follow as first seen.
PHASE_ORDER = ("exec", "to_entry", "runtime_init", "main_to_exit", "entry_to_exit")
MAX_REGIONS = 9  # fault regions drawn one by one; the rest are summed as "other"
MAX_HEADLINES = 6
BAND_PCT = 1.0  # practical-significance band of the verdicts, as in `loadbench compare`


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
    cls = {stats.Verdict.FASTER: "v-faster", stats.Verdict.SLOWER: "v-slower"}.get(v, "v-same")
    return Html(f'<span class="{cls}">{_e(v)}</span>')


def _figure(svg: str, caption: str) -> Html:
    # svg comes from plots (matplotlib output, ids prefixed, labels drawn as paths).
    return Html(f'<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>')


# ------------------------------------------------------------------------------------ data


@dataclass(frozen=True, slots=True)
class _Group:
    """One record's recomputed figures: a column group of the report."""

    uid: str
    label: str
    record: Record
    base: str | None
    rows: tuple[Mapping[str, Any], ...]
    comps: tuple[stats.Comparison, ...]
    notes: tuple[str, ...]
    model: Mapping[str, Any] | None
    fit: stats.Fit | None
    static: tuple[Mapping[str, Any], ...]
    manifest: Mapping[str, Any] | None

    def row(self, name: str) -> Mapping[str, Any] | None:
        for r in self.rows:
            if r["name"] == name:
                return r
        return None

    def comp(self, name: str) -> stats.Comparison | None:
        for c in self.comps:
            if c.name == name:
                return c
        return None

    @property
    def slope(self) -> float | None:
        m = self.model
        if m and m.get("enough") and m.get("us_per_fault"):
            return float(m["us_per_fault"]["value"])
        return None


def _group(
    i: int,
    label: str,
    record: Record,
    static: Sequence[Mapping[str, Any]] = (),
    manifest: Mapping[str, Any] | None = None,
) -> _Group:
    ok = [m for m in record.measurements if m.ok_samples()]
    names = [m.name for m in ok]
    base = "hello" if "hello" in names else (names[0] if names else None)
    baselines = list(dict.fromkeys([*(["floor"] if "floor" in names else []),
                                    *([base] if base else [])]))
    rows = tables.measurement_rows(record, baselines)
    notes: list[str] = []
    comps: tuple[stats.Comparison, ...] = ()
    if len(ok) >= 2 and base:
        sub = Record(run_id=record.run_id, created_utc=record.created_utc, host=record.host,
                     probe=record.probe, spec=record.spec, measurements=tuple(ok))
        try:
            comps = tuple(analysis.compare_records([sub], baseline=base, band_pct=BAND_PCT))
        except (analysis.AnalysisError, stats.StatsError) as e:
            notes.append(f"comparisons not computed: {e}")
    model: Mapping[str, Any] | None = None
    fit = None
    try:
        model = analysis.correlate([record])
        if model.get("enough") and model.get("us_per_fault"):
            pts = analysis.variant_points([record])
            fit = stats.fit_line([p.faults for p in pts], [p.latency_ns / 1000 for p in pts])
    except stats.StatsError as e:
        notes.append(f"cost model not computed: {e}")
    return _Group(f"g{i}", label, record, base, tuple(rows), comps, tuple(notes), model, fit,
                  tuple(static), manifest)


def _phase_medians(record: Record) -> dict[str, dict[str, float]]:
    """Variant -> phase -> median ns over successful launches that carry ``phases_ns``."""
    out: dict[str, dict[str, float]] = {}
    for m in record.measurements:
        per: dict[str, list[float]] = {}
        for s in m.ok_samples():
            ph = s.extra.get("phases_ns")
            if isinstance(ph, Mapping):
                for k, v in ph.items():
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        per.setdefault(str(k), []).append(float(v))
        if per:
            out[m.name] = {k: statistics.median(v) for k, v in per.items()}
    return out


def _phase_names(med: Mapping[str, Mapping[str, float]]) -> list[str]:
    seen = list(dict.fromkeys(k for v in med.values() for k in v if k != "total"))
    return [p for p in PHASE_ORDER if p in seen] + [p for p in seen if p not in PHASE_ORDER]


def _region_means(record: Record) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Variant -> region -> mean faults per launch (launches that carry ``faults_by_region``),
    and variant -> number of such launches."""
    out: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for m in record.measurements:
        total: dict[str, float] = {}
        n = 0
        for s in m.ok_samples():
            reg = s.extra.get("faults_by_region")
            if isinstance(reg, Mapping):
                n += 1
                for k, v in reg.items():
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        total[str(k)] = total.get(str(k), 0.0) + v
        if n:
            out[m.name] = {k: v / n for k, v in total.items()}
            counts[m.name] = n
    return out, counts


def _top_regions(
    means: Mapping[str, Mapping[str, float]],
) -> tuple[list[str], dict[str, dict[str, float]]]:
    totals: dict[str, float] = {}
    for v in means.values():
        for k, x in v.items():
            totals[k] = totals.get(k, 0.0) + x
    top = sorted(totals, key=lambda k: -totals[k])[:MAX_REGIONS]
    rest = [k for k in totals if k not in top]
    rows = {}
    for name, v in means.items():
        row = {k: v.get(k, 0.0) for k in top}
        if rest:
            row["other"] = sum(v.get(k, 0.0) for k in rest)
        rows[name] = row
    return top + (["other"] if rest else []), rows


# ------------------------------------------------------------------------------- findings


def _share_clause(r: Mapping[str, Any], b: Mapping[str, Any],
                  model: Mapping[str, Any] | None) -> str:
    """How much of a latency difference the cost model's microseconds-per-fault explains, with
    the range that the slope's confidence interval gives."""
    u = (model or {}).get("us_per_fault") if (model or {}).get("enough") else None
    if not u or r.get("faults_median") is None or b.get("faults_median") is None:
        return ""
    slope, (ci_lo, ci_hi) = float(u["value"]), u["ci95"]
    dfaults = float(r["faults_median"]) - float(b["faults_median"])
    dlat_us = (float(r["median_ns"]) - float(b["median_ns"])) / 1000
    if dlat_us == 0:
        return ""
    if dfaults == 0:
        return "; it takes as many page faults, so faults do not explain the difference"
    share = slope * dfaults / dlat_us
    lo, hi = sorted((ci_lo * dfaults / dlat_us, ci_hi * dfaults / dlat_us))
    how = f"{dfaults:+,.0f} faults x {slope:.2f} us per fault"
    span = f"{lo:.0%} to {hi:.0%} across the slope's 95% CI"
    if share < 0:
        return f"; its page faults moved the other way ({how}), so they do not explain it"
    if share > 1:
        tail = ": other costs moved the other way" if lo > 1 else ""
        return (f"; page faults account for all of it: {how} come to {share:.0%} of the "
                f"difference ({span}){tail}")
    return f"; {share:.0%} of the difference is page faults ({how}; {span})"


def _findings(g: _Group) -> list[str]:
    failed = sum(r["failed"] for r in g.rows)
    total = failed + sum(r["n"] for r in g.rows)
    lost = ([f"{failed} of {total} launches failed and are left out of every latency figure "
             "(see Warnings)."] if failed else [])
    if g.base is None:
        return ["No launch succeeded: there is nothing to report.", *lost]
    b = g.row(g.base)
    assert b is not None
    out: list[str] = []
    if not g.comps:
        out.append(f"{g.base} takes {_us(b['median_ns'])} us per launch (median of {b['n']}; "
                   f"95% CI {_us(b['ci95_low_ns'])} to {_us(b['ci95_high_ns'])}).")
    floor = g.row("floor")
    if floor and floor.get("median_ns") and g.base != "floor":
        out.append(f"The floor (a static binary that only exits) takes {_us(floor['median_ns'])} "
                   "us: the fixed cost of creating, loading and reaping a process here; "
                   f"{g.base} takes {b['median_ns'] / floor['median_ns']:.1f}x that.")
    slope = g.slope
    ranked = sorted((c for c in g.comps
                     if c.verdict is not stats.Verdict.NO_DIFFERENCE and c.name != "floor"),
                    key=lambda c: -abs(math.log(c.ratio)) if c.ratio > 0 else 0.0)
    for c in ranked[:MAX_HEADLINES]:
        r = g.row(c.name)
        if r is None:
            continue
        out.append(f"{c.name} takes {c.ratio:.2f}x {g.base}'s time ({_us(r['median_ns'])} vs "
                   f"{_us(b['median_ns'])} us median; 95% CI of the ratio "
                   f"{c.ratio_ci95[0]:.2f}-{c.ratio_ci95[1]:.2f}, {c.verdict})"
                   + _share_clause(r, b, g.model) + ".")
    if len(ranked) > MAX_HEADLINES:
        out.append(f"{len(ranked) - MAX_HEADLINES} more variants differ from {g.base}: see the "
                   "comparison table.")
    same = [c.name for c in g.comps if c.verdict is stats.Verdict.NO_DIFFERENCE]
    if same:
        out.append(f"No difference from {g.base} (not significant, or within the +-{BAND_PCT:g}% "
                   f"band): {', '.join(same)}.")
    m = g.model
    if slope is not None and m:
        u = m["us_per_fault"]
        r2 = "n/a" if u["r2"] is None else f"{u['r2']:.2f}"
        out.append(f"Across {u['n']} variants each extra page fault costs about {slope:.2f} us "
                   f"(95% CI {u['ci95'][0]:.2f} to {u['ci95'][1]:.2f}, R^2 {r2}): a least-squares "
                   "fit of median latency on median faults; descriptive, not causal.")
    elif m is not None:
        out.append(f"Differences are not attributed to page faults: {m['message']}.")
    med = _phase_medians(g.record)
    name = g.base if g.base in med else next(iter(med), None)
    if name:
        phases = {k: v for k, v in med[name].items() if k != "total"}
        if phases:
            top = max(phases, key=lambda k: phases[k])
            total_ns = med[name].get("total") or sum(phases.values())
            infl = g.record.probe.overhead.get("trace_inflation_ratio")
            extra = (f"; tracing inflated a null launch {float(infl):.1f}x, so read phases as "
                     "shares rather than absolute costs") if isinstance(infl, int | float) else ""
            out.append(f"Traced by the {g.record.probe.name} probe, {top} is the largest phase "
                       f"of {name}: {_us(phases[top])} us, {phases[top] / total_ns:.0%} of its "
                       f"{_us(total_ns)} us traced median{extra}.")
    return out + lost


def headline_findings(record: Record) -> list[str]:
    """The summary sentences the report opens with, as plain text (not escaped)."""
    return _findings(_group(0, "", record))


def _cross_findings(groups: Sequence[_Group]) -> list[str]:
    """Same variants on different hosts, side by side in one sentence each."""
    common = [r["name"] for r in groups[0].rows
              if all((g.row(r["name"]) or {}).get("median_ns") for g in groups)]
    if not common:
        return ["The runs share no variant with successful launches: nothing to set side by side."]
    pick = [n for n in ("hello", "web", "floor") if n in common] or common[:3]
    out = []
    for name in pick:
        parts = []
        for g in groups:
            r = g.row(name)
            assert r is not None
            base = g.row(g.base) if g.base else None
            rel = (f", {r['median_ns'] / base['median_ns']:.2f}x {g.base}"
                   if base and g.base != name and base.get("median_ns") else "")
            parts.append(f"{_us(r['median_ns'])} us on {g.label}{rel}")
        out.append(f"{name}: " + "; ".join(parts) + ".")
    return out


# ------------------------------------------------------------------------------- sections


def _go_versions(g: _Group) -> str:
    found = {str(b.get("toolchain")) for b in (g.manifest or {}).get("binaries", [])
             if str(b.get("toolchain", "")).startswith("go")}
    for m in g.record.measurements:
        tc = (m.binary.build or {}).get("toolchain")
        if isinstance(tc, str) and tc.startswith("go"):
            found.add(tc)
        gv = (m.binary.summary or {}).get("go_version")
        if isinstance(gv, str) and gv:
            found.add(gv)
    return ", ".join(sorted(found)) or "n/a"


def _overhead_text(rec: Record) -> str:
    ov = rec.probe.overhead
    if not ov:
        return "not measured"
    parts = []
    if ov.get("null_wall_ns_median") is not None:
        parts.append(f"null binary median {_us(ov['null_wall_ns_median'])} us over "
                     f"{ov.get('null_launches', 0)} launches")
    if isinstance(ov.get("trace_inflation_ratio"), int | float):
        parts.append(f"tracing inflates a null launch {ov['trace_inflation_ratio']:.2f}x")
    return "; ".join(parts) or "recorded (see record.json)"


def _environment(groups: Sequence[_Group]) -> Html:
    def facts(g: _Group) -> list[tuple[str, Any]]:
        h, rec, spec = g.record.host, g.record, g.record.spec
        mem = h.get("memory_bytes")
        probe = rec.probe
        return [
            ("Run", f"{rec.run_id}, {rec.created_utc}"),
            ("Status", ("complete" if rec.complete else "INCOMPLETE") + f" ({rec.end_reason})"),
            ("Host", h.get("hostname", "n/a")),
            ("OS", f"{h.get('os', 'n/a')} {h.get('os_release', '')} ({h.get('machine', 'n/a')})"),
            ("CPU", f"{h.get('cpu_model', 'n/a')} x{h.get('cpu_count_logical', '?')}"),
            ("Memory", _bytes(mem) if isinstance(mem, int | float) else "n/a"),
            ("CPU governor", ", ".join(h.get("cpu_governors") or []) or "n/a (no cpufreq)"),
            ("perf_event_paranoid", h.get("perf_event_paranoid", "n/a")),
            ("Transparent huge pages", h.get("thp", "n/a")),
            ("ASLR", h.get("aslr", "n/a")),
            ("Load average", ", ".join(f"{x:.2f}" for x in h.get("load_average") or []) or "n/a"),
            ("Python", h.get("python", "n/a")),
            ("loadbench", rec.loadbench_version or "n/a"),
            ("Go", _go_versions(g)),
            ("C compiler", (g.manifest or {}).get("cc") or "n/a"),
            ("Probe", f"{probe.name} v{probe.version}"
             + (f" ({probe.tool_version})" if probe.tool_version else "")
             + (f", launcher {probe.settings['launcher_used']}"
                if probe.settings.get("launcher_used") else "")),
            ("Probe overhead", _overhead_text(rec)),
            ("Schedule", f"{spec.runs} rounds, {spec.warmup} warm-up launches per binary, seed "
             f"{spec.seed}, cache {spec.cache}, timeout {spec.timeout_s:g} s, "
             f"{spec.affinity_text()}"),
            ("Target environment", " ".join(f"{k}={v}" for k, v in spec.env.items()) or "n/a"),
        ]

    cols = [facts(g) for g in groups]
    rows = [[cols[0][i][0], *(c[i][1] for c in cols)] for i in range(len(cols[0]))]
    return _table(["fact", *(g.label for g in groups)], rows, cls="facts")


def _variants_table(groups: Sequence[_Group]) -> Html:
    names = list(dict.fromkeys(r["name"] for g in groups for r in g.rows))
    sub = ["median us (95% CI)", "ratio", "faults", "verdict"]
    rows = []
    for name in names:
        row: list[Any] = [name]
        for g in groups:
            r = g.row(name)
            c = g.comp(name)
            if r is None:
                row += ["-", "", "", ""]
                continue
            if not r["n"]:
                row += [f"no successful launch ({r['failed']} failed)", "", "", ""]
                continue
            ratio = r.get(f"ratio_to_{g.base}")
            row += [
                Html(f"{_e(_us(r['median_ns']))}<br><small>{_e(_us(r['ci95_low_ns']))} - "
                     f"{_e(_us(r['ci95_high_ns']))}</small>"),
                "base" if name == g.base else (f"{ratio:.2f}x" if ratio else "n/a"),
                _num(r["faults_median"]),
                _verdict_cell(c.verdict) if c else ("baseline" if name == g.base else "n/a"),
            ]
        rows.append(row)
    bases = {g.base for g in groups}
    groups_spec = [(f"{g.label} (vs {g.base})" if len(bases) > 1 else g.label, len(sub))
                   for g in groups]
    return _table(["variant", *(sub * len(groups))], rows, groups=groups_spec, cls="variants")


def _details_table(g: _Group) -> Html:
    head = ["variant", "n ok", "failed", "warm-up", "median us", "95% CI us", "mean us",
            "SD us", "SEM us", "MAD us", "p5 / p95 / p99 us", "outliers low/high",
            "x floor", "faults minor/major", "max RSS", "user / sys us"]
    rows = []
    for r in g.rows:
        if not r["n"]:
            why = ", ".join(f"{n} {k}" for k, n in sorted(r["failed_by_status"].items()))
            rows.append([r["name"], 0, f"{r['failed']} ({why})", r["warmup"],
                         *(["n/a"] * (len(head) - 4))])
            continue
        xf = r.get("ratio_to_floor")
        rows.append([
            r["name"], r["n"], r["failed"], r["warmup"], _us(r["median_ns"]),
            f"{_us(r['ci95_low_ns'])} - {_us(r['ci95_high_ns'])}", _us(r["mean_ns"]),
            _us(r["sd_ns"]), _us(r["sem_ns"]), _us(r["mad_ns"]),
            f"{_us(r['p5_ns'])} / {_us(r['p95_ns'])} / {_us(r['p99_ns'])}",
            f"{r['outliers_low']} / {r['outliers_high']}",
            f"{xf:.2f}" if xf else "n/a",
            f"{_num(r['faults_minor_median'])} / {_num(r['faults_major_median'])}",
            _bytes(r["max_rss_median_bytes"]),
            f"{_us(r['user_median_ns'])} / {_us(r['sys_median_ns'])}",
        ])
    return _table(head, rows, cls="details")


def _comparisons_table(g: _Group) -> Html:
    rows = [[c.name, f"{c.ratio:.3f}", f"{c.ratio_ci95[0]:.3f} - {c.ratio_ci95[1]:.3f}",
             f"{c.hl_shift / 1e3:+,.1f} ({c.hl_ci95[0] / 1e3:+,.1f} to {c.hl_ci95[1] / 1e3:+,.1f})",
             f"{c.p_holm:.2g}", f"{c.cliffs_delta:+.2f}", _verdict_cell(c.verdict)]
            for c in g.comps]
    return _table(["variant", "ratio of medians", "ratio 95% CI", "HL shift us (95% CI)",
                   "p (Holm)", "Cliff's delta", "verdict"], rows)


def _warnings(g: _Group) -> list[str]:
    rec = g.record
    out = []
    if not rec.complete:
        out.append(f"the run is incomplete ({rec.end_reason}): figures cover the launches that "
                   "finished")
    for r in g.rows:
        if r["failed"]:
            why = ", ".join(f"{n} {k}" for k, n in sorted(r["failed_by_status"].items()))
            # newer tables give the launcher's reasons too (e.g. "exec format error")
            reasons = "; ".join(f"{n}x {k}" for k, n in (r.get("failed_reasons") or {}).items())
            out.append(f"{r['name']}: {r['failed']} failed launches ({why}), excluded from "
                       "latency figures" + (f": {reasons}" if reasons else ""))
        if r.get("outliers_low") or r.get("outliers_high"):
            out.append(f"{r['name']}: {r['outliers_low']} low and {r['outliers_high']} high "
                       "outliers (Tukey fences), kept in every figure")
        d = r.get("drift")
        if d and d.get("significant"):
            out.append(f"{r['name']}: latency drifts over the run (Spearman rho "
                       f"{d['spearman_rho']:.2f}, p {d['p_value']:.2g}, change "
                       f"{100 * d['relative_change']:+.1f}% over the run)")
        if r.get("warmup_suspect"):
            out.append(f"{r['name']}: the first 10% of launches are slower than the rest; "
                       "consider more warm-up launches")
    steal = tables.steal_warning(rec.host)
    if steal:
        out.append(steal)
    infl = rec.probe.overhead.get("trace_inflation_ratio")
    if isinstance(infl, int | float) and infl > 1.05:
        out.append(f"the {rec.probe.name} probe traces every launch and inflates a null launch "
                   f"{infl:.2f}x: compare its latencies only with runs of the same probe")
    unknown = rec.probe.settings.get("not_recorded")
    if unknown:
        out.append(f"imported data: {', '.join(map(str, unknown))} were not recorded by the "
                   "original tool and show as 0 or n/a")
    from loadbench.analysis import resolution_caveats

    out += resolution_caveats(g.comps)
    out += list(g.notes)
    return out


def _static_table(groups: Sequence[_Group]) -> Html:
    multi = len(groups) > 1
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for g in groups:
        src = g.static or tuple(
            {"name": m.name, "runnable": True, "summary": m.binary.summary}
            for m in g.record.measurements)
        entries += [(g.label, e) for e in src]
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


def _commands(g: _Group) -> str:
    lines = []
    spec = g.record.spec
    if spec.argv:
        lines.append("# the run")
        lines.append(shlex.join(spec.argv))
    for b in (g.manifest or {}).get("binaries", []):
        env = b.get("env") or {}
        keep = {k: v for k, v in env.items()
                if k in ("GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GOARM64", "GOTOOLCHAIN")}
        sha = str(b.get("sha256", ""))[:16]
        lines.append(f"# {b.get('name')} ({b.get('toolchain')}, sha256 {sha}...)")
        argv = [str(a) for a in b.get("argv") or []]
        lines.append(f"(cd loadbench/builder/targets/{shlex.quote(str(b.get('target')))} && "
                     + " ".join([*(shlex.quote(f"{k}={v}") for k, v in keep.items()),
                                 shlex.join(argv)]) + ")")
    if not (g.manifest or {}).get("binaries"):
        for m in g.record.measurements:
            lines.append(f"# {m.name}: {m.binary.path} (sha256 {m.binary.sha256[:16]}...)")
    lines.append(f"# target environment: {' '.join(f'{k}={v}' for k, v in spec.env.items())}")
    return "\n".join(lines)


_METHOD = (
    "Every launch is a separate process: spawned, waited for with wait4 (or the platform's "
    "equivalent), and timed from just before the spawn to the return of the wait. Binaries are "
    "launched interleaved in a seeded random order after warm-up launches, so slow drifts of the "
    "machine spread over every variant and show up in a drift test instead of a bias. Only "
    "launches that exited with status 0 count in latency figures; failures are counted by "
    "status. The median's 95% confidence interval comes from order statistics (distribution-"
    "free, conservative); the mean is shown with its SD and its standard error (SEM), which is "
    "not a confidence interval. Comparisons use the ratio of medians with a percentile-"
    "bootstrap CI, the Hodges-Lehmann shift with its distribution-free CI, the Mann-Whitney U "
    "test with Holm correction across the family, and Cliff's delta; a verdict other than "
    "'no difference' needs p (Holm) < 0.05 and the whole ratio CI beyond the +-1% band. "
    "Outliers (Tukey fences) are counted, never removed. The cost model regresses each "
    "variant's median latency on its median page faults (one point per variant) and is stated "
    "only with at least 4 variants; shares of a difference 'due to page faults' multiply its "
    "slope by the difference in faults and are descriptive, not causal."
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
    groups = []
    for i, (lab, rec) in enumerate(zip(labs, records, strict=True)):
        st_i = [e for e in static if e.get("host", labs[0]) == lab]
        groups.append(_group(i + 1, lab, rec, st_i, mans[i] if i < len(mans) else None))
    multi = len(groups) > 1

    def per_group(fn: Any) -> list[str]:
        out = []
        for g in groups:
            if multi:
                out.append(f"<h3>{_e(g.label)}</h3>")
            out += fn(g)
        return out

    body: list[str] = []
    # Summary
    summ: list[str] = []
    if multi:
        summ.append("<h3>Across hosts</h3>")
        summ.append('<ul class="findings">' + "".join(
            f"<li>{_e(s)}</li>" for s in _cross_findings(groups)) + "</ul>")
        from loadbench.analysis import cross_caveats

        cav = cross_caveats([g.label for g in groups], [g.record for g in groups])
        if cav:
            summ.append('<ul class="warnings">' + "".join(f"<li>{_e(c)}</li>" for c in cav)
                        + "</ul>")
    summ += per_group(lambda g: ['<ul class="findings">' + "".join(
        f"<li>{_e(s)}</li>" for s in _findings(g)) + "</ul>"])
    body += _section("summary", "Summary", summ)

    body += _section("environment", "Environment and toolchain",
                     ['<div class="scroll">', _environment(groups), "</div>"])

    # Per-variant latency
    var: list[str] = [
        '<p class="note">Median wall time per launch in microseconds with its distribution-free '
        "95% confidence interval; ratio of medians to the baseline; median page faults per "
        "launch; verdict against the baseline (see Methodology).</p>",
        '<div class="scroll">', _variants_table(groups), "</div>",
    ]
    for g in groups:
        forest = [(c.name, c.ratio, c.ratio_ci95[0], c.ratio_ci95[1], str(c.verdict))
                  for c in g.comps]
        if forest:
            var.append(_figure(
                plots.forest(forest, band=BAND_PCT / 100, uid=f"{g.uid}-forest",
                             title=f"Ratio of medians to {g.base}"
                                   + (f" ({g.label})" if multi else ""),
                             xlabel=f"median / median of {g.base} (95% bootstrap CI)"),
                f"Each variant's ratio of medians to {g.base} with its 95% bootstrap CI; the "
                f"shaded band is +-{BAND_PCT:g}%." + (f" {g.label}." if multi else "")))
    var += per_group(lambda g: [
        '<h3 class="sub">Details</h3>' if not multi else "",
        '<div class="scroll">', _details_table(g), "</div>",
        *(["<h3 class=\"sub\">Comparisons against " + _e(g.base) + "</h3>",
           '<div class="scroll">', _comparisons_table(g), "</div>"] if g.comps else []),
    ])
    body += _section("variants", "Launch latency per variant", var)

    # Distributions
    dist: list[str] = []
    for g in groups:
        series = {m.name: [s.wall_ns / 1000 for s in m.ok_samples()]
                  for m in g.record.measurements if m.ok_samples()}
        if series:
            dist.append(_figure(
                plots.ecdf(series, uid=f"{g.uid}-ecdf", xlabel="launch latency (us)",
                           title="Launch latency, empirical CDF"
                                 + (f" ({g.label})" if multi else "")),
                "Fraction of successful launches at or below each latency; a curve further "
                "left is faster, a flatter one is noisier." + (f" {g.label}." if multi else "")))
    body += _section("distributions", "Distributions",
                     dist or ['<p class="note">No successful launch to plot.</p>'])

    # Phases and fault regions, only when a probe recorded them
    phases: list[str] = []
    regions: list[str] = []
    for g in groups:
        med = _phase_medians(g.record)
        names = _phase_names(med)
        suffix = f" ({g.label})" if multi else ""
        if med and names:
            rows_us = {v: {p: med[v].get(p, 0.0) / 1000 for p in names} for v in med}
            if multi:
                phases.append(f"<h3>{_e(g.label)}</h3>")
            phases.append(_figure(
                plots.stacked_bars(rows_us, names, uid=f"{g.uid}-phases", xlabel="microseconds "
                                   "(median of each phase)", title="Launch phases" + suffix),
                "Median duration of each traced phase per variant; medians of phases do not "
                "add up exactly to the median total."))
            trows = [[v, *(_us(med[v].get(p)) if p in med[v] else "n/a" for p in names),
                      _us(med[v].get("total"))] for v in med]
            phases += ['<div class="scroll">',
                       _table(["variant", *(f"{p} us" for p in names), "total us"], trows),
                       "</div>"]
        means, counts = _region_means(g.record)
        if means:
            segs, rrows = _top_regions(means)
            if multi:
                regions.append(f"<h3>{_e(g.label)}</h3>")
            regions.append(_figure(
                plots.stacked_bars(rrows, segs, uid=f"{g.uid}-regions",
                                   xlabel="page faults per launch (mean)",
                                   title="Where page faults land" + suffix),
                f"Mean page faults per launch by memory region (top {MAX_REGIONS}; the rest as "
                "'other'), from traced launches."))
            trows = [[v, str(counts[v]), *(f"{rrows[v].get(s, 0.0):,.1f}" for s in segs)]
                     for v in rrows]
            regions += ['<div class="scroll">',
                        _table(["variant", "traced launches", *segs], trows), "</div>"]
    if phases:
        body += _section("phases", "Phase breakdown", phases)
    if regions:
        body += _section("regions", "Fault attribution by region", regions)

    # Cost vs faults
    cost: list[str] = []
    for g in groups:
        launches = {m.name: ([float(s.faults) for s in m.ok_samples()],
                             [s.wall_ns / 1000 for s in m.ok_samples()])
                    for m in g.record.measurements if m.ok_samples()}
        meds = {r["name"]: (float(r["faults_median"]), r["median_ns"] / 1000)
                for r in g.rows if r.get("median_ns") is not None}
        fit = (g.fit.slope, g.fit.intercept) if g.fit else None
        suffix = f" ({g.label})" if multi else ""
        if multi:
            cost.append(f"<h3>{_e(g.label)}</h3>")
        if meds:
            r2 = "" if not g.fit or g.fit.r2 is None else f", R² {g.fit.r2:.2f}"
            cost.append(_figure(
                plots.scatter_fit(launches, meds, fit, uid=f"{g.uid}-cost",
                                  xlabel="page faults per launch", ylabel="latency (us)",
                                  title="Latency against page faults" + suffix,
                                  fit_label=(f"fit: {g.fit.slope:.2f} us per fault{r2}"
                                             if g.fit else "")),
                "Faint dots are launches, outlined points the variants' medians; the dashed "
                "line is the least-squares fit over the medians"
                + (" (not drawn: too few variants)." if not fit else ".")))
        m = g.model
        if m is None:
            continue
        items = [f"<li>{_e(m['message'])}</li>"]
        if m.get("enough"):
            for feat, f in m["fault_fits"].items():
                r2 = "n/a" if f["r2"] is None else f"{f['r2']:.2f}"
                items.append(f"<li>faults vs {_e(feat)}: slope {f['slope']:.3g} per unit (95% "
                             f"CI {f['slope_ci95'][0]:.3g} to {f['slope_ci95'][1]:.3g}), "
                             f"R^2 {_e(r2)}</li>")
        cost.append('<ul class="note">' + "".join(items) + "</ul>")
    body += _section("cost", "Latency against page faults", cost)

    body += _section("static", "Static structure", [
        '<p class="note">Segments are what the loader maps (ELF PT_LOAD, Mach-O LC_SEGMENT_64, '
        "PE sections); alignment is the largest segment alignment; relocations are ELF dynamic "
        "relocations or PE base relocation entries. Cross-compiled builds are inspected, not "
        "run.</p>", '<div class="scroll">', _static_table(groups), "</div>"])

    warn = per_group(lambda g: ['<ul class="warnings">' + "".join(
        f"<li>{_e(w)}</li>" for w in _warnings(g)) + "</ul>" if _warnings(g) else
        '<p class="note">None: no failed launches, outliers, drift or warm-up effect.</p>'])
    body += _section("warnings", "Warnings: drift, outliers, failures", warn)

    body += _section("method", "Methodology and how to reproduce", [
        f"<p>{_e(_METHOD)}</p>",
        *per_group(lambda g: [f"<pre>{_e(_commands(g))}</pre>"]),
    ])

    nav = [("summary", "Summary"), ("environment", "Environment"), ("variants", "Variants"),
           ("distributions", "Distributions"), *([("phases", "Phases")] if phases else []),
           *([("regions", "Fault regions")] if regions else []), ("cost", "Faults"),
           ("static", "Static structure"), ("warnings", "Warnings"), ("method", "Methodology")]
    runs = ", ".join(f"{g.record.run_id} ({g.label})" if multi else g.record.run_id
                     for g in groups)
    version = groups[0].record.loadbench_version or "?"
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
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="meta">Run{"s" if multi else ""} {_e(runs)}. Generated by loadbench '
        f"{_e(version)} from the raw per-launch samples.</p>",
        "<nav><ul>" + "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in nav)
        + "</ul></nav></header>",
        "<main>",
    ]
    return "\n".join([*head, *body, "</main>", "</body>", "</html>", ""])


def render_merged(merged: merge.MergedRecords, *, title: str = "loadbench report") -> str:
    """``render`` for a ``merge.MergedRecords``: each run's static entries and manifest kept."""
    return render(merged.records, static=merged.static_entries(), title=title,
                  labels=merged.labels, manifests=[r.manifest for r in merged.runs])
