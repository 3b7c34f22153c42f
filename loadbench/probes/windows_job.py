"""The ``windows-job`` probe: each launch runs alone in a fresh Job object; no admin rights needed.

Per launch: CreateProcessW (no shell; the command line is quoted by the MSVC/CommandLineToArgvW
rules; ``lpApplicationName`` is the exact binary, so nothing is searched) with CREATE_SUSPENDED and
a Unicode environment block built from the schedule, AssignProcessToJobObject, ResumeThread, wait
(TerminateJobObject after the schedule's timeout). The job's accounting survives the process's
exit, which is why this probe uses a job rather than psutil on a process that may already be gone:
JOBOBJECT_BASIC_ACCOUNTING_INFORMATION gives user/kernel time and TotalPageFaultCount (Windows does
not split minor from major faults there: all go to ``faults_minor``), JOBOBJECT_EXTENDED_LIMIT_
INFORMATION.PeakProcessMemoryUsed gives the peak *commit* (private bytes), stored as
``max_rss_bytes`` for want of a Windows RSS peak, and GetProcessTimes gives the kernel's creation
and exit FILETIMEs. Everything is ctypes with explicitly sized types (on Linux ``c_ulong`` is 8
bytes, Windows' ULONG/DWORD 4), so the 64-bit structure layouts are checked on any OS; Windows
APIs are only touched inside functions, so the module imports everywhere.

Under Wine (``host.wine()``) the launches are real, and so are exit codes, spawn errors, the job's
lifecycle and the creation/exit times, but Wine 8.0 does not implement job CPU times,
TotalPageFaultCount or peak memory (all 0). The probe then names those fields in
``settings["untrusted_fields"]`` with the reason, and ``settings["wine"]`` says which Wine: the
wall times are Wine's cost of a launch on Linux, not Windows'. GetProcessTimes' kernel/user
times are no fallback: Wine returns the *caller's* there, which looks plausible and is wrong.
The probe checks the stop flag between launches, so an interruption never kills a launch.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator, Mapping
from ctypes import c_int32, c_int64, c_uint16, c_uint32, c_uint64, c_void_p, c_wchar_p
from dataclasses import dataclass
from typing import Any

from loadbench.model import LaunchStatus, Sample
from loadbench.probes.base import (
    Availability,
    Probe,
    ProbeUnavailable,
    Schedule,
    StopFlag,
    Target,
)

c_size_t = ctypes.c_size_t  # SIZE_T / ULONG_PTR: pointer-sized on both Windows and Linux

# Command lines are limited to 32,767 UTF-16 units including the terminator (CreateProcessW docs).
MAX_COMMAND_LINE = 32_766

CREATE_SUSPENDED = 0x00000004
CREATE_UNICODE_ENVIRONMENT = 0x00000400
STARTF_USESTDHANDLES = 0x00000100
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOBOBJECT_BASIC_ACCOUNTING = 1  # JOBOBJECTINFOCLASS values
JOBOBJECT_EXTENDED_LIMIT = 9
WAIT_TIMEOUT = 0x00000102
WAIT_FAILED = 0xFFFFFFFF
INFINITE = 0xFFFFFFFF
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
FILE_SHARE_READ = 0x1
FILE_SHARE_WRITE = 0x2
OPEN_EXISTING = 3
TIMEOUT_EXIT_CODE = 1  # what TerminateJobObject gives a target killed after the timeout

# Sample fields Wine does not measure (checked on Wine 8.0: always 0), with the reason. Under Wine
# the probe stores them as ``settings["untrusted_fields"]``; reports show them as not measured.
_NO_JOB_TIMES = "Wine does not implement a job's CPU times (always 0)"
_NO_FAULTS = "Wine does not implement TotalPageFaultCount (always 0)"
WINE_UNTRUSTED_FIELDS: dict[str, str] = {
    "user_ns": _NO_JOB_TIMES,
    "sys_ns": _NO_JOB_TIMES,
    "faults_minor": _NO_FAULTS,
    "faults_total_windows": _NO_FAULTS,
    "max_rss_bytes": "Wine does not implement PeakProcessMemoryUsed (always 0)",
}


class FILETIME(ctypes.Structure):
    _fields_ = [("dwLowDateTime", c_uint32), ("dwHighDateTime", c_uint32)]

    @property
    def value(self) -> int:
        return (self.dwHighDateTime << 32) | self.dwLowDateTime


class IO_COUNTERS(ctypes.Structure):
    _fields_ = [("ReadOperationCount", c_uint64), ("WriteOperationCount", c_uint64),
                ("OtherOperationCount", c_uint64), ("ReadTransferCount", c_uint64),
                ("WriteTransferCount", c_uint64), ("OtherTransferCount", c_uint64)]


class JOBOBJECT_BASIC_ACCOUNTING_INFORMATION(ctypes.Structure):
    # LARGE_INTEGER times are in 100 ns units.
    _fields_ = [("TotalUserTime", c_int64), ("TotalKernelTime", c_int64),
                ("ThisPeriodTotalUserTime", c_int64), ("ThisPeriodTotalKernelTime", c_int64),
                ("TotalPageFaultCount", c_uint32), ("TotalProcesses", c_uint32),
                ("ActiveProcesses", c_uint32), ("TotalTerminatedProcesses", c_uint32)]


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [("PerProcessUserTimeLimit", c_int64), ("PerJobUserTimeLimit", c_int64),
                ("LimitFlags", c_uint32), ("MinimumWorkingSetSize", c_size_t),
                ("MaximumWorkingSetSize", c_size_t), ("ActiveProcessLimit", c_uint32),
                ("Affinity", c_size_t), ("PriorityClass", c_uint32),
                ("SchedulingClass", c_uint32)]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
                ("IoInfo", IO_COUNTERS), ("ProcessMemoryLimit", c_size_t),
                ("JobMemoryLimit", c_size_t), ("PeakProcessMemoryUsed", c_size_t),
                ("PeakJobMemoryUsed", c_size_t)]


class STARTUPINFOW(ctypes.Structure):
    _fields_ = [("cb", c_uint32), ("lpReserved", c_void_p), ("lpDesktop", c_void_p),
                ("lpTitle", c_void_p), ("dwX", c_uint32), ("dwY", c_uint32),
                ("dwXSize", c_uint32), ("dwYSize", c_uint32), ("dwXCountChars", c_uint32),
                ("dwYCountChars", c_uint32), ("dwFillAttribute", c_uint32),
                ("dwFlags", c_uint32), ("wShowWindow", c_uint16), ("cbReserved2", c_uint16),
                ("lpReserved2", c_void_p), ("hStdInput", c_void_p), ("hStdOutput", c_void_p),
                ("hStdError", c_void_p)]


class PROCESS_INFORMATION(ctypes.Structure):
    _fields_ = [("hProcess", c_void_p), ("hThread", c_void_p), ("dwProcessId", c_uint32),
                ("dwThreadId", c_uint32)]


class SECURITY_ATTRIBUTES(ctypes.Structure):
    _fields_ = [("nLength", c_uint32), ("lpSecurityDescriptor", c_void_p),
                ("bInheritHandle", c_int32)]


# --- command line and environment (pure; tested on every OS) ---------------------------------

def quote_argument(arg: str) -> str:
    """Quote one argument so that CommandLineToArgvW and the MSVC runtime give it back unchanged.

    Backslashes are literal except before a double quote: a run of n backslashes followed by a
    quote becomes 2n+1 backslashes and the quote; a run at the end of a quoted argument is doubled
    so it does not escape the closing quote.
    """
    if "\x00" in arg:
        raise ValueError("an argument cannot contain a NUL character on Windows")
    if arg and not any(c in arg for c in ' \t\n\v"'):
        return arg
    out = ['"']
    backslashes = 0
    for ch in arg:
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + ch)
        backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def quote_program(path: str) -> str:
    """Quote argv[0]. It is split without backslash processing (up to the next quote when it
    starts with one, else up to the first blank), so it may not contain a quote at all."""
    if '"' in path or "\x00" in path:
        raise ValueError(f"program path {path!r} contains a quote or NUL; Windows cannot pass it")
    if not path or any(c in path for c in " \t"):
        return f'"{path}"'
    return path


def build_command_line(program: str, args: tuple[str, ...] | list[str]) -> str:
    line = " ".join([quote_program(program), *(quote_argument(a) for a in args)])
    if len(line) > MAX_COMMAND_LINE:
        raise ValueError(f"command line of {len(line)} characters exceeds Windows' limit of "
                         f"{MAX_COMMAND_LINE}")
    return line


def build_environment_block(env: Mapping[str, str]) -> str:
    """A CREATE_UNICODE_ENVIRONMENT block: ``NAME=value\\0`` entries sorted by name without regard
    to case (as CreateProcess documents), then a final NUL. Windows names are case-insensitive,
    so two names differing only in case are refused rather than silently merged."""
    seen: dict[str, str] = {}
    for name, value in env.items():
        # A leading "=" is legal: cmd.exe keeps per-drive directories as "=C:=C:\\dir".
        if not name or "=" in name[1:] or "\x00" in name or "\x00" in str(value):
            raise ValueError(f"environment variable name {name!r} (or its value) cannot be "
                             f"passed on Windows")
        key = name.upper()
        if key in seen:
            raise ValueError(f"environment names {seen[key]!r} and {name!r} differ only in case; "
                             f"Windows treats them as one variable")
        seen[key] = name
    items = sorted(env.items(), key=lambda kv: kv[0].upper())
    if not items:
        return "\x00\x00"
    return "".join(f"{k}={v}\x00" for k, v in items) + "\x00"


# --- the launch itself (Windows only) ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Kernel32:
    """kernel32 entry points with explicit argument and result types: the ctypes default (int
    results) would truncate 64-bit handles."""

    dll: Any
    qpc_frequency: int


_KERNEL32: _Kernel32 | None = None


def _kernel32() -> _Kernel32:
    global _KERNEL32
    if _KERNEL32 is not None:
        return _KERNEL32
    if sys.platform != "win32":
        raise ProbeUnavailable(f"windows-job runs only on Windows (this is {sys.platform})")
    dll = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle, bool_, dword, ptr = c_void_p, c_int32, c_uint32, c_void_p
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "CreateJobObjectW": (handle, [ptr, c_wchar_p]),
        "SetInformationJobObject": (bool_, [handle, c_int32, ptr, dword]),
        "QueryInformationJobObject": (bool_, [handle, c_int32, ptr, dword, ptr]),
        "AssignProcessToJobObject": (bool_, [handle, handle]),
        "TerminateJobObject": (bool_, [handle, c_uint32]),
        "TerminateProcess": (bool_, [handle, c_uint32]),
        "CreateProcessW": (bool_, [c_wchar_p, ptr, ptr, ptr, bool_, dword, ptr, c_wchar_p, ptr,
                                   ptr]),
        "ResumeThread": (dword, [handle]),
        "WaitForSingleObject": (dword, [handle, dword]),
        "GetExitCodeProcess": (bool_, [handle, ptr]),
        "GetProcessTimes": (bool_, [handle, ptr, ptr, ptr, ptr]),
        "CloseHandle": (bool_, [handle]),
        "CreateFileW": (handle, [c_wchar_p, dword, dword, ptr, dword, dword, handle]),
        "QueryPerformanceCounter": (bool_, [ptr]),
        "QueryPerformanceFrequency": (bool_, [ptr]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(dll, name)
        fn.restype = restype
        fn.argtypes = argtypes
    freq = c_int64()
    dll.QueryPerformanceFrequency(ctypes.byref(freq))
    _KERNEL32 = _Kernel32(dll=dll, qpc_frequency=freq.value)
    return _KERNEL32


def _qpc(k: _Kernel32) -> int:
    now = c_int64()
    k.dll.QueryPerformanceCounter(ctypes.byref(now))
    return now.value


def _win_error(what: str) -> OSError:
    code = ctypes.get_last_error()  # type: ignore[attr-defined]
    return OSError(code, f"{what} failed: {ctypes.FormatError(code).strip()}")  # type: ignore[attr-defined]


def launch_in_job(target: Target, *, env_block: str, timeout_s: float, show_output: bool,
                  index: int, command_line: str | None = None) -> Sample:
    """Launch ``target`` once in a new Job object and return its Sample (Windows only).

    ``wall_ns`` runs from just before CreateProcessW to just after the wait returned (it includes
    job assignment and the resume). ``extra`` carries ``pid`` and ``create_time_100ns``, the key
    the windows-etw probe matches trace processes on.
    """
    k = _kernel32()
    dll = k.dll
    if command_line is None:
        command_line = build_command_line(target.path, target.args)
    job = dll.CreateJobObjectW(None, None)
    if not job:
        raise _win_error("CreateJobObjectW")
    nul = None
    pi = PROCESS_INFORMATION()
    try:
        limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
        # If loadbench dies, closing the job handle kills whatever is still running in it.
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        if not dll.SetInformationJobObject(job, JOBOBJECT_EXTENDED_LIMIT, ctypes.byref(limits),
                                           ctypes.sizeof(limits)):
            raise _win_error("SetInformationJobObject")
        si = STARTUPINFOW()
        si.cb = ctypes.sizeof(si)
        inherit = False
        flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT
        if not show_output:
            sa = SECURITY_ATTRIBUTES(ctypes.sizeof(SECURITY_ATTRIBUTES), None, 1)
            nul = dll.CreateFileW("NUL", GENERIC_READ | GENERIC_WRITE,
                                  FILE_SHARE_READ | FILE_SHARE_WRITE, ctypes.byref(sa),
                                  OPEN_EXISTING, 0, None)
            if not nul or nul == c_void_p(-1).value:
                nul = None
                raise _win_error("CreateFileW(NUL)")
            si.dwFlags = STARTF_USESTDHANDLES
            si.hStdInput = si.hStdOutput = si.hStdError = nul
            # Only the NUL handle is inheritable (Python's own handles are not). No
            # CREATE_NO_WINDOW: it would give every launch a console host of its own, a cost the
            # measurement would include; the target shares loadbench's console instead.
            inherit = True
        cmd = ctypes.create_unicode_buffer(command_line)  # CreateProcessW may write into it
        env = ctypes.create_unicode_buffer(env_block)  # one NUL more than needed: harmless
        t0 = _qpc(k)
        ok = dll.CreateProcessW(target.path, cmd, None, None, inherit, flags, env, None,
                                ctypes.byref(si), ctypes.byref(pi))
        if not ok:
            err = _win_error("CreateProcessW")
            t1 = _qpc(k)
            return Sample(index=index, status=LaunchStatus.SPAWN_FAILED,
                          wall_ns=(t1 - t0) * 1_000_000_000 // k.qpc_frequency,
                          start_ns=t0 * 1_000_000_000 // k.qpc_frequency,
                          extra={"spawn_error": str(err)})
        if not dll.AssignProcessToJobObject(job, pi.hProcess):
            err = _win_error("AssignProcessToJobObject")
            dll.TerminateProcess(pi.hProcess, 1)  # still suspended, and not in the job
            raise err
        if dll.ResumeThread(pi.hThread) == 0xFFFFFFFF:
            err = _win_error("ResumeThread")
            dll.TerminateJobObject(job, 1)
            raise err
        timeout_ms = max(0, min(int(timeout_s * 1000), INFINITE - 1))
        status = LaunchStatus.OK
        waited = dll.WaitForSingleObject(pi.hProcess, timeout_ms)
        if waited == WAIT_FAILED:
            err = _win_error("WaitForSingleObject")
            dll.TerminateJobObject(job, 1)
            raise err
        if waited == WAIT_TIMEOUT:
            dll.TerminateJobObject(job, TIMEOUT_EXIT_CODE)
            dll.WaitForSingleObject(pi.hProcess, INFINITE)
            status = LaunchStatus.TIMEOUT
        t1 = _qpc(k)
        return _collect(k, job, pi, t0, t1, status, index)
    finally:
        for h in (pi.hThread, pi.hProcess, nul, job):
            if h:
                dll.CloseHandle(h)


def _collect(k: _Kernel32, job: int, pi: PROCESS_INFORMATION, t0: int, t1: int,
             status: LaunchStatus, index: int) -> Sample:
    dll = k.dll
    code = c_uint32()
    dll.GetExitCodeProcess(pi.hProcess, ctypes.byref(code))
    created, exited, kernel, user = FILETIME(), FILETIME(), FILETIME(), FILETIME()
    dll.GetProcessTimes(pi.hProcess, ctypes.byref(created), ctypes.byref(exited),
                        ctypes.byref(kernel), ctypes.byref(user))
    acct = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION()
    if not dll.QueryInformationJobObject(job, JOBOBJECT_BASIC_ACCOUNTING, ctypes.byref(acct),
                                         ctypes.sizeof(acct), None):
        raise _win_error("QueryInformationJobObject(basic accounting)")
    limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    if not dll.QueryInformationJobObject(job, JOBOBJECT_EXTENDED_LIMIT, ctypes.byref(limits),
                                         ctypes.sizeof(limits), None):
        raise _win_error("QueryInformationJobObject(extended limits)")
    if status is LaunchStatus.OK and code.value != 0:
        status = LaunchStatus.EXIT_NONZERO
    freq = k.qpc_frequency
    return Sample(
        index=index, status=status, wall_ns=(t1 - t0) * 1_000_000_000 // freq,
        user_ns=acct.TotalUserTime * 100, sys_ns=acct.TotalKernelTime * 100,
        # Windows counts all page faults together (soft and hard): no major/minor split here.
        faults_minor=acct.TotalPageFaultCount, faults_major=0,
        max_rss_bytes=limits.PeakProcessMemoryUsed,  # peak commit (private bytes), not RSS
        exit_code=code.value, signal=None, start_ns=t0 * 1_000_000_000 // freq,
        extra={
            "pid": pi.dwProcessId,
            "create_time_100ns": created.value,
            "exit_time_100ns": exited.value,
            "kernel_lifetime_ns": (exited.value - created.value) * 100,
            "faults_total_windows": acct.TotalPageFaultCount,
            "job_total_processes": acct.TotalProcesses,
        })


def loop_settings() -> dict[str, Any]:
    """What a record says about the launch loop the Windows probes share: which launcher, and
    under Wine, which Wine and the fields it cannot trust."""
    from loadbench import host

    out: dict[str, Any] = {"launcher_used": "ctypes"}
    w = host.wine()
    if w is not None:
        out.update(wine=w.describe(), untrusted_fields=dict(WINE_UNTRUSTED_FIELDS))
    return out


class WindowsJobProbe(Probe):
    """Job-object accounting per launch (see the module docstring for what each field means)."""

    name = "windows-job"
    # 2: stops between launches on a stop request; under Wine, names the fields it cannot trust.
    version = "2"
    platforms = ("win32",)

    def __init__(self, stop: StopFlag | None = None, **settings: Any) -> None:
        super().__init__(stop=stop, **settings)
        self.settings.update(loop_settings())

    def tool_version(self) -> str | None:
        from loadbench import host

        w = host.wine()
        return None if w is None else w.describe()

    @classmethod
    def availability(cls) -> Availability:
        if sys.platform != "win32":
            return Availability(False, f"windows-job runs only on Windows (this is "
                                       f"{sys.platform})")
        return Availability(True)

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        available = self.availability()
        if not available:
            raise ProbeUnavailable(available.reason)
        yield from launch_schedule(schedule, self.stop)


def launch_schedule(schedule: Schedule, stop: StopFlag | None = None) -> Iterator[Sample]:
    """Launch every entry of ``schedule`` in its own job, in order (shared with windows-etw);
    once ``stop`` is requested, end before the next launch."""
    if schedule.cache == "cold":
        # Evicting a file's pages from the standby list needs a privileged memory-list purge.
        raise ProbeUnavailable("cache='cold' is not supported on Windows: evicting a binary from "
                               "the file cache needs administrator rights; use cache='warm'")
    env_block = build_environment_block(schedule.env)
    lines = [build_command_line(t.path, t.args) for t in schedule.targets]
    for i, which in enumerate(schedule.order):
        if stop is not None and stop.requested:
            return
        yield launch_in_job(schedule.targets[which], env_block=env_block,
                            timeout_s=schedule.timeout_s, show_output=schedule.show_output,
                            index=schedule.first_index + i, command_line=lines[which])
