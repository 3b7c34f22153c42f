"""macos-rusage: the rusage_info_v4 layout, mach time conversion, and the launcher loop.

The struct layout is checked against xnu ``bsd/sys/resource.h`` (sizes of every version and key
offsets). The launcher runs for real here through ``os.waitid`` (Linux has it; on macOS the probe
calls libSystem's waitid), with ``proc_pid_rusage`` replaced by a fake returning synthetic bytes.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbench.macos import ParseError
from loadbench.macos.rusage_info import (
    RUSAGE_INFO_V4_FIELDS,
    RUSAGE_INFO_V4_FORMAT,
    RUSAGE_INFO_V4_SIZE,
    RusageInfoV4,
    abstime_to_ns,
    decode_rusage_info_v4,
    encode_rusage_info_v4,
    field_offset,
)
from loadbench.model import LaunchStatus
from loadbench.probes import probe_class
from loadbench.probes.base import ProbeUnavailable, Schedule, StopFlag, Target
from loadbench.probes.macos_rusage import (
    Kernel,
    Launcher,
    MacosRusageProbe,
    launch_schedule,
    mach_timebase_info_data_t,
    portable_kernel,
    refuse_cold,
    rusage_info_extra,
    rusage_info_v4,
)

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------------------
# struct rusage_info_v4


def test_rusage_info_v4_size_and_field_count() -> None:
    assert len(RUSAGE_INFO_V4_FIELDS) == 35
    assert RUSAGE_INFO_V4_SIZE == 296
    assert ctypes.sizeof(rusage_info_v4) == 296
    assert ctypes.sizeof(mach_timebase_info_data_t) == 8


@pytest.mark.parametrize(("name", "offset"), [
    ("ri_uuid", 0),
    ("ri_user_time", 16),
    ("ri_pageins", 48),
    ("ri_proc_start_abstime", 80),
    ("ri_proc_exit_abstime", 88),  # rusage_info_v0 ends after it: 96 bytes
    ("ri_child_elapsed_abstime", 136),  # v1: 144 bytes
    ("ri_diskio_byteswritten", 152),  # v2: 160 bytes
    ("ri_serviced_system_time", 224),  # v3: 232 bytes
    ("ri_logical_writes", 232),  # first field new in v4
    ("ri_lifetime_max_phys_footprint", 240),
    ("ri_instructions", 248),
    ("ri_cycles", 256),
    ("ri_interval_max_phys_footprint", 280),
    ("ri_runnable_time", 288),  # v4: 296 bytes
])
def test_rusage_info_v4_offsets(name: str, offset: int) -> None:
    assert field_offset(name) == offset
    assert getattr(rusage_info_v4, name).offset == offset


def test_ctypes_struct_and_pure_decoder_agree() -> None:
    c = rusage_info_v4()
    for i, name in enumerate(RUSAGE_INFO_V4_FIELDS):
        setattr(c, name, 1000 + i)
    c.ri_uuid[:] = list(range(16))
    raw = ctypes.string_at(ctypes.addressof(c), ctypes.sizeof(c))
    info = decode_rusage_info_v4(raw)
    assert info.ri_uuid == bytes(range(16))
    assert info.ri_user_time == 1000 and info.ri_runnable_time == 1034
    assert info.ri_instructions == 1000 + RUSAGE_INFO_V4_FIELDS.index("ri_instructions")
    assert encode_rusage_info_v4(info) == raw
    assert RUSAGE_INFO_V4_FORMAT.startswith("<")


@pytest.mark.parametrize("data", [b"", b"\0" * 295, b"\0" * 297, bytearray(b"\0" * 232)])
def test_decode_wrong_size_raises_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError, match="296 bytes"):
        decode_rusage_info_v4(data)


def test_decode_rejects_text() -> None:
    with pytest.raises(ParseError):
        decode_rusage_info_v4("x" * 296)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_decode_only_parse_error(data: bytes) -> None:
    try:
        info = decode_rusage_info_v4(data)
    except ParseError:
        assert len(data) != 296
    else:
        assert encode_rusage_info_v4(info) == data


# ---------------------------------------------------------------------------------------------
# mach absolute time


@pytest.mark.parametrize(("ticks", "numer", "denom", "ns"), [
    (0, 125, 3, 0),
    (24_000_000, 125, 3, 1_000_000_000),  # Apple silicon: 24 MHz
    (1, 125, 3, 41),  # 41.67 ns truncated, like the kernel's own conversion
    (10**12, 1, 1, 10**12),  # Intel
    (2**64 - 1, 125, 3, (2**64 - 1) * 125 // 3),  # exact at any uptime
])
def test_abstime_to_ns(ticks: int, numer: int, denom: int, ns: int) -> None:
    assert abstime_to_ns(ticks, numer, denom) == ns


@pytest.mark.parametrize(("ticks", "numer", "denom"), [(1, 0, 1), (1, 1, 0), (-1, 1, 1)])
def test_abstime_to_ns_rejects_nonsense(ticks: int, numer: int, denom: int) -> None:
    with pytest.raises(ParseError):
        abstime_to_ns(ticks, numer, denom)


def _info(**fields: int) -> RusageInfoV4:
    values = dict.fromkeys(RUSAGE_INFO_V4_FIELDS, 0)
    values.update(fields)
    return RusageInfoV4(b"\0" * 16, *(values[f] for f in RUSAGE_INFO_V4_FIELDS))


def test_rusage_info_extra_synthetic() -> None:
    info = _info(ri_proc_start_abstime=1_000_000, ri_proc_exit_abstime=1_024_000,
                 ri_pageins=3, ri_cycles=123_456, ri_lifetime_max_phys_footprint=1_410_048)
    extra = rusage_info_extra(info, (125, 3))
    assert extra == {"rusage_info": "v4", "kernel_lifetime_ns": 1_000_000, "pageins": 3,
                     "cycles": 123_456, "peak_footprint_bytes": 1_410_048}
    # no instructions key: the counter read 0 (unavailable), which is not a measurement
    assert "kernel_lifetime_ns" not in rusage_info_extra(_info(ri_proc_exit_abstime=5), (1, 1))


# ---------------------------------------------------------------------------------------------
# the launcher (real processes, via os.waitid)

needs_waitid = pytest.mark.skipif(not hasattr(os, "waitid") or sys.platform == "win32",
                                  reason="needs os.waitid and posix_spawn")
ENV = {"PATH": "/usr/bin:/bin", "LOADBENCH_TEST": "exact"}


def _exe(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin")
    if path is None:
        pytest.skip(f"{name} not found")
    return path


def _fake_kernel(raw: bytes | Exception) -> Kernel:
    def rusage_v4(pid: int) -> bytes:
        if isinstance(raw, Exception):
            raise raw
        return raw

    return Kernel(portable_kernel().wait_zombie, rusage_v4, (125, 3))


@needs_waitid
def test_launch_ok_with_synthetic_rusage_info() -> None:
    raw = encode_rusage_info_v4(_info(ri_proc_start_abstime=100, ri_proc_exit_abstime=24_100,
                                      ri_pageins=2, ri_instructions=999))
    s = Launcher(_fake_kernel(raw)).launch(Target("true", _exe("true")), ENV, index=4,
                                           timeout_s=10)
    assert (s.index, s.status, s.exit_code, s.signal) == (4, LaunchStatus.OK, 0, None)
    assert s.wall_ns > 0 and s.start_ns > 0 and s.faults_minor > 0 and s.max_rss_bytes > 0
    assert s.extra["rusage_info"] == "v4"
    assert s.extra["kernel_lifetime_ns"] == 1_000_000
    assert (s.extra["pageins"], s.extra["instructions"]) == (2, 999)
    assert isinstance(s.extra["pid"], int) and "cycles" not in s.extra


@needs_waitid
def test_launch_falls_back_when_proc_pid_rusage_fails() -> None:
    err = OSError(3, "No such process")
    s = Launcher(_fake_kernel(err)).launch(Target("true", _exe("true")), ENV, index=0,
                                           timeout_s=10)
    assert s.status is LaunchStatus.OK
    assert s.extra["rusage_info"] == "unavailable: proc_pid_rusage failed: No such process"
    assert "kernel_lifetime_ns" not in s.extra
    bad = Launcher(_fake_kernel(b"short")).launch(Target("t", _exe("true")), ENV, index=0,
                                                  timeout_s=10)
    assert bad.extra["rusage_info"].startswith("unavailable: rusage_info_v4 is 296 bytes")


@needs_waitid
def test_launch_statuses() -> None:
    launcher = Launcher(portable_kernel())
    sh = _exe("sh")

    def go(target: Target, timeout_s: float = 10) -> tuple[LaunchStatus, int | None, int | None]:
        s = launcher.launch(target, ENV, index=0, timeout_s=timeout_s)
        return s.status, s.exit_code, s.signal

    assert go(Target("f", _exe("false"))) == (LaunchStatus.EXIT_NONZERO, 1, None)
    assert go(Target("k", sh, ("-c", "kill -TERM $$"))) == (LaunchStatus.SIGNALED, None, 15)
    assert go(Target("s", _exe("sleep"), ("5",)), timeout_s=0.2) == (LaunchStatus.TIMEOUT, None,
                                                                     9)
    # the environment is exactly the schedule's: nothing inherited (HOME is set in CI shells)
    script = 'test "$LOADBENCH_TEST" = exact && test -z "$HOME" && test -z "$PYTEST_CURRENT_TEST"'
    assert go(Target("env", sh, ("-c", script))) == (LaunchStatus.OK, 0, None)
    missing = launcher.launch(Target("x", "/nonexistent/binary"), ENV, index=9, timeout_s=1)
    assert missing.status is LaunchStatus.SPAWN_FAILED and missing.extra["errno"] == 2
    assert missing.index == 9 and missing.exit_code is None


@needs_waitid
def test_launch_restores_previous_alarm_handler_and_timer() -> None:
    fired: list[int] = []

    def previous(signum: int, frame: object) -> None:
        fired.append(signum)

    old = signal.signal(signal.SIGALRM, previous)
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0)
        s = Launcher(portable_kernel()).launch(Target("s", _exe("sleep"), ("5",)), ENV,
                                               index=0, timeout_s=0.1)
        assert s.status is LaunchStatus.TIMEOUT
        assert signal.getsignal(signal.SIGALRM) is previous
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 95 < remaining <= 100
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@needs_waitid
def test_launch_timeout_outside_main_thread() -> None:
    out = []
    t = threading.Thread(target=lambda: out.append(Launcher(portable_kernel()).launch(
        Target("s", _exe("sleep"), ("5",)), ENV, index=0, timeout_s=0.2)))
    t.start()
    t.join(10)
    assert out and out[0].status is LaunchStatus.TIMEOUT


@needs_waitid
def test_launch_schedule_order_and_stop_flag() -> None:
    targets = (Target("t", _exe("true")), Target("f", _exe("false")))
    sched = Schedule(targets=targets, order=(0, 1, 1, 0), env=ENV, first_index=10)
    samples = list(launch_schedule(Launcher(portable_kernel()), sched, StopFlag()))
    assert [(s.index, s.status) for s in samples] == [
        (10, LaunchStatus.OK), (11, LaunchStatus.EXIT_NONZERO), (12, LaunchStatus.EXIT_NONZERO),
        (13, LaunchStatus.OK)]
    stop = StopFlag()
    it = launch_schedule(Launcher(portable_kernel()), sched, stop)
    next(it)
    stop.request("test")
    assert list(it) == []


# ---------------------------------------------------------------------------------------------
# the probe off macOS


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the non-macOS answer")
def test_probe_unavailable_off_macos() -> None:
    assert probe_class("macos-rusage") is MacosRusageProbe
    avail = MacosRusageProbe.availability()
    assert not avail and "macOS" in avail.reason
    probe = MacosRusageProbe()
    with pytest.raises(ProbeUnavailable, match="macOS"):
        list(probe.run(Schedule(targets=(Target("t", "/bin/true"),), order=(0,), env={})))
    info = probe.describe()
    assert (info.name, info.version) == ("macos-rusage", "1")


def test_cold_cache_is_refused_with_a_reason() -> None:
    sched = Schedule(targets=(), order=(), env={}, cache="cold")
    with pytest.raises(ProbeUnavailable, match="cold-cache"):
        refuse_cold(sched, "macos-rusage")


def test_modules_import_without_darwin_or_posix_calls() -> None:
    # Pretend to be Windows before importing: nothing may touch libSystem, posix_spawn
    # constants or signals at import time, and availability() must answer without raising.
    code = (
        "import sys; sys.platform = 'win32'\n"
        "import loadbench.macos.dtrace, loadbench.macos.rusage_info\n"
        "from loadbench.probes.macos_rusage import MacosRusageProbe\n"
        "from loadbench.probes.macos_dtrace import MacosDtraceProbe\n"
        "for c in (MacosRusageProbe, MacosDtraceProbe):\n"
        "    a = c.availability(); assert not a.ok and 'macOS' in a.reason, a\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
