#!/usr/bin/env python3
"""How loadbench's own cost grows with the length of a run: recording and analysis at 10^4-10^6.

Runs `loadbench run` with the hidden `fake` probe (it launches nothing, so what is timed is
loadbench alone: scheduling, batching, saving as it goes) on two stub binaries for each size,
and prints the wall time and loadbench's own cost per launch, with the ratio to the smallest
size (linear cost keeps it near 1). The cost per launch leaves out the fixed cost of a run
(Python start-up, imports, calibration), measured by a run of 2 launches. Then, on the largest
record, the wall time and peak RSS of `stats`, `compare`, `report` (HTML and Markdown) and every
export. Each command runs in its own process, its peak RSS read from its own rusage (wait4), so
the figures do not include this script.

    python scripts/bench_scale.py [--sizes 10000,100000,1000000] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], timeout: float) -> tuple[float, int, int | None]:
    """Wall seconds, peak RSS in bytes and exit code (None: killed at the timeout)."""
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, dict(os.environ),
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    deadline = t0 + timeout
    while True:
        done, status, ru = os.wait4(pid, os.WNOHANG)
        if done:
            return time.monotonic() - t0, ru.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            _, status, ru = os.wait4(pid, 0)
            return time.monotonic() - t0, ru.ru_maxrss * 1024, None
        time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="total launches per run, comma-separated")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    lb = [sys.executable, "-m", "loadbench"]
    with tempfile.TemporaryDirectory(prefix="loadbench-scale-") as d:
        tmp = Path(d)
        stubs = []
        for name, size in (("a", 10_000), ("b", 400_000)):
            p = tmp / name
            p.write_bytes(b"\x7fELF" + b"\0" * size)
            p.chmod(0o755)
            stubs.append(str(p))
        def run(n: int, tag: str = "") -> tuple[Path, float, int, int | None]:
            out = tmp / f"run-{n}{tag}"
            wall, rss, rc = timed([*lb, "run", *stubs, "--probe", "fake", "--runs", str(n // 2),
                                   "--warmup", "0", "--seed", "1", "--out", str(out), "-q"],
                                  args.timeout)
            return out, wall, rss, rc

        fixed_runs = [run(2, f"-{i}") for i in range(3)]
        if any(rc != 0 for *_, rc in fixed_runs):
            print("the 2-launch run failed", file=sys.stderr)
            return 1
        fixed = min(wall for _, wall, _, _ in fixed_runs)
        print(f"fixed cost of a run (2 launches, best of 3): {fixed:.2f} s")
        print(f"{'launches':>10s} {'wall s':>8s} {'us/launch':>10s} {'x smallest':>10s} "
              f"{'peak RSS MiB':>12s}  record")
        base = None
        largest = None
        for n in sizes:
            out, wall, rss, rc = run(n)
            per = max(wall - fixed, 0.0) / n * 1e6
            base = base or per
            size = sum(f.stat().st_size for f in out.glob("*") if f.is_file()) if out.exists() \
                else 0
            state = "" if rc == 0 else (" (killed at the timeout)" if rc is None
                                        else f" (exit {rc})")
            print(f"{n:>10,d} {wall:>8.1f} {per:>10.1f} {per / base:>10.2f} "
                  f"{rss / 2**20:>12.0f}  {size / 2**20:.0f} MiB{state}", flush=True)
            if rc == 0:
                largest = out
        if largest is None:
            return 1
        print(f"\nanalysis of {largest.name}:")
        print(f"{'command':<34s} {'wall s':>8s} {'peak RSS MiB':>12s}")
        for label, extra in (
                ("stats", ["stats", str(largest)]),
                ("stats --json", ["stats", str(largest), "--json"]),
                ("compare", ["compare", str(largest)]),
                ("report (html)", ["report", str(largest), "-o", str(tmp / "r.html")]),
                ("report --format md", ["report", str(largest), "--format", "md", "-o",
                                        str(tmp / "r.md")]),
                ("export pyperf", ["export", str(largest), "--format", "pyperf", "-o",
                                   str(tmp / "p.json")]),
                ("export hyperfine", ["export", str(largest), "--format", "hyperfine", "-o",
                                      str(tmp / "h.json")]),
                ("export csv", ["export", str(largest), "--format", "csv", "-o",
                                str(tmp / "c.csv")])):
            wall, rss, rc = timed([*lb, *extra], args.timeout)
            state = "" if rc == 0 else (" (killed at the timeout)" if rc is None
                                        else f" (exit {rc})")
            print(f"{label:<34s} {wall:>8.1f} {rss / 2**20:>12.0f}{state}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
