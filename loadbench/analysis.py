"""Record-level analyses built on ``stats``: comparisons between measurements (within one record
or across two) and the cost-vs-structure model across variants (several records may be pooled).

Everything is recomputed from the raw samples of successful launches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadbench import stats
from loadbench.errors import LoadbenchError
from loadbench.model import Measurement, Record

# Static features regressed on (from the inspector summary stored with each measurement).
FEATURES = (
    "file_size_bytes",
    "mapped_size_bytes",
    "segments",
    "segment_alignment",
    "relocations",
    "dynamic",
    "load_commands",
    "load_commands_bytes",
    "code_signature_bytes",
    "debug_bytes",
)


class AnalysisError(LoadbenchError, ValueError):
    """The analysis cannot be done on these records; one line for the user."""


def _walls(m: Measurement) -> Any:
    return m.columns.np_column("wall_ns")[m.columns.ok_mask()]


def _sessions(m: Measurement) -> Any:
    return m.columns.np_column("session")[m.columns.ok_mask()]


def compare_records(
    records: Sequence[Record], *, baseline: str | None = None, band_pct: float = 1.0, seed: int = 0
) -> list[stats.Comparison]:
    """One record: every measurement against ``baseline`` (default: the first). Two records:
    each measurement of the second against the same-named one of the first."""
    if band_pct < 0:
        raise AnalysisError(f"--band must be 0 or more (got {band_pct:g})")
    band = band_pct / 100
    if len(records) == 1:
        rec = records[0]
        groups = {m.name: _walls(m) for m in rec.measurements}
        empty = [n for n, w in groups.items() if not len(w)]
        if empty:
            raise AnalysisError(f"{', '.join(empty)}: no successful launch to compare")
        base = baseline or rec.measurements[0].name
        if base not in groups:
            raise AnalysisError(
                f"--baseline {base!r} is not in the record; it has: {', '.join(groups)}"
            )
        if len(groups) < 2:
            raise AnalysisError("the record has one measurement: nothing to compare it with")
        sessions = {m.name: _sessions(m) for m in rec.measurements}
        return list(stats.compare_many(groups, base, sessions=sessions, band=band, seed=seed))
    if len(records) != 2:
        raise AnalysisError(
            "compare takes one record (all against a baseline) or two "
            "(the second against the first)"
        )
    a, b = records
    common = [m.name for m in b.measurements if m.name in {x.name for x in a.measurements}]
    if baseline:
        common = [n for n in common if n == baseline]
    if not common:
        raise AnalysisError("the two records have no measurement name in common")
    raw = []
    for name in common:
        ma, mb = a.measurement(name), b.measurement(name)
        wa, wb = _walls(ma), _walls(mb)
        if not len(wa) or not len(wb):
            raise AnalysisError(f"{name}: no successful launch in one of the records")
        # two runs: their sessions are independent, not paired
        raw.append(stats.compare(wb, wa, band=band, seed=seed, name=f"{name}@{b.run_id}",
                                 baseline_name=f"{name}@{a.run_id}",
                                 candidate_sessions=_sessions(mb),
                                 baseline_sessions=_sessions(ma), paired=False))
    return list(stats.apply_holm(raw))


def record_caveats(a: Record, b: Record) -> list[str]:
    """What differs between two records beyond the binaries, one sentence each.

    Two records were never interleaved, so whatever changed between the runs (machine load,
    thermal state, page cache) is inside every difference; anything listed here is too."""
    if a.run_id == b.run_id:
        return []
    out = ["the records come from two runs, not interleaved: drift between the runs is part of "
           "every difference; for an A/B, put both binaries in one run"]

    def differs(what: str, x: Any, y: Any) -> None:
        if x != y:
            out.append(f"{what} differs: {x if x is not None else 'n/a'} vs "
                       f"{y if y is not None else 'n/a'}")

    for key, what in (("hostname", "host"), ("cpu_model", "CPU"), ("os_release", "kernel"),
                      ("loadbench_version", "loadbench version")):
        differs(what, a.host.get(key), b.host.get(key))
    differs("probe", f"{a.probe.name} v{a.probe.version}", f"{b.probe.name} v{b.probe.version}")
    for key, what in (("launcher_used", "launcher"), ("launcher_spawn", "launcher spawn"),
                      ("launcher_source_sha256", "launcher source")):
        differs(what, a.probe.settings.get(key), b.probe.settings.get(key))
    differs("page cache (--cache)", a.spec.cache, b.spec.cache)
    differs("target environment", dict(a.spec.env), dict(b.spec.env))
    return out


def launches_to_resolve(c: stats.Comparison) -> int | None:
    """About how many launches per binary would resolve an inconclusive comparison against its
    band at the spread this run showed: the CI's half-width shrinks as 1/sqrt(n), and it must
    come below the distance between the ratio and the band's edge. None when the ratio sits on
    the edge (no number of launches decides it) or nothing was measured."""
    lo, hi = c.ratio_ci95
    if not (math.isfinite(lo) and math.isfinite(hi)) or c.ratio <= 0:
        return None
    half = (math.log(hi) - math.log(lo)) / 2
    gap = abs(abs(math.log(c.ratio)) - math.log1p(c.band))
    if gap < 1e-4 or half <= 0:
        return None
    n = min(c.n_candidate, c.n_baseline)
    return math.ceil(n * (half / gap) ** 2)


def resolution_caveats(comps: Sequence[stats.Comparison]) -> list[str]:
    """One sentence per inconclusive comparison: its CI, the band, and what it would take."""
    out = []
    for c in comps:
        if c.verdict is not stats.Verdict.INCONCLUSIVE:
            continue
        lo, hi = c.ratio_ci95
        need = launches_to_resolve(c)
        more = (f"; at this spread about {need:,} launches per binary would resolve it (the "
                "CI narrows as 1/sqrt(launches); split them into as many more sessions)"
                if need else "; its ratio sits on the band's edge, so more launches alone may "
                "not decide it")
        out.append(f"{c.name}: inconclusive against {c.baseline}: the ratio's 95% CI "
                   f"{lo:.3f}-{hi:.3f} ({c.ci_kind}) is neither inside the +-{100 * c.band:g}% "
                   f"band nor beyond it, so changes up to {max(1 - lo, hi - 1):.1%} are not "
                   f"ruled out{more}")
    return out


def cross_caveats(labels: Sequence[str], records: Sequence[Record]) -> list[str]:
    """``record_caveats`` of the first record against each other one, for a merged report."""
    out: list[str] = []
    for label, rec in zip(labels[1:], records[1:], strict=True):
        prefix = f"{labels[0]} vs {label}: " if len(records) > 2 else ""
        for c in record_caveats(records[0], rec):
            text = c if c.startswith("the records come from") else prefix + c
            if text not in out:
                out.append(text)
    return out


def variant_points(records: Sequence[Record]) -> list[stats.VariantPoint]:
    import numpy as np

    points = []
    seen: set[str] = set()
    for rec in records:
        for m in rec.measurements:
            cols = m.columns
            ok = cols.ok_mask()
            summ = m.binary.summary or {}
            if not ok.any() or "error" in summ:
                continue
            name = m.name if m.name not in seen else f"{m.name}@{rec.run_id}"
            seen.add(name)
            feats = {}
            for f in FEATURES:
                v = summ.get(f)
                if isinstance(v, bool):
                    v = int(v)
                if isinstance(v, int | float):
                    feats[f] = float(v)
            faults = cols.np_column("faults_minor")[ok] + cols.np_column("faults_major")[ok]
            points.append(
                stats.VariantPoint(
                    name=name,
                    latency_ns=float(np.median(cols.np_column("wall_ns")[ok])),
                    faults=float(np.median(faults)),
                    features=feats,
                )
            )
    # cost_model needs the same feature names everywhere: keep those every variant has.
    common = set.intersection(*(set(p.features) for p in points)) if points else set()
    return [
        stats.VariantPoint(
            p.name, p.latency_ns, p.faults, {k: v for k, v in p.features.items() if k in common}
        )
        for p in points
    ]


@dataclass(frozen=True, slots=True)
class AlignmentSweep:
    """Latency and faults against log2 of the segment alignment over every launch of the
    variants of an alignment sweep: slopes per doubling, t-based 95% CIs."""

    variants: Mapping[str, int]  # name -> segment alignment in bytes
    n_launches: int
    latency_us_per_doubling: stats.Fit
    faults_per_doubling: stats.Fit

    def to_json(self) -> dict[str, Any]:
        return {"variants": {n: hex(a) for n, a in self.variants.items()},
                "n_launches": self.n_launches,
                "latency_us_per_doubling": self.latency_us_per_doubling.to_json(),
                "faults_per_doubling": self.faults_per_doubling.to_json()}


@dataclass(frozen=True, slots=True)
class Correlation:
    """The cost model across variants (one point per variant) and the alignment sweep."""

    points: tuple[stats.VariantPoint, ...]
    model: stats.CostModel
    sweep: AlignmentSweep | None

    def to_json(self) -> dict[str, Any]:
        return {
            "variants": [{"name": p.name, "latency_ns": p.latency_ns, "faults": p.faults,
                          "features": dict(p.features)} for p in self.points],
            **self.model.to_json(),
            "alignment_sweep": None if self.sweep is None else self.sweep.to_json(),
        }

    def latency_fit(self) -> stats.Fit | None:
        """Median latency (us) on median faults over the variants, as the plots draw it; None
        when the model was not fitted."""
        if not self.model.enough or self.model.us_per_fault is None:
            return None
        return stats.fit_line([p.faults for p in self.points],
                              [p.latency_ns / 1000 for p in self.points])


def correlate(
    records: Sequence[Record], min_variants: int = 4, select: Sequence[str] = ()
) -> Correlation:
    """The cost model across variants (optionally only those matching ``select`` globs), plus
    the alignment sweep when the records hold one."""
    import fnmatch

    points = variant_points(records)
    if select:
        points = [p for p in points if any(fnmatch.fnmatchcase(p.name, g) for g in select)]
    model = stats.cost_model(points, min_variants=min_variants)
    sweep = alignment_sweep(records, names={p.name for p in points} if select else None)
    return Correlation(tuple(points), model, sweep)


def alignment_sweep(records: Sequence[Record],
                    names: set[str] | None = None) -> AlignmentSweep | None:
    """Latency and faults against log2(segment alignment) over every launch of the variants
    built as an alignment sweep (tag ``align``: same program, only the linker's -R differs).

    Per-launch fits are legitimate here because nothing but the alignment varies between these
    binaries; slopes are per doubling of the alignment, with t-based 95% CIs. ``names`` (the
    user's --select) replaces the tag, e.g. for binaries measured with plain `loadbench run`."""
    import math

    import numpy as np

    xs: list[Any] = []
    walls: list[Any] = []
    faults: list[Any] = []
    levels: dict[str, int] = {}
    for rec in records:
        for m in rec.measurements:
            tags = (m.binary.build or {}).get("tags") or ()
            align = (m.binary.summary or {}).get("segment_alignment")
            chosen = m.name in names if names is not None else "align" in tags
            if not chosen or not align:
                continue
            levels[m.name] = int(align)
            cols = m.columns
            ok = cols.ok_mask()
            w = cols.np_column("wall_ns")[ok] / 1e3
            xs.append(np.full(w.size, math.log2(align)))
            walls.append(w)
            faults.append((cols.np_column("faults_minor")[ok]
                           + cols.np_column("faults_major")[ok]).astype(float))
    if len(set(levels.values())) < 2:
        return None
    x, y_lat, y_flt = np.concatenate(xs), np.concatenate(walls), np.concatenate(faults)
    try:
        lat = stats.fit_line(x, y_lat)
        flt = stats.fit_line(x, y_flt)
    except stats.StatsError:
        return None
    return AlignmentSweep(levels, int(x.size), lat, flt)
