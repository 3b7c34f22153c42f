"""``loadbench trace``: a few fully traced launches of one binary, a Chrome trace and a summary.

``trace`` is the application behind the verb, beside ``bench``: it traces ``runs`` launches of one
binary with the bpf probe where it is available (phases and fault breakdowns counted in the
kernel, a fraction of perf's observer effect), else with the perf probe; writes ``trace.json``
(Chrome trace events) and ``launches.json`` (the samples, as in a record) into ``out_dir``; and
measures the tracing inflation on the same binary (traced vs untraced, interleaved). What only
perf gives -- every fault as an instant on the timeline -- comes from a few extra perf launches
when both probes are there (``fault_instants``), labelled as perf's in the trace. It uses the
runner's target checks, minimal environment and signal handling. ``render_summary`` is the
terminal view: phase medians, where the faults land (regions, the binary's sections, kinds per
segment) and how trace and rusage agree. SIGINT/SIGTERM end the session after the launch in
flight; uprobes are deleted on every path.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadbench import storage
from loadbench.model import Sample
from loadbench.perf.attribution import PHASES, LaunchTrace
from loadbench.perf.inittrace import InitTrace, PackageSummary
from loadbench.probes.base import StopFlag
from loadbench.runner import DEFAULT_ENV, RunError, StopOnSignals, validate_target

PROBES = ("auto", "bpf", "perf")
BPF_PHASES = ("spawn", "exec", "exec_load", "to_interp", "ld_so", "to_entry", "runtime_init",
              "main_to_exit")
INSTANT_LAUNCHES = 5  # perf launches for the fault instants beside a bpf trace


@dataclass(frozen=True, slots=True)
class TraceResult:
    binary: str
    launches: tuple[tuple[Sample, Any], ...]  # (sample, LaunchTrace or BpfLaunch or None)
    out_dir: str | None
    chrome_trace_path: str | None
    inflation: Mapping[str, Any] = field(default_factory=dict)
    inittrace: tuple[PackageSummary, ...] = ()
    events: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    notes: tuple[str, ...] = ()
    probe: str = "perf"  # the probe behind the summary and the launches
    instants: tuple[tuple[Sample, LaunchTrace | None], ...] = ()  # perf launches, every fault

    @property
    def samples(self) -> tuple[Sample, ...]:
        return tuple(s for s, _ in self.launches)

    @property
    def traces(self) -> tuple[Any, ...]:
        return tuple(t for s, t in self.launches if t is not None and s.ok and not _lost(t))


def _lost(tr: Any) -> bool:
    return bool(tr.lost) if isinstance(tr, LaunchTrace) else bool(tr.incomplete)


def choose_probe(probe: str) -> str:
    """``auto``: bpf where it can run, else perf; RunError (with the reasons) when neither can."""
    from loadbench.probes.linux_bpf import BpfProbe
    from loadbench.probes.linux_perf import PerfProbe

    if probe not in PROBES:
        raise RunError(f"--probe must be one of {', '.join(PROBES)} (got {probe!r})")
    avail = {"bpf": BpfProbe.availability(), "perf": PerfProbe.availability()}
    if probe != "auto":
        if not avail[probe].ok:
            raise RunError(f"{probe} cannot trace here: {avail[probe].reason}")
        return probe
    for name in ("bpf", "perf"):
        if avail[name].ok:
            return name
    raise RunError(f"nothing can trace here: bpf: {avail['bpf'].reason}; "
                   f"perf: {avail['perf'].reason}")


def trace(
    binary: str,
    runs: int = 20,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cache: str = "warm",
    inittrace: bool = False,
    calibrate: bool = True,
    stop: StopFlag | None = None,
    probe: str = "auto",
    fault_instants: bool | None = None,
) -> TraceResult:
    """Trace ``runs`` launches of ``binary``; write trace.json and launches.json to ``out_dir``.

    ``probe``: ``auto`` (bpf where available, else perf), ``bpf`` or ``perf``. ``fault_instants``
    (default: when the bpf probe traces and perf is available): also trace a few launches with
    perf for the per-fault instants of the Chrome trace. Raises RunError (one line, with the
    reason) when the binary or the probe cannot be used.
    """
    from loadbench.perf import chrome
    from loadbench.perf import inittrace as it
    from loadbench.probes.base import Schedule, Target
    from loadbench.probes.linux_bpf import BpfProbe
    from loadbench.probes.linux_perf import PerfProbe

    if runs < 1:
        raise RunError(f"--runs must be at least 1 (got {runs})")
    if cache not in ("warm", "cold"):
        raise RunError(f"--cache must be warm or cold (got {cache!r})")
    used = choose_probe(probe)
    if fault_instants is None:
        fault_instants = used == "bpf" and PerfProbe.availability().ok
    elif fault_instants and not PerfProbe.availability().ok:
        raise RunError(f"fault instants need perf: {PerfProbe.availability().reason}")
    real = validate_target(binary)
    env = dict(DEFAULT_ENV if env is None else env)
    stop = stop if stop is not None else StopFlag()
    t0 = time.monotonic()
    target = Target(os.path.basename(real), real, tuple(args))
    notes: list[str] = []
    cls = BpfProbe if used == "bpf" else PerfProbe
    sched = Schedule(targets=(target,), order=(0,) * runs, env=env, cache=cache)
    instants: tuple[tuple[Sample, LaunchTrace | None], ...] = ()
    tracer: Any = cls(stop=stop, calibrate_targets=False)
    with StopOnSignals(stop), tracer:
        notes += tracer.notes
        launches = tuple(tracer.run_traced(sched))
        inflation: dict[str, Any] = {}
        if calibrate and not stop.requested:
            inflation = tracer.measure_inflation(target, env).overhead()
        layout = tracer.layout(real)
        if used == "perf":
            events = int(tracer.totals["events"])
            instants = launches if fault_instants else ()
        else:
            events = sum(s.extra.get("trace_faults_minor", 0)
                         + s.extra.get("trace_faults_major", 0) for s, _ in launches)
    if fault_instants and used == "bpf" and not stop.requested:
        perf = PerfProbe(stop=stop, calibrate_targets=False)
        with StopOnSignals(stop), perf:
            few = Schedule(targets=(target,), order=(0,) * min(runs, INSTANT_LAUNCHES), env=env,
                           cache=cache)
            instants = tuple(perf.run_traced(few))
        notes.append(f"{len(instants)} more launches traced with perf for the fault instants in "
                     "trace.json; perf inflates their timing (see `loadbench trace --probe perf`)")
    packages: tuple[PackageSummary, ...] = ()
    one_init: InitTrace | None = None
    if inittrace and not stop.requested:
        if layout is not None and not layout.is_go:
            notes.append("inittrace skipped: not a Go binary")
        else:
            traces = it.collect(real, max(5, min(runs, 20)), env, args)
            packages = it.summarize(traces)
            one_init = traces[len(traces) // 2] if traces else None
            if not packages:
                notes.append("inittrace: the binary printed no init lines (Go older than 1.16?)")
    chrome_path = None
    out = None
    if out_dir is not None:
        out = os.fspath(out_dir)
        os.makedirs(out, exist_ok=True)
        chrome_path = os.path.join(out, "trace.json")
        extra = [("perf", instants)] if instants and used == "bpf" else []
        chrome.write_chrome_trace(
            chrome_path,
            chrome.chrome_trace(
                launches,
                binary=real,
                inittrace=one_init,
                metadata={"runs": runs, "cache": cache, "probe": used, "inflation": inflation},
                extra=extra,
            ),
        )
        storage.write_json_atomic(os.path.join(out, "launches.json"), {
            "binary": real,
            "probe": used,
            "samples": [s.to_json() for s, _ in launches],
            "fault_instant_samples": [s.to_json() for s, _ in instants] if used == "bpf" else [],
            "inflation": inflation,
            "inittrace": [_pkg(p) for p in packages],
        })
    return TraceResult(
        binary=real,
        launches=launches,
        out_dir=out,
        chrome_trace_path=chrome_path,
        inflation=inflation,
        inittrace=packages,
        events=events,
        elapsed_s=round(time.monotonic() - t0, 3),
        interrupted=stop.requested,
        notes=tuple(notes),
        probe=used,
        instants=instants,
    )


def _pkg(p: PackageSummary) -> dict[str, Any]:
    return {
        "package": p.package,
        "launches": p.launches,
        "start_ns": p.start_ns,
        "clock_ns": p.clock_ns,
        "alloc_bytes": p.alloc_bytes,
        "allocs": p.allocs,
    }


# ----------------------------------------------------------------------------- summary


def phase_medians(samples: Sequence[Sample]) -> dict[str, int]:
    """Median of each phase over the launches that have it, in launch order (each probe stores
    its phases in order), merged phases after them, total last."""
    per: dict[str, list[int]] = {}
    for s in samples:
        for k, v in (s.extra.get("phases_ns") or {}).items():
            per.setdefault(k, []).append(int(v))
    canonical = [p for p in per if p in PHASES or p in BPF_PHASES]
    order = canonical + [p for p in per if p not in canonical and p != "total"]
    if "total" in per:
        order.append("total")
    return {k: int(statistics.median(per[k])) for k in order}


def mean_counts(samples: Sequence[Sample], key: str) -> dict[str, float]:
    """Mean per launch of a ``faults_by_*`` breakdown, largest first."""
    total: Counter[str] = Counter()
    n = 0
    for s in samples:
        d = s.extra.get(key)
        if d is None:
            continue
        n += 1
        total.update(d)
    return {k: v / n for k, v in total.most_common()} if n else {}


def _fault_rows(tr: Any) -> list[tuple[str, str | None, str, int]]:
    """(region, segment or None, kind, count) of a perf LaunchTrace or a bpf BpfLaunch."""
    if isinstance(tr, LaunchTrace):
        return [(f.region, f.segment, str(f.kind), 1) for f in tr.faults]
    from loadbench.perf.attribution import fault_kind

    return [(region.name, region.segment, str(fault_kind(code)), n)
            for (_, code, region), n in tr.faults.items()]


def kind_by_segment(traces: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Mean faults per launch by (binary segment or "outside the binary") x kind."""
    table: dict[str, Counter[str]] = {}
    for tr in traces:
        for _, segment, kind, count in _fault_rows(tr):
            table.setdefault(segment or "outside the binary", Counter())[kind] += count
    n = max(1, len(traces))
    return {row: {k: v / n for k, v in c.most_common()} for row, c in table.items()}


def summary_json(result: TraceResult, top: int = 20) -> dict[str, Any]:
    """The figures ``render_summary`` shows, as JSON-ready data (for ``--json``)."""
    ok = [s for s, t in result.launches if s.ok and t is not None and "trace_error" not in s.extra]
    traces = list(result.traces)
    regions = mean_counts(ok, "faults_by_region")
    return {
        "binary": result.binary,
        "probe": result.probe,
        "launches": len(result.launches),
        "fully_traced": len(ok),
        "interrupted": result.interrupted,
        "perf_events" if result.probe == "perf" else "faults_counted": result.events,
        "fault_instant_launches": len(result.instants),
        "elapsed_s": result.elapsed_s,
        "phases_ns_median": phase_medians(ok),
        "faults_per_launch_median": {
            "traced": statistics.median(
                s.extra["trace_faults_minor"] + s.extra["trace_faults_major"] for s in ok
            )
            if ok
            else None,
            "rusage": statistics.median(s.faults for s in ok) if ok else None,
        },
        "faults_by_region_mean": dict(list(regions.items())[:top]),
        "faults_by_kind_mean": mean_counts(ok, "faults_by_kind"),
        "faults_by_phase_mean": mean_counts(ok, "faults_by_phase"),
        "fault_kinds_by_segment_mean": kind_by_segment(traces),
        "inflation": dict(result.inflation),
        "inittrace": [_pkg(p) for p in result.inittrace],
        "chrome_trace": result.chrome_trace_path,
        "notes": list(result.notes),
    }


def _us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def render_summary(result: TraceResult, top: int = 10) -> str:
    """Terminal summary: phases, top regions and sections, kinds per segment, agreement."""
    ok = [s for s, t in result.launches if s.ok and t is not None and "trace_error" not in s.extra]
    name = os.path.basename(result.binary)
    what = (f"{result.events:,} perf events" if result.probe == "perf"
            else f"bpf probe, {result.events:,} faults counted in kernel maps")
    lines = [
        f"{name}: {len(result.launches)} traced launches ({len(ok)} fully traced), {what}, "
        f"{result.elapsed_s:.1f} s" + (" -- interrupted" if result.interrupted else "")
    ]
    if not ok:
        lines.append("no launch was fully traced; nothing to summarise")
        return "\n".join(lines)
    ph = phase_medians(ok)
    lines.append("")
    lines.append("phases (median us):")
    for k, v in ph.items():
        lines.append(f"  {k:<14s} {_us(v):>10s}")
    missing: Counter[str] = Counter()
    for s in ok:
        for k, why in (s.extra.get("phases_missing") or {}).items():
            missing[f"{k}: {why}"] += 1
    for text, n in missing.most_common():
        lines.append(f"  (missing in {n} launches) {text}")
    traced = [s.extra["trace_faults_minor"] + s.extra["trace_faults_major"] for s in ok]
    rusage = [s.faults for s in ok]
    t_med, r_med = statistics.median(traced), statistics.median(rusage)
    diff = statistics.median(r - t for r, t in zip(rusage, traced, strict=True))
    lines.append("")
    lines.append(
        f"faults per launch (median): traced {t_med:g} "
        f"(major {statistics.median(s.extra['trace_faults_major'] for s in ok):g}), "
        f"rusage {r_med:g} (major {statistics.median(s.faults_major for s in ok):g}); "
        f"rusage - traced = {diff:g} ({100 * diff / r_med if r_med else 0:.1f}%): faults taken "
        "inside get_user_pages (argv copy at exec, uprobe installs) raise no trace event"
    )
    regions = mean_counts(ok, "faults_by_region")
    tot = sum(regions.values()) or 1
    lines.append("")
    lines.append("top regions (mean faults per launch):")
    for k, mean in list(regions.items())[:top]:
        lines.append(f"  {k:<32s} {mean:8.1f}  {100 * mean / tot:5.1f}%")
    traces = list(result.traces)
    in_binary = {r for t in traces for r, seg, _, _ in _fault_rows(t) if seg is not None}
    sections = {k: mean for k, mean in regions.items() if k in in_binary}
    lines.append("")
    lines.append(f"top sections of {name}:")
    for k, mean in list(sections.items())[:top]:
        lines.append(f"  {k:<32s} {mean:8.1f}  {100 * mean / tot:5.1f}%")
    table = kind_by_segment(traces)
    kinds = ["instruction-fetch", "read", "write", "copy-on-write", "unknown"]
    kinds = [k for k in kinds if any(k in row for row in table.values())]
    lines.append("")
    lines.append("fault kinds by segment (mean per launch):")
    lines.append("  " + f"{'segment':<22s}" + "".join(f"{k:>19s}" for k in kinds))
    for row in sorted(table, key=lambda r: (r == "outside the binary", r)):
        lines.append(
            "  " + f"{row:<22s}" + "".join(f"{table[row].get(k, 0.0):19.1f}" for k in kinds)
        )
    phases = mean_counts(ok, "faults_by_phase")
    lines.append("")
    lines.append("faults by phase (mean): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
    inf = result.inflation
    if inf.get("traced_wall_ns_median") and inf.get("untraced_wall_ns_median"):
        full = inf.get("trace_inflation") or {}
        ci = full.get("ci95")
        ratio = inf.get("trace_inflation_ratio", inf.get("trace_inflation_ratio_unreliable"))
        verdict = "" if "trace_inflation_ratio" in inf else (
            f" -- {full.get('verdict', 'unreliable')}: not a figure to rely on")
        lines.append("")
        lines.append(
            f"tracing inflation ({result.probe}): traced {_us(inf['traced_wall_ns_median'])} us "
            f"vs untraced {_us(inf['untraced_wall_ns_median'])} us median wall time, "
            f"x{ratio:.3f}" + (f" (95% CI {ci[0]:.3f}-{ci[1]:.3f}" if ci else " (no CI")
            + f" over {full.get('rounds', '?')} interleaved rounds){verdict}; faults "
            f"{inf.get('traced_faults_median')} vs {inf.get('untraced_faults_median')}"
        )
    if result.inittrace:
        lines.append("")
        lines.append("Go package init (median over separate GODEBUG=inittrace=1 launches):")
        top_init = sorted(result.inittrace, key=lambda p: -p.clock_ns)[:top]
        for p in top_init:
            lines.append(
                f"  {p.package:<44s} {_us(p.clock_ns):>8s} us {p.alloc_bytes:>8d} B "
                f"{p.allocs:>5d} allocs"
            )
        total_ns = sum(p.clock_ns for p in result.inittrace)
        lines.append(
            f"  {'all ' + str(len(result.inittrace)) + ' packages':<44s} {_us(total_ns):>8s} us"
        )
    for note in result.notes:
        lines.append(f"note: {note}")
    if result.chrome_trace_path:
        lines.append("")
        lines.append(f"Chrome trace: {result.chrome_trace_path} (open in ui.perfetto.dev)")
    return "\n".join(lines)
