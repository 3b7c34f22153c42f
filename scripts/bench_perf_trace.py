"""Benchmark of the perf probe itself: trace N launches of the web target and analyse them.

Usage: python scripts/bench_perf_trace.py [--launches 1000] [--batch 250] [--binary PATH]

Builds the web target with the pinned toolchain unless --binary is given, then runs the perf
probe exactly as ``loadbench run --probe perf`` does (one perf session per batch, perf script,
parse, attribution) and prints launches/s and perf events/s for the whole job, the split between
recording and analysis, and next to it the trace-mode inflation (traced vs untraced launches of
the same binary, interleaved). Needs root and perf; exits 2 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--launches", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--binary", default=None, help="binary to trace (default: build web)")
    ap.add_argument("--inflation-launches", type=int, default=200)
    a = ap.parse_args(argv)

    from loadbench import builder
    from loadbench.probes.base import Schedule, Target
    from loadbench.probes.linux_perf import PerfProbe

    avail = PerfProbe.availability()
    if not avail.ok:
        print(f"bench_perf_trace: perf probe unavailable: {avail.reason}", file=sys.stderr)
        return 2
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}
    with tempfile.TemporaryDirectory(prefix="loadbench-bench-perf-") as tmp:
        path = a.binary or builder.build([builder.variant("web")], tmp).built[0].path
        target = Target("web", path)
        with PerfProbe(calibrate_targets=False) as probe:
            assert isinstance(probe, PerfProbe)
            t0 = time.monotonic()
            samples = []
            for first in range(0, a.launches, a.batch):
                n = min(a.batch, a.launches - first)
                sched = Schedule(targets=(target,), order=(0,) * n, env=env, first_index=first)
                samples += list(probe.run(sched))
            elapsed = time.monotonic() - t0
            inflation = probe.measure_inflation(target, env, a.inflation_launches)
            totals = dict(probe.totals)
    traced = [s for s in samples if "phases_ns" in s.extra and "trace_error" not in s.extra]
    events = int(totals["events"])
    records = int(totals["records"])
    analysis = float(totals["script_s"])
    print(f"binary: {path}")
    print(
        f"traced {len(samples)} launches ({len(traced)} fully) in {elapsed:.1f} s: "
        f"{len(samples) / elapsed:.0f} launches/s, {records / elapsed:,.0f} perf records/s, "
        f"{events / elapsed:,.0f} events/s"
    )
    print(
        f"  {records:,} perf records -> {events:,} events (a fault is two records, one "
        f"event); recording {elapsed - analysis:.1f} s, perf script + parse + attribution "
        f"{analysis:.1f} s ({records / analysis if analysis else 0:,.0f} records/s)"
    )
    if traced:
        total = statistics.median(s.extra["phases_ns"]["total"] for s in traced)
        tf = statistics.median(
            s.extra["trace_faults_minor"] + s.extra["trace_faults_major"] for s in traced
        )
        print(f"median traced launch: total {total / 1000:.0f} us, {tf:g} faults")
    if inflation.get("trace_inflation_ratio"):
        print(
            f"trace-mode inflation: x{inflation['trace_inflation_ratio']:.2f} "
            f"(median wall {inflation['traced_wall_ns_median'] / 1000:.0f} us traced vs "
            f"{inflation['untraced_wall_ns_median'] / 1000:.0f} us untraced, "
            f"{inflation['launches_each']} launches each, interleaved; faults "
            f"{inflation['traced_faults_median']} vs {inflation['untraced_faults_median']})"
        )
    return 0 if elapsed < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
