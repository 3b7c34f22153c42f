"""The ``windows-etw`` probe: one wpr session around a batch of job-accounted launches (admin).

Sequence, all through ``_proc``: ``wpr -cancel`` (clears a stale session; "nothing running" is not
an error), ``wpr -start probes/windows/loadbench.wprp!LoadBench.Verbose -filemode``, the launches
(each through the windows-job launcher, so every Sample also has job accounting), ``wpr -stop
<tmp>/loadbench.etl``, then loadbench's own ETL decoder. Each trace process is matched to its launch
on pid plus creation time (the Kernel-Process CreateTime equals GetProcessTimes' creation time; pids
are reused) and its facts are added to the Sample's ``extra`` under ``etw_*`` keys: lifetime from
the classic Process/Start..End events, the Kernel-Process CreateTime..ExitTime lifetime beside it,
image loads and the time to the exe, ntdll and kernel32 loads, HardFaultCount (ProcessStop) and
HardFault events on the process's threads, faults by kind and by image. Samples are yielded after
``wpr -stop``, because the trace can only be read then. The session is cancelled and the temp
directory removed on every exit path (``close()`` does it too).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from loadbench import _proc, storage
from loadbench.etl.assemble import ProcessReport
from loadbench.etl.errors import EtlError
from loadbench.etl.summarize import scan
from loadbench.model import Sample
from loadbench.probes import asset_path
from loadbench.probes.base import Availability, Probe, ProbeUnavailable, Schedule
from loadbench.probes.windows_job import launch_schedule, loop_settings

PROFILE_ASSET = "windows/loadbench.wprp"
PROFILE = "LoadBench.Verbose"  # ProcessThread, Loader, HardFaults + Kernel-Process
PROFILE_ALL_FAULTS = "LoadBench.Light"  # the same plus AllFaults (see the .wprp)
# The classic Process/Start follows the kernel's CreateTime by well under a millisecond (0.4 ms in
# the PerfView fixture); this bounds the fallback match when Kernel-Process events are missing.
_START_MATCH_100NS = 500_000


def _is_admin() -> bool:
    if sys.platform != "win32":
        return False
    import ctypes

    try:
        return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return False


class WindowsEtwProbe(Probe):
    """wpr-driven kernel tracing of a batch of launches (settings: ``all_faults``: record every
    page fault with the AllFaults keyword; ``keep_trace``: copy the .etl to this path)."""

    name = "windows-etw"
    # 2: stops between launches on a stop request (the launches are windows-job's).
    version = "2"
    platforms = ("win32",)
    options: ClassVar[Mapping[str, str]] = {
        "all_faults": "1/0: record every page fault (very high volume)",
        "keep_trace": "a folder to keep the .etl files in"}
    assets = (PROFILE_ASSET,)

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.settings.update(loop_settings())
        self._wpr: str | None = None
        self._session_active = False
        self._tmpdir: Path | None = None

    @classmethod
    def availability(cls) -> Availability:
        if sys.platform != "win32":
            return Availability(False, f"windows-etw runs only on Windows (this is "
                                       f"{sys.platform})")
        from loadbench import host

        wine = host.wine()
        if wine is not None:
            # Wine's users count as admins, so without this the reason would be a missing wpr.
            return Availability(False, f"windows-etw cannot run under {wine.describe()}: Wine "
                                       "has no kernel event tracing (ETW) and no wpr; use the "
                                       "windows-job probe")
        if not _is_admin():
            return Availability(False, "windows-etw needs an elevated prompt (wpr cannot start "
                                       "kernel tracing otherwise): run loadbench from a terminal "
                                       "started with 'Run as administrator', or use the "
                                       "windows-job probe, which needs no admin rights")
        if _proc.which("wpr") is None:
            return Availability(False, "wpr.exe not found on PATH: it ships with Windows 10 and "
                                       "later in C:\\Windows\\System32; on older Windows install "
                                       "the Windows Performance Toolkit (Windows ADK)")
        return Availability(True)

    def tool_version(self) -> str | None:
        wpr = _proc.which("wpr") if sys.platform == "win32" else None
        if wpr is None:
            return None
        try:
            out = _proc.run([wpr, "-help"], timeout=60, check=False)
        except _proc.ToolError:
            return None
        found = re.search(r"Version\s+([\d.]+)", out.stdout + out.stderr)
        return found.group(1) if found else None

    @property
    def profile(self) -> str:
        return PROFILE_ALL_FAULTS if self.settings.get("all_faults") else PROFILE

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        available = self.availability()
        if not available:
            raise ProbeUnavailable(available.reason)
        wpr = _proc.which("wpr")
        if wpr is None:
            raise ProbeUnavailable("wpr.exe not found on PATH")
        samples = self._record(wpr, schedule)
        yield from samples

    def _record(self, wpr: str, schedule: Schedule) -> list[Sample]:
        """Everything between ``wpr -cancel`` and the decoded trace; always cleans up."""
        self._wpr = wpr
        self._tmpdir = Path(storage.scratch_dir("loadbench-etw-"))
        trace = self._tmpdir / "loadbench.etl"
        try:
            self._cancel()  # a stale session from an earlier crash would make -start fail
            _proc.run([wpr, "-start", f"{asset_path(PROFILE_ASSET)}!{self.profile}",
                       "-filemode"], timeout=120)
            self._session_active = True
            samples = list(launch_schedule(schedule, self.stop))
            try:
                _proc.run([wpr, "-stop", str(trace)], timeout=1800)
                self._session_active = False
                keep = self.settings.get("keep_trace")
                if keep:
                    shutil.copyfile(trace, keep)
                return merge_etw(samples, _decode(trace, samples))
            except (_proc.ToolError, EtlError, OSError) as exc:
                # The launches ran and their job accounting is valid: keep it, say why the trace
                # part is missing.
                note = f"{type(exc).__name__}: {exc}".splitlines()[0]
                return [_with_extra(s, {"etw_error": note}) for s in samples]
        finally:
            self.close()

    def _cancel(self) -> None:
        if self._wpr is None:
            return
        try:
            # Exits non-zero when no session is running, which is the normal case: ignore it.
            _proc.run([self._wpr, "-cancel"], timeout=120, check=False)
        except _proc.ToolError:
            pass

    def close(self) -> None:
        if self._session_active:
            self._cancel()
            self._session_active = False
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def _decode(trace: Path, samples: Sequence[Sample]) -> tuple[ProcessReport, ...]:
    pids = {s.extra["pid"] for s in samples if "pid" in s.extra}
    return scan(trace, pids).processes


def _with_extra(sample: Sample, extra: dict[str, Any]) -> Sample:
    return dataclasses.replace(sample, extra={**sample.extra, **extra})


def match_process(sample: Sample, processes: Sequence[ProcessReport]) -> ProcessReport | None:
    """The trace process of one launch: same pid and the kernel's exact CreateTime; failing that
    (no Kernel-Process events), the same pid with Process/Start just after the creation time."""
    pid = sample.extra.get("pid")
    created = sample.extra.get("create_time_100ns")
    if pid is None or created is None:
        return None
    same_pid = [p for p in processes if p.pid == pid]
    for p in same_pid:
        if p.kp_create_time_100ns == created:
            return p
    near = [p for p in same_pid if p.start_utc_100ns is not None
            and abs(p.start_utc_100ns - created) <= _START_MATCH_100NS]
    return min(near, key=lambda p: abs(p.start_utc_100ns - created)) if near else None  # type: ignore[operator]


def etw_extra(p: ProcessReport) -> dict[str, Any]:
    """The ``etw_*`` keys added to a matched launch's Sample."""
    milestones = p.milestones_ns()
    return {
        "etw_matched": True,
        "etw_lifetime_ns": p.lifetime_ns,
        "etw_kp_lifetime_ns": p.kp_lifetime_ns,
        "etw_image_loads": len(p.image_loads),
        "etw_exe_load_ns": milestones["exe"],
        "etw_ntdll_load_ns": milestones["ntdll"],
        "etw_kernel32_load_ns": milestones["kernel32"],
        "etw_hard_fault_count": p.hard_fault_count,
        "etw_hardfault_events": p.hardfault_events,
        "etw_threads": len(p.threads),
        "etw_faults_by_kind": dict(p.faults_by_kind),
        "etw_faults_by_image": {k: dict(v) for k, v in p.faults_by_image.items()},
    }


def merge_etw(samples: Sequence[Sample], processes: Sequence[ProcessReport]) -> list[Sample]:
    """Add each launch's trace facts to its Sample; unmatched launches get ``etw_matched`` False."""
    out = []
    for s in samples:
        p = match_process(s, processes)
        out.append(_with_extra(s, etw_extra(p) if p else {"etw_matched": False}))
    return out
