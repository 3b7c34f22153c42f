"""Go GODEBUG=inittrace=1 parser on real output captured from the web target."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench.perf import ParseError
from loadbench.perf.inittrace import InitTrace, PackageInit, parse_inittrace, summarize

DATA = Path(__file__).resolve().parents[1] / "data" / "perf"


def test_web_inittrace() -> None:
    tr = parse_inittrace((DATA / "inittrace-web.txt").read_text())
    names = [p.package for p in tr.packages]
    assert len(names) == 82
    assert names[0] == "internal/bytealg"
    assert names[-1] == "net/http"
    assert len(set(names)) == len(names)
    godebug = tr.packages[names.index("internal/godebug")]
    assert godebug.alloc_bytes > 0 and godebug.allocs > 0
    starts = [p.start_ns for p in tr.packages]
    assert starts == sorted(starts)  # printed in the order the initialisers ran
    assert tr.clock_ns == sum(p.clock_ns for p in tr.packages) > 0
    assert tr.alloc_bytes > 10_000 and tr.allocs > 100


def test_exact_decimal_conversion_and_other_lines_ignored() -> None:
    text = (
        "some program output\n"
        "init internal/godebug @1.4 ms, 0.051 ms clock, 6832 bytes, 126 allocs\n"
        "init runtime @0 ms, 0.039 ms clock, 0 bytes, 0 allocs\n"
    )
    tr = parse_inittrace(text)
    assert tr.packages == (
        PackageInit("internal/godebug", 1_400_000, 51_000, 6832, 126),
        PackageInit("runtime", 0, 39_000, 0, 0),
    )


def test_malformed_init_line_raises() -> None:
    with pytest.raises(ParseError):
        parse_inittrace("init runtime @x ms, 0 ms clock, 0 bytes, 0 allocs\n")


def test_summarize_medians_in_init_order() -> None:
    a = InitTrace((PackageInit("a", 0, 10, 1, 1), PackageInit("b", 5, 20, 2, 2)))
    b = InitTrace((PackageInit("a", 0, 30, 1, 1), PackageInit("b", 7, 40, 2, 2)))
    c = InitTrace((PackageInit("a", 0, 20, 1, 1),))
    (sa, sb) = summarize([a, b, c])
    assert (sa.package, sa.launches, sa.clock_ns) == ("a", 3, 20)
    assert (sb.package, sb.launches, sb.clock_ns, sb.start_ns) == ("b", 2, 30, 6)
