"""Record-level analyses built on ``stats``: comparisons between measurements (within one record
or across two) and the cost-vs-structure model across variants (several records may be pooled).

Everything is recomputed from the raw samples of successful launches.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any

from loadbench import stats
from loadbench.model import Measurement, Record

# Static features regressed on (from the inspector summary stored with each measurement).
FEATURES = ("file_size_bytes", "mapped_size_bytes", "segments", "segment_alignment",
            "relocations", "dynamic", "load_commands", "load_commands_bytes",
            "code_signature_bytes", "debug_bytes")


class AnalysisError(ValueError):
    """The analysis cannot be done on these records; one line for the user."""


def _walls(m: Measurement) -> list[int]:
    return [s.wall_ns for s in m.ok_samples()]


def compare_records(records: Sequence[Record], *, baseline: str | None = None,
                    band_pct: float = 1.0, seed: int = 0) -> list[stats.Comparison]:
    """One record: every measurement against ``baseline`` (default: the first). Two records:
    each measurement of the second against the same-named one of the first."""
    if band_pct < 0:
        raise AnalysisError(f"--band must be 0 or more (got {band_pct:g})")
    band = band_pct / 100
    if len(records) == 1:
        rec = records[0]
        groups = {m.name: _walls(m) for m in rec.measurements}
        empty = [n for n, w in groups.items() if not w]
        if empty:
            raise AnalysisError(f"{', '.join(empty)}: no successful launch to compare")
        base = baseline or rec.measurements[0].name
        if base not in groups:
            raise AnalysisError(f"--baseline {base!r} is not in the record; it has: "
                                f"{', '.join(groups)}")
        if len(groups) < 2:
            raise AnalysisError("the record has one measurement: nothing to compare it with")
        return list(stats.compare_many(groups, base, band=band, seed=seed))
    if len(records) != 2:
        raise AnalysisError("compare takes one record (all against a baseline) or two "
                            "(the second against the first)")
    a, b = records
    common = [m.name for m in b.measurements if m.name in {x.name for x in a.measurements}]
    if baseline:
        common = [n for n in common if n == baseline]
    if not common:
        raise AnalysisError("the two records have no measurement name in common")
    raw = []
    for name in common:
        wa, wb = _walls(a.measurement(name)), _walls(b.measurement(name))
        if not wa or not wb:
            raise AnalysisError(f"{name}: no successful launch in one of the records")
        raw.append(stats.compare(wb, wa, band=band, seed=seed, name=f"{name}@{b.run_id}",
                                 baseline_name=f"{name}@{a.run_id}"))
    return list(stats.apply_holm(raw))


def variant_points(records: Sequence[Record]) -> list[stats.VariantPoint]:
    points = []
    seen: set[str] = set()
    for rec in records:
        for m in rec.measurements:
            ok = m.ok_samples()
            summ = m.binary.summary or {}
            if not ok or "error" in summ:
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
            points.append(stats.VariantPoint(name=name,
                                             latency_ns=float(median(s.wall_ns for s in ok)),
                                             faults=float(median(s.faults for s in ok)),
                                             features=feats))
    # cost_model needs the same feature names everywhere: keep those every variant has.
    common = set.intersection(*(set(p.features) for p in points)) if points else set()
    return [stats.VariantPoint(p.name, p.latency_ns, p.faults,
                               {k: v for k, v in p.features.items() if k in common})
            for p in points]


def correlate(records: Sequence[Record], min_variants: int = 4) -> dict[str, Any]:
    points = variant_points(records)
    model = stats.cost_model(points, min_variants=min_variants)
    return {"variants": [{"name": p.name, "latency_ns": p.latency_ns, "faults": p.faults,
                          "features": dict(p.features)} for p in points],
            **model.to_json()}
