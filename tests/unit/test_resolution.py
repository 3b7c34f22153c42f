"""A "no difference" from data too noisy to tell is flagged as inconclusive, with its size."""

from __future__ import annotations

import random

from loadbench import analysis, stats


def test_wide_no_difference_is_called_inconclusive() -> None:
    rng = random.Random(3)
    base = [1000 + rng.gauss(0, 10) for _ in range(300)]
    same = [1000 + rng.gauss(0, 10) for _ in range(300)]
    # launches spread over 1-5 ms (this VM's noisy episodes), same mean as the baseline's
    noisy_a = [rng.choice((1000, 3000, 5000)) * rng.uniform(0.9, 1.1) for _ in range(40)]
    noisy_b = [rng.choice((1000, 3000, 5000)) * rng.uniform(0.9, 1.1) for _ in range(40)]
    quiet = stats.compare(same, base, name="quiet")
    noisy = stats.compare(noisy_b, noisy_a, name="noisy")
    slower = stats.compare([x * 1.5 for x in base], base, name="slower")
    assert str(quiet.verdict) == str(noisy.verdict) == "no difference"
    assert str(slower.verdict) == "slower"
    got = analysis.resolution_caveats([quiet, noisy, slower])
    assert len(got) == 1 and got[0].startswith("noisy: 'no difference' is inconclusive")
    lo, hi = noisy.ratio_ci95
    assert (hi - lo) / 2 > 0.10 and f"{max(1 - lo, hi - 1):.0%}" in got[0]
