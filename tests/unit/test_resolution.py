"""An inconclusive comparison says how wide its CI is and what it would take to resolve it."""

from __future__ import annotations

import random

from loadbench import analysis, stats


def test_noisy_data_is_inconclusive_with_its_size_and_the_launches_it_needs() -> None:
    rng = random.Random(3)
    base = [1000 + rng.gauss(0, 10) for _ in range(300)]
    same = [1000 + rng.gauss(0, 10) for _ in range(300)]
    # launches spread over 1-5 ms (this VM's noisy episodes), same mean as the baseline's
    noisy_a = [rng.choice((1000, 3000, 5000)) * rng.uniform(0.9, 1.1) for _ in range(40)]
    noisy_b = [rng.choice((1000, 3000, 5000)) * rng.uniform(0.9, 1.1) for _ in range(40)]
    quiet = stats.compare(same, base, name="quiet", baseline_name="base")
    noisy = stats.compare(noisy_b, noisy_a, name="noisy", baseline_name="base")
    slower = stats.compare([x * 1.5 for x in base], base, name="slower")
    assert quiet.verdict is stats.Verdict.EQUIVALENT
    assert noisy.verdict is stats.Verdict.INCONCLUSIVE
    assert slower.verdict is stats.Verdict.SLOWER
    got = analysis.resolution_caveats([quiet, noisy, slower])
    assert len(got) == 1 and got[0].startswith("noisy: inconclusive against base")
    lo, hi = noisy.ratio_ci95
    assert f"{max(1 - lo, hi - 1):.1%}" in got[0]
    need = analysis.launches_to_resolve(noisy)
    assert need is not None and need > 40 and f"about {need:,} launches per binary" in got[0]
