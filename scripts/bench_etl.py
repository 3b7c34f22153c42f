"""Benchmark loadbench's own ETL decoder: MB/s and events/s on the Windows fixtures.

Usage: python scripts/bench_etl.py [--repeat N] [TRACE.etl[.zip] ...]

Without paths it decodes the two fixtures under tests/data/windows (PerfView's
XPRESS-compressed trace and etl-parser's uncompressed ShutdownPerfDiagLogger trace). Each trace is
decoded ``--repeat`` times by ``loadbench.etl.summarize`` (the full pipeline: read, decompress,
decode, assemble); the best and median runs are printed. MB counts the ETL bytes (inside the zip
for a zipped trace); "expanded MB" counts buffer contents after decompression.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from loadbench.etl import summarize

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "windows"
DEFAULT = [FIXTURES / "perfview-net.4.5.2.x64.etl.zip",
           FIXTURES / "etl-parser-ShutdownPerfDiagLogger.etl"]


def bench(path: Path, repeat: int) -> str:
    times = []
    summary = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        summary = summarize(path)
        times.append(time.perf_counter() - t0)
    assert summary is not None
    s = summary.stats
    best, median = min(times), statistics.median(times)
    return (f"{path.name}\n"
            f"  {s.etl_bytes / 1e6:7.2f} MB ETL ({s.event_bytes / 1e6:.2f} MB expanded, "
            f"{s.compressed_buffers}/{s.buffers} buffers compressed), {s.events:,} events\n"
            f"  best   {best:6.2f} s  {s.etl_bytes / 1e6 / best:7.2f} MB/s  "
            f"{s.event_bytes / 1e6 / best:7.2f} expanded MB/s  {s.events / best:10,.0f} events/s\n"
            f"  median {median:6.2f} s  {s.etl_bytes / 1e6 / median:7.2f} MB/s  "
            f"{s.event_bytes / 1e6 / median:7.2f} expanded MB/s  "
            f"{s.events / median:10,.0f} events/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    paths = args.traces or DEFAULT
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"bench_etl: not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    print(f"python {sys.version.split()[0]}, {args.repeat} runs per trace")
    for path in paths:
        print(bench(path, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
