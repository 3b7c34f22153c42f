"""The windows-job probe's pure parts, on any OS: ctypes layouts against the documented 64-bit
structures, Windows command-line quoting, the environment block, availability and scheduling.

Expected sizes and offsets follow the field lists of the Win32 docs (JOBOBJECT_BASIC_ACCOUNTING_
INFORMATION, IO_COUNTERS, JOBOBJECT_BASIC_LIMIT_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
STARTUPINFOW, PROCESS_INFORMATION, SECURITY_ATTRIBUTES, FILETIME) with x64 alignment: LARGE_INTEGER,
SIZE_T, ULONG_PTR, pointers and HANDLEs 8 bytes and 8-aligned, DWORD 4, WORD 2.
"""

from __future__ import annotations

import ctypes
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbench.model import LaunchStatus, Sample
from loadbench.probes import probe_class
from loadbench.probes import windows_job as wj
from loadbench.probes.base import ProbeUnavailable, Schedule, StopFlag, Target

x64 = pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="64-bit layouts only")

LAYOUTS = {
    wj.FILETIME: (8, {"dwLowDateTime": 0, "dwHighDateTime": 4}),
    wj.IO_COUNTERS: (48, {"ReadOperationCount": 0, "WriteOperationCount": 8,
                          "OtherOperationCount": 16, "ReadTransferCount": 24,
                          "WriteTransferCount": 32, "OtherTransferCount": 40}),
    wj.JOBOBJECT_BASIC_ACCOUNTING_INFORMATION: (48, {
        "TotalUserTime": 0, "TotalKernelTime": 8, "ThisPeriodTotalUserTime": 16,
        "ThisPeriodTotalKernelTime": 24, "TotalPageFaultCount": 32, "TotalProcesses": 36,
        "ActiveProcesses": 40, "TotalTerminatedProcesses": 44}),
    wj.JOBOBJECT_BASIC_LIMIT_INFORMATION: (64, {
        "PerProcessUserTimeLimit": 0, "PerJobUserTimeLimit": 8, "LimitFlags": 16,
        "MinimumWorkingSetSize": 24, "MaximumWorkingSetSize": 32, "ActiveProcessLimit": 40,
        "Affinity": 48, "PriorityClass": 56, "SchedulingClass": 60}),
    wj.JOBOBJECT_EXTENDED_LIMIT_INFORMATION: (144, {
        "BasicLimitInformation": 0, "IoInfo": 64, "ProcessMemoryLimit": 112,
        "JobMemoryLimit": 120, "PeakProcessMemoryUsed": 128, "PeakJobMemoryUsed": 136}),
    wj.STARTUPINFOW: (104, {
        "cb": 0, "lpReserved": 8, "lpDesktop": 16, "lpTitle": 24, "dwX": 32, "dwY": 36,
        "dwXSize": 40, "dwYSize": 44, "dwXCountChars": 48, "dwYCountChars": 52,
        "dwFillAttribute": 56, "dwFlags": 60, "wShowWindow": 64, "cbReserved2": 66,
        "lpReserved2": 72, "hStdInput": 80, "hStdOutput": 88, "hStdError": 96}),
    wj.PROCESS_INFORMATION: (24, {"hProcess": 0, "hThread": 8, "dwProcessId": 16,
                                  "dwThreadId": 20}),
    wj.SECURITY_ATTRIBUTES: (24, {"nLength": 0, "lpSecurityDescriptor": 8,
                                  "bInheritHandle": 16}),
}


@x64
@pytest.mark.parametrize("struct", list(LAYOUTS), ids=lambda s: s.__name__)
def test_structure_sizes_and_offsets_match_the_documented_x64_layout(struct: type) -> None:
    size, offsets = LAYOUTS[struct]
    assert ctypes.sizeof(struct) == size
    assert {name: getattr(struct, name).offset for name in offsets} == offsets
    assert [f[0] for f in struct._fields_] == list(offsets)  # no field missing or extra


@x64
def test_dword_fields_are_four_bytes_even_where_c_ulong_is_eight() -> None:
    acct = wj.JOBOBJECT_BASIC_ACCOUNTING_INFORMATION
    assert acct.TotalPageFaultCount.size == 4 and acct.TotalUserTime.size == 8
    assert wj.STARTUPINFOW.wShowWindow.size == 2


def test_filetime_value_joins_the_two_dwords() -> None:
    ft = wj.FILETIME(0x89ABCDEF, 0x01D6653C)
    assert ft.value == 0x01D6653C89ABCDEF


# --- command line -------------------------------------------------------------------------------

@pytest.mark.parametrize(("arg", "quoted"), [
    ("plain", "plain"),
    ("", '""'),
    ("a b c", '"a b c"'),
    ('ab"c', r'"ab\"c"'),
    ("\\", "\\"),  # no blank or quote: backslashes stay literal and unquoted
    (r"a\\\b", r"a\\\b"),
    ('a\\"b', r'"a\\\"b"'),  # 1 backslash + quote -> 3 backslashes + escaped quote
    ("C:\\Program Files\\", '"C:\\Program Files\\\\"'),  # trailing backslash doubled
    ("tab\there", '"tab\there"'),
])
def test_argument_quoting_follows_the_msvc_rules(arg: str, quoted: str) -> None:
    assert wj.quote_argument(arg) == quoted


def parse_command_line(line: str) -> list[str]:
    """Reference splitter with the documented CommandLineToArgvW / MSVC rules, for the round trip:
    argv[0] runs to the next quote (if it starts with one) or blank, without escapes; after it,
    2n backslashes + quote -> n backslashes and a quote toggles quoting, 2n+1 backslashes + quote
    -> n backslashes and a literal quote, other backslashes are literal, blanks split outside
    quotes."""
    i, n = 0, len(line)
    if line.startswith('"'):
        end = line.index('"', 1)
        args, i = [line[1:end]], end + 1
    else:
        end = i
        while end < n and line[end] not in " \t":
            end += 1
        args, i = [line[:end]], end
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        cur, quoted = [], False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and line[j] == '"':
                    cur.append("\\" * (count // 2))
                    if count % 2:
                        cur.append('"')
                        i = j + 1
                    else:
                        i = j
                else:
                    cur.append("\\" * count)
                    i = j
            elif line[i] == '"':
                quoted = not quoted
                i += 1
            else:
                cur.append(line[i])
                i += 1
        args.append("".join(cur))


def test_reference_parser_agrees_with_microsofts_documented_examples() -> None:
    assert parse_command_line(r'x "a b c" d e') == ["x", "a b c", "d", "e"]
    assert parse_command_line(r'x "ab\"c" "\\" d') == ["x", 'ab"c', "\\", "d"]
    assert parse_command_line(r'x a\\\b d"e f"g h') == ["x", r"a\\\b", "de fg", "h"]
    assert parse_command_line(r'x a\\\"b c d') == ["x", 'a\\"b', "c", "d"]
    assert parse_command_line(r'x a\\\\"b c" d e') == ["x", r"a\\b c", "d", "e"]


_ARGS = st.lists(st.text(alphabet=st.sampled_from(list(' \t\\"abc=\u00e9\u4e2d\n')), max_size=12),
                 max_size=6)


@settings(max_examples=300, deadline=None)
@given(_ARGS)
def test_command_line_round_trips_through_the_windows_rules(args: list[str]) -> None:
    program = "C:\\Program Files\\Go\\hello world.exe"
    line = wj.build_command_line(program, args)
    assert parse_command_line(line) == [program, *args]


def test_program_path_rules() -> None:
    assert wj.quote_program("C:\\bin\\go.exe") == "C:\\bin\\go.exe"
    assert wj.quote_program("C:\\Program Files\\go.exe") == '"C:\\Program Files\\go.exe"'
    with pytest.raises(ValueError, match="quote"):
        wj.quote_program('C:\\odd"name.exe')
    with pytest.raises(ValueError, match="NUL"):
        wj.quote_argument("a\x00b")
    with pytest.raises(ValueError, match="limit"):
        wj.build_command_line("x.exe", ["a" * 40_000])


# --- environment block --------------------------------------------------------------------------

def test_environment_block_is_sorted_case_insensitively_and_double_terminated() -> None:
    block = wj.build_environment_block({"b": "2", "SystemRoot": "C:\\Windows", "A": "1",
                                        "=C:": "C:\\x"})
    assert block == "=C:=C:\\x\x00A=1\x00b=2\x00SystemRoot=C:\\Windows\x00\x00"
    assert wj.build_environment_block({}) == "\x00\x00"


@pytest.mark.parametrize("env", [{"Path": "a", "PATH": "b"}, {"A=B": "x"}, {"": "x"},
                                 {"A": "x\x00y"}])
def test_environment_block_refuses_what_windows_cannot_hold(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        wj.build_environment_block(env)


# --- probe --------------------------------------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="checks the off-Windows answer")
def test_availability_off_windows_says_why_and_run_refuses() -> None:
    cls = probe_class("windows-job")
    assert cls is wj.WindowsJobProbe
    avail = cls.availability()
    assert not avail
    assert avail.reason == f"windows-job runs only on Windows (this is {sys.platform})"
    schedule = Schedule(targets=(Target("t", "C:\\t.exe"),), order=(0,), env={})
    with pytest.raises(ProbeUnavailable, match="only on Windows"):
        list(cls().run(schedule))
    info = cls().describe()
    assert (info.name, info.version) == ("windows-job", "2")


def test_launch_schedule_keeps_order_index_and_quoting(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(target: Target, **kw: object) -> Sample:
        calls.append((target.name, kw))
        return Sample(index=int(kw["index"]), status=LaunchStatus.OK, wall_ns=1)  # type: ignore[call-overload]

    monkeypatch.setattr(wj, "launch_in_job", fake)
    targets = (Target("a", "C:\\Program Files\\a.exe", ("x y",)), Target("b", "C:\\b.exe"))
    schedule = Schedule(targets=targets, order=(1, 0, 1), env={"SystemRoot": "C:\\Windows"},
                        timeout_s=3.0, first_index=10, show_output=True)
    samples = list(wj.launch_schedule(schedule))
    assert [s.index for s in samples] == [10, 11, 12]
    assert [c[0] for c in calls] == ["b", "a", "b"]
    assert calls[1][1]["command_line"] == '"C:\\Program Files\\a.exe" "x y"'
    assert calls[0][1]["env_block"] == "SystemRoot=C:\\Windows\x00\x00"
    assert calls[0][1]["timeout_s"] == 3.0 and calls[0][1]["show_output"] is True
    with pytest.raises(ProbeUnavailable, match="cold"):
        list(wj.launch_schedule(Schedule(targets=targets, order=(0,), env={}, cache="cold")))



def test_a_stop_request_ends_the_schedule_before_the_next_launch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stop = StopFlag()
    launched = []

    def fake(target: Target, **kw: object) -> Sample:
        launched.append(kw["index"])
        if len(launched) == 2:
            stop.request("SIGINT")  # arrives while the second launch is in flight
        return Sample(index=int(kw["index"]), status=LaunchStatus.OK, wall_ns=1)  # type: ignore[call-overload]

    monkeypatch.setattr(wj, "launch_in_job", fake)
    monkeypatch.setattr(wj.WindowsJobProbe, "availability",
                        classmethod(lambda cls: wj.Availability(True)))
    schedule = Schedule(targets=(Target("t", "C:\\t.exe"),), order=(0,) * 5, env={})
    samples = list(wj.WindowsJobProbe(stop=stop).run(schedule))
    assert [s.index for s in samples] == [0, 1] and launched == [0, 1]  # the in-flight one kept


def test_off_wine_the_probe_declares_nothing_untrusted() -> None:
    info = wj.WindowsJobProbe().describe()
    assert "wine" not in info.settings and "untrusted_fields" not in info.settings
    assert info.tool_version is None


def test_under_wine_the_probe_names_wine_and_the_fields_it_cannot_measure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from loadbench import host

    # The detection itself (Wine's ntdll exports) runs for real in tests/wine.
    monkeypatch.setattr(host, "wine", lambda: host.WineHost("8.0", "Linux", "6.1.0-28-amd64"))
    info = wj.WindowsJobProbe().describe()
    assert info.settings["wine"] == info.tool_version == "Wine 8.0 on Linux 6.1.0-28-amd64"
    assert set(info.settings["untrusted_fields"]) == {
        "user_ns", "sys_ns", "faults_minor", "faults_total_windows", "max_rss_bytes"}
    assert "wall_ns" not in info.settings["untrusted_fields"]


# --- the launch sequence against a fake kernel32 ----------------------------------------------

class FakeKernel32:
    """Plays kernel32 for ``launch_in_job``: fills the structures the real calls would fill and
    records what the launcher asked for. ctypes ``byref`` arguments expose their object as
    ``_obj``."""

    CREATE = 132404548233564008  # a real creation FILETIME (pid 3676 in the PerfView trace)

    def __init__(self, *, exit_code: int = 0, times_out: bool = False,
                 spawn_fails: bool = False) -> None:
        self.exit_code = exit_code
        self.times_out = times_out
        self.spawn_fails = spawn_fails
        self.clock = iter([1_000_000, 1_050_000, 1_060_000])
        self.closed: list[int] = []
        self.created: dict[str, object] = {}
        self.terminated: int | None = None
        self.nul_opened = False

    def CreateJobObjectW(self, sa: object, name: object) -> int:
        return 0x100

    def SetInformationJobObject(self, job: int, cls: int, ref: object, size: int) -> int:
        assert cls == 9 and size == ctypes.sizeof(wj.JOBOBJECT_EXTENDED_LIMIT_INFORMATION)
        assert ref._obj.BasicLimitInformation.LimitFlags == wj.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE  # type: ignore[attr-defined]
        return 1

    def CreateFileW(self, name: str, *args: object) -> int:
        assert name == "NUL"
        self.nul_opened = True
        return 0x200

    def CreateProcessW(self, app: str, cmd: object, psa: object, tsa: object, inherit: bool,
                       flags: int, env: object, cwd: object, si: object, pi: object) -> int:
        startup = si._obj  # type: ignore[attr-defined]
        self.created = {"app": app, "cmd": cmd.value, "inherit": inherit, "flags": flags,  # type: ignore[attr-defined]
                        "env": env[:len(env)], "cb": startup.cb,  # type: ignore[index,arg-type]
                        "std": (startup.dwFlags, startup.hStdOutput)}
        if self.spawn_fails:
            return 0
        info = pi._obj  # type: ignore[attr-defined]
        info.hProcess, info.hThread, info.dwProcessId, info.dwThreadId = 0x300, 0x400, 4242, 7
        return 1

    def AssignProcessToJobObject(self, job: int, process: int) -> int:
        return int(job == 0x100 and process == 0x300)

    def ResumeThread(self, thread: int) -> int:
        return 1

    def WaitForSingleObject(self, handle: int, ms: int) -> int:
        if self.times_out and ms != wj.INFINITE:
            return wj.WAIT_TIMEOUT
        return 0

    def TerminateJobObject(self, job: int, code: int) -> int:
        self.terminated = code
        return 1

    def GetExitCodeProcess(self, handle: int, ref: object) -> int:
        ref._obj.value = wj.TIMEOUT_EXIT_CODE if self.terminated else self.exit_code  # type: ignore[attr-defined]
        return 1

    def GetProcessTimes(self, handle: int, created: object, exited: object, kernel: object,
                        user: object) -> int:
        for ref, value in ((created, self.CREATE), (exited, self.CREATE + 54_687_528)):
            ref._obj.dwLowDateTime = value & 0xFFFFFFFF  # type: ignore[attr-defined]
            ref._obj.dwHighDateTime = value >> 32  # type: ignore[attr-defined]
        return 1

    def QueryInformationJobObject(self, job: int, cls: int, ref: object, size: int,
                                  returned: object) -> int:
        if cls == wj.JOBOBJECT_BASIC_ACCOUNTING:
            acct = ref._obj  # type: ignore[attr-defined]
            acct.TotalUserTime, acct.TotalKernelTime = 1_000_000, 500_000  # 100 ns units
            acct.TotalPageFaultCount, acct.TotalProcesses = 9_001, 1
        else:
            ref._obj.PeakProcessMemoryUsed = 10_784_768  # type: ignore[attr-defined]
        return 1

    def QueryPerformanceCounter(self, ref: object) -> int:
        ref._obj.value = next(self.clock)  # type: ignore[attr-defined]
        return 1

    def CloseHandle(self, handle: int) -> int:
        self.closed.append(handle)
        return 1


def _launch(monkeypatch: pytest.MonkeyPatch, fake: FakeKernel32, **kw: object) -> Sample:
    monkeypatch.setattr(wj, "_kernel32", lambda: wj._Kernel32(dll=fake, qpc_frequency=10_000_000))
    monkeypatch.setattr(wj, "_win_error", lambda what: OSError(2, f"{what} failed: not found"))
    args = {"env_block": wj.build_environment_block({"SystemRoot": "C:\\Windows"}),
            "timeout_s": 2.0, "show_output": False, "index": 5}
    args.update(kw)
    return wj.launch_in_job(Target("hello", "C:\\Go Apps\\hello.exe", ("-n", "a b")), **args)  # type: ignore[arg-type]


@x64
def test_launch_in_job_fills_the_sample_from_job_accounting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKernel32()
    s = _launch(monkeypatch, fake)
    assert fake.created["app"] == "C:\\Go Apps\\hello.exe"
    assert fake.created["cmd"] == '"C:\\Go Apps\\hello.exe" -n "a b"'
    assert fake.created["flags"] == wj.CREATE_SUSPENDED | wj.CREATE_UNICODE_ENVIRONMENT
    assert fake.created["inherit"] is True and fake.nul_opened
    assert fake.created["std"] == (wj.STARTF_USESTDHANDLES, 0x200)
    assert fake.created["env"] == "SystemRoot=C:\\Windows\x00\x00\x00"
    assert fake.created["cb"] == 104
    assert (s.index, s.status, s.exit_code, s.signal) == (5, LaunchStatus.OK, 0, None)
    assert s.wall_ns == 5_000_000  # QPC 1,000,000 -> 1,050,000 at 10 MHz
    assert (s.user_ns, s.sys_ns) == (100_000_000, 50_000_000)
    assert (s.faults_minor, s.faults_major, s.max_rss_bytes) == (9_001, 0, 10_784_768)
    assert s.extra == {"pid": 4242, "create_time_100ns": FakeKernel32.CREATE,
                       "exit_time_100ns": FakeKernel32.CREATE + 54_687_528,
                       "kernel_lifetime_ns": 5_468_752_800, "faults_total_windows": 9_001,
                       "job_total_processes": 1}
    assert sorted(fake.closed) == [0x100, 0x200, 0x300, 0x400]  # every handle closed


@x64
def test_launch_in_job_timeout_nonzero_exit_and_spawn_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    slow = FakeKernel32(times_out=True)
    s = _launch(monkeypatch, slow)
    assert s.status is LaunchStatus.TIMEOUT and slow.terminated == wj.TIMEOUT_EXIT_CODE
    failing = FakeKernel32(exit_code=0xC0000005)
    s = _launch(monkeypatch, failing, show_output=True)
    assert s.status is LaunchStatus.EXIT_NONZERO and s.exit_code == 0xC0000005
    assert not failing.nul_opened and failing.created["inherit"] is False
    assert failing.created["std"] == (0, None)
    broken = FakeKernel32(spawn_fails=True)
    s = _launch(monkeypatch, broken)
    assert s.status is LaunchStatus.SPAWN_FAILED
    assert s.extra == {"spawn_error": "[Errno 2] CreateProcessW failed: not found"}
    assert sorted(broken.closed) == [0x100, 0x200]
