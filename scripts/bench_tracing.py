"""The observer effect of both tracing probes, side by side: one command, ratios only.

    sudo python scripts/bench_tracing.py [--rounds 12] [--json OUT.json]

For floor, hello, web, web-pie and cgo (built with loadbench's builder, cached), each round runs,
in a rotating order, an untraced block (the rusage probe's native launcher) before each traced
block: the perf probe, the bpf probe (``regions=kernel``, the default) and the bpf probe with
``regions=page`` (every fault keyed by address in the kernel, placed after exit). A traced block
is compared with the untraced block right before it; the figure is the median over rounds of
those ratios of median wall time, with a distribution-free 95% CI over rounds
(``loadbench.probes.inflation``), next to the same ratio of CPU time (user + sys, less
sensitive to other load). Then each probe traces 60 launches of each binary with its full
analysis, and the median phases of both probes are printed in one table.

Timings on a shared machine are noisy: the script prints /proc/loadavg before and after and
flags every figure whose CI is wider than +-5% or below 1. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadbench import builder  # noqa: E402
from loadbench.probes import inflation  # noqa: E402
from loadbench.probes.base import Schedule, StopFlag, Target  # noqa: E402

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}
BINARIES = ("floor", "hello", "web", "web-pie", "cgo")
CONFIGS = ("perf", "bpf", "bpf-page")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def build(out: str) -> dict[str, str]:
    vs = [builder.variant("floor"), builder.variant("hello"), builder.variant("web"),
          builder.variant("web", pie=True), builder.variant("cgo")]
    m = builder.build(vs, out)
    return {b.name: b.path for b in m.built}


def make_probes(stop: StopFlag) -> dict[str, Any]:
    from loadbench.probes.linux_bpf import BpfProbe
    from loadbench.probes.linux_perf import PerfProbe

    return {
        "perf": PerfProbe(stop=stop, calibrate_targets=False),
        "bpf": BpfProbe(stop=stop, calibrate_targets=False),
        "bpf-page": BpfProbe(stop=stop, calibrate_targets=False, regions="page"),
    }


def measure(probes: dict[str, Any], target: Target, rounds: int, stop: StopFlag) -> dict[str, Any]:
    untraced = inflation.untraced_block(stop, target, ENV)
    traced = {c: probes[c].traced_block(target, ENV) for c in CONFIGS}
    pilot = [s.wall_ns for s in untraced(10) if s.ok]
    per = inflation.block_size(min(pilot))
    blocks: dict[str, tuple[list[Any], list[Any]]] = {c: ([], []) for c in CONFIGS}
    for r in range(rounds):
        order = CONFIGS[r % 3:] + CONFIGS[:r % 3]
        for c in order:
            u = untraced(per)
            t = traced[c](per)
            blocks[c][0].append(t)
            blocks[c][1].append(u)
        print(f"  {target.name}: round {r + 1}/{rounds} (loadavg {loadavg()})", file=sys.stderr)
    return {c: inflation.summarize(blocks[c][0], blocks[c][1], per) for c in CONFIGS}


def phases(probes: dict[str, Any], target: Target, n: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for c in ("perf", "bpf"):
        sched = Schedule(targets=(target,), order=(0,) * n, env=ENV)
        samples = [s for s in probes[c].run(sched) if s.ok and "phases_ns" in s.extra]
        per: dict[str, list[int]] = {}
        for s in samples:
            for k, v in s.extra["phases_ns"].items():
                per.setdefault(k, []).append(v)
        gaps = [s.faults - s.extra["trace_faults_minor"] - s.extra["trace_faults_major"]
                for s in samples if "trace_faults_minor" in s.extra]
        out[c] = {k: statistics.median(v) / 1000 for k, v in per.items()}
        out[c]["wall"] = statistics.median(s.wall_ns for s in samples) / 1000
        out[c]["fault gap (mode)"] = statistics.mode(gaps) if gaps else float("nan")
    return out


def fmt(m: inflation.Inflation) -> str:
    if m.ratio is None:
        return "n/a"
    ci = f"{m.ci95[0]:.2f}-{m.ci95[1]:.2f}" if m.ci95 else "no CI"
    flag = "" if m.reliable else f" [{m.verdict}]"
    return f"x{m.ratio:.3f} ({ci}){flag}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--phase-launches", type=int, default=60)
    ap.add_argument("--json", dest="json_out", default=None)
    a = ap.parse_args()
    stop = StopFlag()
    start_load = loadavg()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loadbench-bench-tracing-") as d:
        bins = build(d)
        probes = make_probes(stop)
        try:
            results: dict[str, Any] = {}
            for name in BINARIES:
                target = Target(name, bins[name])
                results[name] = {"inflation": measure(probes, target, a.rounds, stop),
                                 "phases": phases(probes, target, a.phase_launches)}
        finally:
            for p in probes.values():
                p.close()
    end_load = loadavg()
    print(f"\nloadavg before {start_load}, after {end_load}; {time.monotonic() - t0:.0f} s; "
          f"{a.rounds} rounds per binary, each traced block next to an untraced one\n")
    print("Inflation: median over rounds of traced/untraced median wall time (95% CI), "
          "[flag] when the CI is wider than +-5% or below 1")
    print(f"{'binary':<9} {'untraced us':>11}  " + "  ".join(f"{c:<28}" for c in CONFIGS)
          + "  cpu-time ratio perf / bpf / bpf-page")
    for name, r in results.items():
        infl = r["inflation"]
        base = infl["bpf"].untraced_wall_ns_median or 0
        cpu = " / ".join(f"{infl[c].cpu_ratio:.3f}" if infl[c].cpu_ratio else "n/a"
                         for c in CONFIGS)
        print(f"{name:<9} {base / 1000:>11.1f}  " + "  ".join(f"{fmt(infl[c]):<28}"
                                                             for c in CONFIGS) + f"  {cpu}")
    print("\nMedian phases, us (perf: execve -> exit; bpf: vfork -> exit, see README)")
    for name, r in results.items():
        ph = r["phases"]
        keys = list(dict.fromkeys([*ph["perf"], *ph["bpf"]]))
        print(f"{name}:")
        for k in keys:
            pv, bv = ph["perf"].get(k), ph["bpf"].get(k)
            print(f"  {k:<18} {'' if pv is None else f'{pv:10.1f}':>10} "
                  f"{'' if bv is None else f'{bv:10.1f}':>10}")
    if a.json_out:
        doc = {"loadavg_before": start_load, "loadavg_after": end_load, "rounds": a.rounds,
               "results": {n: {"inflation": {c: m.to_json() | {
                   "traced_wall_ns_median": m.traced_wall_ns_median,
                   "untraced_wall_ns_median": m.untraced_wall_ns_median}
                   for c, m in r["inflation"].items()}, "phases_us": r["phases"]}
                   for n, r in results.items()}}
        Path(a.json_out).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"\n{a.json_out}", file=sys.stderr)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("bench_tracing.py: both tracing probes need root")
    main()
