#!/usr/bin/env python3
"""Should the Windows timing loop be a native launcher? Measure both under Wine and see.

Makes a Wine prefix (tests/wine/winehost.py), builds Go hello for windows/amd64 with loadbench's
builder, floor.exe and scripts/windows_launcher_proto.c with mingw-w64, then launches both
targets in alternating blocks by the windows-job probe's ctypes loop and by the native
prototype (which speaks launcher.c's LB1 protocol), all inside one Windows CPython process.
Prints each launcher's median per target, the ratio native / ctypes with its bootstrap 95% CI
and the Hodges-Lehmann shift in microseconds. On floor.exe the target's own cost is the same for
both, so the shift is the difference in per-launch overhead. Needs wine, wine64 and mingw-w64.

    python scripts/bench_windows_launcher.py [--rounds 6] [--block 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "wine"))

import winehost  # noqa: E402

from loadbench import builder, stats  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--block", type=int, default=30, help="launches per block")
    ap.add_argument("--ballast-mib", type=int, default=0,
                    help="also run the native launcher with this much memory committed and "
                         "touched first (is it the launching process's size?)")
    args = ap.parse_args()
    why = winehost.missing_tools()
    if why:
        print(f"bench_windows_launcher: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="loadbench-winlauncher-") as tmp:
        work = Path(tmp)
        here = winehost.HERE
        dll = winehost.compile_windows(here / "bcryptprimitives.c", work / "bcryptprimitives.dll",
                                       "-shared", str(here / "bcryptprimitives.def"), "-lbcrypt")
        floor = winehost.compile_windows(here / "floor.c", work / "floor.exe", "-nostdlib",
                                         "-e", "start", "-lkernel32")
        proto = winehost.compile_windows(ROOT / "scripts" / "windows_launcher_proto.c",
                                         work / "proto.exe", "-municode")
        m = builder.build([builder.variant("hello", goos="windows", goarch="amd64",
                                           name="hello")], work / "bin")
        wine = winehost.WinePrefix.create(winehost.windows_python(builder.cache_dir()), dll)
        try:
            load_before = Path("/proc/loadavg").read_text().split()[:3]
            r = wine.python("launchers", timeout=3600, rounds=args.rounds, block=args.block,
                            ballast_mib=args.ballast_mib,
                            native=winehost.windows_path(proto),
                            env={"PATH": "C:\\windows\\system32", "LANG": "C"},
                            targets=[["floor", winehost.windows_path(floor)],
                                     ["hello", winehost.windows_path(m.built[0].path)]])
            load_after = Path("/proc/loadavg").read_text().split()[:3]
        finally:
            wine.close()
    for which, sts in r["statuses"].items():
        bad = [s for s in sts if s != "ok"]
        if bad:
            print(f"{which}: {len(bad)} launches did not end ok: {sorted(set(bad))}")
    print(f"one ctypes call (QueryPerformanceCounter) from the probe's loop: "
          f"{r['ctypes_call_ns']} ns")
    print(f"/proc/loadavg before {' '.join(load_before)}, after {' '.join(load_after)}")
    print(f"{'target':<8} {'n':>5} {'ctypes median us':>17} {'other median us':>17} "
          f"{'other/ctypes (95% CI)':>26} {'HL shift us (95% CI)':>28}")
    for other in [k for k in r["walls"] if k != "ctypes"]:
        print(f"-- {other} against ctypes")
        for name in r["walls"]["ctypes"]:
            c, n = r["walls"]["ctypes"][name], r["walls"][other][name]
            cmp = stats.compare(n, c, name=other, baseline_name="ctypes")
            lo, hi = cmp.ratio_ci95
            hlo, hhi = cmp.hl_ci95
            print(f"{name:<8} {len(c):>5} {statistics.median(c) / 1e3:>17,.1f} "
                  f"{statistics.median(n) / 1e3:>17,.1f} {cmp.ratio:>9.3f} ({lo:.3f}-{hi:.3f}) "
                  f"{cmp.hl_shift / 1e3:>+10,.1f} ({hlo / 1e3:+,.1f} to {hhi / 1e3:+,.1f}) "
                  f"{cmp.verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
