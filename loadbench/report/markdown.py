"""The Markdown report: host and toolchain, per-variant latency with CIs, faults and RSS relative
to the floor and to hello, warnings, the static structure of every built binary, and the exact
commands to reproduce the run. Everything is derived from the record (and the build manifest).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from loadbench.model import Record
from loadbench.report import tables

_us = tables.fmt_us
_bytes = tables.fmt_bytes


def _esc(text: Any) -> str:
    """Make text from binaries and paths safe inside a Markdown table cell."""
    s = str(text)
    for ch in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


_num = tables.fmt_num


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render(
    record: Record,
    *,
    static: Sequence[Mapping[str, Any]] = (),
    manifest: Mapping[str, Any] | None = None,
    claims: Mapping[str, Any] | None = None,
    title: str = "loadbench report",
) -> str:
    """Markdown for ``record``. ``static`` lists ``{"name", "runnable", "summary"}`` for every
    built binary (cross builds included); without it, the measured binaries' summaries are used.
    """
    h = record.host
    lines = [
        f"# {_esc(title)}",
        "",
        f"Run `{record.run_id}`, {record.created_utc}; "
        f"{'complete' if record.complete else '**incomplete**'} ({_esc(record.end_reason)}).",
        "",
    ]
    baselines = tables.default_baselines(record)
    rows = tables.measurement_rows(record, baselines)

    lines += ["## Host and toolchain", ""]
    probe = record.probe
    ov = probe.overhead
    go_versions = sorted(
        {
            str(b["toolchain"])
            for b in (manifest or {}).get("binaries", [])
            if str(b.get("toolchain", "")).startswith("go")
        }
    )
    facts = [
        ("OS", f"{h.get('os')} {h.get('os_release')} ({h.get('machine')})"),
        ("CPU", f"{h.get('cpu_model')} x{h.get('cpu_count_logical')}"),
        ("CPU governor", ", ".join(h.get("cpu_governors") or []) or "n/a (no cpufreq)"),
        ("perf_event_paranoid", h.get("perf_event_paranoid")),
        ("Transparent huge pages", h.get("thp")),
        ("loadbench", record.loadbench_version),
        ("Go", ", ".join(go_versions) or "n/a"),
        ("C compiler", (manifest or {}).get("cc") or "n/a"),
        (
            "Probe",
            f"{probe.name} v{probe.version}"
            + (
                f", launcher {probe.settings.get('launcher_used')}"
                if probe.settings.get("launcher_used")
                else ""
            ),
        ),
        (
            "Probe overhead",
            f"null binary median {_us(ov.get('null_wall_ns_median'))} us over "
            f"{ov.get('null_launches', 0)} launches"
            if ov
            else "not measured",
        ),
        (
            "Schedule",
            f"{record.spec.runs} rounds, {record.spec.warmup} warm-up launches per "
            f"binary, seed {record.spec.seed}, cache {record.spec.cache}, "
            f"timeout {record.spec.timeout_s:g} s, {record.spec.affinity_text()}",
        ),
        ("Target environment", " ".join(f"{k}={v}" for k, v in record.spec.env.items())),
    ]
    lines += _table(["fact", "value"], [[k, _esc(v)] for k, v in facts]) + [""]

    lines += [
        "## Launch latency, faults and memory per variant",
        "",
        "Median wall time from just before the spawn to `wait4`'s return, with a "
        "distribution-free 95% confidence interval of the median (order statistics). "
        "Ratios are of medians. Faults and max RSS are the child's own `wait4` rusage "
        "(medians). SEM is the standard error of the mean, not a confidence interval.",
        "",
    ]
    head = ["variant", "n ok", "failed", "median us", "95% CI us", "mean us (SD; SEM)"]
    head += [f"x {b}" for b in baselines]
    head += ["faults (minor/major)", "max RSS"]
    body = []
    for r in rows:
        if not r["n"]:
            body.append([_esc(r["name"]), "0", str(r["failed"])] + ["n/a"] * (len(head) - 3))
            continue
        cells = [
            _esc(r["name"]),
            str(r["n"]),
            str(r["failed"]),
            _us(r["median_ns"]),
            f"{_us(r['ci95_low_ns'])} - {_us(r['ci95_high_ns'])}",
            f"{_us(r['mean_ns'])} ({_us(r['sd_ns'])}; {_us(r['sem_ns'])})",
        ]
        cells += [f"{r[f'ratio_to_{b}']:.2f}" if f"ratio_to_{b}" in r else "n/a" for b in baselines]
        cells += [
            f"{_num(r['faults_median'])} ({_num(r['faults_minor_median'])}/"
            f"{_num(r['faults_major_median'])})",
            _bytes(r["max_rss_median_bytes"]),
        ]
        body.append(cells)
    lines += _table(head, body) + [""]

    warnings = []
    for r in rows:
        if r["failed"]:
            why = "; ".join(f"{n}x {k}" for k, n in r["failed_reasons"].items())
            warnings.append(
                f"{r['name']}: {r['failed']} failed launches ({why}), excluded from latency figures"
            )
        if r.get("outliers_low") or r.get("outliers_high"):
            warnings.append(
                f"{r['name']}: {r['outliers_low']} low and {r['outliers_high']} high "
                "outliers (Tukey fences), kept in every figure"
            )
        d = r.get("drift")
        if d and d.get("significant"):
            warnings.append(
                f"{r['name']}: latency drifts over the run (Spearman rho "
                f"{d['spearman_rho']:.2f}, p {d['p_value']:.2g}, change "
                f"{100 * d['relative_change']:+.1f}% over the run)"
            )
        if r.get("warmup_suspect"):
            warnings.append(
                f"{r['name']}: the first 10% of launches are slower than the rest: "
                "consider more --warmup"
            )
    steal = tables.steal_warning(record.host)
    if steal:
        warnings.append(steal)
    lines += ["## Warnings", ""]
    lines += [f"- {_esc(w)}" for w in warnings] or [
        "- none: no failed launches, no significant drift, no warm-up effect"
    ]
    lines.append("")

    lines += _comparison_section(record)
    lines += _cost_section(record)
    if claims:
        lines += _claims_section(claims)
    lines += _go_versions_section(record, static)
    if claims:
        lines += _size_by_section(static)

    lines += [
        "## Static structure",
        "",
        "Segments are what the loader maps (ELF PT_LOAD, Mach-O LC_SEGMENT_64, PE sections); "
        "alignment is the largest segment alignment (Mach-O: the target's page size). "
        "Mapped size excludes Mach-O `__PAGEZERO`. Relocations: ELF dynamic relocations, "
        "PE base relocation entries.",
        "",
    ]
    entries = list(static) or [
        {"name": m.name, "runnable": True, "summary": m.binary.summary} for m in record.measurements
    ]
    srows = []
    for e in entries:
        s = e["summary"]
        if not s or "error" in s:
            srows.append([_esc(e["name"]), _esc(s.get("error", "not inspected"))] + [""] * 9)
            continue
        srows.append(
            [
                _esc(e["name"]),
                _esc(f"{s['format']} {s['arch']}"),
                _bytes(s["file_size_bytes"]),
                _bytes(s["mapped_size_bytes"]),
                _num(s["segments"]),
                hex(s["segment_alignment"]),
                _num(s.get("load_commands")),
                _num(s.get("relocations")),
                _num(s.get("dynamic")),
                _bytes(s.get("debug_bytes")),
                "yes" if e.get("runnable") else "no",
            ]
        )
    lines += _table(
        [
            "binary",
            "format",
            "file size",
            "mapped size",
            "segments",
            "alignment",
            "load commands",
            "relocations",
            "dynamic",
            "debug info",
            "measured",
        ],
        srows,
    ) + [""]

    lines += ["## Reproduce", "", "```sh"]
    if record.spec.argv:
        lines.append(shlex.join(record.spec.argv))
    for b in (manifest or {}).get("binaries", []):
        env = b.get("env", {})
        keep = {
            k: v
            for k, v in env.items()
            if k in ("GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GOARM64", "GOTOOLCHAIN")
        }
        lines.append(f"# {b['name']} ({b['toolchain']}, sha256 {b['sha256'][:16]}...)")
        lines.append(
            f"(cd loadbench/builder/targets/{b['target']} && "
            f"{shlex.join(f'{k}={v}' for k, v in keep.items())} "
            f"{shlex.join(b['argv'])})".replace("  ", " ")
        )
    lines += ["```", ""]
    return "\n".join(lines)


def _comparison_section(record: Record) -> list[str]:
    from loadbench import analysis

    ok = [m for m in record.measurements if m.ok_samples()]
    if len(ok) < 2:
        return []
    names = [m.name for m in ok]
    base = "hello" if "hello" in names else names[0]
    sub = Record(
        run_id=record.run_id,
        created_utc=record.created_utc,
        host=record.host,
        probe=record.probe,
        spec=record.spec,
        measurements=tuple(ok),
    )
    comps = analysis.compare_records([sub], baseline=base)
    out = [
        "## Comparisons",
        "",
        f"Every variant against `{_esc(base)}`: ratio of medians with a bootstrap 95% CI, "
        "Hodges-Lehmann shift with its distribution-free CI, Mann-Whitney U p-value with Holm "
        "correction across the family, Cliff's delta. A verdict other than *no difference* "
        "needs p (Holm) < 0.05 and the whole ratio CI beyond the 1% band.",
        "",
    ]
    rows = [
        [
            _esc(c.name),
            f"{c.ratio:.3f}",
            f"{c.ratio_ci95[0]:.3f} - {c.ratio_ci95[1]:.3f}",
            f"{c.hl_shift / 1e3:+,.1f} ({c.hl_ci95[0] / 1e3:+,.1f} to {c.hl_ci95[1] / 1e3:+,.1f})",
            f"{c.p_holm:.2g}",
            f"{c.cliffs_delta:+.2f}",
            f"**{c.verdict}**",
        ]
        for c in comps
    ]
    out += _table(
        [
            "variant",
            "ratio",
            "ratio 95% CI",
            "HL shift us (95% CI)",
            "p (Holm)",
            "Cliff's delta",
            "verdict",
        ],
        rows,
    )
    return [*out, ""]


def _cost_section(record: Record) -> list[str]:
    from loadbench import analysis

    res = analysis.correlate([record])
    sweep = res["alignment_sweep"]
    sweep_lines = []
    if sweep:
        lat, flt = sweep["latency_us_per_doubling"], sweep["faults_per_doubling"]
        levels = ", ".join(f"{n} {a}" for n, a in sweep["variants"].items())
        sweep_lines = [
            f"- Alignment sweep ({_esc(levels)}"
            f"; {sweep['n_launches']} launches, per-launch fit on log2 of the alignment): latency "
            f"{lat['slope']:+.2f} us per doubling (95% CI {lat['slope_ci95'][0]:+.2f} to "
            f"{lat['slope_ci95'][1]:+.2f}), faults {flt['slope']:+.2f} per doubling (95% CI "
            f"{flt['slope_ci95'][0]:+.2f} to {flt['slope_ci95'][1]:+.2f})."
        ]
    out = [
        "## Cost vs structure",
        "",
        "Across the measured variants (one point per variant: median latency, median faults), "
        "least-squares fits with t-based 95% CIs. Few variants that differ in several ways at "
        "once make these descriptive, not causal.",
        "",
    ]
    if not res["enough"]:
        return [*out, f"- {_esc(res['message'])}", *sweep_lines, ""]
    u = res["us_per_fault"]
    out.append(
        f"- Latency per page fault: **{u['value']:.2f} us** (95% CI {u['ci95'][0]:.2f} to "
        f"{u['ci95'][1]:.2f}), R^2 {u['r2']:.2f}, n = {u['n']} variants."
    )
    for feat, f in res["fault_fits"].items():
        r2 = "n/a" if f["r2"] is None else f"{f['r2']:.2f}"
        out.append(
            f"- Faults vs {feat}: slope {f['slope']:.3g} per unit (95% CI "
            f"{f['slope_ci95'][0]:.3g} to {f['slope_ci95'][1]:.3g}), R^2 {r2}."
        )
    if res["constant_features"]:
        out.append(
            "- Constant across these variants (effect not measurable here): "
            + ", ".join(res["constant_features"])
            + "."
        )
    return [*out, *sweep_lines, ""]


def _claims_section(claims: Mapping[str, Any]) -> list[str]:
    out = [
        "## Claims vs measured",
        "",
        "Each claim of the seed article (docs/seed/CLAIMS.md) against what this run measured; "
        "the full figures are in `claims.json`.",
        "",
    ]
    rows = [
        [c["id"], _esc(c["claim"]), f"**{c['verdict']}**", _esc(c["reason"]), _esc(c["method"])]
        for c in claims["claims"]
    ]
    return [*out, *_table(["id", "claim", "verdict", "measured", "method"], rows), ""]


def _go_versions_section(record: Record, static: Sequence[Mapping[str, Any]]) -> list[str]:
    versions = sorted(
        {str(e.get("toolchain")) for e in static if str(e.get("toolchain", "")).startswith("go")}
    )
    if len(versions) < 2:
        return []
    from loadbench.report import tables

    rows_by = {r["name"]: r for r in tables.measurement_rows(record)}
    out = [
        "## Go versions",
        "",
        f"The same programs built with {', '.join(versions)} (file size; measured latency "
        "where the build runs here).",
        "",
    ]
    body = []
    for e in static:
        if "goversion" not in e["name"] and not e["name"].startswith("web-go"):
            continue
        r = rows_by.get(e["name"], {})
        body.append(
            [
                _esc(e["name"]),
                _esc(e.get("toolchain")),
                f"{e['goos']}/{e['goarch']}",
                _bytes(e["summary"]["file_size_bytes"]),
                _us(r.get("median_ns")) if r.get("n") else "not run here",
                _num(r.get("faults_median")) if r.get("n") else "",
            ]
        )
    return [
        *out,
        *_table(["binary", "Go", "platform", "file size", "median us", "faults"], body),
        "",
    ]


def _size_by_section(static: Sequence[Mapping[str, Any]]) -> list[str]:
    """Section sizes side by side across GOOS, with and without -s -w, for the default Go."""
    cols = [
        e
        for e in static
        if e["name"].startswith("web-go") and e.get("detail") and e["goarch"] in ("amd64",)
    ]
    if not cols:
        return []
    default = cols[0].get("toolchain")
    cols = [e for e in cols if e.get("toolchain") == default]
    # what PIE adds, next to the plain native build
    cols += [e for e in static if e["name"] == "web-pie" and e.get("detail")]
    names: list[str] = []
    for e in cols:
        for sec in e["detail"]["sections"]:
            if sec not in names:
                names.append(sec)
    out = [
        "## Size by section",
        "",
        f"Bytes per section of the web program ({_esc(default)}, amd64), per GOOS, with and "
        "without `-s -w`, and the native build as PIE: what stripping removes on each format, "
        "what PIE adds, and where the formats differ. Empty cells: the section does not exist "
        "in that binary.",
        "",
    ]
    body = []
    for sec in names:
        body.append(
            [_esc(sec)]
            + [
                f"{e['detail']['sections'][sec]:,}" if sec in e["detail"]["sections"] else ""
                for e in cols
            ]
        )
    body.append(["**file size**"] + [f"**{e['summary']['file_size_bytes']:,}**" for e in cols])
    return [*out, *_table(["section", *[_esc(e["name"]) for e in cols]], body), ""]
