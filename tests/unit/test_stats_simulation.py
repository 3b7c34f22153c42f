"""Monte Carlo checks that loadbench.stats keeps its promises on latency-like data.

The data model mimics launch latencies: a hard floor (the unavoidable exec/exit work) plus a
lognormal body, and 2% of launches hit a slow path (floor 1.2 ms plus an exponential tail). The
median is ~1.0 ms, p95 ~1.3 ms and p99 ~1.9 ms; the IQR is ~13% of the median. Because the slow
component starts above the median, the true median is known in closed form.

Every rate is printed (run pytest with -s to see them) and asserted. Bounds on rates allow three
standard errors of simulation noise; all seeds are fixed, so the figures are reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st

from loadbench.stats import Verdict, compare, compare_many, median_ci, median_ci_ranks

FLOOR_NS = 800_000.0
BODY_MEDIAN_NS = 200_000.0
BODY_SIGMA = 0.5
P_SLOW = 0.02
SLOW_FLOOR_NS = 1_200_000.0
SLOW_MEAN_NS = 1_000_000.0
# P(X <= m) = (1 - P_SLOW) * P(body <= m) as long as m < SLOW_FLOOR_NS (checked below).
TRUE_MEDIAN_NS = FLOOR_NS + BODY_MEDIAN_NS * math.exp(
    BODY_SIGMA * float(st.norm.ppf(0.5 / (1 - P_SLOW)))
)
ALPHA = 0.05
N_BOOT = 400  # below the default 2000 to keep the suite fast; the CI level is unchanged


def draw(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    body = FLOOR_NS + BODY_MEDIAN_NS * np.exp(BODY_SIGMA * rng.standard_normal(shape))
    slow = SLOW_FLOOR_NS + rng.exponential(SLOW_MEAN_NS, shape)
    return np.where(rng.random(shape) < P_SLOW, slow, body)


def upper_bound(rate: float, sims: int) -> float:
    return rate + 3 * math.sqrt(rate * (1 - rate) / sims)


def test_true_median_is_below_the_slow_path() -> None:
    assert TRUE_MEDIAN_NS < SLOW_FLOOR_NS
    sample = draw(np.random.default_rng(0), (1_000_000,))
    assert np.median(sample) == pytest.approx(TRUE_MEDIAN_NS, rel=2e-3)


@pytest.mark.parametrize("n", [10, 30, 300])
def test_median_ci_coverage(n: int) -> None:
    sims = 2000
    data = draw(np.random.default_rng(100 + n), (sims, n))
    hits = 0
    for row in data:
        lo, hi = median_ci(row)
        hits += lo <= TRUE_MEDIAN_NS <= hi
    coverage = hits / sims
    exact = median_ci_ranks(n)[2]  # type: ignore[index]
    se = math.sqrt(exact * (1 - exact) / sims)
    print(
        f"\n[sim] median_ci coverage n={n}: {coverage:.3f} measured, {exact:.3f} exact "
        f"(conservative order statistics), {sims} sims"
    )
    assert abs(coverage - exact) <= 3 * se
    if n >= 30:
        assert 0.93 <= coverage <= 0.97
    # n=10: the nearest ranks give 97.9%; the next pair in gives 89%, below the level, so the
    # conservative rule stays at 97.9% by design.


@pytest.mark.parametrize("n", [30, 300])
def test_mann_whitney_false_positive_rate(n: int) -> None:
    sims = 4000
    rng = np.random.default_rng(200 + n)
    a, b = draw(rng, (sims, n)), draw(rng, (sims, n))
    p = st.mannwhitneyu(a, b, alternative="two-sided", method="auto", axis=1).pvalue
    # compare() must report exactly this p-value (checked on a few rows; the full rate is too
    # costly through compare's bootstrap).
    for i in range(5):
        assert compare(a[i], b[i], n_boot=10).p_value == pytest.approx(p[i], rel=1e-12)
    rate = float(np.mean(p < ALPHA))
    bound = upper_bound(ALPHA, sims)
    print(
        f"\n[sim] A/A n={n}: Mann-Whitney false-positive rate {rate:.4f} "
        f"({sims} sims, bound {bound:.4f})"
    )
    assert rate <= bound


@pytest.mark.parametrize(("n", "sims"), [(300, 400), (30, 1500)])
def test_verdict_false_positive_rate(n: int, sims: int) -> None:
    # A/A: any verdict with a direction ("faster"/"slower", with or without "maybe
    # negligible") is false. It needs Mann-Whitney p < 0.05 AND the bootstrap CI on one side of
    # 1, so its rate is at most the test's 5%: measured ~3-4%. The strong verdicts (the whole CI
    # beyond the 1% band) are rarer: at n=300 the CI (~+-2%) is narrow enough for the band to
    # bite, and they stay under 1%.
    rng = np.random.default_rng(300 + n)
    verdicts = [
        compare(draw(rng, (n,)), draw(rng, (n,)), n_boot=N_BOOT, seed=i).verdict
        for i in range(sims)
    ]
    rate = sum(v.differs for v in verdicts) / sims
    strong = sum(v in (Verdict.FASTER, Verdict.SLOWER) for v in verdicts) / sims
    print(f"\n[sim] A/A n={n}: direction verdicts {rate:.4f}, beyond-band verdicts {strong:.4f} "
          f"({sims} sims, band 1%)")
    assert rate <= upper_bound(ALPHA, sims)
    if n >= 300:
        assert strong <= 0.01


def test_holm_keeps_family_wise_rate() -> None:
    sims, n, k = 400, 30, 3
    rng = np.random.default_rng(400)
    any_hit = 0
    for i in range(sims):
        groups = {"base": draw(rng, (n,))} | {f"v{j}": draw(rng, (n,)) for j in range(k)}
        results = compare_many(groups, "base", n_boot=100, seed=i)
        any_hit += any(r.p_holm < ALPHA for r in results)
    rate = any_hit / sims
    bound = upper_bound(ALPHA, sims)
    print(f"\n[sim] A/A x{k} with Holm, n={n}: family-wise rate {rate:.4f} ({sims} sims)")
    assert rate <= bound


def test_power_for_a_three_percent_shift() -> None:
    n, shift = 300, 1.03
    rng = np.random.default_rng(500)
    # Mann-Whitney power on many data sets (vectorized), verdict power through compare().
    sims = 2000
    a, b = shift * draw(rng, (sims, n)), draw(rng, (sims, n))
    p = st.mannwhitneyu(a, b, alternative="two-sided", method="auto", axis=1).pvalue
    mw_power = float(np.mean(p < ALPHA))
    sub = 400
    results = [compare(a[i], b[i], n_boot=N_BOOT, seed=i) for i in range(sub)]
    slower = sum(r.verdict is Verdict.SLOWER for r in results) / sub
    faster = sum(r.verdict is Verdict.FASTER for r in results)
    covered = sum(r.ratio_ci95[0] <= shift <= r.ratio_ci95[1] for r in results) / sub
    print(
        f"\n[sim] 3% shift, n={n}: Mann-Whitney power {mw_power:.3f} ({sims} sims); "
        f"verdict 'slower' {slower:.3f}, 'faster' {faster}, ratio CI covers 1.03 in "
        f"{covered:.3f} ({sub} sims)"
    )
    assert mw_power >= 0.8
    assert faster == 0
    assert covered >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / sub)
    # The verdict needs the whole ratio CI above 1.01; with a CI of about +-2% at n=300 on this
    # distribution a 3% shift clears it less than half the time (measured 0.44). This floor
    # guards against regressions; it is not a power target.
    assert slower >= 0.35


# ----------------------------------------------------------------------------- sessions
# What a run-to-run check sees on this VM: every session of every run sits a little higher or
# lower (page cache, CPU placement, host load), by SD TAU_SESSION, the same for every binary of
# that session; launches scatter inside a session as ``draw`` does.
TAU_SESSION = 0.025


def _run_with_sessions(rng: np.random.Generator, k: int, per: int,
                       shift: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    effects = np.exp(TAU_SESSION * rng.standard_normal(k))
    base = np.concatenate([draw(rng, (per,)) * e for e in effects])
    cand = np.concatenate([draw(rng, (per,)) * e * shift for e in effects])
    return base, cand, np.repeat(np.arange(k), per)


def test_session_ci_covers_the_median_other_runs_will_see() -> None:
    # Truth: the median a run gets on average, with session effects averaging out.
    from loadbench.stats import summarize

    sims, k, per = 600, 4, 60
    rng = np.random.default_rng(700)
    hit_sessions = hit_within = 0
    for _ in range(sims):
        base, _, ses = _run_with_sessions(rng, k, per)
        s = summarize(base, sessions=ses)
        hit_sessions += s.ci95_low <= TRUE_MEDIAN_NS <= s.ci95_high
        hit_within += s.within_ci95_low <= TRUE_MEDIAN_NS <= s.within_ci95_high  # type: ignore
    cov_s, cov_w = hit_sessions / sims, hit_within / sims
    print(f"\n[sim] sessions k={k} x {per}, session SD {TAU_SESSION:.1%}: between-session CI "
          f"covers the true median in {cov_s:.3f}, the within-run CI in {cov_w:.3f} ({sims} sims)")
    assert cov_s >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / sims)
    assert cov_w < 0.80  # what the issue saw: within-run CIs miss other runs' medians


def test_paired_session_verdicts_keep_the_aa_rate_and_detect_ten_percent() -> None:
    sims, k, per = 400, 4, 60
    rng = np.random.default_rng(800)
    aa = ab = 0
    for i in range(sims):
        base, cand, ses = _run_with_sessions(rng, k, per)
        v = compare(cand, base, candidate_sessions=ses, baseline_sessions=ses, n_boot=200,
                    seed=i).verdict
        aa += v.differs
        base, cand, ses = _run_with_sessions(rng, k, per, shift=1.10)
        v = compare(cand, base, candidate_sessions=ses, baseline_sessions=ses, n_boot=200,
                    seed=i).verdict
        ab += v is Verdict.SLOWER
    print(f"\n[sim] paired sessions k={k} x {per}: A/A direction verdicts {aa / sims:.4f}, "
          f"+10% called slower {ab / sims:.3f} ({sims} sims)")
    assert aa / sims <= upper_bound(ALPHA, sims)
    assert ab / sims >= 0.8


def test_large_sample_ratio_ci_covers_like_the_bootstrap() -> None:
    # Above BOOT_MAX_N launches a side the ratio CI is the delta method on the medians' standard
    # errors; it must keep the bootstrap's coverage of the true ratio.
    from loadbench.stats import BOOT_MAX_N

    sims, n, shift = 300, BOOT_MAX_N + 1000, 1.02
    rng = np.random.default_rng(900)
    hits = 0
    widths = []
    for i in range(sims):
        c = compare(draw(rng, (n,)) * shift, draw(rng, (n,)), n_boot=10, seed=i)
        assert "delta method" in c.ratio_ci_method
        lo, hi = c.ratio_ci95
        hits += lo <= shift <= hi
        widths.append(hi - lo)
    cov = hits / sims
    print(f"\n[sim] delta-method ratio CI, n={n} a side: covers {shift} in {cov:.3f} "
          f"({sims} sims), median width {np.median(widths):.4f}")
    assert abs(cov - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / sims)
    # and it agrees with the bootstrap on the same data
    a, b = draw(rng, (n,)) * shift, draw(rng, (n,))
    from loadbench.stats import _bootstrap_ratio_ci, _ratio_ci

    delta, _ = _ratio_ci(a, b, 0.05, 400, 1)
    boot = _bootstrap_ratio_ci(a, b, 0.05, 400, 1)
    assert abs(delta[0] - boot[0]) < 0.003 and abs(delta[1] - boot[1]) < 0.003
