"""Per-measurement figures computed from a record's raw samples, shared by every report format.

Nothing here is stored: rows are recomputed from the samples each time. Failed launches are
counted per status and excluded from latency figures; outliers are counted, never dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from loadbench import stats
from loadbench.model import Measurement, Record


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


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def measurement_row(m: Measurement) -> dict[str, Any]:
    from loadbench.runner import describe_failure

    ok = m.ok_samples()
    failed = Counter(str(s.status) for s in m.samples if not s.ok)
    reasons = Counter(describe_failure(s) for s in m.samples if not s.ok)
    row: dict[str, Any] = {
        "name": m.name,
        "n": len(ok),
        "failed": sum(failed.values()),
        "failed_by_status": dict(failed),
        "failed_reasons": dict(reasons.most_common()),
        "warmup": len(m.warmup),
    }
    if not ok:
        return row
    walls = [s.wall_ns for s in ok]
    order = [s.index for s in ok]
    summ = stats.summarize(walls, order=order)
    row.update(
        {
            "median_ns": summ.median,
            "ci95_low_ns": summ.ci95_low,
            "ci95_high_ns": summ.ci95_high,
            "ci_method": summ.ci_method,
            "mean_ns": summ.mean,
            "sd_ns": summ.sd,
            "sem_ns": summ.sem,
            "mad_ns": summ.mad,
            "p5_ns": summ.p5,
            "p95_ns": summ.p95,
            "p99_ns": summ.p99,
            "min_ns": summ.min,
            "max_ns": summ.max,
            "outliers_low": summ.outliers_low,
            "outliers_high": summ.outliers_high,
            "drift": None if summ.drift is None else summ.drift.to_json(),
            "warmup_suspect": summ.warmup_suspect,
            "faults_median": _median([s.faults for s in ok]),
            "faults_minor_median": _median([s.faults_minor for s in ok]),
            "faults_major_median": _median([s.faults_major for s in ok]),
            "max_rss_median_bytes": _median([s.max_rss_bytes for s in ok]),
            "user_median_ns": _median([s.user_ns for s in ok]),
            "sys_median_ns": _median([s.sys_ns for s in ok]),
            # The same summary (median CI, SEM, MAD, percentiles, outliers, drift) for the
            # other per-launch metrics.
            "faults_summary": stats.summarize([s.faults for s in ok], order=order).to_json(),
            "max_rss_summary": stats.summarize([s.max_rss_bytes for s in ok],
                                               order=order).to_json(),
        }
    )
    return row


def measurement_rows(record: Record, baselines: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per measurement; ``ratio_to_<b>`` = median / median of baseline ``b``."""
    rows = [measurement_row(m) for m in record.measurements]
    by_name = {r["name"]: r for r in rows}
    for b in baselines:
        base = by_name.get(b, {}).get("median_ns")
        for r in rows:
            if base and r.get("median_ns") is not None:
                r[f"ratio_to_{b}"] = r["median_ns"] / base
    return rows


def default_baselines(record: Record) -> list[str]:
    names = [m.name for m in record.measurements]
    return [b for b in ("floor", "hello") if b in names] or names[:1]
