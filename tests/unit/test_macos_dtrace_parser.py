"""dtrace tokenizer and readers: the DTTk example fixtures (real dtrace output, CDDL, from
apple-oss-distributions/dtrace) and synthetic loadbench.d sessions.

``tests/data/macos/synthetic-loadbench-d-output.txt`` is hand-written in the format documented
in ``probes/macos/loadbench.d`` (no macOS machine here): tests on it say "synthetic".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbench.macos import ParseError
from loadbench.macos.dtrace import (
    FaultKind,
    LineKind,
    MessageKind,
    classify_message,
    parse_dtrace_lines,
    parse_dtrace_output,
    tokenize,
)

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "macos"
DATA = Path(__file__).resolve().parents[1] / "data" / "macos"


def fixture(name: str) -> str:
    path = FIXTURES / name
    return path.read_text()


def _fixture_lines() -> list[str]:
    lines: list[str] = []
    for name in ("dttk-newproc_example.txt", "dttk-execsnoop_example.txt",
                 "dttk-oneliners_examples.txt"):
        p = FIXTURES / name
        if p.is_file():
            lines.extend(p.read_text().splitlines())
    return lines


# ---------------------------------------------------------------------------------------------
# tokenizer


@pytest.mark.parametrize(("line", "kind", "fields"), [
    ("   ", LineKind.BLANK, ()),
    ("dtrace: description 'syscall:::entry ' matched 228 probes", LineKind.MESSAGE,
     ("description 'syscall:::entry ' matched 228 probes",)),
    ("CPU     ID                    FUNCTION:NAME", LineKind.PROBE_HEADER, ()),
    ("  0      1                           :BEGIN ", LineKind.PROBE, ("0", "1", "", "BEGIN", "")),
    ("  1   3303            sigtoproc:signal-send bash -15 16442", LineKind.PROBE,
     ("1", "3303", "sigtoproc", "signal-send", "bash -15 16442")),
    ("     1109  svc.startd                                  1", LineKind.AGG_ROW,
     ("1109", "svc.startd", "1")),
    ("           value  ------------- Distribution ------------- count", LineKind.HIST_HEADER, ()),
    ("              -1 |                                         0", LineKind.HIST_ROW,
     ("-1", "0")),
    ("             < 0 |@@                                       3", LineKind.HIST_ROW,
     ("< 0", "3")),
    ("LB exec 5001 4242 1000100000 hello", LineKind.RECORD,
     ("exec", "5001 4242 1000100000 hello")),
    ("  sleep 5", LineKind.TEXT, ()),  # one space before the number: not an aggregation row
    ("^C", LineKind.TEXT, ()),
    ("    100  3008  2656 ls", LineKind.TEXT, ()),
])
def test_tokenize_kinds(line: str, kind: LineKind, fields: tuple[str, ...]) -> None:
    (tok,) = list(tokenize(line))
    assert tok.kind is kind
    assert tok.fields == fields


def test_tokenize_numbers_lines_from_one() -> None:
    toks = list(tokenize("a\n\nb\r\n"))
    assert [(t.lineno, t.kind) for t in toks] == [(1, LineKind.TEXT), (2, LineKind.BLANK),
                                                  (3, LineKind.TEXT)]
    assert toks[2].text == "b"


@pytest.mark.parametrize(("body", "kind"), [
    ("system integrity protection is on, some features will not be available",
     MessageKind.SIP_WARNING),
    ("failed to initialize dtrace: DTrace requires additional privileges",
     MessageKind.PRIVILEGES),
    ("3 drops on CPU 1", MessageKind.DROPS),
    ("12 dynamic variable drops", MessageKind.DROPS),
    ("2 aggregation drops on CPU 0", MessageKind.DROPS),
    ("failed to compile script loadbench.d: line 40: probe description vminfo:::zfod does not "
     "match any probes", MessageKind.ERROR),
    ("error on enabled probe ID 5 (ID 123: proc:::exit): invalid address (0x0)",
     MessageKind.ERROR),
    ("description 'proc:::exec-success ' matched 1 probe", MessageKind.DESCRIPTION),
    ("script 'loadbench.d' matched 9 probes", MessageKind.OTHER),
])
def test_classify_message(body: str, kind: MessageKind) -> None:
    assert classify_message(body) is kind


def test_tokenize_rejects_bytes_with_parse_error() -> None:
    with pytest.raises(ParseError):
        list(tokenize(b"LB end 1"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# dtrace's default format: the DTTk fixtures


def test_newproc_fixture() -> None:
    out = parse_dtrace_output(fixture("dttk-newproc_example.txt"))
    assert [(d.spec, d.matched) for d in out.descriptions] == [("proc:::exec-success", 1)]
    assert len(out.firings) == 10
    assert {(f.cpu, f.probe_id, f.function, f.name) for f in out.firings} == {
        (0, 3297, "exec_common", "exec-success")}
    assert out.firings[0].data == "man ls"
    assert out.firings[0].lineno == 6
    assert out.firings[1].data == ("sh -c cd /usr/share/man; tbl /usr/share/man/man1/ls.1 "
                                   "|neqn /usr/share/lib/pub/")
    assert out.firings[4].data == "nroff -u0 -Tlp -man -"
    assert out.firings[-1].data == "more -s /tmp/mpzIaOZF"
    assert not out.aggregations and not out.histograms and not out.messages


def test_execsnoop_fixture_tables() -> None:
    out = parse_dtrace_output(fixture("dttk-execsnoop_example.txt"))
    assert not out.firings and not out.descriptions
    assert [(t.lineno, t.columns, len(t.rows)) for t in out.tables] == [
        (6, ("UID", "PID", "PPID", "ARGS"), 8),
        (23, ("UID", "PID", "PPID", "ARGS"), 9),
        (54, ("STRTIME", "UID", "PID", "PPID", "ARGS"), 8),
        (71, ("STRTIME", "UID", "PID", "PPID", "ARGS"), 4),
    ]
    first, man, verbose, vi = out.tables
    assert first.rows[0] == ("100", "3008", "2656", "ls")
    assert first.as_dicts()[2] == {"UID": "100", "PID": "3010", "PPID": "2656",
                                   "ARGS": "cat /etc/passwd"}
    assert first.rows[-1] == ("100", "3015", "2656", "finger")
    # the "man gzip" process tree
    parent = {int(r[1]): int(r[2]) for r in man.rows}
    assert parent[3065] == 3064 and parent[3066] == 3065 and parent[3072] == 3071
    assert man.rows[1][3] == ("sh -c cd /usr/share/man; tbl /usr/share/man/man1/gzip.1 "
                              "|nroff -u0 -Tlp -man -")
    assert man.rows[5][3] == ("sh -c trap '' 1 15; /usr/bin/mv -f /tmp/mpoMaa_f "
                              "/usr/share/man/cat1/gzip.1 2>")
    # a four-word STRTIME column left-aligned under its header
    assert verbose.rows[0] == ("2005 Jan 22 00:07:22", "0", "23053", "20933", "date")
    assert verbose.rows[4] == ("2005 Jan 22 00:07:29", "0", "23057", "20933", "ps -ef")
    assert [r[4] for r in vi.rows] == ["vi /etc/passwd", "vi /etc/shadow", "vi /etc/group",
                                       "vi /.rhosts"]


def test_oneliners_fixture_descriptions_and_firings() -> None:
    out = parse_dtrace_output(fixture("dttk-oneliners_examples.txt"))
    assert [(d.spec, d.matched) for d in out.descriptions] == [
        ("proc:::exec-success", 1), ("syscall::open*:entry", 2), ("syscall:::entry", 228),
        ("syscall:::entry", 228), ("syscall:::entry", 228), ("sysinfo:::readch", 4),
        ("sysinfo:::writech", 4), ("sysinfo:::readch", 4), ("sysinfo:::writech", 4),
        ("vminfo:::pgpgin", 1), ("vminfo:::as_fault", 1), ("sdt:::interrupt-start", 1),
        ("proc:::signal-send", 1), ("fbt:::entry", 18437)]
    assert len(out.firings) == 41
    by_name: dict[str, list[str]] = {}
    for f in out.firings:
        by_name.setdefault(f"{f.function}:{f.name}", []).append(f.data)
    assert {k: len(v) for k, v in by_name.items()} == {
        "exec_common:exec-success": 10, "open:entry": 17, "bdev_strategy:start": 12,
        "sigtoproc:signal-send": 2}
    assert by_name["open:entry"][0] == "gnome-netstatus- /dev/kstat"
    assert by_name["open:entry"][-1] == "nroff /var/ld/ld.config"
    io = [f for f in out.firings if f.name == "start"]
    assert {f.probe_id for f in io} == {3271}
    assert [int(f.data.split()[2]) for f in io] == [1024, 1024, 2048, 1024, 1024, 1024, 8192,
                                                    8192, 16384, 2048, 1024, 1024]
    assert by_name["sigtoproc:signal-send"] == ["bash -15 16442", "bash -9 16443"]


def test_oneliners_fixture_aggregations() -> None:
    aggs = parse_dtrace_output(fixture("dttk-oneliners_examples.txt")).aggregations
    assert [len(a.rows) for a in aggs] == [8, 15, 10, 9, 13, 4, 5, 4, 21]
    by_program, by_syscall, by_process, readch, writech, pgpgin, as_fault, intr, fbt = (
        a.as_dict() for a in aggs)
    assert by_program[("dtrace",)] == 1720 and by_program[("snmpd",)] == 1
    assert by_syscall[("ioctl",)] == 579 and by_syscall[("p_online",)] == 558
    assert by_process[("8707", "dtrace")] == 1720
    assert by_process[("6010", "poold")] == 74
    assert by_process[("7", "svc.startd")] == 2
    assert readch[("Xorg",)] == 17544
    assert writech[("gnome-terminal",)] == 51955 and writech[("ls",)] == 1947
    assert pgpgin == {("ttymon",): 1, ("bash",): 1, ("mozilla-bin",): 36, ("tar",): 6661}
    assert as_fault == {("mozilla-bin",): 18, ("dtrace",): 57, ("find",): 64, ("bash",): 150,
                        ("tar",): 501}
    assert intr == {("513",): 2, ("515",): 4, ("3",): 39, ("2",): 39}
    assert fbt[("genunix",)] == 10023 and fbt[("unix",)] == 6347
    assert sum(fbt.values()) == 18714


def test_oneliners_fixture_histograms() -> None:
    hists = parse_dtrace_output(fixture("dttk-oneliners_examples.txt")).histograms
    assert [(h.key, len(h.buckets), h.total) for h in hists] == [
        ("gnome-terminal", 4, 16), ("Xorg", 12, 51), ("Xorg", 5, 195),
        ("gnome-terminal", 14, 112)]
    assert hists[0].buckets == (("16", 0), ("32", 15), ("64", 1), ("128", 0))
    assert dict(hists[1].buckets)["-1"] == 0 and dict(hists[1].buckets)["0"] == 26
    assert dict(hists[2].buckets)["32"] == 169
    assert dict(hists[3].buckets)["4096"] == 7


# ---------------------------------------------------------------------------------------------
# loadbench.d records (synthetic)


def test_synthetic_loadbench_d_session() -> None:
    s = parse_dtrace_lines((DATA / "synthetic-loadbench-d-output.txt").read_text())
    assert (s.launcher_pid, s.begin_ns, s.end_ns) == (4242, 1_000_000_000, 1_004_000_000)
    assert [(x.pid, x.execname, x.exec_to_exit_ns, x.exit_reason) for x in s.launches] == [
        (5001, "hello", 800_000, 1), (5002, "hello", 700_000, 1),
        (5003, "hello-net", 500_000, 2)]  # 5003's exit line came first (another CPU's buffer)
    assert all(x.ppid == 4242 and x.execs == 1 for x in s.launches)
    assert s.faults_for(5001) == {"as_fault": 180, "zfod": 95, "cow_fault": 12,
                                  "maj_fault": 0, "pgin": 3}
    assert s.faults_for(5003)["maj_fault"] == 2
    assert s.faults_for(9999) == dict.fromkeys(map(str, FaultKind), 0)
    assert s.drops == ("3 drops on CPU 1",)
    assert [classify_message(m.fields[0]) for m in s.messages] == [MessageKind.SIP_WARNING,
                                                                   MessageKind.DROPS]
    assert not s.reused_pids


def test_synthetic_pid_reuse_and_reexec() -> None:
    s = parse_dtrace_lines("\n".join([
        "LB exec 7 1 100 a", "LB exit 7 150 1",
        "LB exec 7 1 300 b", "LB exec 7 1 320 b2", "LB exit 7 400 1",  # exec'ed again
        "LB exit 8 500 2",  # exited without an exec seen
        "LB exec 9 1 600 c",  # still running at END
    ]))
    lives = s.launches_for(7)
    assert [(x.exec_ns, x.exit_ns, x.execs, x.execname) for x in lives] == [
        (100, 150, 1, "a"), (300, 400, 2, "b2")]
    assert s.reused_pids == {7}
    (eight,) = s.launches_for(8)
    assert eight.exec_ns is None and eight.exec_to_exit_ns is None and eight.exit_reason == 2
    (nine,) = s.launches_for(9)
    assert nine.exit_ns is None and nine.exec_to_exit_ns is None


def test_synthetic_default_end_printout_counts_as_faults() -> None:
    # If dtrace printed the aggregation itself (no printa), the rows still carry the counts.
    s = parse_dtrace_lines("LB exec 5 1 10 x\nLB exit 5 20 1\n\n"
                           "     5  as_fault                                     41\n"
                           "     5  zfod                                         17\n")
    assert s.faults_for(5)["as_fault"] == 41 and s.faults_for(5)["zfod"] == 17


@pytest.mark.parametrize("text", [
    "LB exec 1 2 x hello",
    "LB exit 1 2",
    "LB fault 1 as_fault",
    "LB fault 1 bogus_fault 3",
    "LB begin",
    "LB frobnicate 1",
])
def test_malformed_records_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="line 2"):
        parse_dtrace_lines("LB begin 1 2\n" + text)


def test_parse_error_message_is_one_line() -> None:
    with pytest.raises(ParseError) as e:
        parse_dtrace_lines("LB exit 1\n\n2 3")
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------
# fuzz: arbitrary text never raises anything but ParseError

_LINES = _fixture_lines() + (DATA / "synthetic-loadbench-d-output.txt").read_text().splitlines()
_texts = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(_LINES), st.text(max_size=40),
                       st.builds(lambda a, b: a + b, st.sampled_from(_LINES), st.text(max_size=8))),
             max_size=25).map("\n".join),
)
_FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(_texts)
def test_fuzz_tokenize_and_default_format_never_fail(text: str) -> None:
    toks = list(tokenize(text))
    assert all(t.kind in LineKind for t in toks)
    out = parse_dtrace_output(text)
    assert all(isinstance(a.rows, tuple) for a in out.aggregations)


@_FUZZ
@given(_texts)
def test_fuzz_loadbench_records_only_parse_error(text: str) -> None:
    try:
        s = parse_dtrace_lines(text)
    except ParseError as e:
        assert "\n" not in str(e)
        return
    for x in s.launches:
        assert x.exec_to_exit_ns is None or x.exec_to_exit_ns >= 0
