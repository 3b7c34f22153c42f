"""dyld timings: DYLD_PRINT_STATISTICS (real dyld2 fixture) and dyld_usage -j (synthetic).

No public sample of ``dyld_usage -j`` exists: ``tests/data/macos/synthetic-dyld_usage.json`` is
hand-written in the shape dyld-1378 ``other-tools/dyld_usage.cpp`` prints (one
``{"command","pid","thread", "event":{...}}`` object per line, nanoseconds as strings, ``mode``
as a bare hex number), and every test on it says "synthetic" in its name. Inline inputs in the
seconds / details formats are built from the dyld-852.2 ``printTime`` format strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbench.parsers import ParseError
from loadbench.parsers.macos_dyld import (
    DyldStatus,
    app_launches,
    parse_dyld_statistics,
    parse_dyld_usage_json,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "macos"
DATA = Path(__file__).resolve().parents[1] / "data" / "macos"


def fixture(name: str) -> str:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is absent")
    return path.read_text()


# ---------------------------------------------------------------------------------------------
# DYLD_PRINT_STATISTICS


def test_dyld2_fixture_exact_values() -> None:
    s = parse_dyld_statistics(fixture("dyld2-print-statistics.txt"))
    assert s.status is DyldStatus.OK and s.supported
    assert s.total_pre_main is not None
    assert s.total_pre_main.ms == 95.07
    assert s.total_pre_main_us == 95_070
    assert s.total_pre_main.percent == 100.0
    assert s.total_pre_main.resolution_us == 10
    assert [(p.name, p.ms, p.percent) for p in s.phases] == [
        ("dylib loading time", 25.00, 26.3),
        ("rebase/binding time", 19.75, 20.7),
        ("ObjC setup time", 6.85, 7.2),
        ("initializer time", 43.45, 45.7),
    ]
    assert [(i.name, i.ms, i.percent) for i in s.slowest_initializers] == [
        ("libSystem.B.dylib", 8.43, 8.8),
        ("libBacktraceRecording.dylib", 9.00, 9.4),
        ("libMainThreadChecker.dylib", 22.05, 23.1),
    ]
    assert s.phase("ObjC setup time").time_us == 6_850
    # dyld truncates each figure separately: the phases add up to 10 us less than the total
    assert sum(p.time_us for p in s.phases) == 95_050
    assert not s.details_timings and not s.details_counts


def test_dyld2_fixture_inside_target_stderr() -> None:
    text = "hello from the target\n" + fixture("dyld2-print-statistics.txt") + "\nbye\n"
    assert parse_dyld_statistics(text).total_pre_main_us == 95_070


@pytest.mark.parametrize("text", ["", "\n", "hello, world\n", "panic: boom\ngoroutine 1\n"])
def test_dyld4_no_output_is_unsupported_not_zero(text: str) -> None:
    s = parse_dyld_statistics(text)
    assert s.status is DyldStatus.UNSUPPORTED and str(s.status) == "unsupported"
    assert not s.supported
    assert s.total_pre_main is None and s.total_pre_main_us is None
    assert "dyld4" in s.reason and "dyld_usage" in s.reason


_SECONDS_AND_DETAILS = """\
Total pre-main time: 1.3 seconds (100.0%)
         dylib loading time: 1.0 seconds (74.7%)
        rebase/binding time:  95.79 milliseconds (7.1%)
            ObjC setup time:  41.65 milliseconds (3.0%)
           initializer time: 202.46 milliseconds (15.0%)
           slowest intializers :
             libSystem.B.dylib :   7.37 milliseconds (0.5%)
                    My App Bin :  79.66 milliseconds (120.7%)

  total time: 2.4 seconds (100.0%)
  total images loaded:  656 (584 from dyld shared cache)
  total segments mapped: 221, into 63664 pages with 6173 pages pre-fetched
  total images loading time: 2.0 seconds (84.9%)
  total dtrace DOF registration time:   0.00 milliseconds (0.0%)
  total rebase fixups:  295,165
  total rebase fixups time:  69.41 milliseconds (2.8%)
  total binding fixups: 29,525
  total bindings lazily fixed up: 0 of 12
  total time in initializers and ObjC +load: 202.46 milliseconds (8.2%)
                         libSystem.B.dylib :   7.37 milliseconds (0.2%)
                                   Flutter :  79.66 milliseconds (3.2%)
total symbol trie searches:    1301730
"""


def test_dyld2_seconds_and_details_synthetic() -> None:
    s = parse_dyld_statistics(_SECONDS_AND_DETAILS)
    assert s.total_pre_main is not None
    assert (s.total_pre_main.time_us, s.total_pre_main.resolution_us) == (1_300_000, 100_000)
    assert [(p.name, p.time_us) for p in s.phases] == [
        ("dylib loading time", 1_000_000), ("rebase/binding time", 95_790),
        ("ObjC setup time", 41_650), ("initializer time", 202_460)]
    # names with spaces, percentages above 100 (dyld's own arithmetic allows it)
    assert [(i.name, i.percent) for i in s.slowest_initializers] == [
        ("libSystem.B.dylib", 0.5), ("My App Bin", 120.7)]
    assert s.phase("total time").time_us == 2_400_000
    assert s.phase("total rebase fixups time").ms == 69.41
    assert dict(s.details_counts) == {
        "images loaded": 656, "images loaded from dyld shared cache": 584,
        "segments mapped": 221, "pages mapped": 63664, "pages pre-fetched": 6173,
        "rebase fixups": 295_165, "binding fixups": 29_525, "bindings lazily fixed up": 0,
        "bindings lazily fixed up possible": 12, "symbol trie searches": 1_301_730}
    assert [(i.name, i.ms) for i in s.details_initializers] == [("libSystem.B.dylib", 7.37),
                                                                ("Flutter", 79.66)]


def test_old_dyld_one_decimal_synthetic() -> None:
    s = parse_dyld_statistics("Total pre-main time: 34.2 milliseconds (100.0%)\n"
                              "         dylib loading time: 14.4 milliseconds ( 42.1%)\n")
    assert s.total_pre_main_us == 34_200 and s.phases[0].percent == 42.1
    assert s.phases[0].resolution_us == 100


@pytest.mark.parametrize(("text", "match"), [
    ("Total pre-main time: fast\n", "line 1: malformed dyld total"),
    ("           slowest intializers :\n", "without a 'Total pre-main time'"),
    ("Total pre-main time: 1.00 milliseconds (100.0%)\n" * 2, "second 'Total pre-main time'"),
])
def test_dyld_statistics_errors(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_dyld_statistics(text)


# ---------------------------------------------------------------------------------------------
# dyld_usage -j (synthetic)


def test_dyld_usage_synthetic_file() -> None:
    records = parse_dyld_usage_json((DATA / "synthetic-dyld_usage.json").read_text())
    assert [(r.type, r.command, r.pid) for r in records] == [
        ("app_launch", "hello", 5001), ("app_launch", "hello-net", 5003),
        ("dlopen", "hello", 5001)]
    hello, net = app_launches(records)
    # map_image: 40 + 20 us at top level, + 20 us nested in static_init > dlopen (counted once)
    assert dict(hello.phases_ns) == {"map_image": 80_000, "apply_fixups": 120_000,
                                     "static_init": 90_000, "dlopen": 40_000}
    assert hello.total_ns == 320_000
    assert hello.counts == {"app_launch": 1, "map_image": 3, "apply_fixups": 1,
                            "static_init": 1, "dlopen": 1}
    assert hello.interrupted == 0 and hello.thread == "0x1a2b"
    assert [e.path for e in hello.event.walk() if e.type == "map_image"] == [
        "/usr/lib/libSystem.B.dylib", "/usr/lib/libobjc.A.dylib", "/usr/lib/libz.1.dylib"]
    # "mode":1f (bare hex, as dyld_usage prints it) is read; an interval without end is not 0
    assert net.event.attrs["mode"] == "0x1f"
    assert dict(net.phases_ns) == {"map_image": 30_000, "apply_fixups": 0, "static_init": 0}
    assert net.interrupted == 1
    (init,) = [e for e in net.event.walk() if e.type == "static_init"]
    assert init.end_ns is None and init.duration_ns is None
    assert records[2].total_ns == 50_000


def test_dyld_usage_synthetic_bare_event_shape() -> None:
    # The shape documented in fixtures/SOURCES.md, without the command/pid wrapper.
    text = json.dumps({"type": "app_launch", "children": [
        {"type": "map_image", "path": "/usr/lib/libSystem.B.dylib", "start_nano": "1000",
         "end_nano": "1600"},
        {"type": "apply_fixups", "start_nano": "1700", "end_nano": "2000"},
        {"type": "static_init", "start_nano": "2100", "end_nano": "2900"}],
        "start_nano": "900", "end_nano": "3000"})
    (r,) = parse_dyld_usage_json(text)
    assert r.pid is None and r.command is None
    assert dict(r.phases_ns) == {"map_image": 600, "apply_fixups": 300, "static_init": 800}
    assert r.total_ns == 2100


def test_dyld_usage_synthetic_array_and_pretty_printed() -> None:
    ev = {"type": "app_launch", "start_nano": "1", "end_nano": "11"}
    assert parse_dyld_usage_json(json.dumps([ev, ev]))[1].total_ns == 10
    assert len(parse_dyld_usage_json(json.dumps(ev, indent=2) + "\n" + json.dumps(ev))) == 2
    assert parse_dyld_usage_json("") == ()


@pytest.mark.parametrize(("text", "match"), [
    ('{"type":"app_launch","start_nano":"1","end_nano":"2"}\nnot json\n', "line 2"),
    ('{"type":"app_launch","end_nano":"2"}', "start_nano"),
    ('{"type":"app_launch","start_nano":"-1","end_nano":"2"}', "nanosecond"),
    ('{"type":"app_launch","start_nano":"1","end_nano":"2","children":{}}', "not a list"),
    ('{"start_nano":"1","end_nano":"2"}', "without a 'type'"),
    ('{"command":"x","pid":"abc","event":{"type":"a","start_nano":"1","end_nano":"2"}}', "pid"),
    ("[1, 2]", "expected a JSON object"),
    ("[" * 5000 + "]" * 5000, "line 1"),
])
def test_dyld_usage_synthetic_errors(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_dyld_usage_json(text)


# ---------------------------------------------------------------------------------------------
# fuzz

_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_DYLD_LINES = ((FIXTURES / "dyld2-print-statistics.txt").read_text().splitlines()
               if (FIXTURES / "dyld2-print-statistics.txt").is_file() else [])
_DYLD_LINES += _SECONDS_AND_DETAILS.splitlines()


@_FUZZ
@given(st.one_of(st.text(), st.lists(st.one_of(st.sampled_from(_DYLD_LINES),
                                               st.text(max_size=30)), max_size=20)
                 .map("\n".join)))
def test_fuzz_dyld_statistics_only_parse_error(text: str) -> None:
    try:
        s = parse_dyld_statistics(text)
    except ParseError as e:
        assert "\n" not in str(e)
        return
    assert s.status in DyldStatus
    assert (s.total_pre_main is None) or s.total_pre_main.time_us >= 0


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                       st.sampled_from(["app_launch", "map_image", "static_init", "0", "12"]))
_json = st.recursive(_json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.sampled_from(["type", "start_nano", "end_nano", "children", "path",
                                     "event", "pid", "command", "mode"]), kids, max_size=6)),
    max_leaves=20)


@_FUZZ
@given(st.one_of(st.text(), _json.map(json.dumps),
                 st.lists(_json.map(json.dumps), max_size=4).map("\n".join)))
def test_fuzz_dyld_usage_only_parse_error(text: str) -> None:
    try:
        records = parse_dyld_usage_json(text)
    except ParseError as e:
        assert "\n" not in str(e)
        return
    for r in records:
        assert all(v >= 0 for v in r.phases_ns.values())
