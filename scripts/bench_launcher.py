#!/usr/bin/env python3
"""Benchmark loadbench's launcher against its peers on the same binaries, in the same run.

Builds the floor binary (a static `_start: exit(0)`), Go hello and web, and a bare C loop that
does nothing but `vfork` + `execve` + `wait4` and reads the clock around each launch: the cost of
launching with no harness at all. Then alternates blocks of launches by the bare loop,
loadbench's rusage probe (native and Python launchers), `hyperfine -N` and `perf stat -r`, so
drift in the machine hits every tool alike. Every tool and every target gets the same minimal
environment (`PATH`, `LANG=C`): hyperfine and perf stat would otherwise pass on the caller's
whole environment, which costs them ~10 us per launch on the floor and ~30 us on hello here.
The binaries are written back and given one page-cache state first (``pagecache.normalise``, as
``loadbench run`` does), then warmed up. Prints each tool's median per binary with its ratio to
the bare loop and to hyperfine, the load average and the hypervisor's steal while measuring.

    python scripts/bench_launcher.py [--rounds 5] [--runs 300]
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

from loadbench import builder, host, launch, launch_native, pagecache
from loadbench.probes.base import Schedule, Target

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}

# The floor of launching: nothing between two launches but the clock and the spawn.
BARE_LOOP_C = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv, char **envp) {
    long n = atol(argv[1]);
    long long *t = malloc(sizeof(long long) * n);
    char *child[] = {argv[2], NULL};
    for (long i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid_t pid = vfork();
        if (pid == 0) { execve(argv[2], child, envp); _exit(127); }
        int st;
        waitpid(pid, &st, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    }
    for (long i = 0; i < n; i++) printf("%lld\n", t[i]);
    return 0;
}
"""


def bare_walls(loop: str, exe: str, runs: int) -> list[int]:
    cp = subprocess.run([loop, str(runs), exe], env=ENV, check=True, capture_output=True,
                        text=True, stdin=subprocess.DEVNULL)
    return [int(x) for x in cp.stdout.split()]


def loadbench_walls(exe: str, runs: int, native: bool) -> list[int]:
    sched = Schedule(targets=(Target("t", exe),), order=(0,) * runs, env=ENV)
    if native:
        raws = list(launch_native.run(launch_native.ensure_launcher(), sched))
    else:
        raws = launch.run_batch(sched)
    return [r[2] for r in raws]


def hyperfine_walls(exe: str, runs: int, tmp: Path) -> list[int]:
    out = tmp / "hyperfine.json"
    subprocess.run([shutil.which("hyperfine") or "hyperfine", "-N", "--runs", str(runs),
                    "--warmup", "5", "--style", "none", "--export-json", str(out), exe],
                   env=ENV, check=True, capture_output=True)
    return [round(t * 1e9) for t in json.loads(out.read_text())["results"][0]["times"]]


def perf_stat_mean(exe: str, runs: int) -> float:
    # perf stat -r prints only the mean elapsed time ("N.NNN +- ... seconds time elapsed"), and
    # only in its human output (-x omits it).
    cp = subprocess.run([shutil.which("perf") or "perf", "stat", "-r", str(runs), "-e",
                         "task-clock", exe], env=ENV, check=True, capture_output=True, text=True)
    m = re.search(r"([\d.]+) \+- [\d.]+ seconds time elapsed", cp.stderr)
    return float(m.group(1)) * 1e9 if m else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=300, help="launches per tool per round")
    args = ap.parse_args()
    cc = builder.find_cc()
    if not shutil.which("hyperfine") or not cc:
        print("needs hyperfine and a C compiler: apt-get install hyperfine gcc", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="loadbench-bench-") as d:
        tmp = Path(d)
        m = builder.build([builder.variant(t) for t in ("floor", "hello", "web")], tmp / "bin")
        bins = {b.name: b.path for b in m.built}
        src = tmp / "bare.c"
        src.write_text(BARE_LOOP_C)
        loop = str(tmp / "bare")
        subprocess.run([cc, "-O2", "-static", "-o", loop, str(src)], check=True)
        for exe in bins.values():  # written back and in one page-cache state, as loadbench runs
            pagecache.normalise(exe)
            bare_walls(loop, exe, 20)  # warm-up, not counted
        have_perf = shutil.which("perf") is not None
        res: dict[tuple[str, str], list[int]] = {}
        perf_means: dict[str, list[float]] = {}
        load0, j0 = host.facts().get("load_average"), host.cpu_jiffies()
        for rnd in range(args.rounds):
            for name, exe in bins.items():
                for tool, get in (
                        ("bare vfork loop", lambda e: bare_walls(loop, e, args.runs)),
                        ("loadbench-native", lambda e: loadbench_walls(e, args.runs, True)),
                        ("hyperfine -N", lambda e: hyperfine_walls(e, args.runs, tmp)),
                        ("loadbench-python", lambda e: loadbench_walls(e, args.runs, False))):
                    res.setdefault((name, tool), []).extend(get(exe))
                if have_perf:
                    perf_means.setdefault(name, []).append(perf_stat_mean(exe, args.runs))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
        steal = host.steal_pct(j0, host.cpu_jiffies())
        load1 = host.facts().get("load_average")
    print(f"environment for every tool and target: {' '.join(f'{k}={v}' for k, v in ENV.items())}")
    print(f"load average before {load0}, after {load1}; hypervisor steal while measuring "
          f"{'n/a' if steal is None else f'{steal:g}%'}")
    print(f"{'binary':8s} {'tool':20s} {'n':>6s} {'median us':>10s} {'x bare loop':>12s} "
          f"{'x hyperfine':>12s}")
    for name in bins:
        bare = statistics.median(res[(name, "bare vfork loop")])
        hf = statistics.median(res[(name, "hyperfine -N")])
        for tool in ("bare vfork loop", "loadbench-native", "loadbench-python", "hyperfine -N"):
            walls = res[(name, tool)]
            med = statistics.median(walls)
            print(f"{name:8s} {tool:20s} {len(walls):>6d} {med / 1e3:>10.1f} {med / bare:>12.3f} "
                  f"{med / hf:>12.3f}")
        if name in perf_means:
            pm = statistics.median(perf_means[name])
            print(f"{name:8s} {'perf stat -r (mean)':20s} {'':>6s} {pm / 1e3:>10.1f} "
                  f"{pm / bare:>12.3f} {pm / hf:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
