#!/usr/bin/env python3
"""Benchmark loadbench's launcher against its peers on the same binaries, in the same run.

Builds the floor binary and Go hello, then alternates blocks of launches by loadbench's rusage
probe (native and Python launchers), `hyperfine -N` and `perf stat -r`, so drift in the machine
hits every tool alike. Prints each tool's median per binary and the ratio of medians against
hyperfine. On the floor binary the target's own cost is the same for every tool, so the ratio is
a ratio of per-launch overheads; the target is loadbench / hyperfine <= 0.9.

    python scripts/bench_launcher.py [--rounds 5] [--runs 400]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from loadbench import builder, launch, launch_native
from loadbench.probes.base import Schedule, Target


def loadbench_walls(exe: str, runs: int, native: bool) -> list[int]:
    sched = Schedule(targets=(Target("t", exe),), order=(0,) * runs,
                     env={"PATH": "/usr/bin:/bin"})
    if native:
        raws = list(launch_native.run(launch_native.ensure_launcher(), sched))
    else:
        raws = launch.run_batch(sched)
    return [r[2] for r in raws]


def hyperfine_walls(exe: str, runs: int, tmp: Path) -> list[int]:
    out = tmp / "hyperfine.json"
    subprocess.run(["hyperfine", "-N", "--runs", str(runs), "--warmup", "5", "--style", "none",
                    "--export-json", str(out), exe], check=True, capture_output=True)
    return [round(t * 1e9) for t in json.loads(out.read_text())["results"][0]["times"]]


def perf_stat_mean(exe: str, runs: int) -> float:
    # perf stat -r prints only the mean elapsed time ("N.NNN +- ... seconds time elapsed"), and
    # only in its human output (-x omits it).
    cp = subprocess.run(["perf", "stat", "-r", str(runs), "-e", "task-clock", exe],
                        check=True, capture_output=True, text=True)
    m = re.search(r"([\d.]+) \+- [\d.]+ seconds time elapsed", cp.stderr)
    return float(m.group(1)) * 1e9 if m else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=400, help="launches per tool per round")
    args = ap.parse_args()
    if not shutil.which("hyperfine"):
        print("hyperfine not found: apt-get install hyperfine", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="loadbench-bench-") as d:
        tmp = Path(d)
        m = builder.build([builder.variant("floor"), builder.variant("hello")], tmp / "bin")
        bins = {b.name: b.path for b in m.built}
        have_perf = shutil.which("perf") is not None
        res: dict[tuple[str, str], list[int]] = {}
        perf_means: dict[str, list[float]] = {}
        for rnd in range(args.rounds):
            for name, exe in bins.items():
                res.setdefault((name, "loadbench-native"), []).extend(
                    loadbench_walls(exe, args.runs, True))
                res.setdefault((name, "hyperfine -N"), []).extend(
                    hyperfine_walls(exe, args.runs, tmp))
                res.setdefault((name, "loadbench-python"), []).extend(
                    loadbench_walls(exe, args.runs, False))
                if have_perf:
                    perf_means.setdefault(name, []).append(perf_stat_mean(exe, args.runs))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{'binary':8s} {'tool':18s} {'n':>6s} {'median us':>10s} {'x hyperfine':>12s}")
    verdict = True
    for name in bins:
        hf = statistics.median(res[(name, "hyperfine -N")])
        for tool in ("loadbench-native", "loadbench-python", "hyperfine -N"):
            walls = res[(name, tool)]
            med = statistics.median(walls)
            print(f"{name:8s} {tool:18s} {len(walls):>6d} {med / 1e3:>10.1f} {med / hf:>12.3f}")
            if name == "floor" and tool == "loadbench-native" and med / hf > 0.9:
                verdict = False
        if name in perf_means:
            pm = statistics.median(perf_means[name])
            print(f"{name:8s} {'perf stat -r (mean)':18s} {'':>6s} {pm / 1e3:>10.1f} "
                  f"{pm / hf:>12.3f}")
    print("target loadbench-native / hyperfine <= 0.9 on floor:", "met" if verdict else "NOT met")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
