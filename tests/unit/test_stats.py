"""Exact figures for loadbench.stats on small data that can be checked by hand or by brute force."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import scipy.stats as st

from loadbench.stats import (
    Comparison,
    StatsError,
    VariantPoint,
    Verdict,
    ci_halfwidth_rel,
    compare,
    compare_many,
    cost_model,
    fit_line,
    holm,
    median_ci,
    median_ci_ranks,
    spearman_matrix,
    summarize,
)


def _dumps(obj: object) -> str:
    # allow_nan=False makes json refuse NaN and infinities, which is exactly the contract.
    return json.dumps(obj, allow_nan=False)


def _binomial_ranks(n: int, confidence: float = 0.95) -> tuple[int, int, float] | None:
    """Independent table: largest j with P(Bin(n, 1/2) <= j - 1) <= alpha / 2, by brute force."""
    alpha = 1 - confidence
    cdf = st.binom.cdf(np.arange(n + 1), n, 0.5)
    ok = [j for j in range(1, n + 1) if cdf[j - 1] <= alpha / 2]
    if not ok:
        return None
    j = max(ok)
    return j, n - j + 1, 1 - 2 * cdf[j - 1]


# ---------------------------------------------------------------------------- median CI


@pytest.mark.parametrize("n", [6, 10, 11, 30, 100, 101, 300, 1000])
def test_median_ci_ranks_match_binomial_table(n: int) -> None:
    expected = _binomial_ranks(n)
    assert expected is not None
    got = median_ci_ranks(n)
    assert got is not None
    assert got[:2] == expected[:2]
    assert got[2] == pytest.approx(expected[2], abs=1e-12)
    assert got[2] >= 0.95  # conservative: never below the asked level


def test_median_ci_textbook_ranks() -> None:
    # Classic tables: n=10 -> x(2)..x(9) (97.9%), n=100 -> x(40)..x(61) (96.5%).
    assert median_ci_ranks(10)[:2] == (2, 9)  # type: ignore[index]
    assert median_ci_ranks(10)[2] == pytest.approx(1 - 2 * 11 / 1024)  # type: ignore[index]
    assert median_ci_ranks(100)[:2] == (40, 61)  # type: ignore[index]


@pytest.mark.parametrize("n", [10, 100])
def test_median_ci_picks_those_order_statistics(n: int) -> None:
    j, k, _ = _binomial_ranks(n)  # type: ignore[misc]
    values = np.random.default_rng(n).permutation(np.arange(n, dtype=float))  # value = 0-based rank
    assert median_ci(values) == (j - 1, k - 1)


def test_median_ci_tiny_n_is_min_max_and_says_so() -> None:
    assert median_ci_ranks(5) is None  # (min, max) of 5 covers only 1 - 2/32 = 93.75%
    assert median_ci([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0)
    s5 = summarize([3.0, 1.0, 2.0, 5.0, 4.0])
    assert s5.ci_method.startswith("min-max")
    assert "93.8%" in s5.ci_method
    s6 = summarize([3.0, 1.0, 2.0, 5.0, 4.0, 6.0])
    assert s6.ci_method.startswith("order statistics x(1)..x(6)")


def test_ci_halfwidth_rel() -> None:
    values = np.arange(1.0, 101.0)  # median 50.5; CI x(40)..x(61) = 40..61
    assert ci_halfwidth_rel(values) == pytest.approx(10.5 / 50.5)
    assert ci_halfwidth_rel([]) == math.inf
    assert ci_halfwidth_rel([1.0, 1.0, 1.0, 1.0, 1.0]) == math.inf  # n too small, not 0
    assert ci_halfwidth_rel([-1.0] * 5 + [0.0] + [1.0] * 5) == math.inf  # zero median


# ---------------------------------------------------------------------------- summarize


def test_summarize_basic_figures() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.n, s.median, s.mean, s.min, s.max) == (5, 3.0, 22.0, 1.0, 100.0)
    assert s.mad == 1.0  # |x - 3| = 2, 1, 0, 1, 97
    assert s.mad_scaled == pytest.approx(1.4826)
    sd = float(np.std([1, 2, 3, 4, 100], ddof=1))
    assert s.sd == pytest.approx(sd)
    assert s.sem == pytest.approx(sd / math.sqrt(5))
    assert s.p5 == pytest.approx(1.2)  # linear: position 0.2 between 1 and 2
    assert s.p99 == pytest.approx(4 + 0.96 * 96)


def test_summarize_counts_outliers_without_removing_them() -> None:
    # 1..21 with extremes moved outward: the 6th and 16th order statistics stay 6 and 16, so the
    # linear quartiles are 6 and 16, IQR 10, fences -9 and 31. 31 sits on the fence: not beyond.
    values = [*range(2, 19), -20, 31, 35, 40]
    s = summarize(values)
    assert (s.outliers_low, s.outliers_high) == (1, 2)
    assert s.n == 21 and s.min == -20 and s.max == 40
    assert "1.5" in s.outlier_rule and "never removed" in s.outlier_rule


def test_summarize_n1() -> None:
    s = summarize([7.0])
    assert (s.n, s.median, s.ci95_low, s.ci95_high, s.sd, s.sem) == (1, 7.0, 7.0, 7.0, None, None)
    assert s.ci_method.startswith("min-max")
    assert s.drift is None and s.warmup_suspect is False
    _dumps(s.to_json())


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_summarize_rejects_empty_and_non_finite(bad: list[float]) -> None:
    with pytest.raises(StatsError) as err:
        summarize(bad)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_other_functions_reject_empty_input() -> None:
    for call in (
        lambda: median_ci([]),
        lambda: compare([], [1.0]),
        lambda: compare([1.0], []),
        lambda: fit_line([], []),
        lambda: compare_many({"a": [1.0]}, "missing"),
    ):
        with pytest.raises(StatsError):
            call()


def test_drift_found_on_trend_and_not_on_shuffle() -> None:
    rng = np.random.default_rng(7)
    n = 300
    order = np.arange(n)
    values = 1000.0 + 0.5 * order + rng.normal(0, 20, n)  # +150 over the run, ~14% of median
    d = summarize(values, order).drift
    assert d is not None and d.significant
    assert d.spearman_rho > 0.8 and d.p_value < 1e-10  # type: ignore[operator]
    assert d.relative_change == pytest.approx(0.5 * 299 / np.median(values), rel=0.1)

    shuffled = summarize(rng.permutation(values), order).drift
    assert shuffled is not None and not shuffled.significant
    assert shuffled.p_value > 0.01  # type: ignore[operator]


def test_drift_uses_launch_indices_of_an_interleaved_schedule() -> None:
    # Every third launch belongs to this binary; a perfect line rising 1 per own launch.
    values = 1000.0 + np.arange(100.0)
    d = summarize(values, order=3 * np.arange(100)).drift
    assert d is not None
    assert d.slope_per_launch == pytest.approx(1 / 3)
    assert d.relative_change == pytest.approx(99 / 1049.5)
    assert d.spearman_rho == pytest.approx(1.0)


def test_drift_absent_without_order_or_for_small_n() -> None:
    assert summarize(np.arange(1.0, 50.0)).drift is None
    assert summarize(np.arange(1.0, 10.0), order=np.arange(9)).drift is None
    flat = summarize([5.0] * 20, order=np.arange(20)).drift
    assert flat is not None and flat.spearman_rho is None and not flat.significant
    with pytest.raises(StatsError):
        summarize([1.0, 2.0], order=[0])


def test_warmup_suspect_on_slow_start() -> None:
    rng = np.random.default_rng(3)
    n = 300
    values = rng.normal(1000, 10, n)
    slow = values.copy()
    slow[:30] *= 1.2  # the first 10% of launches 20% slower
    order = np.arange(n)
    assert summarize(slow, order).warmup_suspect
    assert not summarize(values, order).warmup_suspect
    # The same slow launches at the end of the run are not a warm-up.
    assert not summarize(slow, order[::-1]).warmup_suspect
    # Significant but only 3% slower: below the 5% threshold.
    mild = values.copy()
    mild[:30] *= 1.03
    assert not summarize(mild, order).warmup_suspect


def test_summary_to_json_is_plain() -> None:
    rng = np.random.default_rng(0)
    s = summarize(rng.lognormal(0, 1, 200), order=np.arange(200))
    j = s.to_json()
    text = _dumps(j)
    assert json.loads(text) == j
    assert set(j) >= {"n", "median", "ci95_low", "ci95_high", "sem", "mad", "mad_scaled", "drift"}
    assert all(type(v) in (int, float, str, bool, dict, type(None)) for v in j.values())
    assert _dumps(summarize([5.0] * 20, order=np.arange(20)).to_json())


# ---------------------------------------------------------------------------- compare


def _brute_force_u_cdf(m: int, n: int) -> np.ndarray:
    """Null CDF of U by enumerating which ranks the first sample takes."""
    counts = np.zeros(m * n + 1)
    for ranks in itertools.combinations(range(1, m + n + 1), m):
        counts[sum(ranks) - m * (m + 1) // 2] += 1
    return np.cumsum(counts) / counts.sum()


def test_hodges_lehmann_point_estimate_by_hand() -> None:
    # Differences: 9, 7, 11, 9, 19, 17 -> sorted 7 9 9 11 17 19 -> median 10.
    c = compare([10.0, 12.0, 20.0], [1.0, 3.0])
    assert c.hl_shift == 10.0
    assert c.hl_ci95 == (7.0, 19.0)  # too few pairs for 95%: the full range, and said so
    assert c.hl_ci_method.startswith("min-max")


@pytest.mark.parametrize(("m", "n"), [(5, 6), (7, 8)])
def test_hodges_lehmann_ci_matches_brute_force_u_distribution(m: int, n: int) -> None:
    rng = np.random.default_rng(m * n)
    cand = rng.normal(10, 2, m)
    base = rng.normal(9, 2, n)
    cdf = _brute_force_u_cdf(m, n)
    k = max(kk for kk in range(1, m * n + 1) if cdf[kk - 1] <= 0.025)
    diffs = np.sort((cand[:, None] - base[None, :]).ravel())
    got = compare(cand, base)
    assert got.hl_ci95 == (diffs[k - 1], diffs[m * n - k])
    assert got.hl_shift == pytest.approx(np.median(diffs))
    assert f"{1 - 2 * cdf[k - 1]:.1%}" in got.hl_ci_method


def test_hodges_lehmann_subsampling_is_close_and_deterministic() -> None:
    rng = np.random.default_rng(11)
    cand = rng.lognormal(0.03, 0.3, 1100)
    base = rng.lognormal(0.0, 0.3, 1100)  # 1.21 M pairs: above the 1 M cap
    full = np.median((cand[:, None] - base[None, :]).ravel())
    a = compare(cand, base, n_boot=200)
    b = compare(cand, base, n_boot=200)
    assert "sampled" in a.hl_ci_method
    assert a == b
    width = a.hl_ci95[1] - a.hl_ci95[0]
    assert abs(a.hl_shift - full) < 0.02 * width
    assert a.hl_ci95[0] < full < a.hl_ci95[1]


def test_cliffs_delta_on_known_sets() -> None:
    # Pairs c > b: (3,2),(3,2) = 2; c < b: (1,2),(1,2),(1,4),(2,4),(3,4) = 5; ties 2 -> -3/9.
    assert compare([1.0, 2.0, 3.0], [2.0, 2.0, 4.0]).cliffs_delta == pytest.approx(-1 / 3)
    assert compare([5.0, 6.0], [1.0, 2.0, 3.0]).cliffs_delta == 1.0
    assert compare([1.0, 2.0], [5.0, 6.0, 7.0]).cliffs_delta == -1.0
    assert compare([1.0, 2.0], [1.0, 2.0]).cliffs_delta == 0.0


def test_compare_figures_and_determinism() -> None:
    rng = np.random.default_rng(5)
    base = rng.lognormal(np.log(1e6), 0.1, 200)
    cand = base * 1.2
    c = compare(cand, base, seed=1)
    assert c.ratio == pytest.approx(1.2)
    assert c.ratio_ci95[0] < 1.2 < c.ratio_ci95[1]
    assert c.p_value == pytest.approx(st.mannwhitneyu(cand, base).pvalue)
    assert c.p_holm == c.p_value
    assert c.verdict is Verdict.SLOWER
    assert (c.n_candidate, c.n_baseline, c.name, c.baseline) == (200, 200, "", "")
    assert compare(cand, base, seed=1) == c
    assert compare(cand, base, seed=2).ratio_ci95 != c.ratio_ci95
    assert compare(base, cand).verdict is Verdict.FASTER
    # identical samples with a +-2.7% CI: equivalence within 1% cannot be shown, within 5% it is
    assert compare(base, base).verdict is Verdict.INCONCLUSIVE
    assert compare(base, base, band=0.05).verdict is Verdict.EQUIVALENT
    j = c.to_json()
    assert j["verdict"] == "slower"
    _dumps(j)


def test_significant_but_inside_band_is_equivalent() -> None:
    rng = np.random.default_rng(9)
    base = rng.normal(1000, 10, 5000)
    cand = rng.normal(1005, 10, 5000)  # +0.5%: overwhelming p, but inside the 1% band
    c = compare(cand, base, n_boot=300)
    assert c.p_value < 1e-10
    assert 1 - c.band < c.ratio_ci95[0] and c.ratio_ci95[1] < 1 + c.band
    assert c.verdict is Verdict.EQUIVALENT
    assert compare(cand, base, n_boot=300, band=0.0).verdict is Verdict.SLOWER


@pytest.mark.parametrize(("p", "ci", "verdict"), [
    (0.001, (0.995, 1.008), Verdict.EQUIVALENT),  # inside the band, however significant
    (0.9, (0.995, 1.008), Verdict.EQUIVALENT),
    (0.001, (1.012, 1.05), Verdict.SLOWER),
    (0.001, (0.90, 0.985), Verdict.FASTER),
    (0.001, (1.004, 1.03), Verdict.SLOWER_MAYBE_NEGLIGIBLE),  # real, maybe below the band
    (0.001, (0.97, 0.996), Verdict.FASTER_MAYBE_NEGLIGIBLE),
    (0.2, (1.012, 1.05), Verdict.INCONCLUSIVE),  # beyond the band but not significant
    (0.001, (0.98, 1.05), Verdict.INCONCLUSIVE),  # significant but the CI holds 1
    (0.3, (0.9, 1.1), Verdict.INCONCLUSIVE),
])
def test_decision_table(p: float, ci: tuple[float, float], verdict: Verdict) -> None:
    from loadbench.stats import _verdict

    assert _verdict(p, ci, 0.01, 0.05) is verdict
    assert verdict.differs == (verdict in (Verdict.FASTER, Verdict.SLOWER,
                                           Verdict.FASTER_MAYBE_NEGLIGIBLE,
                                           Verdict.SLOWER_MAYBE_NEGLIGIBLE))


def test_sessions_widen_the_median_ci_to_what_varies_between_them() -> None:
    from loadbench.stats import session_median_ci, summarize

    rng = np.random.default_rng(11)
    # four sessions whose centres differ by 4% (a page-cache or machine-state change)
    centres = [1000.0, 1040.0, 985.0, 1020.0]
    values = np.concatenate([rng.normal(c, 10, 60) for c in centres])
    sessions = np.repeat(np.arange(4), 60)
    within = summarize(values)
    both = summarize(values, sessions=sessions)
    assert within.ci_kind == "within-run" and within.sessions == 1
    assert both.ci_kind == "sessions" and both.sessions == 4
    assert both.within_ci95_low == within.ci95_low and both.within_ci95_high == within.ci95_high
    lo, hi, k = session_median_ci(values, sessions)
    meds = [float(np.median(values[sessions == i])) for i in range(4)]
    half = st.t.ppf(0.975, 3) * np.std(meds, ddof=1) / 2
    assert k == 4 and lo == pytest.approx(np.mean(meds) - half)
    assert (both.ci95_low, both.ci95_high) == (min(lo, within.ci95_low),
                                               max(hi, within.ci95_high))
    assert (both.ci95_high - both.ci95_low) > 3 * (within.ci95_high - within.ci95_low)
    assert "between 4 sessions" in both.ci_method
    assert both.between_sd_rel == pytest.approx(np.std(meds, ddof=1) / np.median(values))
    # one session: the within-run CI, said so
    one = summarize(values, sessions=np.zeros(values.size, dtype=int))
    assert one.ci_kind == "within-run" and one.sessions == 1


def test_paired_session_ratios_decide_with_t_and_keep_the_within_test() -> None:
    rng = np.random.default_rng(12)
    centres = [1000.0, 1040.0, 985.0, 1020.0]  # both binaries move together per session
    base = np.concatenate([rng.normal(c, 10, 80) for c in centres])
    cand = np.concatenate([rng.normal(c * 1.05, 10, 80) for c in centres])
    ses = np.repeat(np.arange(4), 80)
    c = compare(cand, base, candidate_sessions=ses, baseline_sessions=ses, n_boot=300)
    assert c.ci_kind == "sessions" and c.sessions == 4
    assert c.p_value == max(c.p_within, c.p_sessions)  # type: ignore[type-var]
    assert c.ratio_ci95_sessions is not None and c.ratio_ci95_within is not None
    assert c.ratio_ci95[0] == min(c.ratio_ci95_within[0], c.ratio_ci95_sessions[0])
    # paired: the session moves cancel, the +5% is resolved
    assert c.verdict is Verdict.SLOWER and c.ratio_ci95_sessions[0] > 1.03
    # unpaired (two runs): the same numbers cannot separate a 5% change from 4% session moves
    u = compare(cand, base, candidate_sessions=ses, baseline_sessions=ses, paired=False,
                n_boot=300)
    assert u.ratio_ci95_sessions is not None
    assert u.ratio_ci95_sessions[1] - u.ratio_ci95_sessions[0] > \
        2 * (c.ratio_ci95_sessions[1] - c.ratio_ci95_sessions[0])


def test_compare_rejects_non_positive_baseline_median() -> None:
    with pytest.raises(StatsError, match="baseline median"):
        compare([1.0, 2.0], [0.0, 0.0, 1.0])


# ---------------------------------------------------------------------------- Holm


def test_holm_known_example() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone
    # 0.02, 0.03, 0.06, 0.06; returned in input order.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert holm([0.5, 0.6]) == (1.0, 1.0)
    assert holm([0.2]) == (0.2,)
    assert holm([]) == ()
    with pytest.raises(StatsError):
        holm([1.5])


def test_compare_many_applies_holm_to_the_verdict() -> None:
    base = np.arange(100.0, 120.0)
    alone = compare(base + 8, base, n_boot=400)
    assert alone.verdict is Verdict.SLOWER and 0.0005 < alone.p_value < 0.0006
    # 99 A/A groups beside it: Holm multiplies the smallest p by 100 -> above 0.05.
    groups = {"base": base, "shifted": base + 8} | {f"same{i}": base for i in range(99)}
    results = compare_many(groups, "base", n_boot=400)
    assert len(results) == 100
    assert all(isinstance(r, Comparison) and r.baseline == "base" for r in results)
    shifted = next(r for r in results if r.name == "shifted")
    assert shifted.p_holm == pytest.approx(100 * alone.p_value)
    assert shifted.ratio_ci95 == alone.ratio_ci95
    assert shifted.verdict is Verdict.INCONCLUSIVE  # beyond the band but not significant
    assert tuple(r.p_holm for r in results) == holm([r.p_value for r in results])
    # With the shifted group alone Holm changes nothing.
    (only,) = compare_many({"base": base, "shifted": base + 8}, "base", n_boot=400)
    assert only.p_holm == only.p_value and only.verdict is Verdict.SLOWER


# ---------------------------------------------------------------------------- fits


def test_fit_line_exact_line() -> None:
    f = fit_line([1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 7.0, 9.0])
    assert (f.slope, f.intercept, f.r2, f.n, f.p_value) == (2.0, 1.0, 1.0, 4, 0.0)
    assert f.slope_ci95 == (2.0, 2.0)


def test_fit_line_by_hand() -> None:
    # x 1..5, y 2 4 5 4 5: Sxy = 6, Sxx = 10 -> slope 0.6, intercept 2.2, SSE 2.4, SST 6.
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 5.0, 4.0, 5.0]
    f = fit_line(x, y)
    assert f.slope == pytest.approx(0.6) and f.intercept == pytest.approx(2.2)
    assert f.r2 == pytest.approx(0.6)
    se = math.sqrt(2.4 / 3 / 10)
    assert f.slope_stderr == pytest.approx(se)
    half = st.t.ppf(0.975, 3) * se
    assert f.slope_ci95 == pytest.approx((0.6 - half, 0.6 + half))
    assert f.p_value == pytest.approx(st.linregress(x, y).pvalue)


def test_fit_line_errors_and_constant_y() -> None:
    with pytest.raises(StatsError):
        fit_line([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(StatsError, match="constant"):
        fit_line([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(StatsError):
        fit_line([1.0, 2.0, 3.0], [1.0, 2.0])
    flat = fit_line([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    assert (flat.slope, flat.intercept, flat.r2, flat.p_value) == (0.0, 4.0, None, None)
    _dumps(flat.to_json())


def test_spearman_matrix() -> None:
    m = spearman_matrix({"a": [1, 2, 3, 4], "b": [1, 3, 2, 4], "c": [7, 7, 7, 7]})
    assert m["a"]["b"] == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert m["b"]["a"] == m["a"]["b"]
    assert m["a"]["a"] == 1.0
    assert m["a"]["c"] is None and m["c"]["c"] is None
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert spearman_matrix({"x": x, "y": y})["x"]["y"] == pytest.approx(st.spearmanr(x, y)[0])
    assert spearman_matrix({"x": [1, 2], "y": [2, 1]})["x"]["y"] is None
    with pytest.raises(StatsError):
        spearman_matrix({"x": [1, 2, 3], "y": [1, 2]})


def _points(n: int) -> list[VariantPoint]:
    # Exactly 2 us per fault on top of 500 us; segments vary, interp is the same everywhere.
    return [
        VariantPoint(
            name=f"v{i}",
            latency_ns=500_000.0 + 2_000.0 * (100 + 37 * i),
            faults=100.0 + 37 * i,
            features={"mapped_bytes": 4096.0 * (10 + 9 * i), "segments": 4 + i % 2, "interp": 1},
        )
        for i in range(n)
    ]


def test_cost_model_with_enough_variants() -> None:
    cm = cost_model(_points(6))
    assert cm.enough and cm.n == 6
    assert cm.us_per_fault is not None
    assert cm.us_per_fault.value == pytest.approx(2.0)
    j = cm.us_per_fault.to_json()
    assert set(j) == {"value", "ci95", "r2", "n"}
    assert j["ci95"] == pytest.approx([2.0, 2.0]) and j["r2"] == pytest.approx(1.0)
    assert j["n"] == 6
    assert set(cm.latency_fits) == set(cm.fault_fits) == {"mapped_bytes", "segments"}
    assert cm.constant_features == ("interp",)
    assert cm.fault_fits["mapped_bytes"].slope == pytest.approx(37 / (4096 * 9))
    assert cm.spearman["latency_ns"]["faults"] == pytest.approx(1.0)
    assert cm.spearman["interp"]["faults"] is None
    assert "interp" in cm.message
    _dumps(cm.to_json())


def test_cost_model_not_enough_variants_concludes_nothing() -> None:
    cm = cost_model(_points(3))
    assert not cm.enough
    assert cm.message == "only 3 variants: not enough to conclude; need at least 4"
    assert cm.us_per_fault is None
    assert not cm.latency_fits and not cm.fault_fits and not cm.spearman
    assert cost_model(_points(5), min_variants=6).message.startswith("only 5 variants")
    _dumps(cm.to_json())
    assert cost_model([]).n == 0


def test_cost_model_rejects_inconsistent_features() -> None:
    pts = _points(4)
    pts[2] = VariantPoint("odd", 1.0, 1.0, {"segments": 3})
    with pytest.raises(StatsError, match="odd"):
        cost_model(pts)
