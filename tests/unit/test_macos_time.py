"""macOS /usr/bin/time -l: the real fixture, variants built from shell_cmds time.c's format
strings (synthetic), conversion to a Sample, and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbench.model import LaunchStatus, Sample
from loadbench.parsers import ParseError
from loadbench.parsers.macos_time import TimeL, parse_time_l, parse_time_l_runs, to_sample

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "macos"


def fixture(name: str) -> str:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is absent")
    return path.read_text()


def test_fixture_exact_values() -> None:
    t = parse_time_l(fixture("usr-bin-time-l.txt"))
    assert (t.real_ns, t.user_ns, t.sys_ns) == (24_360_000_000, 22_790_000_000, 830_000_000)
    assert t.max_rss_bytes == 1_589_248  # bytes on macOS, as printed
    assert t.page_reclaims == 214
    assert t.page_faults == 1
    assert (t.avg_shared_memory_size, t.avg_unshared_data_size, t.avg_unshared_stack_size) == (
        0, 0, 0)
    assert (t.swaps, t.block_input_ops, t.block_output_ops) == (0, 0, 0)
    assert (t.messages_sent, t.messages_received, t.signals_received) == (0, 0, 0)
    assert t.voluntary_context_switches == 17
    assert t.involuntary_context_switches == 12_323
    assert t.instructions_retired == 242_953_331_230
    assert t.cycles_elapsed == 74_930_184_152
    assert t.peak_memory_footprint_bytes == 1_410_048
    assert not t.abnormal and not t.portable and not t.other and t.has_rusage


def test_fixture_to_sample() -> None:
    s = to_sample(parse_time_l(fixture("usr-bin-time-l.txt")), 7)
    assert isinstance(s, Sample)
    assert (s.index, s.status, s.exit_code) == (7, LaunchStatus.OK, 0)
    assert (s.wall_ns, s.user_ns, s.sys_ns) == (24_360_000_000, 22_790_000_000, 830_000_000)
    assert (s.faults_minor, s.faults_major, s.faults) == (214, 1, 215)
    assert s.max_rss_bytes == 1_589_248  # not multiplied by 1024
    assert s.extra["instructions"] == 242_953_331_230
    assert s.extra["cycles"] == 74_930_184_152
    assert s.extra["peak_footprint_bytes"] == 1_410_048
    assert s.extra["time_resolution_ns"] == 10_000_000
    assert s.extra["source"] == "usr-bin-time-l"
    assert Sample.from_json(s.to_json()) == s


def test_fixture_with_command_output_around() -> None:
    text = "building...\n  12  things done\n" + fixture("usr-bin-time-l.txt")
    assert parse_time_l(text).page_reclaims == 214


def test_exit_codes_and_abnormal_synthetic() -> None:
    base = ("        0.00 real         0.00 user         0.00 sys\n"
            "             1007616  maximum resident set size\n"
            "                 146  page reclaims\n"
            "                   0  page faults\n")
    t = parse_time_l(base)
    assert to_sample(t, 0, exit_code=3).status is LaunchStatus.EXIT_NONZERO
    killed = parse_time_l("Command terminated abnormally.\n" + base)
    assert killed.abnormal and killed.instructions_retired is None
    s = to_sample(killed, 1)
    assert s.status is LaunchStatus.SIGNALED and s.exit_code is None
    assert "instructions" not in s.extra


def test_portable_and_many_runs_synthetic() -> None:
    text = ("real         0.12\nuser         0.05\nsys          0.01\n"
            "             2002944  maximum resident set size\n"
            "                 400  page reclaims\n"
            "                   2  page faults\n"
            "                   5  quantum leaps\n"
            "        1.50 real         1.00 user         0.25 sys\n")
    runs = parse_time_l_runs(text)
    assert len(runs) == 2
    first, second = runs
    assert first.portable and first.real_ns == 120_000_000 and first.page_faults == 2
    assert dict(first.other) == {"quantum leaps": 5}
    assert second.real_ns == 1_500_000_000 and not second.has_rusage
    with pytest.raises(ParseError, match="2 /usr/bin/time reports"):
        parse_time_l(text)
    with pytest.raises(ParseError, match="no -l lines"):
        to_sample(second, 0)


def test_portable_locale_radix_synthetic() -> None:
    t = parse_time_l("real 0,50\nuser 0,25\nsys 0,05\n")
    assert (t.real_ns, t.user_ns, t.sys_ns) == (500_000_000, 250_000_000, 50_000_000)


@pytest.mark.parametrize(("text", "match"), [
    ("", "no '<s> real"),
    ("  1589248  maximum resident set size\n", "no '<s> real"),
    ("user 0.10\n", "without the 'real' line"),
    ("real 0.10\nuser 0.05\n", "cut short"),
    ("        0.00 real         0.00 user         0.00 sys\n  1  page faults\n  2  page faults\n",
     "twice"),
])
def test_errors(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_time_l(text)


_LINES = ((FIXTURES / "usr-bin-time-l.txt").read_text().splitlines()
          if (FIXTURES / "usr-bin-time-l.txt").is_file() else [])
_LINES += ["Command terminated abnormally.", "real 0.10", "user 0.05", "sys 0.00"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.lists(st.one_of(st.sampled_from(_LINES), st.text(max_size=30)),
                                     max_size=25).map("\n".join)))
def test_fuzz_only_parse_error(text: str) -> None:
    for parse in (parse_time_l_runs, parse_time_l):
        try:
            result = parse(text)
        except ParseError as e:
            assert "\n" not in str(e)
            continue
        runs = result if isinstance(result, tuple) else (result,)
        for t in runs:
            assert isinstance(t, TimeL) and t.real_ns >= 0
            try:
                s = to_sample(t, 0)
            except ParseError:
                assert not t.has_rusage
            else:
                assert s.wall_ns == t.real_ns
