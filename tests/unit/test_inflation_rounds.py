"""The inflation rounds end when the target cannot give a ratio: a target that times out on
every launch kept a perf run in calibration for minutes (16 rounds of 20 launches, each one
killed at --timeout), and Ctrl-C was the only way out."""

from __future__ import annotations

from loadbench.model import LaunchStatus, Sample
from loadbench.probes import inflation


def _blocks(status: LaunchStatus, wall_ns: int) -> tuple[list[int], object]:
    calls: list[int] = []

    def run(n: int) -> list[Sample]:
        calls.append(n)
        return [Sample(index=i, status=status, wall_ns=wall_ns, user_ns=1000, sys_ns=1000)
                for i in range(n)]
    return calls, run


def test_a_target_that_always_times_out_costs_one_pilot_block() -> None:
    calls, run = _blocks(LaunchStatus.TIMEOUT, 200_000_000)
    m = inflation.measure(run, run)  # type: ignore[arg-type]
    assert calls == [10]  # the pilot, nothing after it
    assert m.ratio is None and m.rounds == 0 and m.verdict == "too few rounds"
    assert not m.reliable


def test_with_a_given_block_size_one_failed_round_ends_it() -> None:
    calls, run = _blocks(LaunchStatus.TIMEOUT, 200_000_000)
    m = inflation.measure(run, run, launches_per_block=20)  # type: ignore[arg-type]
    assert calls == [20, 20]
    assert m.ratio is None


def test_a_healthy_target_still_runs_the_minimum_rounds() -> None:
    calls, run = _blocks(LaunchStatus.OK, 1_000_000)
    m = inflation.measure(run, run)  # type: ignore[arg-type]
    assert calls[0] == 10 and len(calls) == 1 + 2 * inflation.MIN_ROUNDS
    assert m.ratio == 1.0 and m.rounds == inflation.MIN_ROUNDS
