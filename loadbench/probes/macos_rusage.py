"""The macOS probe without privileges: posix_spawn, wait for the zombie, proc_pid_rusage, wait4.

Each launch is ``posix_spawn`` (argv list, the schedule's exact environment, stdio on /dev/null,
no shell), then ``waitid(P_PID, pid, WEXITED | WNOWAIT)`` which returns when the child has exited
but leaves it a zombie, then ``proc_pid_rusage(pid, RUSAGE_INFO_V4)`` on the zombie (kernel-side
start and exit mach times, page-ins, instructions and cycles), then ``wait4`` for the child's own
``struct rusage`` (ru_maxrss is already in bytes on macOS). ``wall_ns`` runs from just before
posix_spawn to waitid's return, so the probe's own proc_pid_rusage call is not in it (xnu stashes
the rusage_info, exit time included, before the process becomes a zombie). CPython does not expose
``os.waitid`` on macOS, so it is called from libSystem with ctypes; libSystem is only loaded on
Darwin, inside functions. The per-launch timeout is an interval timer whose SIGALRM handler
SIGKILLs the child; it is disarmed before the zombie is reaped, so a late kill cannot hit a
reused pid. The launcher loop is shared with ``macos_dtrace``, which runs it under dtrace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from loadbench.macos import ParseError
from loadbench.macos.rusage_info import (
    RUSAGE_INFO_V4,
    RUSAGE_INFO_V4_FIELDS,
    RusageInfoV4,
    abstime_to_ns,
    decode_rusage_info_v4,
)
from loadbench.model import LaunchStatus, Sample
from loadbench.probes.base import Availability, Probe, ProbeUnavailable, Schedule, StopFlag, Target


class rusage_info_v4(ctypes.Structure):  # the C names, so grep finds both
    """``struct rusage_info_v4`` from xnu ``bsd/sys/resource.h`` (296 bytes)."""

    _fields_ = [("ri_uuid", ctypes.c_uint8 * 16),
                *((name, ctypes.c_uint64) for name in RUSAGE_INFO_V4_FIELDS)]


class mach_timebase_info_data_t(ctypes.Structure):
    _fields_ = [("numer", ctypes.c_uint32), ("denom", ctypes.c_uint32)]


# Darwin <sys/wait.h> values (they differ from Linux: WNOWAIT is 0x20 there, 0x01000000 here).
_P_PID = 1
_WEXITED = 0x04
_WNOWAIT = 0x20
_SIGINFO_SIZE = 104  # sizeof(siginfo_t) on 64-bit Darwin; waitid writes it, we never read it

_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux


@lru_cache(maxsize=1)
def _devnull_actions() -> tuple[tuple[Any, ...], ...]:
    # Built on first use: os.POSIX_SPAWN_OPEN does not exist on Windows, where this module must
    # still import.
    return tuple((os.POSIX_SPAWN_OPEN, fd, os.devnull, flags, 0)
                 for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)))


@dataclass(frozen=True, slots=True)
class Kernel:
    """The OS calls the launcher needs beyond ``os``; injected so tests can fake them.

    ``wait_zombie(pid)`` returns once ``pid`` has exited without reaping it (OSError if it
    cannot); ``rusage_v4(pid)`` returns the 296 bytes of ``proc_pid_rusage(RUSAGE_INFO_V4)``
    (OSError on failure), or is None with ``rusage_unavailable`` saying why.
    """

    wait_zombie: Callable[[int], None] | None
    rusage_v4: Callable[[int], bytes] | None
    timebase: tuple[int, int] = (1, 1)
    rusage_unavailable: str = ""


def _os_wait_zombie(pid: int) -> None:
    # PEP 475: retried on EINTR after the SIGALRM handler ran.
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


@lru_cache(maxsize=1)
def darwin_kernel() -> Kernel:
    """waitid, proc_pid_rusage and mach_timebase_info from libSystem. Darwin only (OSError)."""
    if sys.platform != "darwin":
        raise OSError(errno.ENOSYS, f"libSystem is macOS-only (this is {sys.platform})")
    path = "/usr/lib/libSystem.B.dylib"
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError:
        found = ctypes.util.find_library("System")
        if not found:
            raise
        lib = ctypes.CDLL(found, use_errno=True)

    tb = mach_timebase_info_data_t()
    lib.mach_timebase_info.argtypes = [ctypes.POINTER(mach_timebase_info_data_t)]
    lib.mach_timebase_info.restype = ctypes.c_int
    if lib.mach_timebase_info(ctypes.byref(tb)) != 0 or not tb.numer or not tb.denom:
        raise OSError(errno.EINVAL, "mach_timebase_info failed")

    waitid = lib.waitid
    waitid.argtypes = [ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int]
    waitid.restype = ctypes.c_int

    def wait_zombie(pid: int) -> None:
        info = ctypes.create_string_buffer(_SIGINFO_SIZE)
        while waitid(_P_PID, pid, info, _WEXITED | _WNOWAIT) != 0:
            err = ctypes.get_errno()
            if err != errno.EINTR:
                raise OSError(err, f"waitid: {os.strerror(err)}")
            # EINTR: looping lets Python run the pending SIGALRM handler, which kills the child.

    rusage_v4: Callable[[int], bytes] | None = None
    unavailable = ""
    try:
        fn = lib.proc_pid_rusage
    except AttributeError:
        unavailable = "proc_pid_rusage not in libSystem"
    else:
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        fn.restype = ctypes.c_int

        def rusage_v4(pid: int) -> bytes:
            buf = rusage_info_v4()
            if fn(pid, RUSAGE_INFO_V4, ctypes.byref(buf)) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"proc_pid_rusage: {os.strerror(err)}")
            return ctypes.string_at(ctypes.addressof(buf), ctypes.sizeof(buf))

    return Kernel(wait_zombie, rusage_v4, (int(tb.numer), int(tb.denom)), unavailable)


def portable_kernel() -> Kernel:
    """Where there is no libSystem (tests on Linux): os.waitid, no rusage_info."""
    wait = _os_wait_zombie if hasattr(os, "waitid") else None
    return Kernel(wait, None, (1, 1), f"proc_pid_rusage is macOS-only (this is {sys.platform})")


def rusage_info_extra(info: RusageInfoV4, timebase: tuple[int, int]) -> dict[str, Any]:
    """The Sample extras taken from ``rusage_info_v4``: kernel lifetime (process creation to
    exit, mach times converted to ns), page-ins, and instructions/cycles/peak footprint when the
    kernel counted them (they are 0 where the counters are unavailable, e.g. in VMs)."""
    extra: dict[str, Any] = {"rusage_info": "v4", "pageins": info.ri_pageins}
    start, end = info.ri_proc_start_abstime, info.ri_proc_exit_abstime
    if start and end >= start:
        extra["kernel_lifetime_ns"] = abstime_to_ns(end - start, *timebase)
    if info.ri_instructions:
        extra["instructions"] = info.ri_instructions
    if info.ri_cycles:
        extra["cycles"] = info.ri_cycles
    if info.ri_lifetime_max_phys_footprint:
        extra["peak_footprint_bytes"] = info.ri_lifetime_max_phys_footprint
    return extra


class _Deadline:
    """Kill ``pid`` with SIGKILL if it outlives ``timeout_s`` after ``arm``.

    An ITIMER_REAL + SIGALRM handler in the main thread (a previous timer is restored with its
    remaining time); signal handlers can only be set there, so elsewhere a timer thread does the
    same. ``pid`` is set after the spawn (so arming stays outside the timed span); until then a
    firing timer kills nothing. ``disarm`` guarantees no kill happens after it returns.
    """

    def __init__(self, timeout_s: float) -> None:
        self.pid = 0
        self.timeout_s = timeout_s
        self.fired = False
        self._active = False
        # Re-entrant: the SIGALRM handler runs on the main thread, possibly inside disarm().
        self._lock = threading.RLock()
        self._old_handler: Any = None
        self._old_timer: tuple[float, float] = (0.0, 0.0)
        self._armed_at = 0.0
        self._thread: threading.Timer | None = None
        self._itimer = False

    def _kill(self) -> None:
        with self._lock:
            if not self._active or self.pid <= 0:  # never kill(0): that is our process group
                return
            self.fired = True
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _on_alarm(self, signum: int, frame: object) -> None:
        self._kill()

    def arm(self) -> None:
        if self.timeout_s <= 0:
            return
        self._active = True
        if threading.current_thread() is threading.main_thread():
            self._itimer = True
            self._old_handler = signal.signal(signal.SIGALRM, self._on_alarm)
            self._armed_at = time.monotonic()
            self._old_timer = signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        else:
            self._thread = threading.Timer(self.timeout_s, self._kill)
            self._thread.daemon = True
            self._thread.start()

    def disarm(self) -> None:
        with self._lock:
            if not self._active:
                return
            self._active = False
        if self._itimer:
            self._itimer = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            old = self._old_handler
            signal.signal(signal.SIGALRM, signal.SIG_DFL if old is None else old)
            old_delay, old_interval = self._old_timer
            if old_delay > 0:  # someone else's timer was running: give it back its remainder
                left = old_delay - (time.monotonic() - self._armed_at)
                signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), old_interval)
        elif self._thread is not None:
            self._thread.cancel()


class Launcher:
    """Launches one target at a time and measures it; see the module docstring."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def launch(self, target: Target, env: Mapping[str, str], *, index: int, timeout_s: float,
               show_output: bool = False) -> Sample:
        argv = [target.path, *target.args]
        actions = () if show_output else _devnull_actions()
        envd = dict(env)
        deadline = _Deadline(timeout_s)
        pid = 0
        reaped = False
        info: RusageInfoV4 | None = None
        note = self.kernel.rusage_unavailable
        deadline.arm()
        try:
            start = time.monotonic_ns()
            try:
                pid = os.posix_spawn(target.path, argv, envd, file_actions=actions)
            except OSError as e:
                wall = time.monotonic_ns() - start
                return Sample(index=index, status=LaunchStatus.SPAWN_FAILED, wall_ns=wall,
                              start_ns=start, extra={"errno": e.errno,
                                                     "error": f"posix_spawn: {e.strerror or e}"})
            deadline.pid = pid
            end: int | None = None
            zombie = False
            if self.kernel.wait_zombie is not None:
                try:
                    self.kernel.wait_zombie(pid)
                    zombie = True
                except OSError as e:  # wait4 below still reaps (or raises ECHILD)
                    note = f"waitid(WNOWAIT) failed: {e.strerror or e}"
            else:
                note = "waitid(WNOWAIT) unavailable"
            if zombie:
                # The child has exited: the measured span ends here, before the probe's own
                # proc_pid_rusage call.
                end = time.monotonic_ns()
                deadline.disarm()
                info, note = self._rusage_info(pid, note)
            _, status, ru = os.wait4(pid, 0)
            reaped = True
            if end is None:
                end = time.monotonic_ns()
        finally:
            deadline.disarm()
            if pid > 0 and not reaped:  # interrupted (KeyboardInterrupt...): leave no child
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass

        extra: dict[str, Any] = {"pid": pid}
        if info is not None:
            extra.update(rusage_info_extra(info, self.kernel.timebase))
        else:
            extra["rusage_info"] = f"unavailable: {note}"
        code: int | None = None
        sig: int | None = None
        if os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            st = LaunchStatus.OK if code == 0 else LaunchStatus.EXIT_NONZERO
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            st = LaunchStatus.SIGNALED
        if deadline.fired and sig == signal.SIGKILL:
            st = LaunchStatus.TIMEOUT
        return Sample(index=index, status=st, wall_ns=end - start,
                      user_ns=round(ru.ru_utime * 1_000_000) * 1000,
                      sys_ns=round(ru.ru_stime * 1_000_000) * 1000,
                      faults_minor=ru.ru_minflt, faults_major=ru.ru_majflt,
                      max_rss_bytes=ru.ru_maxrss * _RSS_UNIT, exit_code=code, signal=sig,
                      start_ns=start, extra=extra)

    def _rusage_info(self, pid: int, note: str) -> tuple[RusageInfoV4 | None, str]:
        if self.kernel.rusage_v4 is None:
            return None, note
        try:
            return decode_rusage_info_v4(self.kernel.rusage_v4(pid)), ""
        except OSError as e:
            return None, f"proc_pid_rusage failed: {e.strerror or e}"
        except ParseError as e:
            return None, str(e)


def launch_schedule(launcher: Launcher, schedule: Schedule, stop: StopFlag) -> Iterator[Sample]:
    """One Sample per launch of ``schedule``, in order, until done or ``stop`` is requested."""
    for i, t in enumerate(schedule.order):
        if stop.requested:
            return
        yield launcher.launch(schedule.targets[t], schedule.env, index=schedule.first_index + i,
                              timeout_s=schedule.timeout_s, show_output=schedule.show_output)


def refuse_cold(schedule: Schedule, probe: str) -> None:
    if schedule.cache == "cold":
        raise ProbeUnavailable(f"{probe}: cold-cache launches are not supported on macOS "
                               "(there is no unprivileged way to evict a file's pages); "
                               "use --cache warm")


def macos_only(probe: str, instead: str = "rusage") -> Availability | None:
    """A not-ok Availability off macOS (naming the probe to use instead), else None."""
    if sys.platform != "darwin":
        return Availability(False, f"{probe} needs macOS (this is {sys.platform}); "
                                   f"use the '{instead}' probe here")
    return None


class MacosRusageProbe(Probe):
    """posix_spawn + waitid(WNOWAIT) + proc_pid_rusage + wait4; no privileges."""

    name = "macos-rusage"
    version = "1"
    platforms: ClassVar[tuple[str, ...]] = ("darwin",)

    @classmethod
    def availability(cls) -> Availability:
        off = macos_only(cls.name)
        if off is not None:
            return off
        try:
            darwin_kernel()
        except OSError as e:
            return Availability(False, f"{cls.name}: cannot use libSystem: {e}")
        return Availability(True)

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        avail = self.availability()
        if not avail:
            raise ProbeUnavailable(avail.reason)
        refuse_cold(schedule, self.name)
        kernel = darwin_kernel()
        if kernel.rusage_v4 is None:
            self.settings["rusage_info_fallback"] = kernel.rusage_unavailable
        yield from launch_schedule(Launcher(kernel), schedule, self.stop)
