"""Statistics over raw per-launch samples: the numbers a report states and the rules behind them.

This module owns every statistical claim loadbench makes: a per-variant ``Summary`` (median with a
distribution-free confidence interval, mean and its standard error labelled as such, MAD,
percentiles, Tukey outlier counts, drift over launch order and warm-up detection), the A-vs-B
``Comparison`` (Mann-Whitney U, Hodges-Lehmann shift with CI, bootstrap ratio of medians,
Cliff's delta, a practical-significance band, Holm correction across pairs), the stopping-rule
figure ``ci_halfwidth_rel``, and the across-variant ``CostModel`` (least-squares fits on static
features, Spearman matrix, and an explicit "not enough variants" verdict). Everything here is a
pure function of numbers: no I/O, no printing, and results are recomputed from raw samples rather
than stored as truth. Every result has ``to_json()`` returning plain ``int``/``float``/``None``
(never NaN or inf) so a report can serialize it directly.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.stats as st

from loadbench.errors import LoadbenchError

Values = Sequence[float] | np.ndarray

TUKEY_K = 1.5
MAD_TO_SD = 1.4826  # scales the MAD to estimate the SD of a normal distribution
# Above this many pairs, Hodges-Lehmann and Theil-Sen work on a seeded random subset of pairs:
# all pairs of 5000 x 5000 launches would take 200 MB and seconds, a million keeps it ~50 ms.
MAX_PAIRS = 1_000_000
# Above this many launches a side the ratio CI comes from the delta method instead of the
# bootstrap (2000 resamples of a million launches would take minutes; the two agree there:
# test_stats_simulation checks the coverage).
BOOT_MAX_N = 20_000
# The exact null distribution of U costs ~(n*m)^2/4 flops; beyond this the normal approximation
# is accurate to well under a rank.
EXACT_U_MAX_PAIRS = 2_500
DRIFT_MIN_N = 10
DRIFT_P = 0.01
DRIFT_MIN_REL_CHANGE = 0.01
WARMUP_FRACTION = 0.10
WARMUP_MIN_EXCESS = 0.05
WARMUP_P = 0.01
OUTLIER_RULE = (
    "Tukey fences: below Q1 - 1.5*IQR or above Q3 + 1.5*IQR (quartiles by linear interpolation); "
    "counted, never removed"
)
_TOL = 1e-9  # relative slack so a tail probability equal to alpha/2 is not lost to rounding


class StatsError(LoadbenchError, ValueError):
    """Input on which a statistic is undefined (empty, non-finite, constant x, ...)."""


class Verdict(enum.StrEnum):
    """Outcome of a comparison (the decision table is ``_verdict``'s docstring and the README).

    ``equivalent``: the whole ratio CI lies inside the band. ``faster``/``slower``: significant
    (Holm) and the whole CI beyond the band. ``faster/slower, maybe negligible``: significant,
    the CI on one side of 1 but reaching into the band, so the change is real in direction and
    may be smaller than the band. ``inconclusive``: none of these; the data cannot tell.
    """

    FASTER = "faster"
    SLOWER = "slower"
    EQUIVALENT = "equivalent"
    FASTER_MAYBE_NEGLIGIBLE = "faster, maybe negligible"
    SLOWER_MAYBE_NEGLIGIBLE = "slower, maybe negligible"
    INCONCLUSIVE = "inconclusive"

    @property
    def differs(self) -> bool:
        """A direction was established (significant and the CI on one side of 1)."""
        return self in (Verdict.FASTER, Verdict.SLOWER, Verdict.FASTER_MAYBE_NEGLIGIBLE,
                        Verdict.SLOWER_MAYBE_NEGLIGIBLE)


def _num(x: float | None) -> float | None:
    """A JSON-safe float: NaN and infinities become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _pair(p: tuple[float, float] | None) -> list[float | None] | None:
    return None if p is None else [_num(p[0]), _num(p[1])]


def _array(values: Values, what: str = "values", *, allow_empty: bool = False) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise StatsError(f"{what}: expected a flat sequence of numbers, got shape {a.shape}")
    if a.size == 0 and not allow_empty:
        raise StatsError(f"{what}: no values")
    if not np.all(np.isfinite(a)):
        raise StatsError(f"{what}: contains NaN or infinity")
    return a


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must be in (0, 1), got {confidence}")
    return 1.0 - confidence


# --------------------------------------------------------------------------------------------
# Median and its confidence interval


@lru_cache(maxsize=512)
def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int, float] | None:
    """1-based order-statistic ranks ``(j, n - j + 1)`` bracketing the median, and their coverage.

    The number of observations below the true median is Binomial(n, 1/2) for any continuous
    distribution, so ``P(x(j) <= median <= x(n-j+1)) = 1 - 2 * P(B <= j - 1)``. We take the
    largest ``j`` whose coverage is still >= ``confidence`` (the conservative choice: no
    interpolation between order statistics, so the exact coverage returned is the guarantee, e.g.
    96.5% for n=100 at 95%). ``None`` when even ``(min, max)`` falls short of ``confidence``
    (n <= 5 at 95%).
    """
    alpha = _check_confidence(confidence)
    if n < 1:
        return None
    half = alpha / 2 * (1 + _TOL)
    # ppf gives the smallest k with cdf(k) >= alpha/2; step so that cdf(j-1) <= alpha/2 < cdf(j).
    j = int(st.binom.ppf(alpha / 2, n, 0.5))
    while j > 0 and st.binom.cdf(j - 1, n, 0.5) > half:
        j -= 1
    while st.binom.cdf(j, n, 0.5) <= half:
        j += 1
    if j == 0:
        return None
    coverage = 1.0 - 2.0 * float(st.binom.cdf(j - 1, n, 0.5))
    return j, n - j + 1, coverage


def median_ci(values: Values, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (see ``median_ci_ranks``).

    For tiny n where no pair of order statistics reaches ``confidence`` this returns
    ``(min, max)``, whose true coverage is lower than asked; ``summarize`` says so in
    ``ci_method`` and ``ci_halfwidth_rel`` treats it as undefined.
    """
    a = _array(values)
    ranks = median_ci_ranks(a.size, confidence)
    if ranks is None:
        return float(a.min()), float(a.max())
    lo, hi, _ = ranks
    part = np.partition(a, (lo - 1, hi - 1))
    return float(part[lo - 1]), float(part[hi - 1])


def _ci_method(n: int, confidence: float = 0.95) -> str:
    ranks = median_ci_ranks(n, confidence)
    if ranks is None:
        cov = 1.0 - 2.0 * 0.5**n if n > 1 else 0.0
        return (
            f"min-max: n={n} is too small for a {confidence:.0%} order-statistic CI "
            f"(true coverage {cov:.1%})"
        )
    lo, hi, cov = ranks
    return (
        f"order statistics x({lo})..x({hi}) of n={n}, binomial, conservative "
        f"(exact coverage {cov:.1%})"
    )


def ci_halfwidth_rel(values: Values, confidence: float = 0.95) -> float:
    """Half-width of the median CI relative to |median|, the figure a stopping rule watches.

    ``inf`` when undefined: no values, a zero median, or n so small that only ``(min, max)`` is
    available (its coverage is below ``confidence``, so a tight min-max must not stop a run).
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        return math.inf
    if median_ci_ranks(a.size, confidence) is None:
        return math.inf
    med = float(np.median(a))
    if med == 0.0:
        return math.inf
    lo, hi = median_ci(a, confidence)
    return (hi - lo) / 2.0 / abs(med)


# --------------------------------------------------------------------------------------------
# Per-variant summary


@dataclass(frozen=True, slots=True)
class Drift:
    """Trend of a value against launch order.

    ``relative_change`` is the Theil-Sen slope (per unit of launch index) times the span of launch
    indices, divided by the median: the fitted change over the whole run as a fraction of the
    median. ``significant`` needs both p < 0.01 and |relative_change| > 1%. ``spearman_rho`` and
    ``p_value`` are None when the values are constant.
    """

    spearman_rho: float | None
    p_value: float | None
    slope_per_launch: float
    relative_change: float | None
    significant: bool
    pairs_used: int  # pairwise slopes behind Theil-Sen (subsampled above MAX_PAIRS)

    def to_json(self) -> dict[str, Any]:
        return {
            "spearman_rho": _num(self.spearman_rho),
            "p_value": _num(self.p_value),
            "slope_per_launch": _num(self.slope_per_launch),
            "relative_change": _num(self.relative_change),
            "significant": self.significant,
            "pairs_used": self.pairs_used,
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """Descriptive statistics of one variant's samples.

    ``sem`` is the standard error of the mean (sd / sqrt(n)): a measure of how precisely the mean
    is known, not a confidence interval and not the spread of launches. ``sd``/``sem`` are None for
    n = 1. ``mad`` is the raw median absolute deviation; ``mad_scaled`` multiplies it by 1.4826.
    Percentiles use linear interpolation (numpy's default). Outliers are counted, never removed.
    """

    n: int
    median: float
    ci95_low: float
    ci95_high: float
    ci_method: str
    mean: float
    sd: float | None
    sem: float | None
    mad: float
    mad_scaled: float
    p5: float
    p95: float
    p99: float
    min: float
    max: float
    outliers_low: int
    outliers_high: int
    outlier_rule: str
    drift: Drift | None
    warmup_suspect: bool
    # The reported CI is ci95_low..ci95_high; ``ci_kind`` says what it describes: "sessions"
    # (between-session variation as well as within, with K >= 2 sessions) or "within-run" (this
    # run's sampling only, which says nothing about how repeatable the figure is).
    sessions: int = 1
    ci_kind: str = "within-run"
    within_ci95_low: float | None = None
    within_ci95_high: float | None = None
    between_sd_rel: float | None = None  # SD of the session medians / median

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            name, v = f.name, getattr(self, f.name)
            if isinstance(v, Drift):
                out[name] = v.to_json()
            elif isinstance(v, bool | int | str) or v is None:
                out[name] = v
            else:
                out[name] = _num(v)
        return out


def _pair_indices(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j: all of them, or ``max_pairs`` drawn with a fixed seed when too many."""
    total = n * (n - 1) // 2
    if total <= max_pairs:
        return np.triu_indices(n, k=1)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=max_pairs)
    j = rng.integers(0, n - 1, size=max_pairs)
    j = j + (j >= i)  # uniform over j != i without rejection
    return np.minimum(i, j), np.maximum(i, j)


def _theil_sen_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    # Own implementation: scipy.stats.theilslopes materializes all n^2/2 slopes, too much memory
    # for the thousands of launches a run can hold.
    i, j = _pair_indices(x.size, MAX_PAIRS, seed=0)
    dx = x[j] - x[i]
    keep = dx != 0
    slopes = (y[j] - y[i])[keep] / dx[keep]
    if slopes.size == 0:
        return 0.0, 0
    return float(np.median(slopes)), int(slopes.size)


def _drift(values: np.ndarray, order: np.ndarray, median: float) -> Drift | None:
    if values.size < DRIFT_MIN_N or np.ptp(order) == 0:
        return None
    slope, pairs = _theil_sen_slope(order, values)
    rel = slope * float(np.ptp(order)) / median if median != 0 else None
    if np.ptp(values) == 0:
        # Constant values: no trend, and spearmanr would warn on constant input.
        return Drift(None, None, 0.0, 0.0 if rel is not None else None, False, pairs)
    res = st.spearmanr(order, values)
    rho, p = float(res.statistic), float(res.pvalue)
    significant = p < DRIFT_P and rel is not None and abs(rel) > DRIFT_MIN_REL_CHANGE
    return Drift(rho, p, slope, rel, bool(significant), pairs)


def _warmup_suspect(values: np.ndarray, order: np.ndarray) -> bool:
    n = values.size
    if n < DRIFT_MIN_N:
        return False
    by_order = values[np.argsort(order, kind="stable")]
    k = math.ceil(WARMUP_FRACTION * n)
    head, rest = by_order[:k], by_order[k:]
    if not np.median(head) > (1.0 + WARMUP_MIN_EXCESS) * np.median(rest):
        return False
    # One-sided: the hypothesis is specifically a slow start; a fast start is not warm-up.
    p = float(st.mannwhitneyu(head, rest, alternative="greater", method="auto").pvalue)
    return p < WARMUP_P


def _session_groups(a: np.ndarray, sessions: Values | None) -> list[np.ndarray]:
    """The values per session, in session order; one group when there are no sessions."""
    if sessions is None:
        return [a]
    s = np.asarray(sessions)
    if s.ndim != 1 or s.size != a.size:
        raise StatsError(f"sessions has {s.size} entries for {a.size} values")
    return [a[s == k] for k in np.unique(s)]


def session_median_ci(values: Values, sessions: Values,
                      confidence: float = 0.95) -> tuple[float, float, int] | None:
    """CI of the median from the variation between sessions: a t-interval with K - 1 degrees
    of freedom over the K session medians (the replicate level of Kalibera and Jones's
    hierarchical benchmarking design), so the width includes everything that changes from one
    session to the next as well as each session's own sampling noise. None with fewer than 2
    sessions."""
    alpha = _check_confidence(confidence)
    groups = _session_groups(_array(values), sessions)
    meds = np.array([np.median(g) for g in groups])
    k = meds.size
    if k < 2:
        return None
    centre = float(meds.mean())
    half = float(st.t.ppf(1 - alpha / 2, k - 1)) * float(meds.std(ddof=1)) / math.sqrt(k)
    return centre - half, centre + half, k


def summarize(values: Values, order: Values | None = None,
              sessions: Values | None = None) -> Summary:
    """Summarize one variant's samples; ``order`` is each sample's launch index in the run,
    ``sessions`` each sample's session.

    With two sessions or more the reported CI of the median is the hull of the between-session
    t-interval (``session_median_ci``) and the within-run order-statistic CI, and ``ci_kind``
    is "sessions"; otherwise it is the within-run CI alone. Drift and warm-up need ``order``
    and n >= 10: without them ``drift`` is None and ``warmup_suspect`` is False (nothing was
    tested). Warm-up means the first 10% of launches by order have a median more than 5% above
    the rest and a one-sided Mann-Whitney p < 0.01.
    """
    a = _array(values)
    n = int(a.size)
    o: np.ndarray | None = None
    if order is not None:
        o = _array(order, "order")
        if o.size != n:
            raise StatsError(f"order has {o.size} entries for {n} values")
    med = float(np.median(a))
    lo, hi = median_ci(a)
    within = (lo, hi)
    method = _ci_method(n)
    kind, k, between_sd = "within-run", 1, None
    if sessions is not None:
        groups = _session_groups(a, sessions)
        k = len(groups)
        between = session_median_ci(a, sessions) if k >= 2 else None
        if between is not None:
            lo, hi = min(lo, between[0]), max(hi, between[1])
            kind = "sessions"
            meds = np.array([np.median(g) for g in groups])
            between_sd = float(meds.std(ddof=1)) / med if med else None
            method = (f"between {k} sessions: t-interval ({k - 1} df) over the session medians, "
                      f"joined with the within-run CI ({method})")
    mean = float(np.mean(a))
    sd = float(np.std(a, ddof=1)) if n > 1 else None
    sem = sd / math.sqrt(n) if sd is not None else None
    mad = float(np.median(np.abs(a - med)))
    q1, q3, p5, p95, p99 = (float(q) for q in np.percentile(a, (25, 75, 5, 95, 99)))
    iqr = q3 - q1
    drift = _drift(a, o, med) if o is not None else None
    return Summary(
        n=n,
        median=med,
        ci95_low=lo,
        ci95_high=hi,
        ci_method=method,
        mean=mean,
        sd=sd,
        sem=sem,
        mad=mad,
        mad_scaled=MAD_TO_SD * mad,
        p5=p5,
        p95=p95,
        p99=p99,
        min=float(a.min()),
        max=float(a.max()),
        outliers_low=int(np.count_nonzero(a < q1 - TUKEY_K * iqr)),
        outliers_high=int(np.count_nonzero(a > q3 + TUKEY_K * iqr)),
        outlier_rule=OUTLIER_RULE,
        drift=drift,
        warmup_suspect=_warmup_suspect(a, o) if o is not None else False,
        sessions=k,
        ci_kind=kind,
        within_ci95_low=within[0],
        within_ci95_high=within[1],
        between_sd_rel=between_sd,
    )


# --------------------------------------------------------------------------------------------
# A versus B


@dataclass(frozen=True, slots=True)
class Comparison:
    """Candidate versus baseline.

    ``ratio`` is median(candidate) / median(baseline) with a percentile-bootstrap CI
    (``ratio_ci95``; the level is ``confidence``). ``hl_shift`` is the Hodges-Lehmann estimate of
    candidate - baseline, with the distribution-free CI from Mann-Whitney order statistics of the
    pairwise differences (``hl_ci_method`` says exact, normal-approximated or subsampled).
    ``cliffs_delta`` > 0 means the candidate tends to be larger (slower). ``p_holm`` is the
    Holm-adjusted p-value within a ``compare_many`` family (equal to ``p_value`` alone).

    With two sessions or more (``sessions``), the comparison also looks between sessions: each
    session's ratio of medians (paired: both binaries ran interleaved in it) gives a
    t-interval of the log ratio with K - 1 df (``ratio_ci95_sessions``) and a one-sample t-test
    (``p_sessions``); unpaired samples (two records) use Welch's t on the log session medians.
    Then ``ratio_ci95`` is the hull of the bootstrap and the session intervals, ``p_value`` the
    larger of the Mann-Whitney (``p_within``) and session p-values, and ``ci_kind`` is
    "sessions"; otherwise they are the within-run figures and ``ci_kind`` is "within-run".
    """

    name: str
    baseline: str
    n_candidate: int
    n_baseline: int
    ratio: float
    ratio_ci95: tuple[float, float]
    hl_shift: float
    hl_ci95: tuple[float, float]
    hl_ci_method: str
    p_value: float
    p_holm: float
    cliffs_delta: float
    verdict: Verdict
    band: float
    confidence: float
    n_boot: int
    seed: int
    sessions: int = 1
    ci_kind: str = "within-run"
    p_within: float | None = None
    p_sessions: float | None = None
    ratio_ci95_within: tuple[float, float] | None = None
    ratio_ci95_sessions: tuple[float, float] | None = None
    ratio_ci_method: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ratio_ci_method": self.ratio_ci_method,
            "sessions": self.sessions,
            "ci_kind": self.ci_kind,
            "p_within": _num(self.p_within),
            "p_sessions": _num(self.p_sessions),
            "ratio_ci95_within": _pair(self.ratio_ci95_within),
            "ratio_ci95_sessions": _pair(self.ratio_ci95_sessions),
            "name": self.name,
            "baseline": self.baseline,
            "n_candidate": self.n_candidate,
            "n_baseline": self.n_baseline,
            "ratio": _num(self.ratio),
            "ratio_ci95": _pair(self.ratio_ci95),
            "hl_shift": _num(self.hl_shift),
            "hl_ci95": _pair(self.hl_ci95),
            "hl_ci_method": self.hl_ci_method,
            "p_value": _num(self.p_value),
            "p_holm": _num(self.p_holm),
            "cliffs_delta": _num(self.cliffs_delta),
            "verdict": str(self.verdict),
            "band": _num(self.band),
            "confidence": _num(self.confidence),
            "n_boot": self.n_boot,
            "seed": self.seed,
        }


def _verdict(p_holm: float, ratio_ci: tuple[float, float], band: float, alpha: float) -> Verdict:
    """The decision table, in order:

    1. the whole ratio CI inside [1 - band, 1 + band]: ``equivalent`` (whatever p says: a
       change smaller than the band does not matter, however certain it is);
    2. p (Holm) < alpha and the whole CI above 1 + band (below 1 - band): ``slower``
       (``faster``);
    3. p (Holm) < alpha and the whole CI above (below) 1: ``slower`` (``faster``) ``, maybe
       negligible``;
    4. otherwise ``inconclusive``.
    """
    lo, hi = ratio_ci
    if lo >= 1.0 - band and hi <= 1.0 + band:
        return Verdict.EQUIVALENT
    significant = p_holm < alpha
    if significant and lo > 1.0 + band:
        return Verdict.SLOWER
    if significant and hi < 1.0 - band:
        return Verdict.FASTER
    if significant and lo > 1.0:
        return Verdict.SLOWER_MAYBE_NEGLIGIBLE
    if significant and hi < 1.0:
        return Verdict.FASTER_MAYBE_NEGLIGIBLE
    return Verdict.INCONCLUSIVE


@lru_cache(maxsize=64)
def _u_null_cdf(m: int, n: int) -> np.ndarray:
    """Exact CDF of the Mann-Whitney U statistic under H0 (no ties), u = 0..m*n.

    Recurrence on the largest of the m+n observations: it belongs to the first sample with
    probability m/(m+n) and then beats all n of the second (U = n + U'), else it adds nothing.
    """
    m, n = min(m, n), max(m, n)  # the null distribution is the same either way round
    # prev[j] holds the pmf for sizes (i-1, j); built row by row to keep memory at O(n * m*n).
    prev = [np.ones(1) for _ in range(n + 1)]
    for i in range(1, m + 1):
        cur = [np.ones(1)]
        for j in range(1, n + 1):
            pmf = np.zeros(i * j + 1)
            pmf[j : j + prev[j].size] += i / (i + j) * prev[j]
            pmf[: cur[j - 1].size] += j / (i + j) * cur[j - 1]
            cur.append(pmf)
        prev = cur
    return np.cumsum(prev[n])


def _hl_rank(m: int, n: int, alpha: float) -> tuple[int, str]:
    """1-based rank k: the k-th and (N-k+1)-th pairwise differences bound the CI; 0 if none."""
    total = m * n
    if total <= EXACT_U_MAX_PAIRS:
        cdf = _u_null_cdf(m, n)
        k = int(np.count_nonzero(cdf <= alpha / 2 * (1 + _TOL)))
        cov = 1.0 - 2.0 * float(cdf[k - 1]) if k > 0 else None
        how = "exact U null distribution"
    else:
        z = float(st.norm.ppf(1 - alpha / 2))
        sigma = math.sqrt(m * n * (m + n + 1) / 12.0)
        k = max(0, math.floor(total / 2 + 0.5 - z * sigma))  # with continuity correction
        cov = None
        how = "normal approximation to U"
    if k == 0:
        return 0, f"min-max of pairwise differences: samples too small for the level ({how})"
    return k, how + (f", exact coverage {cov:.1%}" if cov is not None else "")


def _hodges_lehmann(
    c: np.ndarray, b: np.ndarray, alpha: float, seed: int
) -> tuple[float, tuple[float, float], str]:
    m, n = c.size, b.size
    total = m * n
    k, how = _hl_rank(m, n, alpha)
    if total <= MAX_PAIRS:
        d = (c[:, None] - b[None, :]).ravel()
        lo_i, hi_i = (k - 1, total - k) if k > 0 else (0, total - 1)
        mids = ((total - 1) // 2, total // 2)
        part = np.partition(d, (lo_i, hi_i, *mids))
        est = (float(part[mids[0]]) + float(part[mids[1]])) / 2.0
        return est, (float(part[lo_i]), float(part[hi_i])), how
    # Too many pairs: a seeded uniform sample of MAX_PAIRS differences; the CI bounds become the
    # sample quantiles at the exact rank fractions k/N and (N-k+1)/N, whose rank error
    # (~sqrt(p(1-p)/1e6) ~ 2e-4 of N) is far below the CI's own width.
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    size = MAX_PAIRS
    d = c[rng.integers(0, m, size=size)] - b[rng.integers(0, n, size=size)]
    q_lo, q_hi = (k / total, (total - k + 1) / total) if k > 0 else (0.0, 1.0)
    lo, hi = np.quantile(d, (q_lo, q_hi), method="inverted_cdf")
    how += f"; {size} of {total} pairwise differences sampled (seed {seed})"
    return float(np.median(d)), (float(lo), float(hi)), how


def _median_se(a: np.ndarray) -> float:
    """Standard error of the median from its distribution-free CI (exact coverage known)."""
    ranks = median_ci_ranks(a.size)
    assert ranks is not None
    lo_r, hi_r, cov = ranks
    part = np.partition(a, (lo_r - 1, hi_r - 1))
    return float(part[hi_r - 1] - part[lo_r - 1]) / (2 * float(st.norm.ppf(0.5 + cov / 2)))


def _ratio_ci(
    c: np.ndarray, b: np.ndarray, alpha: float, n_boot: int, seed: int
) -> tuple[tuple[float, float], str]:
    """The ratio-of-medians CI and how it was made: a percentile bootstrap, or above
    ``BOOT_MAX_N`` launches a side the delta method on the medians' standard errors (read off
    their order-statistic CIs), which the bootstrap approaches at that size and which costs O(n)
    instead of O(n_boot * n)."""
    if max(c.size, b.size) <= BOOT_MAX_N:
        return _bootstrap_ratio_ci(c, b, alpha, n_boot, seed), \
            f"percentile bootstrap, {n_boot} resamples"
    mc, mb = float(np.median(c)), float(np.median(b))
    r = mc / mb
    # delta method for a ratio: var(r)/r^2 = var(mc)/mc^2 + var(mb)/mb^2 (mb > 0 is checked)
    se_c, se_b = _median_se(c), _median_se(b)
    se = math.sqrt((se_c / mb) ** 2 + (r * se_b / mb) ** 2)
    z = float(st.norm.ppf(1 - alpha / 2))
    return (r - z * se, r + z * se), ("delta method on the medians' order-statistic standard "
                                       f"errors (more than {BOOT_MAX_N:,} launches a side)")


def _bootstrap_ratio_ci(
    c: np.ndarray, b: np.ndarray, alpha: float, n_boot: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    # Chunk the resamples so memory stays ~32 MB whatever the sample sizes.
    rows = max(1, 4_000_000 // max(c.size, b.size))
    ratios = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        r = min(rows, n_boot - start)
        mc = np.median(c[rng.integers(0, c.size, size=(r, c.size))], axis=1)
        mb = np.median(b[rng.integers(0, b.size, size=(r, b.size))], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[start : start + r] = mc / mb
    # A resample of a baseline with many zeros can have median 0 (ratio +-inf or NaN); NaN sorts
    # last and counts as unbounded above, which keeps the CI conservative.
    ratios = np.where(np.isnan(ratios), np.inf, ratios)
    # Percentile bootstrap taken as order statistics (no interpolation, so infinities are safe).
    lo, hi = np.quantile(ratios, (alpha / 2, 1 - alpha / 2), method="inverted_cdf")
    return float(lo), float(hi)


def _log_session_medians(a: np.ndarray, sessions: Values | None) -> dict[int, float]:
    if sessions is None:
        return {}
    s = np.asarray(sessions)
    if s.ndim != 1 or s.size != a.size:
        raise StatsError(f"sessions has {s.size} entries for {a.size} values")
    out = {}
    for k in np.unique(s):
        m = float(np.median(a[s == k]))
        if m > 0:
            out[int(k)] = math.log(m)
    return out


def _t_from(mean: float, se: float, df: float, alpha: float) -> tuple[tuple[float, float], float]:
    """CI of a log ratio (as a ratio) and the two-sided p of mean = 0."""
    if se == 0.0:
        return (math.exp(mean), math.exp(mean)), (1.0 if mean == 0.0 else 0.0)
    t = float(st.t.ppf(1 - alpha / 2, df))
    p = float(2 * st.t.sf(abs(mean) / se, df))
    return (math.exp(mean - t * se), math.exp(mean + t * se)), p


def session_ratio(c: np.ndarray, c_sessions: Values | None, b: np.ndarray,
                  b_sessions: Values | None, *, paired: bool,
                  alpha: float = 0.05) -> tuple[tuple[float, float], float, int] | None:
    """Between-session CI of the ratio of medians and its p-value: paired (the same sessions
    on both sides, as in one interleaved run: a t-interval of the per-session log ratios) or
    unpaired (Welch's t on the log session medians of each side). None without two usable
    sessions on each side."""
    lc, lb = _log_session_medians(c, c_sessions), _log_session_medians(b, b_sessions)
    if paired:
        common = sorted(set(lc) & set(lb))
        d = np.array([lc[k] - lb[k] for k in common])
        if d.size < 2:
            return None
        ci, p = _t_from(float(d.mean()), float(d.std(ddof=1)) / math.sqrt(d.size),
                        d.size - 1, alpha)
        return ci, p, int(d.size)
    xc, xb = np.array(list(lc.values())), np.array(list(lb.values()))
    if xc.size < 2 or xb.size < 2:
        return None
    vc, vb = float(xc.var(ddof=1)) / xc.size, float(xb.var(ddof=1)) / xb.size
    se = math.sqrt(vc + vb)
    df = (vc + vb) ** 2 / ((vc**2 / (xc.size - 1)) + (vb**2 / (xb.size - 1))) if se else 1.0
    ci, p = _t_from(float(xc.mean() - xb.mean()), se, df, alpha)
    return ci, p, int(min(xc.size, xb.size))


def compare(
    candidate: Values,
    baseline: Values,
    *,
    band: float = 0.01,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    name: str = "",
    baseline_name: str = "",
    candidate_sessions: Values | None = None,
    baseline_sessions: Values | None = None,
    paired: bool = True,
) -> Comparison:
    """Compare two independent samples (latencies); deterministic for a given ``seed``.

    The verdict follows ``_verdict``'s decision table on the (Holm-adjusted, in
    ``compare_many``) p-value and the ratio CI. ``candidate_sessions``/``baseline_sessions``
    give each sample's session; ``paired`` says the sessions are shared (one interleaved run)
    rather than independent (two runs). Raises StatsError when either sample is empty or the
    baseline median is not positive (the ratio of medians is then meaningless).
    """
    alpha = _check_confidence(confidence)
    if not band >= 0 or not math.isfinite(band):
        raise StatsError(f"band must be a finite number >= 0, got {band}")
    if n_boot < 1:
        raise StatsError(f"n_boot must be >= 1, got {n_boot}")
    c = _array(candidate, "candidate")
    b = _array(baseline, "baseline")
    med_b = float(np.median(b))
    if med_b <= 0:
        raise StatsError(f"baseline median is {med_b}: the ratio of medians needs it positive")
    ratio = float(np.median(c)) / med_b
    boot_ci, ratio_how = _ratio_ci(c, b, alpha, n_boot, seed)
    hl, hl_ci, hl_how = _hodges_lehmann(c, b, alpha, seed)
    mwu = st.mannwhitneyu(c, b, alternative="two-sided", method="auto")
    p_within = float(mwu.pvalue)
    # scipy's U counts ties as 1/2, so 2U/(nm) - 1 = (#c>b - #c<b)/(nm) exactly: Cliff's delta
    # without forming the pairs.
    delta = 2.0 * float(mwu.statistic) / (c.size * b.size) - 1.0
    between = session_ratio(c, candidate_sessions, b, baseline_sessions, paired=paired,
                            alpha=alpha)
    ratio_ci, p, kind, k, p_sess, sess_ci = boot_ci, p_within, "within-run", 1, None, None
    if between is not None:
        sess_ci, p_sess, k = between
        ratio_ci = (min(boot_ci[0], sess_ci[0]), max(boot_ci[1], sess_ci[1]))
        p = max(p_within, p_sess)
        kind = "sessions"
    return Comparison(
        name=name,
        baseline=baseline_name,
        n_candidate=int(c.size),
        n_baseline=int(b.size),
        ratio=ratio,
        ratio_ci95=ratio_ci,
        hl_shift=hl,
        hl_ci95=hl_ci,
        hl_ci_method=hl_how,
        p_value=p,
        p_holm=p,
        cliffs_delta=delta,
        verdict=_verdict(p, ratio_ci, band, alpha),
        band=float(band),
        confidence=float(confidence),
        n_boot=int(n_boot),
        seed=int(seed),
        sessions=k,
        ci_kind=kind,
        p_within=p_within,
        p_sessions=p_sess,
        ratio_ci95_within=boot_ci,
        ratio_ci95_sessions=sess_ci,
        ratio_ci_method=ratio_how,
    )


def holm(pvalues: Sequence[float]) -> tuple[float, ...]:
    """Holm-Bonferroni adjusted p-values, in input order: monotone in the raw p and capped at 1."""
    p = _array(pvalues, "p-values", allow_empty=True)
    if np.any((p < 0) | (p > 1)):
        raise StatsError("p-values must lie in [0, 1]")
    m = p.size
    idx = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[idx]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[idx] = adjusted
    return tuple(float(x) for x in out)


def compare_many(groups: Mapping[str, Values], baseline: str,
                 sessions: Mapping[str, Values] | None = None, **kw: Any) -> tuple[Comparison, ...]:
    """Compare every group with ``baseline`` (keyword arguments as ``compare``), Holm across them.

    ``sessions`` gives each group's per-sample sessions (shared: one interleaved run). Verdicts
    are decided on the Holm-adjusted p-values, so adding variants costs power rather than
    inflating false alarms.
    """
    if baseline not in groups:
        raise StatsError(f"baseline {baseline!r} is not among the groups")
    base = groups[baseline]
    ses = sessions or {}
    return apply_holm(
        tuple(
            compare(values, base, name=name, baseline_name=baseline,
                    candidate_sessions=ses.get(name), baseline_sessions=ses.get(baseline), **kw)
            for name, values in groups.items()
            if name != baseline
        )
    )


def apply_holm(comparisons: Sequence[Comparison]) -> tuple[Comparison, ...]:
    """Holm-adjust the p-values of a family of comparisons and re-decide their verdicts."""
    adjusted = holm([c.p_value for c in comparisons])
    return tuple(
        replace(c, p_holm=ph, verdict=_verdict(ph, c.ratio_ci95, c.band, 1.0 - c.confidence))
        for c, ph in zip(comparisons, adjusted, strict=True)
    )


# --------------------------------------------------------------------------------------------
# Across variants


@dataclass(frozen=True, slots=True)
class Fit:
    """Ordinary least-squares line y = intercept + slope * x.

    ``slope_ci95`` is the t-based interval with n - 2 degrees of freedom; ``p_value`` tests
    slope = 0. ``r2`` is None when y is constant, ``p_value`` None when y is constant (a zero
    slope with zero residuals tests nothing).
    """

    slope: float
    intercept: float
    slope_ci95: tuple[float, float]
    slope_stderr: float
    r2: float | None
    n: int
    p_value: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "slope": _num(self.slope),
            "intercept": _num(self.intercept),
            "slope_ci95": _pair(self.slope_ci95),
            "slope_stderr": _num(self.slope_stderr),
            "r2": _num(self.r2),
            "n": self.n,
            "p_value": _num(self.p_value),
        }


def fit_line(x: Values, y: Values, confidence: float = 0.95) -> Fit:
    """OLS fit of y on x; raises StatsError for n < 3, mismatched lengths or constant x."""
    alpha = _check_confidence(confidence)
    xa, ya = _array(x, "x"), _array(y, "y")
    if xa.size != ya.size:
        raise StatsError(f"x has {xa.size} values, y has {ya.size}")
    n = int(xa.size)
    if n < 3:
        raise StatsError(f"a line fit with a CI needs at least 3 points, got {n}")
    if np.ptp(xa) == 0:
        raise StatsError("x is constant: the slope is undefined")
    if np.ptp(ya) == 0:
        y0 = float(ya[0])
        return Fit(0.0, y0, (0.0, 0.0), 0.0, None, n, None)
    dx = xa - xa.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (ya - ya.mean())) / sxx
    intercept = float(ya.mean()) - slope * float(xa.mean())
    resid = ya - (intercept + slope * xa)
    sse = float(resid @ resid)
    sst = float(((ya - ya.mean()) ** 2).sum())
    df = n - 2
    se = math.sqrt(sse / df / sxx)
    t = float(st.t.ppf(1 - alpha / 2, df))
    # se == 0 only for an exact non-flat line (constant y returned above): p is 0.
    p = float(2 * st.t.sf(abs(slope / se), df)) if se > 0 else 0.0
    return Fit(slope, intercept, (slope - t * se, slope + t * se), se, 1 - sse / sst, n, p)


def spearman_matrix(columns: Mapping[str, Values]) -> dict[str, dict[str, float | None]]:
    """Spearman rank correlation between every pair of columns (equal lengths required).

    None where undefined: a constant column, or fewer than 3 rows (two points always give +-1).
    """
    names = list(columns)
    arrays = [_array(columns[k], k, allow_empty=True) for k in names]
    lengths = {a.size for a in arrays}
    if len(lengths) > 1:
        raise StatsError(f"columns have different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    usable = [i for i, a in enumerate(arrays) if n >= 3 and np.ptp(a) > 0]
    out: dict[str, dict[str, float | None]] = {a: dict.fromkeys(names) for a in names}
    if usable:
        # Spearman's rho is Pearson's r on mid-ranks; one corrcoef call does the whole matrix.
        ranks = np.vstack([st.rankdata(arrays[i]) for i in usable])
        r = np.atleast_2d(np.clip(np.corrcoef(ranks), -1.0, 1.0))
        for a, i in enumerate(usable):
            for b, j in enumerate(usable):
                out[names[i]][names[j]] = 1.0 if i == j else float(r[a, b])
    return out


@dataclass(frozen=True, slots=True)
class VariantPoint:
    """One variant's per-launch medians and its static features (e.g. mapped bytes, segments)."""

    name: str
    latency_ns: float
    faults: float
    features: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Slope:
    """A headline rate, e.g. microseconds of latency per page fault across variants."""

    value: float
    ci95: tuple[float, float]
    r2: float | None
    n: int

    def to_json(self) -> dict[str, Any]:
        return {
            "value": _num(self.value),
            "ci95": _pair(self.ci95),
            "r2": _num(self.r2),
            "n": self.n,
        }


@dataclass(frozen=True, slots=True)
class CostModel:
    """Latency and faults explained by static features across variants.

    With fewer than ``min_variants`` points nothing is fitted (``us_per_fault`` None, fits and
    ``spearman`` empty) and ``message`` says why, so no number can be mistaken for a conclusion.
    ``latency_fits`` regress ``latency_ns`` (ns) and ``fault_fits`` regress faults on each feature
    that varies; features equal in every variant are listed in ``constant_features`` instead.
    """

    n: int
    enough: bool
    message: str
    us_per_fault: Slope | None
    latency_fits: Mapping[str, Fit]
    fault_fits: Mapping[str, Fit]
    constant_features: tuple[str, ...]
    spearman: Mapping[str, Mapping[str, float | None]]

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "enough": self.enough,
            "message": self.message,
            "us_per_fault": self.us_per_fault.to_json() if self.us_per_fault else None,
            "latency_fits": {k: f.to_json() for k, f in self.latency_fits.items()},
            "fault_fits": {k: f.to_json() for k, f in self.fault_fits.items()},
            "constant_features": list(self.constant_features),
            "spearman": {
                k: {j: _num(v) for j, v in row.items()} for k, row in self.spearman.items()
            },
        }


def cost_model(points: Sequence[VariantPoint], min_variants: int = 4) -> CostModel:
    """Fit latency and faults on static features across variants (one point per variant).

    Every point must carry the same feature names; ``min_variants`` must be at least 3 (a line
    with a CI needs n - 2 >= 1 degrees of freedom).
    """
    if min_variants < 3:
        raise StatsError(f"min_variants must be at least 3, got {min_variants}")
    n = len(points)
    names = [p.name for p in points]
    if len(set(names)) != n:
        raise StatsError("variant names must be unique")
    feature_names = list(points[0].features) if points else []
    for p in points:
        if set(p.features) != set(feature_names):
            raise StatsError(
                f"variant {p.name!r} has features {sorted(p.features)}, "
                f"expected {sorted(feature_names)}"
            )
    clash = {"latency_ns", "faults"} & set(feature_names)
    if clash:
        raise StatsError(f"feature names clash with the measured columns: {sorted(clash)}")
    latency = _array([p.latency_ns for p in points], "latency_ns", allow_empty=True)
    faults = _array([p.faults for p in points], "faults", allow_empty=True)
    feats = {f: _array([p.features[f] for p in points], f, allow_empty=True) for f in feature_names}
    constant = tuple(f for f in feature_names if n > 0 and np.ptp(feats[f]) == 0)
    plural = "variant" if n == 1 else "variants"
    if n < min_variants:
        msg = (
            f"only {n} {plural}: not enough to conclude; need at least {min_variants}"
            if n
            else f"no variants: nothing to conclude; need at least {min_variants}"
        )
        return CostModel(n, False, msg, None, {}, {}, constant, {})
    notes = [f"{n} {plural}"]
    us_per_fault = None
    if np.ptp(faults) > 0:
        f = fit_line(faults, latency / 1000.0)
        us_per_fault = Slope(f.slope, f.slope_ci95, f.r2, f.n)
    else:
        notes.append("faults equal in every variant: no microseconds-per-fault slope")
    varying = [f for f in feature_names if f not in constant]
    latency_fits = {f: fit_line(feats[f], latency) for f in varying}
    fault_fits = {f: fit_line(feats[f], faults) for f in varying}
    if constant:
        notes.append(f"constant features not fitted: {', '.join(constant)}")
    spearman = spearman_matrix({"latency_ns": latency, "faults": faults, **feats})
    return CostModel(
        n=n,
        enough=True,
        message="; ".join(notes),
        us_per_fault=us_per_fault,
        latency_fits=latency_fits,
        fault_fits=fault_fits,
        constant_features=constant,
        spearman=spearman,
    )
