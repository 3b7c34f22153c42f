"""A/A and A/B on real launches, the cost model on a real bench record, the stopping rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from loadbench import storage
from loadbench.cli import cli
from loadbench.report import tables

pytestmark = pytest.mark.integration


# A test of what a comparison concludes needs a machine quiet enough to resolve the effect.
# This VM has episodes (minutes long) where latencies spread over 1-5 ms: a median's 95% CI
# then spans +-25% and no honest comparison resolves even web vs hello (1.5x). A run whose
# noisiest median CI is wider than this is measured again (3 tries, then one adaptive run);
# only then is the test skipped, with the figures: it judges loadbench's statistics, not the
# host's neighbours.
NOISE_LIMIT = 0.10


def _noisiest(out: Path) -> float:
    rows = tables.measurement_rows(storage.load_record(out))
    return max((r["ci95_high_ns"] - r["ci95_low_ns"]) / 2 / r["median_ns"] for r in rows)


_TOO_NOISY: dict[Path, str] = {}  # record -> why no comparison can be judged on it


def _run_quiet_enough(args: list[str], runs: int, base: Path) -> Path:
    """The first of up to 3 runs of ``runs`` launches quiet enough to judge; then one run that
    measures until every median's CI is within 2% (up to 10x the launches), as a user on a
    noisy machine would; else the last run, noted in _TOO_NOISY."""
    widths = []
    tries = [["--runs", str(runs)]] * 3 + [["--runs", str(10 * runs), "--target-ci", "2"]]
    for attempt, extra in enumerate(tries):
        out = base / f"attempt{attempt}"
        res = CliRunner().invoke(cli, ["run", *args, *extra, "--out", str(out), "-q"])
        assert res.exit_code == 0, res.output
        widths.append(_noisiest(out))
        print(f"attempt {attempt} ({' '.join(extra)}): noisiest median CI half-width "
              f"{widths[-1]:.1%}")
        if widths[-1] <= NOISE_LIMIT:
            return out
    _TOO_NOISY[out] = ("machine too noisy to resolve a comparison: noisiest median CI "
                       "half-width " + ", ".join(f"{w:.0%}" for w in widths)
                       + f" in {len(tries)} runs (limit {NOISE_LIMIT:.0%})")
    return out


def _skip_if_too_noisy(record: Path) -> None:
    if record in _TOO_NOISY:
        pytest.skip(_TOO_NOISY[record])


@pytest.fixture(scope="module")
def aab_record(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("aab")
    a, b = d / "hello-a", d / "hello-b"
    shutil.copy2(built["hello"], a)
    shutil.copy2(built["hello"], b)
    return _run_quiet_enough([str(a), str(b), built["web"], "--name", "hello-a", "--name",
                              "hello-b", "--name", "web", "--seed", "5"], 300, d)


def test_aa_claims_no_direction_and_web_is_slower(aab_record: Path) -> None:
    _skip_if_too_noisy(aab_record)
    res = CliRunner().invoke(cli, ["compare", str(aab_record), "--baseline", "hello-a", "--json"])
    assert res.exit_code == 0, res.output
    comps = {c["name"]: c for c in json.loads(res.output)["comparisons"]}
    aa, ab = comps["hello-b"], comps["web"]
    print(f"A/A ratio {aa['ratio']:.3f} CI {aa['ratio_ci95']} p {aa['p_value']:.2g}; "
          f"web/hello {ab['ratio']:.3f} CI {ab['ratio_ci95']} p {ab['p_holm']:.2g}")
    for key in ("name", "baseline", "ratio", "ratio_ci95", "p_value", "p_holm", "cliffs_delta",
                "verdict"):
        assert key in aa
    # The verdict is the A/A guard: its false-verdict rate is measured in
    # test_stats_simulation (0.5% at n = 300). Nothing stricter is asserted on the figures:
    # a 95% CI misses the truth one run in twenty by design, and Go hello's latency can be
    # bimodal here (~700 us pinned to one CPU, ~1000 us not: likely where its threads land),
    # so a ratio of two medians of identical binaries was once 1.157, CI 0.863-1.403.
    # A/A: no direction may be claimed ("equivalent" when the CI fits the 1% band, else
    # "inconclusive")
    assert aa["verdict"] in ("equivalent", "inconclusive")
    assert ab["verdict"] == "slower" and ab["ratio_ci95"][0] > 1.0
    assert ab["p_holm"] >= ab["p_value"]


def test_compare_two_records(aab_record: Path) -> None:
    res = CliRunner().invoke(cli, ["compare", str(aab_record), str(aab_record), "--json"])
    assert res.exit_code == 0, res.output
    comps = json.loads(res.output)["comparisons"]
    caveats = json.loads(res.output)["caveats"]
    # one run: nothing differs between "both"; only inconclusive comparisons may be explained
    assert all(": inconclusive against " in c for c in caveats), caveats
    assert len(comps) == 3
    # the same record against itself: identical samples, never a direction
    assert all(c["verdict"] in ("equivalent", "inconclusive") and c["ratio"] == 1.0
               for c in comps)


def test_correlate_refuses_with_three_variants(aab_record: Path) -> None:
    res = CliRunner().invoke(cli, ["correlate", str(aab_record), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert data["enough"] is False and data["us_per_fault"] is None
    assert "not enough" in data["message"]
    res = CliRunner().invoke(cli, ["correlate", str(aab_record)])
    assert "not enough to conclude" in res.output and "per page fault" not in res.output


def test_correlate_on_bench_record(built: dict[str, str], tmp_path: Path) -> None:
    names = [n for n in ("floor", "hello", "hello-sw", "hello-pie", "web", "cgo") if n in built]
    if len(names) < 4:
        pytest.skip("needs at least 4 runnable variants")
    args = [*[built[n] for n in names], "--seed", "1"]
    for n in names:
        args += ["--name", n]
    out = _run_quiet_enough(args, 60, tmp_path)
    _skip_if_too_noisy(out)
    res = CliRunner().invoke(cli, ["correlate", str(out), "--json"])
    data = json.loads(res.output)
    u = data["us_per_fault"]
    print(f"us per fault {u['value']:.2f} CI {u['ci95']} R2 {u['r2']:.2f} n {u['n']}")
    assert data["enough"] and u["n"] == len(names)
    assert set(u) == {"value", "ci95", "r2", "n"}
    # launches that fault more take longer: the slope is positive and clearly so
    assert u["ci95"][0] > 0 and u["r2"] > 0.5


def test_target_ci_stops_by_itself(built: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "tci"
    res = CliRunner().invoke(cli, ["run", built["hello"], "--target-ci", "2", "--runs", "20000",
                                   "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "record.json").read_text())
    n = len(storage.load_record(out).measurements[0].samples)
    assert rec["end_reason"] == "target CI of 2% reached" and rec["complete"]
    assert 30 <= n < 20000
    row = json.loads(res.output)["measurements"][0]
    half = (row["ci95_high_ns"] - row["ci95_low_ns"]) / 2 / row["median_ns"]
    assert half < 0.02
