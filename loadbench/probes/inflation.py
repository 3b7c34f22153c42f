"""The observer effect of a tracing probe, measured so that it can be trusted or is flagged.

A tracer inflates what it measures. Its inflation on one binary is measured in rounds, each an
untraced block (the rusage probe's launcher) next to a traced block (the tracing probe's own
session, exactly as it runs for a record), in ABBA order so that a drift of the machine hits
both alike. Each round gives the ratio of the two blocks' median wall times; the figure is the
median of those ratios with a distribution-free 95% CI over rounds (order statistics, as for
every median in loadbench). Rounds are added until the CI is within ``target_halfwidth`` of the
figure or ``max_rounds`` is reached: between-round spread -- the noise of a shared machine -- is
what the CI then describes, not only within-block scatter.

A figure whose CI is wider than ``RELIABLE_HALFWIDTH`` or lies below 1 (tracing cannot speed a
launch up: such a figure is noise) is stored *flagged*, with its CI and verdict, and not under the
``trace_inflation_ratio`` key that reports read as fact. The same per-round ratio of CPU time
(user + sys, exact in total on Linux) is stored beside it: it is far less sensitive to other
load on the machine, but misses the tracer's own CPU use outside the launch.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadbench.model import Sample

RELIABLE_HALFWIDTH = 0.05  # CI half-width above 5% of the figure: flagged "wide CI"
MIN_ROUNDS = 8  # an order-statistic 95% CI needs n >= 6; 8 gives x(2)..x(7)
MAX_ROUNDS = 16


@dataclass(frozen=True, slots=True)
class Inflation:
    ratio: float | None  # median over rounds of traced/untraced median wall time
    ci95: tuple[float, float] | None
    ci_method: str
    cpu_ratio: float | None  # the same for user + sys CPU time
    cpu_ci95: tuple[float, float] | None
    rounds: int
    launches_per_block: int
    round_ratios: tuple[float, ...]
    traced_wall_ns_median: int | None
    untraced_wall_ns_median: int | None
    traced_faults_median: int | None
    untraced_faults_median: int | None
    launches_each: int
    verdict: str  # "ok", "wide CI", "below 1", "too few rounds"
    elapsed_s: float = 0.0

    @property
    def reliable(self) -> bool:
        return self.verdict == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "ci95": list(self.ci95) if self.ci95 else None,
            "ci_method": self.ci_method,
            "cpu_ratio": self.cpu_ratio,
            "cpu_ci95": list(self.cpu_ci95) if self.cpu_ci95 else None,
            "rounds": self.rounds,
            "launches_per_block": self.launches_per_block,
            "round_ratios": list(self.round_ratios),
            "verdict": self.verdict,
            "elapsed_s": round(self.elapsed_s, 2),
        }

    def overhead(self) -> dict[str, Any]:
        """What a probe stores: the full figure under ``trace_inflation``, the flat keys older
        readers know, and ``trace_inflation_ratio`` only when the figure is reliable."""
        out: dict[str, Any] = {"trace_inflation": self.to_json(),
                               "launches_each": self.launches_each}
        for k in ("traced_wall_ns_median", "untraced_wall_ns_median", "traced_faults_median",
                  "untraced_faults_median"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.ratio is not None:
            if self.reliable:
                out["trace_inflation_ratio"] = round(self.ratio, 4)
            else:
                out["trace_inflation_ratio_unreliable"] = round(self.ratio, 4)
                out["trace_inflation_flag"] = self.describe()
        return out

    def describe(self) -> str:
        if self.ratio is None:
            return f"not measured ({self.verdict})"
        ci = f"95% CI {self.ci95[0]:.3f}-{self.ci95[1]:.3f}" if self.ci95 else "no CI"
        text = (f"x{self.ratio:.3f} ({ci}, {self.rounds} rounds of {self.launches_per_block} "
                "launches each way)")
        return text if self.reliable else f"{text}: {self.verdict}, not a figure to rely on"


def _median_ci(values: Sequence[float]) -> tuple[tuple[float, float] | None, str]:
    from loadbench import stats

    if len(values) < 2:
        return None, "too few rounds"
    ranks = stats.median_ci_ranks(len(values))
    if ranks is None:
        return None, f"n={len(values)} rounds is too few for a 95% CI"
    lo, hi = stats.median_ci(values)
    return (round(lo, 4), round(hi, 4)), stats._ci_method(len(values))


def verdict(ratio: float | None, ci: tuple[float, float] | None) -> str:
    if ratio is None or ci is None:
        return "too few rounds"
    if ci[1] < 1.0:
        return "below 1"
    if (ci[1] - ci[0]) / 2 > RELIABLE_HALFWIDTH * ratio:
        return "wide CI"
    return "ok"


def summarize(
    traced: Sequence[Sequence[Sample]],
    untraced: Sequence[Sequence[Sample]],
    launches_per_block: int,
    elapsed_s: float = 0.0,
) -> Inflation:
    """The figure from blocks of samples; ``traced[i]`` and ``untraced[i]`` are round i."""
    ratios: list[float] = []
    cpu: list[float] = []
    walls: dict[bool, list[int]] = {True: [], False: []}
    faults: dict[bool, list[int]] = {True: [], False: []}
    for t_block, u_block in zip(traced, untraced, strict=True):
        t = [s for s in t_block if s.ok]
        u = [s for s in u_block if s.ok]
        if not t or not u:
            continue
        tw, uw = statistics.median(s.wall_ns for s in t), statistics.median(s.wall_ns for s in u)
        tc = statistics.median(s.user_ns + s.sys_ns for s in t)
        uc = statistics.median(s.user_ns + s.sys_ns for s in u)
        if uw > 0:
            ratios.append(tw / uw)
        if uc > 0 and tc > 0:
            cpu.append(tc / uc)
        for flag, block in ((True, t), (False, u)):
            walls[flag] += [s.wall_ns for s in block]
            faults[flag] += [s.faults for s in block]
    ratio = round(statistics.median(ratios), 4) if ratios else None
    ci, method = _median_ci(ratios)
    cpu_ratio = round(statistics.median(cpu), 4) if cpu else None
    cpu_ci, _ = _median_ci(cpu)

    def med(xs: list[int]) -> int | None:
        return int(statistics.median(xs)) if xs else None

    return Inflation(
        ratio=ratio,
        ci95=ci,
        ci_method=method,
        cpu_ratio=cpu_ratio,
        cpu_ci95=cpu_ci,
        rounds=len(ratios),
        launches_per_block=launches_per_block,
        round_ratios=tuple(round(r, 4) for r in ratios),
        traced_wall_ns_median=med(walls[True]),
        untraced_wall_ns_median=med(walls[False]),
        traced_faults_median=med(faults[True]),
        untraced_faults_median=med(faults[False]),
        launches_each=len(walls[True]),
        verdict=verdict(ratio, ci),
        elapsed_s=elapsed_s,
    )


def block_size(wall_ns: float, seconds: float = 0.25, lo: int = 20, hi: int = 500) -> int:
    """Launches per block so that a block runs about ``seconds``."""
    if not wall_ns or not math.isfinite(wall_ns):
        return lo
    return max(lo, min(hi, round(seconds * 1e9 / wall_ns)))


def untraced_block(stop: Any, target: Any, env: Mapping[str, str], *,
                   timeout_s: float = 10.0) -> Callable[[int], list[Sample]]:
    """A function launching ``target`` n times with the rusage probe's native launcher: the
    untraced side of every inflation figure (each launch obeys ``timeout_s``)."""
    from loadbench.probes.base import Schedule
    from loadbench.probes.rusage import RusageProbe

    probe = RusageProbe(stop=stop, launcher="native")

    def untraced(n: int) -> list[Sample]:
        return list(probe.run(Schedule(targets=(target,), order=(0,) * n, env=env,
                                       timeout_s=timeout_s)))

    return untraced


def block_for(launches: int | None) -> int | None:
    """Block size for a budget of ``launches`` per side over the minimum number of rounds (None:
    let ``measure`` size blocks from a pilot)."""
    return None if launches is None else max(10, launches // (2 * MIN_ROUNDS))


def measure(
    traced: Callable[[int], Sequence[Sample]],
    untraced: Callable[[int], Sequence[Sample]],
    *,
    launches_per_block: int | None = None,
    min_rounds: int = MIN_ROUNDS,
    max_rounds: int = MAX_ROUNDS,
    target_halfwidth: float = 0.03,
    budget_s: float | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> Inflation:
    """Rounds of untraced and traced blocks (ABBA) until the CI is tight enough.

    ``traced(n)``/``untraced(n)`` launch the binary ``n`` times and return the samples. Without
    ``launches_per_block``, a pilot untraced block of 10 sizes the blocks (``block_size``) from
    its fastest launch: a busy machine slows some launches by 2-4x, never speeds one up."""
    t0 = time.monotonic()
    tb: list[Sequence[Sample]] = []
    ub: list[Sequence[Sample]] = []
    if launches_per_block is None:
        pilot = untraced(10)
        ok = [s.wall_ns for s in pilot if s.ok]
        if pilot and not ok:  # every launch fails (or times out): no ratio can come of rounds
            return summarize(tb, ub, block_size(0), time.monotonic() - t0)
        launches_per_block = block_size(min(ok) if ok else 0)
    result = summarize(tb, ub, launches_per_block)
    for r in range(max_rounds):
        if stopped():
            break
        if budget_s is not None and r >= min_rounds and time.monotonic() - t0 > budget_s:
            break
        first, second = (untraced, traced) if r % 2 == 0 else (traced, untraced)
        a = first(launches_per_block)
        if stopped():
            break
        b = second(launches_per_block)
        t, u = (b, a) if first is untraced else (a, b)
        tb.append(t)
        ub.append(u)
        if not any(x.ok for x in a) and not any(x.ok for x in b):
            break  # a round in which every launch failed: the target cannot give a ratio
        result = summarize(tb, ub, launches_per_block, time.monotonic() - t0)
        if (
            len(tb) >= min_rounds
            and result.ratio is not None
            and result.ci95 is not None
            and (result.ci95[1] - result.ci95[0]) / 2 <= target_halfwidth * result.ratio
        ):
            break
    return summarize(tb, ub, launches_per_block, time.monotonic() - t0)
