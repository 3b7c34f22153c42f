"""Go's ``GODEBUG=inittrace=1`` output: per-package init time and allocations.

The Go runtime prints one line per package initialiser on stderr::

    init internal/godebug @1.4 ms, 0.051 ms clock, 6832 bytes, 126 allocs

``@`` is the start since the runtime began, ``clock`` the wall time of the package's init, then
heap bytes and allocations it made. It is portable and needs no privileges, but it changes what
it measures (it writes to stderr), so these launches are separate from measured ones.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadbench.perf import ParseError

_LINE = re.compile(
    r"^init (?P<pkg>\S+) @(?P<at>[0-9.]+) ms, (?P<clock>[0-9.]+) ms clock, "
    r"(?P<bytes>\d+) bytes, (?P<allocs>\d+) allocs$"
)


@dataclass(frozen=True, slots=True)
class PackageInit:
    package: str
    start_ns: int  # since the runtime started
    clock_ns: int
    alloc_bytes: int
    allocs: int


@dataclass(frozen=True, slots=True)
class InitTrace:
    """One launch's package initialisers, in the order they ran."""

    packages: tuple[PackageInit, ...]

    @property
    def clock_ns(self) -> int:
        return sum(p.clock_ns for p in self.packages)

    @property
    def alloc_bytes(self) -> int:
        return sum(p.alloc_bytes for p in self.packages)

    @property
    def allocs(self) -> int:
        return sum(p.allocs for p in self.packages)


@dataclass(frozen=True, slots=True)
class PackageSummary:
    """Medians over launches for one package."""

    package: str
    launches: int
    start_ns: int
    clock_ns: int
    alloc_bytes: int
    allocs: int


def _ms_to_ns(text: str) -> int:
    # decimal text, so 0.039 ms is exactly 39000 ns (no float rounding)
    whole, _, frac = text.partition(".")
    frac = (frac + "000000")[:6]
    return int(whole or "0") * 1_000_000 + int(frac)


def parse_inittrace(text: str) -> InitTrace:
    """Parse the ``init ...`` lines of one launch's stderr; other lines (the program's own
    output) are ignored; a malformed ``init`` line raises ParseError."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line.startswith("init "):
            continue
        m = _LINE.match(line)
        if not m:
            raise ParseError(f"inittrace line {n}: unexpected format: {line[:160]!r}")
        out.append(
            PackageInit(
                package=m["pkg"],
                start_ns=_ms_to_ns(m["at"]),
                clock_ns=_ms_to_ns(m["clock"]),
                alloc_bytes=int(m["bytes"]),
                allocs=int(m["allocs"]),
            )
        )
    return InitTrace(tuple(out))


def summarize(traces: Sequence[InitTrace]) -> tuple[PackageSummary, ...]:
    """Per-package medians over launches, in first-seen init order."""
    per: dict[str, list[PackageInit]] = {}
    for tr in traces:
        for p in tr.packages:
            per.setdefault(p.package, []).append(p)
    return tuple(
        PackageSummary(
            package=name,
            launches=len(ps),
            start_ns=int(statistics.median(p.start_ns for p in ps)),
            clock_ns=int(statistics.median(p.clock_ns for p in ps)),
            alloc_bytes=int(statistics.median(p.alloc_bytes for p in ps)),
            allocs=int(statistics.median(p.allocs for p in ps)),
        )
        for name, ps in per.items()
    )


def collect(
    binary: str,
    runs: int,
    env: Mapping[str, str],
    args: Sequence[str] = (),
    timeout_s: float = 10.0,
) -> tuple[InitTrace, ...]:
    """Launch ``binary`` ``runs`` times with GODEBUG=inittrace=1 and parse each stderr.

    These launches are not measured (their stderr is captured), so they go through _proc.
    """
    from loadbench import _proc

    godebug = env.get("GODEBUG", "")
    full = {**env, "GODEBUG": f"{godebug},inittrace=1" if godebug else "inittrace=1"}
    out = []
    for _ in range(runs):
        done = _proc.run(
            [os.path.realpath(binary), *args], env=full, timeout=timeout_s, check=False
        )
        out.append(parse_inittrace(done.stderr))
    return tuple(out)
