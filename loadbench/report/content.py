"""What a report says, computed once: every format (Markdown, HTML, merged, terminal) formats it.

``run_content`` turns one record (with the build's static entries, manifest and claims when a
bench made them) into a ``RunContent``: the baseline (one rule, ``tables.choose_baseline``), the
per-variant rows, the comparisons against the baseline, the cost model, the headline findings,
the caveats, the host facts, phases and fault regions, and the auxiliary tables (Go versions,
size by section, claims). ``report_content`` does it for several runs and adds what only a side
by side can say (cross-run findings and caveats). Nothing here formats: strings are plain text,
numbers stay numbers, and a renderer decides how to show them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from loadbench import analysis, stats
from loadbench.model import Record
from loadbench.report import tables
from loadbench.report.tables import VariantRow, fmt_bytes, fmt_num, fmt_us

# Phases as the tracing probes name them, in the order they happen; others follow as first seen.
PHASE_ORDER = ("exec", "to_entry", "ld_so", "runtime_init", "main_to_exit", "entry_to_exit")
MAX_REGIONS = 9  # fault regions shown one by one; the rest are summed as "other"
MAX_HEADLINES = 6
BAND_PCT = 1.0  # practical-significance band of report verdicts, as `loadbench compare`'s default


@dataclass(frozen=True, slots=True)
class Caveat:
    """One warning a report must carry. ``kind`` names the rule that raised it (``emulated``,
    ``failed``, ``outliers``, ``drift``, ``warmup``, ``steal``, ``incomplete``, ``inflation``,
    ``imported``, ``inconclusive``, ``note``); ``subject`` is the variant it is about, if one."""

    kind: str
    text: str
    subject: str | None = None


# Caveats the summary repeats because they change how its sentences must be read.
SUMMARY_KINDS = ("emulated", "incomplete", "steal", "drift", "inconclusive", "inflation",
                 "imported", "within-run", "cache")


@dataclass(frozen=True, slots=True)
class Table:
    """An auxiliary table as plain text cells: ``intro`` says what it shows."""

    title: str
    intro: str
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class RunContent:
    """Everything a report says about one run."""

    uid: str
    label: str
    record: Record
    baseline: str | None
    ratio_baselines: tuple[str, ...]
    rows: tuple[VariantRow, ...]
    comparisons: tuple[stats.Comparison, ...]
    band_pct: float
    correlation: analysis.Correlation | None
    latency_fit: stats.Fit | None
    findings: tuple[str, ...]
    caveats: tuple[Caveat, ...]
    facts: tuple[tuple[str, str], ...]
    phases: Mapping[str, Mapping[str, float]]  # variant -> phase -> median ns
    phase_names: tuple[str, ...]
    regions: Mapping[str, Mapping[str, float]]  # variant -> region -> mean faults per launch
    region_names: tuple[str, ...]
    region_launches: Mapping[str, int]
    static: tuple[Mapping[str, Any], ...]
    manifest: Mapping[str, Any] | None
    claims: Mapping[str, Any] | None
    extra_tables: tuple[Table, ...] = ()
    commands: tuple[str, ...] = ()

    @property
    def measured_as(self) -> str:
        """What a launch's time and counts are, in this run's probe's words."""
        return measured_as(self.record.probe.name)

    def row(self, name: str) -> VariantRow | None:
        for r in self.rows:
            if r.name == name:
                return r
        return None

    def comparison(self, name: str) -> stats.Comparison | None:
        for c in self.comparisons:
            if c.name == name:
                return c
        return None

    @property
    def summary(self) -> tuple[str, ...]:
        """The findings, then the caveats that change how they must be read."""
        return (*self.findings,
                *(f"Caveat: {c.text}" for c in self.caveats if c.kind in SUMMARY_KINDS))

    def static_entries(self) -> tuple[Mapping[str, Any], ...]:
        """The build's static entries, or the measured binaries' own summaries without them."""
        return self.static or tuple(
            {"name": m.name, "runnable": True, "summary": m.binary.summary}
            for m in self.record.measurements)


@dataclass(frozen=True, slots=True)
class ReportContent:
    title: str
    runs: tuple[RunContent, ...]
    cross_findings: tuple[str, ...] = ()
    cross_caveats: tuple[str, ...] = ()
    cross_tables: tuple[Table, ...] = ()  # what only the runs together say (claims by host)

    @property
    def multi(self) -> bool:
        return len(self.runs) > 1


# ------------------------------------------------------------------------------------ build


def run_content(record: Record, *, label: str = "", uid: str = "g1",
                static: Sequence[Mapping[str, Any]] = (),
                manifest: Mapping[str, Any] | None = None,
                claims: Mapping[str, Any] | None = None, baseline: str | None = None,
                band_pct: float = BAND_PCT, analyse: bool = True) -> RunContent:
    """``analyse=False`` leaves out the comparisons and the cost model (the terminal's
    ``stats`` shows neither, and both resample)."""
    base = tables.choose_baseline(record, baseline)
    ratio_bases = tuple(tables.ratio_baselines(record, base))
    rows = tables.variant_rows(record, ratio_bases)
    notes: list[Caveat] = []
    comps: tuple[stats.Comparison, ...] = ()
    ok = [m for m in record.measurements if m.has_ok()]
    if analyse and len(ok) >= 2 and base:
        sub = Record(run_id=record.run_id, created_utc=record.created_utc, host=record.host,
                     probe=record.probe, spec=record.spec, measurements=tuple(ok))
        try:
            comps = tuple(analysis.compare_records([sub], baseline=base, band_pct=band_pct))
        except (analysis.AnalysisError, stats.StatsError) as e:
            notes.append(Caveat("note", f"comparisons not computed: {e}"))
    corr: analysis.Correlation | None = None
    fit = None
    unmeasured = {"faults_minor", "faults_major"} & set(tables.untrusted_fields(record))
    try:
        if analyse and not unmeasured:  # no cost model over faults that were not measured
            corr = analysis.correlate([record])
            fit = corr.latency_fit()
    except stats.StatsError as e:
        notes.append(Caveat("note", f"cost model not computed: {e}"))
    phases = _phase_medians(record)
    region_means, region_launches = _region_means(record)
    region_names, region_rows = _top_regions(region_means)
    content = RunContent(
        uid=uid, label=label, record=record, baseline=base, ratio_baselines=ratio_bases,
        rows=rows, comparisons=comps, band_pct=band_pct, correlation=corr, latency_fit=fit,
        findings=(), caveats=(), facts=_facts(record, static, manifest), phases=phases,
        phase_names=_phase_names(phases), regions=region_rows,
        region_names=tuple(region_names), region_launches=region_launches,
        static=tuple(static), manifest=manifest, claims=claims,
        extra_tables=_extra_tables(record, rows, static, claims),
        commands=_commands(record, manifest))
    caveats = (*_caveats(content), *notes)
    return replace(content, findings=tuple(_findings(content)), caveats=caveats)


def report_content(runs: Sequence[tuple[str, Record, Sequence[Mapping[str, Any]],
                                        Mapping[str, Any] | None]], *,
                   title: str = "loadbench report", claims: Mapping[str, Any] | None = None,
                   band_pct: float = BAND_PCT,
                   run_claims: Sequence[Mapping[str, Any] | None] | None = None
                   ) -> ReportContent:
    """``runs`` are (label, record, static entries, manifest); ``claims`` belong to the first,
    or ``run_claims`` gives each run's own (None for a run without)."""
    if not runs:
        raise analysis.AnalysisError("no record to report")
    per_run = list(run_claims) if run_claims is not None else \
        [claims if i == 0 else None for i in range(len(runs))]
    contents = tuple(
        run_content(rec, label=label, uid=f"g{i + 1}", static=st, manifest=man,
                    claims=per_run[i] if i < len(per_run) else None, band_pct=band_pct)
        for i, (label, rec, st, man) in enumerate(runs))
    if len(contents) < 2:
        return ReportContent(title, contents)
    by_host = _claims_by_host(contents)
    return ReportContent(title, contents, tuple(_cross_findings(contents)),
                         tuple(analysis.cross_caveats([c.label for c in contents],
                                                      [c.record for c in contents])),
                         (by_host,) if by_host else ())


def merged_content(merged: Any, *, title: str = "loadbench report") -> ReportContent:
    """``report_content`` of a ``merge.MergedRecords`` (each run's static, manifest and claims
    kept)."""
    return report_content([(r.label, r.record, r.static, r.manifest) for r in merged.runs],
                          title=title, run_claims=[r.claims for r in merged.runs])


def _claims_by_host(runs: Sequence[RunContent]) -> Table | None:
    """Every claim with the verdict of each run that checked claims, and which host's
    measurement the combined verdict rests on."""
    from loadbench import claims as claims_mod

    docs = [(r.label, r.claims) for r in runs if r.claims]
    if not docs:
        return None
    combined = claims_mod.combine(docs)
    labels = [label for label, _ in docs]
    rows = []
    for c in combined["claims"]:
        per = {h["host"]: h["verdict"] for h in c["by_host"]}
        rows.append((str(c["id"]), str(c.get("section") or ""), str(c["claim"]),
                     str(c["verdict"]), ", ".join(c["measured_on"]) or "no host",
                     *(per.get(label, "not checked") for label in labels),
                     str(c["reason"])))
    return Table(
        "Claims by host",
        "Each claim of the seed article with the verdict of every run that checked the claims "
        "(one column per host) and the combined verdict: it rests on the hosts that could "
        "measure the claim (\"measured on\"); a claim no host could measure stays not "
        "measurable. The reason is the measuring host's.",
        ("id", "section", "claim", "verdict", "measured on", *labels, "reason"), tuple(rows))


def measured_as(probe: str) -> str:
    if probe.startswith("windows"):
        return ("wall time from just before CreateProcessW to the wait on the process handle "
                "returning; faults and peak memory come from the launch's job object (under "
                "Wine they are not measured and show as n/a)")
    if probe.startswith("macos"):
        return ("wall time from just before posix_spawn to the child's exit as waitid saw it; "
                "faults and max RSS are the child's own rusage")
    if probe == "hyperfine-import":
        return "wall time as hyperfine measured it; it records no faults or memory per launch"
    return ("wall time from just before the spawn to `wait4`'s return; faults and max RSS are "
            "the child's own `wait4` rusage")


# ------------------------------------------------------------------------------------ facts


def _go_versions(record: Record, manifest: Mapping[str, Any] | None) -> str:
    found = {str(b.get("toolchain")) for b in (manifest or {}).get("binaries", [])
             if str(b.get("toolchain", "")).startswith("go")}
    for m in record.measurements:
        tc = (m.binary.build or {}).get("toolchain")
        if isinstance(tc, str) and tc.startswith("go"):
            found.add(tc)
        gv = (m.binary.summary or {}).get("go_version")
        if isinstance(gv, str) and gv:
            found.add(gv)
    return ", ".join(sorted(found)) or "n/a"


def overhead_text(record: Record) -> str:
    ov = record.probe.overhead
    if not ov:
        return "not measured"
    parts = []
    if ov.get("null_wall_ns_median") is not None:
        parts.append(f"null binary median {fmt_us(ov['null_wall_ns_median'])} us over "
                     f"{ov.get('null_launches', 0)} launches")
    if isinstance(ov.get("trace_inflation_ratio"), int | float):
        parts.append(f"tracing inflates a null launch {ov['trace_inflation_ratio']:.2f}x")
    return "; ".join(parts) or "recorded (see record.json)"


def _facts(record: Record, static: Sequence[Mapping[str, Any]],
           manifest: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    h, spec, probe = record.host, record.spec, record.probe
    mem = h.get("memory_bytes")
    load = h.get("load_average") or []
    facts: list[tuple[str, Any]] = [
        ("Run", f"{record.run_id}, {record.created_utc}"),
        ("Status", ("complete" if record.complete else "INCOMPLETE") + f" ({record.end_reason})"),
        ("Host", h.get("hostname", "n/a")),
        ("OS", f"{h.get('os', 'n/a')} {h.get('os_release', '')} ({h.get('machine', 'n/a')})"),
        ("CPU", f"{h.get('cpu_model', 'n/a')} x{h.get('cpu_count_logical', '?')}"),
        ("Memory", fmt_bytes(mem) if isinstance(mem, int | float) else "n/a"),
        ("CPU governor", ", ".join(h.get("cpu_governors") or []) or "n/a (no cpufreq)"),
        ("perf_event_paranoid", h.get("perf_event_paranoid", "n/a")),
        ("Transparent huge pages", h.get("thp", "n/a")),
        ("ASLR", h.get("aslr", "n/a")),
        ("Load average", ", ".join(f"{x:.2f}" for x in load) or "n/a"),
        ("Python", h.get("python", "n/a")),
        ("loadbench", record.loadbench_version or "n/a"),
        ("Go", _go_versions(record, manifest)),
        ("C compiler", (manifest or {}).get("cc") or "n/a"),
        ("Probe", f"{probe.name} v{probe.version}"
         + (f" ({probe.tool_version})" if probe.tool_version else "")
         + (f", launcher {probe.settings['launcher_used']}"
            if probe.settings.get("launcher_used") else "")),
        ("Probe overhead", overhead_text(record)),
        ("Schedule", f"{spec.runs} rounds in {spec.sessions} session"
         f"{'s' if spec.sessions != 1 else ''}, {spec.warmup} warm-up launches per binary and "
         f"session, seed {spec.seed}, timeout {spec.timeout_s:g} s, {spec.affinity_text()}"),
        ("Page cache", _cache_fact(record)),
        ("Target environment", " ".join(f"{k}={v}" for k, v in spec.env.items()) or "n/a"),
    ]
    return tuple((k, str(v)) for k, v in facts)


def _large_share(entry: Mapping[str, Any] | None) -> float | None:
    v = (entry or {}).get("large_folio_share")
    return float(v) if isinstance(v, int | float) else None


def _share_text(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def cache_layouts(record: Record) -> dict[str, tuple[float | None, float | None]]:
    """Variant -> share of its resident pages in large folios before and after the first
    session's normalisation (after is None when the cache was left as it was)."""
    out = {}
    for m in record.measurements:
        if m.page_cache:
            first = m.page_cache[0]
            out[m.name] = (_large_share(first.get("before")), _large_share(first.get("after")))
    return out


def _cache_fact(record: Record) -> str:
    spec = record.spec
    mode = {"warm": "warm, after one page-cache state was given to every binary at each "
                    "session", "as-is": "as-is: the files as the system held them",
            "cold": "cold: evicted before every launch"}.get(spec.cache, spec.cache)
    lay = cache_layouts(record)
    if not lay:
        return mode
    def pair(b: float | None, a: float | None) -> str:
        return _share_text(b) if a is None and spec.cache != "warm" else \
            f"{_share_text(b)} -> {_share_text(a)}"
    shares = ", ".join(f"{n} {pair(b, a)}" for n, (b, a) in lay.items())
    return f"{mode}; pages in large folios (first session): {shares}"


def _commands(record: Record, manifest: Mapping[str, Any] | None) -> tuple[str, ...]:
    import shlex

    lines = []
    spec = record.spec
    if spec.argv:
        lines.append("# the run")
        lines.append(shlex.join(spec.argv))
    for b in (manifest or {}).get("binaries", []):
        env = b.get("env") or {}
        keep = {k: v for k, v in env.items()
                if k in ("GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GOARM64", "GOTOOLCHAIN")}
        sha = str(b.get("sha256", ""))[:16]
        lines.append(f"# {b.get('name')} ({b.get('toolchain')}, sha256 {sha}...)")
        argv = [str(a) for a in b.get("argv") or []]
        lines.append(f"(cd loadbench/builder/targets/{shlex.quote(str(b.get('target')))} && "
                     + " ".join([*(shlex.quote(f"{k}={v}") for k, v in keep.items()),
                                 shlex.join(argv)]) + ")")
    if not (manifest or {}).get("binaries"):
        for m in record.measurements:
            lines.append(f"# {m.name}: {m.binary.path} (sha256 {m.binary.sha256[:16]}...)")
    lines.append(f"# target environment: {' '.join(f'{k}={v}' for k, v in spec.env.items())}")
    return tuple(lines)


# --------------------------------------------------------------------------- phases, regions


def _phase_medians(record: Record) -> dict[str, dict[str, float]]:
    """Variant -> phase -> median ns over successful launches that carry ``phases_ns``."""
    out: dict[str, dict[str, float]] = {}
    for m in record.measurements:
        per: dict[str, list[float]] = {}
        if not m.columns.has_extra():
            continue
        for extra in m.columns.ok().extras():
            ph = extra.get("phases_ns")
            if isinstance(ph, Mapping):
                for k, v in ph.items():
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        per.setdefault(str(k), []).append(float(v))
        if per:
            out[m.name] = {k: statistics.median(v) for k, v in per.items()}
    return out


def _phase_names(med: Mapping[str, Mapping[str, float]]) -> tuple[str, ...]:
    seen = list(dict.fromkeys(k for v in med.values() for k in v if k != "total"))
    return tuple([p for p in PHASE_ORDER if p in seen] + [p for p in seen if p not in PHASE_ORDER])


def _region_means(record: Record) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Variant -> region -> mean faults per launch (launches that carry ``faults_by_region``),
    and variant -> number of such launches."""
    out: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for m in record.measurements:
        total: dict[str, float] = {}
        n = 0
        if not m.columns.has_extra():
            continue
        for extra in m.columns.ok().extras():
            reg = extra.get("faults_by_region")
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


# ---------------------------------------------------------------------------------- caveats


def _caveats(c: RunContent) -> list[Caveat]:
    rec = c.record
    out = []
    emulated = tables.emulation_warning(rec)
    if emulated:  # first: it changes how every figure after it reads
        out.append(Caveat("emulated", emulated))
    if not rec.complete:
        out.append(Caveat("incomplete", f"the run is incomplete ({rec.end_reason}): figures "
                                        "cover the launches that finished"))
    for r in c.rows:
        if r.failed:
            why = ", ".join(f"{n} {k}" for k, n in sorted(r.failed_by_status.items()))
            reasons = "; ".join(f"{n}x {k}" for k, n in r.failed_reasons.items())
            out.append(Caveat("failed", f"{r.name}: {r.failed} failed launches ({why}), "
                                        "excluded from latency figures"
                                        + (f": {reasons}" if reasons else ""), r.name))
        s = r.latency
        if s is None:
            continue
        if s.outliers_low or s.outliers_high:
            out.append(Caveat("outliers", f"{r.name}: {s.outliers_low} low and "
                                          f"{s.outliers_high} high outliers (Tukey fences), "
                                          "kept in every figure", r.name))
        d = s.drift
        if d is not None and d.significant and d.relative_change is not None:
            rho = "n/a" if d.spearman_rho is None else f"{d.spearman_rho:.2f}"
            p = "n/a" if d.p_value is None else f"{d.p_value:.2g}"
            out.append(Caveat("drift", f"{r.name}: latency drifts over the run (Spearman rho "
                                       f"{rho}, p {p}, change {100 * d.relative_change:+.1f}% "
                                       "over the run)", r.name))
        if s.warmup_suspect:
            out.append(Caveat("warmup", f"{r.name}: the first 10% of launches are slower than "
                                        "the rest; consider more warm-up launches", r.name))
    steal = tables.steal_warning(rec.host)
    if steal:
        out.append(Caveat("steal", steal))
    infl = rec.probe.overhead.get("trace_inflation_ratio")
    if isinstance(infl, int | float) and infl > 1.05:
        out.append(Caveat("inflation", f"the {rec.probe.name} probe traces every launch and "
                                       f"inflates a null launch {infl:.2f}x: compare its "
                                       "latencies only with runs of the same probe"))
    unknown = rec.probe.settings.get("not_recorded")
    if unknown:
        out.append(Caveat("imported", f"imported data: {', '.join(map(str, unknown))} were not "
                                      "recorded by the original tool and show as 0 or n/a"))
    out += [Caveat("inconclusive", text) for text in analysis.resolution_caveats(c.comparisons)]
    if rec.spec.sessions <= 1 and any(r.latency is not None for r in c.rows):
        out.append(Caveat("within-run", "one session: every CI here describes sampling within "
                                        "this run only, not how repeatable the medians are from "
                                        "run to run (on this VM runs differ by 2-3%); measure "
                                        "with --sessions 3 or more for CIs that include the "
                                        "variation between sessions"))
    out += _cache_caveats(rec)
    return out


def _cache_caveats(rec: Record) -> list[Caveat]:
    out = []
    for m in rec.measurements:
        stayed = [e.get("pages_that_stayed") for e in m.page_cache]
        worst = max((s for s in stayed if isinstance(s, int)), default=0)
        if worst:
            out.append(Caveat("cache", f"{m.name}: {worst} pages would not leave the page cache "
                                       "(mapped by a running process, or dirty): they kept the "
                                       "layout they had", m.name))
    lay = cache_layouts(rec)
    shares = {n: b for n, (b, _) in lay.items() if b is not None}
    if rec.spec.cache == "as-is" and shares and max(shares.values()) - min(shares.values()) > 0.1:
        listed = ", ".join(f"{n} {_share_text(v)}" for n, v in shares.items())
        out.append(Caveat("cache", "the binaries sit in the page cache differently (pages in "
                                   f"large folios: {listed}); with --cache as-is that difference "
                                   "is part of every comparison (up to ~18% here), use --cache "
                                   "warm to compare the binaries alone"))
    return out


# --------------------------------------------------------------------------------- findings


def _share_clause(r: VariantRow, b: VariantRow, corr: analysis.Correlation | None) -> str:
    """How much of a latency difference the cost model's microseconds-per-fault explains, with
    the range that the slope's confidence interval gives."""
    u = corr.model.us_per_fault if corr is not None and corr.model.enough else None
    if u is None or r.faults_median is None or b.faults_median is None:
        return ""
    if r.median_ns is None or b.median_ns is None:
        return ""
    slope, (ci_lo, ci_hi) = u.value, u.ci95
    dfaults = r.faults_median - b.faults_median
    dlat_us = (r.median_ns - b.median_ns) / 1000
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
        return (f"; the fit over the variants explains all of it by page faults: {how} come "
                f"to {share:.0%} of the difference ({span}){tail}")
    return (f"; the fit over the variants explains {share:.0%} of the difference by page "
            f"faults ({how}; {span})")


def _findings(c: RunContent) -> list[str]:
    failed = sum(r.failed for r in c.rows)
    total = failed + sum(r.n for r in c.rows)
    lost = ([f"{failed} of {total} launches failed and are left out of every latency figure "
             "(see Warnings)."] if failed else [])
    b = c.row(c.baseline) if c.baseline else None
    if b is None or b.latency is None:
        return ["No launch succeeded: there is nothing to report.", *lost]
    out: list[str] = []
    if not c.comparisons:
        out.append(f"{b.name} takes {fmt_us(b.median_ns)} us per launch (median of {b.n}; "
                   f"95% CI {fmt_us(b.latency.ci95_low)} to {fmt_us(b.latency.ci95_high)}).")
    floor = c.row("floor")
    if floor is not None and floor.median_ns and b.name != "floor" and b.median_ns:
        out.append(f"The floor (a static binary that only exits) takes {fmt_us(floor.median_ns)} "
                   "us: the fixed cost of creating, loading and reaping a process here; "
                   f"{b.name} takes {b.median_ns / floor.median_ns:.1f}x that.")
    ranked = sorted((x for x in c.comparisons if x.verdict.differs and x.name != "floor"),
                    key=lambda x: -abs(math.log(x.ratio)) if x.ratio > 0 else 0.0)
    for x in ranked[:MAX_HEADLINES]:
        r = c.row(x.name)
        if r is None:
            continue
        out.append(f"{x.name} takes {x.ratio:.2f}x {b.name}'s time ({fmt_us(r.median_ns)} vs "
                   f"{fmt_us(b.median_ns)} us median; 95% CI of the ratio "
                   f"{x.ratio_ci95[0]:.2f}-{x.ratio_ci95[1]:.2f}, {x.verdict})"
                   + _share_clause(r, b, c.correlation) + ".")
    if len(ranked) > MAX_HEADLINES:
        out.append(f"{len(ranked) - MAX_HEADLINES} more variants differ from {b.name}: see the "
                   "comparison table.")
    same = [x.name for x in c.comparisons if x.verdict is stats.Verdict.EQUIVALENT]
    if same:
        out.append(f"Equivalent to {b.name} (the whole 95% CI of the ratio within "
                   f"+-{c.band_pct:g}%): {', '.join(same)}.")
    unsure = [x.name for x in c.comparisons if x.verdict is stats.Verdict.INCONCLUSIVE]
    if unsure:
        out.append(f"Inconclusive against {b.name} (neither within +-{c.band_pct:g}% nor "
                   f"beyond it; see Warnings): {', '.join(unsure)}.")
    m = c.correlation.model if c.correlation is not None else None
    u = m.us_per_fault if m is not None and m.enough else None
    if u is not None:
        r2 = "n/a" if u.r2 is None else f"{u.r2:.2f}"
        out.append(f"Across {u.n} variants, median latency is explained by median page faults "
                   f"at about {u.value:.2f} us per fault (95% CI {u.ci95[0]:.2f} to "
                   f"{u.ci95[1]:.2f}, R^2 {r2}): a descriptive least-squares fit over the "
                   "variants, which differ in more than their faults; not a causal estimate.")
    elif m is not None:
        out.append(f"Differences are not attributed to page faults: {m.message}.")
    name = c.baseline if c.baseline in c.phases else next(iter(c.phases), None)
    if name:
        phases = {k: v for k, v in c.phases[name].items() if k != "total"}
        if phases:
            top = max(phases, key=lambda k: phases[k])
            total_ns = c.phases[name].get("total") or sum(phases.values())
            infl = c.record.probe.overhead.get("trace_inflation_ratio")
            extra = (f"; tracing inflated a null launch {float(infl):.1f}x, so read phases as "
                     "shares rather than absolute costs") if isinstance(infl, int | float) else ""
            out.append(f"Traced by the {c.record.probe.name} probe, {top} is the largest phase "
                       f"of {name}: {fmt_us(phases[top])} us, {phases[top] / total_ns:.0%} of "
                       f"its {fmt_us(total_ns)} us traced median{extra}.")
    return out + lost


def headline_findings(record: Record) -> list[str]:
    """The summary sentences a report opens with, as plain text."""
    return list(run_content(record).summary)


def _cross_findings(runs: Sequence[RunContent]) -> list[str]:
    """Same variants on different hosts, side by side in one sentence each."""
    def measured(run: RunContent, name: str) -> bool:
        r = run.row(name)
        return r is not None and bool(r.median_ns)

    common = [r.name for r in runs[0].rows if all(measured(x, r.name) for x in runs)]
    if not common:
        return ["The runs share no variant with successful launches: nothing to set side by side."]
    pick = [n for n in ("hello", "web", "floor") if n in common] or common[:3]
    out = []
    for name in pick:
        parts = []
        for g in runs:
            r = g.row(name)
            assert r is not None and r.median_ns is not None
            base = g.row(g.baseline) if g.baseline else None
            rel = (f", {r.median_ns / base.median_ns:.2f}x {g.baseline}"
                   if base is not None and g.baseline != name and base.median_ns else "")
            parts.append(f"{fmt_us(r.median_ns)} us on {g.label}{rel}")
        out.append(f"{name}: " + "; ".join(parts) + ".")
    return out


# ---------------------------------------------------------------------------- extra tables


def _extra_tables(record: Record, rows: Sequence[VariantRow],
                  static: Sequence[Mapping[str, Any]],
                  claims: Mapping[str, Any] | None) -> tuple[Table, ...]:
    out = []
    if claims:
        out.append(Table(
            "Claims vs measured",
            "Each claim of the seed article (docs/seed/CLAIMS.md) against what this run "
            "measured; the full figures are in `claims.json`.",
            ("id", "section", "claim", "verdict", "measured", "method"),
            tuple((str(x["id"]), str(x.get("section") or ""), str(x["claim"]),
                   str(x["verdict"]), str(x["reason"]), str(x["method"]))
                  for x in claims["claims"])))
    go = _go_versions_table(rows, static)
    if go:
        out.append(go)
    trend = _size_trend_table(static)
    if trend:
        out.append(trend)
    if claims:
        size = _size_by_section(static)
        if size:
            out.append(size)
    return tuple(out)


_TREND_PLATFORMS = ("linux/amd64", "windows/amd64", "darwin/amd64")


def _size_trend_table(static: Sequence[Mapping[str, Any]]) -> Table | None:
    """File size of the web program per Go release, with and without -s -w, per GOOS: the
    trend across releases, oldest first. Shown when at least three releases were built."""
    from loadbench.claims import version_key

    sizes: dict[tuple[str, str, bool], int] = {}
    for e in static:
        name, tc = str(e["name"]), str(e.get("toolchain", ""))
        if not name.startswith(f"web-{tc}") or not tc.startswith("go"):
            continue
        plat = f"{e['goos']}/{e['goarch']}"
        rest = name.removeprefix(f"web-{tc}").removeprefix("-" + plat.replace("/", "-"))
        if plat not in _TREND_PLATFORMS or rest not in ("", "-sw"):
            continue
        if plat != "linux/amd64" and not name.startswith(f"web-{tc}-{plat.replace('/', '-')}"):
            continue
        sizes[(tc, plat, rest == "-sw")] = int(e["summary"]["file_size_bytes"])
    versions = sorted({v for v, _, _ in sizes}, key=version_key)
    if len(versions) < 3:
        return None

    def cell(v: str, plat: str, sw: bool) -> str:
        n = sizes.get((v, plat, sw))
        return "" if n is None else f"{n / 1e6:.2f}"

    def cut(v: str, plat: str) -> str:
        full, sw = sizes.get((v, plat, False)), sizes.get((v, plat, True))
        return "" if not full or sw is None else f"{100 * (full - sw) / full:.1f}%"

    body = []
    first = versions[0]
    for v in versions:
        row = [v]
        for plat in _TREND_PLATFORMS:
            row += [cell(v, plat, False), cell(v, plat, True), cut(v, plat)]
        base, now = sizes.get((first, "linux/amd64", True)), sizes.get((v, "linux/amd64", True))
        row.append("" if not base or now is None else f"{100 * (now / base - 1):+.1f}%")
        body.append(tuple(row))
    head = ["Go"]
    for plat in _TREND_PLATFORMS:
        head += [f"{plat} MB", f"{plat} -s -w MB", f"{plat} -s -w removes"]
    head.append(f"linux/amd64 -s -w vs {first}")
    return Table(
        "Size across Go releases",
        "The web program (net/http + encoding/json, CGO_ENABLED=0, -trimpath) built by every "
        "Go release here, oldest first: file size in MB (10^6 bytes) with and without "
        "`-s -w` per GOOS (amd64), the share `-s -w` removes, and the stripped linux/amd64 "
        "size against the oldest release.",
        tuple(head), tuple(body))


def _go_versions_table(rows: Sequence[VariantRow],
                       static: Sequence[Mapping[str, Any]]) -> Table | None:
    versions = sorted({str(e.get("toolchain")) for e in static
                       if str(e.get("toolchain", "")).startswith("go")})
    if len(versions) < 2:
        return None
    by = {r.name: r for r in rows}
    body = []
    for e in static:
        if "goversion" not in e["name"] and not e["name"].startswith("web-go"):
            continue
        r = by.get(e["name"])
        ran = r is not None and r.n > 0
        body.append((str(e["name"]), str(e.get("toolchain")), f"{e['goos']}/{e['goarch']}",
                     fmt_bytes(e["summary"]["file_size_bytes"]),
                     fmt_us(r.median_ns) if ran and r is not None else "not run here",
                     fmt_num(r.faults_median) if ran and r is not None else ""))
    return Table("Go versions",
                 f"The same programs built with {', '.join(versions)} (file size; measured "
                 "latency where the build runs here).",
                 ("binary", "Go", "platform", "file size", "median us", "faults"), tuple(body))


def _size_by_section(static: Sequence[Mapping[str, Any]]) -> Table | None:
    """Section sizes side by side across GOOS, with and without -s -w, for the default Go."""
    cols = [e for e in static
            if e["name"].startswith("web-go") and e.get("detail") and e["goarch"] in ("amd64",)]
    if not cols:
        return None
    default = cols[0].get("toolchain")
    cols = [e for e in cols if e.get("toolchain") == default]
    cols += [e for e in static if e["name"] == "web-pie" and e.get("detail")]
    names: list[str] = []
    for e in cols:
        for sec in e["detail"]["sections"]:
            if sec not in names:
                names.append(sec)
    body = [(sec, *(f"{e['detail']['sections'][sec]:,}" if sec in e["detail"]["sections"]
                    else "" for e in cols)) for sec in names]
    body.append(("file size", *(f"{e['summary']['file_size_bytes']:,}" for e in cols)))
    return Table(
        "Size by section",
        f"Bytes per section of the web program ({default}, amd64), per GOOS, with and without "
        "`-s -w`, and the native build as PIE: what stripping removes on each format, what PIE "
        "adds, and where the formats differ. Empty cells: the section does not exist in that "
        "binary.",
        ("section", *(str(e["name"]) for e in cols)), tuple(body))


__all__ = ["BAND_PCT", "Caveat", "ReportContent", "RunContent", "Table", "headline_findings",
           "merged_content", "report_content", "run_content"]
