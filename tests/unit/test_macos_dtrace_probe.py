"""macos-dtrace: the D script against its parser, error mapping, merging, and the session.

No dtrace here: the session machinery runs against a small Python stand-in that prints what
loadbench.d prints (BEGIN line, SIP warning on stderr, END records on SIGINT). All dtrace
outputs in this file are synthetic.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadbench import _proc
from loadbench.macos.dtrace import FaultKind, parse_dtrace_lines
from loadbench.model import LaunchStatus, Sample
from loadbench.probes import asset_path, probe_class
from loadbench.probes import macos_dtrace as md
from loadbench.probes.base import Availability, ProbeUnavailable, Schedule, Target
from loadbench.probes.macos_dtrace import (
    SCRIPT,
    DtraceRun,
    MacosDtraceProbe,
    dtrace_failure,
    merge_dtrace,
)
from loadbench.probes.macos_rusage import portable_kernel

DATA = Path(__file__).resolve().parents[1] / "data" / "macos"


# ---------------------------------------------------------------------------------------------
# probes/macos/loadbench.d


def _script() -> str:
    return asset_path(SCRIPT).read_text()


def test_script_options_and_filters() -> None:
    d = _script()
    assert "#pragma D option quiet" in d
    assert "//" not in d  # D has only /* */ comments without -C
    clauses = re.findall(r"((?:[a-z]+:[a-z_]*:[a-z_]*:[A-Za-z_-]+,?\s*)+)(/[^/]*/)?\s*\{", d)
    probes = {p.strip().rstrip(",") for c in clauses for p in c[0].split(",")}
    assert probes >= {"proc:::exec-success", "proc:::exit", "dtrace:::BEGIN", "dtrace:::END"}
    assert {p.split(":")[-1] for p in probes if p.startswith("vminfo")} == {
        str(k) for k in FaultKind}
    for spec, pred in clauses:
        if "dtrace:::" not in spec:  # every traced event: progeny of the launcher, not dtrace
            assert pred == "/progenyof($1) && pid != $1 && pid != $pid/", spec


def _render(fmt: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"%@?[ds]", lambda _: next(it), fmt).replace("\\n", "\n")


def test_script_printf_formats_parse() -> None:
    # Render the script's own format strings with values and read them back: the script and
    # parse_dtrace_lines must agree on every record.
    fmts = dict(re.findall(r'(?:printf|printa)\("LB (\w+) ([^"]*)"', _script()))
    assert set(fmts) == {"begin", "exec", "exit", "fault", "end"}
    lines = [
        "LB begin " + _render(fmts["begin"], ["4242", "1000"]),
        "LB exec " + _render(fmts["exec"], ["77", "4242", "1100", "go-hello"]),
        "LB exit " + _render(fmts["exit"], ["77", "1900", "1"]),
        "LB fault " + _render(fmts["fault"], ["77", "zfod", "95"]),
        "LB end " + _render(fmts["end"], ["2000"]),
    ]
    s = parse_dtrace_lines("".join(lines))
    assert (s.launcher_pid, s.begin_ns, s.end_ns) == (4242, 1000, 2000)
    (life,) = s.launches
    assert (life.pid, life.ppid, life.execname, life.exec_to_exit_ns, life.exit_reason) == (
        77, 4242, "go-hello", 800, 1)
    assert s.faults_for(77)["zfod"] == 95


# ---------------------------------------------------------------------------------------------
# the probe off macOS, and error mapping


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the non-macOS answer")
def test_probe_unavailable_off_macos() -> None:
    assert probe_class("macos-dtrace") is MacosDtraceProbe
    avail = MacosDtraceProbe.availability()
    assert not avail and "macOS" in avail.reason
    probe = MacosDtraceProbe()
    assert probe.tool_version() is None
    info = probe.describe()
    assert info.asset_digests[SCRIPT] != "missing" and len(info.asset_digests[SCRIPT]) == 64
    with pytest.raises(ProbeUnavailable, match="macOS"):
        list(probe.run(Schedule(targets=(Target("t", "/bin/true"),), order=(0,), env={})))


def test_failure_not_root() -> None:
    e = dtrace_failure("dtrace: failed to initialize dtrace: DTrace requires additional "
                       "privileges\n", 1)
    assert isinstance(e, ProbeUnavailable)
    assert "root" in str(e) and "sudo" in str(e) and "additional privileges" in str(e)


def test_failure_sip_warning_then_missing_probes() -> None:
    e = dtrace_failure("dtrace: system integrity protection is on, some features will not be "
                       "available\n\ndtrace: failed to compile script /x/loadbench.d: line 44: "
                       "probe description vminfo:::zfod does not match any probes\n", 1)
    assert isinstance(e, ProbeUnavailable)
    assert "vminfo:::zfod" in str(e) and "csrutil" in str(e)


def test_failure_other_errors_are_tool_errors() -> None:
    e = dtrace_failure("dtrace: failed to compile script x.d: line 3: syntax error near "
                       "\"}\"\n", 1)
    assert isinstance(e, _proc.ToolError) and "syntax error" in str(e)
    silent = dtrace_failure("", 2)
    assert isinstance(silent, _proc.ToolError) and "exited with 2" in str(silent)
    hung = dtrace_failure("something\n", None)
    assert isinstance(hung, _proc.ToolError) and "in time" in str(hung)
    assert "\n" not in str(hung)


# ---------------------------------------------------------------------------------------------
# merging dtrace records into Samples (synthetic)


def _sample(index: int, pid: int | None, start: int = 0, wall: int = 10**9) -> Sample:
    extra = {} if pid is None else {"pid": pid}
    return Sample(index=index, status=LaunchStatus.OK, wall_ns=wall, start_ns=start, extra=extra)


def test_merge_synthetic_session() -> None:
    text = (DATA / "synthetic-loadbench-d-output.txt").read_text()
    merged = merge_dtrace([_sample(0, 5001), _sample(1, 5002), _sample(2, 5003),
                           _sample(3, None), _sample(4, 6000)], text)
    first = merged[0].extra
    assert first["dtrace"] == "ok"
    assert first["kernel_exec_to_exit_ns"] == 800_000
    assert first["faults_by_kind"] == {"as_fault": 180, "zfod": 95, "cow_fault": 12,
                                       "maj_fault": 0, "pgin": 3}
    assert first["dtrace_drops"] == 1 and first["pid"] == 5001
    assert merged[1].extra["kernel_exec_to_exit_ns"] == 700_000
    assert merged[2].extra["faults_by_kind"]["maj_fault"] == 2
    assert merged[3].extra == {}  # never spawned: left alone
    assert merged[4].extra["dtrace"] == "no exec-success seen for this pid"
    assert [m.index for m in merged] == [0, 1, 2, 3, 4]


def test_merge_synthetic_pid_reuse_uses_timestamps() -> None:
    text = "LB exec 9 1 100 a\nLB exit 9 180 1\nLB exec 9 1 5000 b\nLB exit 9 5300 1\n" \
           "LB fault 9 as_fault 50\n"
    merged = merge_dtrace([_sample(0, 9, start=90, wall=200), _sample(1, 9, start=4900,
                                                                      wall=600)], text)
    assert [m.extra["kernel_exec_to_exit_ns"] for m in merged] == [80, 300]
    assert all("faults_by_kind" not in m.extra for m in merged)
    assert all("pid reused" in m.extra["dtrace"] for m in merged)
    unknown = merge_dtrace([_sample(0, 9, start=10**6, wall=10)], text)
    assert unknown[0].extra["dtrace"].startswith("pid reused")


def test_merge_unparsable_output_keeps_samples() -> None:
    merged = merge_dtrace([_sample(0, 1)], "LB exec nonsense\n")
    assert merged[0].extra["dtrace"].startswith("unparsed: line 1")
    assert merged[0].wall_ns == 10**9


# ---------------------------------------------------------------------------------------------
# the dtrace session, with a stand-in process

FAKE_DTRACE = textwrap.dedent("""\
    import signal, sys, time
    mode, launcher = sys.argv[1], sys.argv[2]
    if mode == "noroot":
        print("dtrace: failed to initialize dtrace: DTrace requires additional privileges",
              file=sys.stderr, flush=True)
        sys.exit(1)
    if mode == "hang":
        signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
        time.sleep(30)
    def end(*_):
        print("LB fault 1 as_fault 3")
        print("LB end 2000", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGINT, end)
    print("dtrace: system integrity protection is on, some features will not be available",
          file=sys.stderr, flush=True)
    print(f"LB begin {launcher} 1000", flush=True)
    while True:
        time.sleep(0.01)
""")


@pytest.fixture
def fake_dtrace(tmp_path: Path) -> Path:
    p = tmp_path / "fake_dtrace.py"
    p.write_text(FAKE_DTRACE)
    return p


def test_session_begin_stop_and_merged_stderr(fake_dtrace: Path) -> None:
    run = DtraceRun.start([sys.executable, str(fake_dtrace), "ok", str(os.getpid())], 20)
    text = run.stop()
    assert run.proc.returncode == 0
    lines = text.splitlines()
    assert lines[0].startswith("dtrace: system integrity protection is on")
    assert lines[1] == f"LB begin {os.getpid()} 1000"
    assert lines[-1] == "LB end 2000"
    assert parse_dtrace_lines(text).faults_for(1)["as_fault"] == 3


def test_session_not_root(fake_dtrace: Path) -> None:
    with pytest.raises(ProbeUnavailable, match="needs root"):
        DtraceRun.start([sys.executable, str(fake_dtrace), "noroot", "1"], 20)


def test_session_no_begin_line_in_time(fake_dtrace: Path) -> None:
    with pytest.raises(_proc.ToolError, match="no 'LB begin' line in time"):
        DtraceRun.start([sys.executable, str(fake_dtrace), "hang", "1"], 0.5)


class _FakeDtraceProbe(MacosDtraceProbe):
    fake: Path

    @classmethod
    def availability(cls) -> Availability:
        return Availability(True)

    def argv(self, script: Path) -> list[str]:
        return [sys.executable, str(self.fake), "ok", str(os.getpid())]


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="launcher needs os.waitid off macOS")
def test_probe_run_end_to_end_with_stand_in(fake_dtrace: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(md, "darwin_kernel", portable_kernel)
    _FakeDtraceProbe.fake = fake_dtrace
    probe = _FakeDtraceProbe()
    true = "/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"
    sched = Schedule(targets=(Target("t", true), Target("x", "/nonexistent")), order=(0, 1, 0),
                     env={"PATH": "/usr/bin:/bin"}, first_index=5)
    samples = list(probe.run(sched))
    assert [(s.index, s.status) for s in samples] == [
        (5, LaunchStatus.OK), (6, LaunchStatus.SPAWN_FAILED), (7, LaunchStatus.OK)]
    assert samples[0].extra["dtrace"] == "no exec-success seen for this pid"
    assert "dtrace" not in samples[1].extra
    assert probe.settings["dtrace_messages"] == [
        "system integrity protection is on, some features will not be available"]


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="launcher needs os.waitid off macOS")
def test_probe_run_interrupted_keeps_finished_launches(fake_dtrace: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def two_then_interrupt(*args: object) -> Iterator[Sample]:
        yield _sample(0, 1)
        yield _sample(1, 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(md, "darwin_kernel", portable_kernel)
    monkeypatch.setattr(md, "launch_schedule", two_then_interrupt)
    _FakeDtraceProbe.fake = fake_dtrace
    got: list[Sample] = []
    with pytest.raises(KeyboardInterrupt):
        for s in _FakeDtraceProbe().run(Schedule(targets=(), order=(), env={})):
            got.append(s)
    assert [s.index for s in got] == [0, 1]
