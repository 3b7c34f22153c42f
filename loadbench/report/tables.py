"""Per-measurement figures computed from a record's raw samples, shared by every report format.

Nothing here is stored: rows are recomputed from the samples each time. Failed launches are
counted per status and excluded from latency figures; outliers are counted, never dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from loadbench import stats
from loadbench.model import STATUSES, Measurement, Record


def fmt_us(ns: float | None, digits: int = 1) -> str:
    """Nanoseconds as microseconds for reports."""
    return "n/a" if ns is None else f"{ns / 1000:,.{digits}f}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f} B"


def fmt_num(x: Any) -> str:
    """A count or a measured figure for reports: thousands separators, 3 significant digits
    below 1000, whole numbers above."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


STEAL_WARN_PCT = 2.0  # hypervisor steal over the run above this is worth a warning
STEAL_WARN_BATCH_PCT = 10.0  # ... or in any one batch


def steal_warning(host: Mapping[str, Any]) -> str | None:
    """The record's hypervisor steal, as a warning when it was high enough to matter."""
    whole, worst = host.get("cpu_steal_pct"), host.get("cpu_steal_pct_max_batch")
    if not isinstance(whole, int | float):
        return None
    if whole <= STEAL_WARN_PCT and not (isinstance(worst, int | float)
                                        and worst > STEAL_WARN_BATCH_PCT):
        return None
    return (f"the hypervisor stole {whole:g}% of CPU time while measuring (worst batch "
            f"{worst:g}%): launches waited for a real CPU, which widens every spread and can "
            "make Go's start-up take another path; ratios within this run stay fair "
            "(interleaved), absolute times do not")


def untrusted_fields(record: Record) -> dict[str, str]:
    """Sample fields the probe says it could not measure, with why (e.g. under Wine)."""
    fields = record.probe.settings.get("untrusted_fields") or {}
    return {str(k): str(v) for k, v in fields.items()} if isinstance(fields, Mapping) else {}


def emulation_warning(record: Record) -> str | None:
    """For a run under a Windows emulation layer (Wine): what its figures are and are not."""
    wine = record.probe.settings.get("wine")
    host_wine = record.host.get("wine")
    if not wine and isinstance(host_wine, Mapping):
        wine = f"Wine {host_wine.get('version')} on {host_wine.get('host_os')}"
    if not wine and record.host.get("os") != "Wine":
        return None
    missing = sorted(untrusted_fields(record))
    return (f"measured under {wine or 'Wine'}: the latencies are Wine's cost of a launch on "
            "its Linux host, not Windows figures; compare them only with other runs under the "
            "same Wine" + (f"; not measured there (0 in the record, n/a here): "
                           f"{', '.join(missing)}" if missing else ""))


# VariantRow fields computed from each sample field; a field the probe marks untrusted blanks
# them, so no format shows a 0 that looks measured.
_ROW_FIELDS_OF = {
    "faults_minor": ("faults", "faults_minor_median", "faults_major_median"),
    "faults_major": ("faults", "faults_minor_median", "faults_major_median"),
    "max_rss_bytes": ("max_rss",),
    "user_ns": ("user_median_ns",),
    "sys_ns": ("sys_median_ns",),
}


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass(frozen=True, slots=True)
class VariantRow:
    """One measurement's figures, recomputed from its raw samples: what every format shows.

    ``latency``, ``faults`` and ``max_rss`` are full summaries (median with its CI, mean, SD and
    SEM, percentiles, outliers, drift) of the successful launches; None without any. ``ratios``
    maps a baseline's name to median / median of that baseline.
    """

    name: str
    n: int
    failed: int
    failed_by_status: Mapping[str, int]
    failed_reasons: Mapping[str, int]
    warmup: int
    latency: stats.Summary | None = None
    faults: stats.Summary | None = None
    max_rss: stats.Summary | None = None
    faults_minor_median: float | None = None
    faults_major_median: float | None = None
    user_median_ns: float | None = None
    sys_median_ns: float | None = None
    ratios: Mapping[str, float] = field(default_factory=dict)

    @property
    def median_ns(self) -> float | None:
        return None if self.latency is None else self.latency.median

    @property
    def faults_median(self) -> float | None:
        return None if self.faults is None else self.faults.median

    @property
    def max_rss_median_bytes(self) -> float | None:
        return None if self.max_rss is None else self.max_rss.median

    def ratio(self, baseline: str | None) -> float | None:
        return self.ratios.get(baseline) if baseline else None

    def to_json(self) -> dict[str, Any]:
        """The row as ``stats --json`` and the exports print it (keys with units)."""
        row: dict[str, Any] = {
            "name": self.name, "n": self.n, "failed": self.failed,
            "failed_by_status": dict(self.failed_by_status),
            "failed_reasons": dict(self.failed_reasons), "warmup": self.warmup,
        }
        s = self.latency
        if s is None:
            return row
        row.update({
            "median_ns": s.median, "ci95_low_ns": s.ci95_low, "ci95_high_ns": s.ci95_high,
            "ci_kind": s.ci_kind, "sessions": s.sessions, "ci_method": s.ci_method,
            "ci95_within_low_ns": s.within_ci95_low, "ci95_within_high_ns": s.within_ci95_high,
            "between_session_sd_rel": s.between_sd_rel,
            "mean_ns": s.mean, "sd_ns": s.sd, "sem_ns": s.sem,
            "mad_ns": s.mad, "p5_ns": s.p5, "p95_ns": s.p95, "p99_ns": s.p99, "min_ns": s.min,
            "max_ns": s.max, "outliers_low": s.outliers_low, "outliers_high": s.outliers_high,
            "drift": None if s.drift is None else s.drift.to_json(),
            "warmup_suspect": s.warmup_suspect,
            "faults_median": self.faults_median,
            "faults_minor_median": self.faults_minor_median,
            "faults_major_median": self.faults_major_median,
            "max_rss_median_bytes": self.max_rss_median_bytes,
            "user_median_ns": self.user_median_ns, "sys_median_ns": self.sys_median_ns,
            "faults_summary": None if self.faults is None else self.faults.to_json(),
            "max_rss_summary": None if self.max_rss is None else self.max_rss.to_json(),
        })
        row.update({f"ratio_to_{b}": r for b, r in self.ratios.items()})
        return row


def variant_row(m: Measurement) -> VariantRow:
    """The figures of one measurement, from its columns (no object per launch)."""
    import numpy as np

    from loadbench.runner import describe_failure

    cols = m.columns
    ok_mask = cols.ok_mask()
    bad = np.flatnonzero(~ok_mask)
    failed = Counter(str(STATUSES[c]) for c in cols.np_column("status")[bad])
    reasons = Counter(describe_failure(cols[int(i)]) for i in bad)
    base = VariantRow(name=m.name, n=int(ok_mask.sum()), failed=int(bad.size),
                      failed_by_status=dict(failed), failed_reasons=dict(reasons.most_common()),
                      warmup=len(m.warmup_columns))
    if not base.n:
        return base

    def ok(name: str) -> np.ndarray:
        return cols.np_column(name)[ok_mask]

    order, sessions = ok("index"), ok("session")
    minor, major = ok("faults_minor"), ok("faults_major")
    faults = minor + major
    return replace(
        base,
        latency=stats.summarize(ok("wall_ns"), order=order, sessions=sessions),
        # Drift and warm-up are tested on latency; these summaries leave them out (each costs
        # a sort of every launch).
        faults=stats.summarize(faults, sessions=sessions),
        max_rss=stats.summarize(ok("max_rss_bytes"), sessions=sessions),
        faults_minor_median=float(np.median(minor)),
        faults_major_median=float(np.median(major)),
        user_median_ns=float(np.median(ok("user_ns"))),
        sys_median_ns=float(np.median(ok("sys_ns"))),
    )


def variant_rows(record: Record, baselines: Sequence[str] = ()) -> tuple[VariantRow, ...]:
    """One row per measurement, with ratios of medians to each of ``baselines`` present."""
    rows = [variant_row(m) for m in record.measurements]
    blank: dict[str, Any] = {f: None for u in untrusted_fields(record)
                             for f in _ROW_FIELDS_OF.get(u, ())}
    if blank:
        rows = [replace(r, **blank) for r in rows]
    medians = {r.name: r.median_ns for r in rows if r.median_ns}
    out = []
    for r in rows:
        med = r.median_ns
        ratios = {b: med / medians[b] for b in baselines if b in medians and med is not None}
        out.append(replace(r, ratios=ratios))
    return tuple(out)


def measurement_rows(record: Record, baselines: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``variant_rows`` as JSON-ready dicts; ``ratio_to_<b>`` = median / median of ``b``."""
    return [r.to_json() for r in variant_rows(record, baselines)]


def choose_baseline(record: Record, asked: str | None = None) -> str | None:
    """The one baseline rule of every report: what the user asked for, else ``hello`` when it
    has successful launches, else the first measurement that has any."""
    if asked:
        return asked
    ok = [m.name for m in record.measurements if m.has_ok()]
    return "hello" if "hello" in ok else (ok[0] if ok else None)


def ratio_baselines(record: Record, baseline: str | None) -> list[str]:
    """The columns of ratios a report shows: to the floor binary (when measured) and to the
    baseline."""
    names = {m.name for m in record.measurements}
    return list(dict.fromkeys([*(["floor"] if "floor" in names else []),
                               *([baseline] if baseline else [])]))
