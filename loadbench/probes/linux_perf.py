"""The Linux tracing probe: one ``perf record`` session per batch, phases and fault attribution.

The native launcher runs under ``perf record`` and its targets inherit the events, so every
launch's execve, exec, exit, page faults (with address, minor/major and x86 error code) and the
uprobes at the ELF entry point and at ``main.main``/``main`` land in one perf.data per batch.
Each Sample keeps the launcher's rusage figures as usual and adds, in ``extra``, ``phases_ns``
(``exec``, ``to_entry``, ``runtime_init``, ``main_to_exit``, ``total``), ``faults_by_region``,
``faults_by_kind``, ``faults_by_phase``, ``faults_by_segment`` and ``trace_faults_minor``/
``_major`` (see ``loadbench.perf.attribution``). Tracing inflates what it measures (every fault
becomes two perf records; uprobes add traps and copy-on-write text pages): ``calibrate`` measures
that inflation against the untraced launcher, interleaved, and stores it with the results.
Attribution runs and timing runs are different runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from loadbench import _proc, launch_native, storage
from loadbench.model import Sample
from loadbench.perf import leftovers
from loadbench.perf.attribution import LaunchTrace
from loadbench.perf.layout import BinaryLayout
from loadbench.perf.uprobes import UprobeGroup
from loadbench.probes.base import (
    COLD_CACHE,
    FAULT_ATTRIBUTION,
    INFLATION,
    PHASES,
    TRACE_EVENTS,
    Availability,
    ProbeUnavailable,
    Schedule,
    StopFlag,
    Target,
)
from loadbench.probes.rusage import sample_from_raw
from loadbench.probes.tracing import TracingProbe, flag, with_real_paths

EVENTS_ASSET = "linux/perf-trace.events"
KIND_EVENTS = ("exceptions:page_fault_user", "exceptions:page_fault_kernel")


def _tracefs() -> str | None:
    from loadbench.perf.uprobes import tracefs

    return tracefs()


PERF_TMP_PREFIX = "loadbench-perf-"


class PerfProbe(TracingProbe):
    """Settings: ``uprobes`` (default True: entry and main markers), ``fault_kinds`` (default
    True: record the exceptions tracepoints that tell fetch/read/write/COW; False halves the
    per-fault cost and reports kind ``unknown``), ``calibrate_targets`` (default True: also
    measure the inflation on each measured binary, 40 extra launches each)."""

    name = "perf"
    version = "2"  # 2: the native launcher spawns with vfork (see RusageProbe.version)
    platforms: ClassVar[tuple[str, ...]] = ("linux",)
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {COLD_CACHE, PHASES, FAULT_ATTRIBUTION, TRACE_EVENTS, INFLATION})
    options: ClassVar[Mapping[str, str]] = {
               "uprobes": "1/0: uprobes at the entry point and main (phases)",
               "fault_kinds": "1/0: the fault-kind tracepoints",
               "calibrate_targets": "1/0: measure the tracing inflation per target",
               "evict_extra": "with --cache cold: more files to evict per target name"}
    assets: ClassVar[tuple[str, ...]] = (EVENTS_ASSET,)

    def __init__(self, stop: StopFlag | None = None, **settings: Any) -> None:
        super().__init__(stop=stop, **settings)
        from loadbench.perf import session, uprobes

        avail = self.availability()
        if not avail.ok:
            raise ProbeUnavailable(avail.reason)
        from loadbench import tracefs

        try:
            fs = tracefs.ensure()
        except tracefs.TracefsUnavailable as e:
            raise ProbeUnavailable(str(e)) from None
        if fs.mounted_now:
            self.notes.append(fs.note)
            self.settings["tracefs_mounted_by_loadbench"] = fs.path
            avail = self.availability()  # the tracepoints can be checked now
            if not avail.ok:
                raise ProbeUnavailable(avail.reason)
        for key in ("uprobes", "fault_kinds", "calibrate_targets"):
            self.settings[key] = flag(self.settings.get(key, True), key)
        perf = _proc.which("perf")
        assert perf is not None  # availability checked it
        self._perf = perf
        try:
            self._launcher = launch_native.ensure_launcher()
        except launch_native.LauncherUnavailable as e:
            raise ProbeUnavailable(f"the perf probe needs the native launcher: {e}") from None
        self.settings.update(launch_native.describe())
        from loadbench.probes import asset_path

        events = session.read_events_file(asset_path(EVENTS_ASSET).read_text())
        if not self.settings["fault_kinds"]:
            events = tuple(e for e in events if e not in KIND_EVENTS)
        self._events = events
        self._layouts: dict[str, BinaryLayout] = {}  # by real path
        self._deps: dict[str, tuple[str, ...]] = {}
        self._group: UprobeGroup | None = None
        self._probed: set[str] = set()
        self._pages = session.ring_pages()
        self.totals = {
            "launches": 0,
            "records": 0,
            "events": 0,
            "script_s": 0.0,
            "lost_records": 0,
        }
        # a session killed outright (SIGKILL, power loss) could not delete its uprobes
        removed = uprobes.remove_stale(perf)
        if removed:
            self.settings["stale_uprobe_groups_removed"] = removed
        launch_native.cleanup_stale(PERF_TMP_PREFIX)
        from loadbench._reaper import Reaper

        # Should loadbench be killed outright, the reaper deletes this session's uprobes and
        # perf.data once perf (SIGTERMed by the kernel as loadbench dies) has ended.
        self._reaper = Reaper()
        self._reaper.add("perf", perf)
        self._tmp = storage.scratch_dir(f"{PERF_TMP_PREFIX}{os.getpid()}-")
        self._reaper.add("path", self._tmp)
        self._started_at = time.time()
        self._reaper.add("vdso", repr(self._started_at))

    # ------------------------------------------------------------------ availability

    @classmethod
    def availability(cls) -> Availability:
        if not sys.platform.startswith("linux"):
            return Availability(False, f"perf is Linux only (this is {sys.platform})")
        perf = _proc.which("perf")
        if perf is None:
            return Availability(
                False,
                "perf is not installed: apt-get install linux-perf (Debian) or "
                "linux-tools-$(uname -r) (Ubuntu)",
            )
        try:
            _proc.run([perf, "--version"], timeout=20)
        except _proc.ToolError as e:
            return Availability(False, f"perf is installed but does not run: {e}")
        root = os.geteuid() == 0
        if not root:
            from loadbench import host

            par = host.perf_event_paranoid()
            why = (
                "not root: uprobes (perf probe) and the syscalls/sched/exceptions tracepoints "
                "need root; run with sudo"
            )
            if par is not None and par > 1:
                why += f" (and kernel.perf_event_paranoid={par} forbids even user-only events)"
            return Availability(False, why)
        fs = _tracefs()
        if fs is None:
            from loadbench import tracefs

            # as root the probe mounts it when it starts (see __init__); the tracepoints are
            # checked there
            if os.path.isdir(tracefs.MOUNT_POINT):
                return Availability(True)
            return Availability(
                False,
                "tracefs is not mounted and cannot be: no /sys/kernel/tracing (CONFIG_TRACING?)",
            )
        missing = [
            ev
            for ev in (
                "syscalls/sys_enter_execve",
                "sched/sched_process_exec",
                "sched/sched_process_exit",
                "exceptions/page_fault_user",
            )
            if not os.path.isdir(os.path.join(fs, "events", ev))
        ]
        if missing:
            return Availability(
                False,
                f"the kernel lacks tracepoints {', '.join(missing)} "
                "(CONFIG_FTRACE_SYSCALLS / x86 exceptions tracepoints)",
            )
        return Availability(True)

    def tool_version(self) -> str | None:
        try:
            return _proc.run([self._perf, "--version"], timeout=20).stdout.strip() or None
        except _proc.ToolError:
            return None

    # ------------------------------------------------------------------ set-up per binary

    def _prepare(self, targets: Sequence[Target]) -> None:
        from loadbench.perf import layout

        for t in targets:
            real = os.path.realpath(t.path)
            if real in self._layouts:
                continue
            try:
                lay = layout.load_layout(real)
            except ValueError as e:  # InspectError and ParseError are ValueErrors
                why = str(e).removeprefix(f"{real}: ").removeprefix(f"{t.path}: ")
                raise ProbeUnavailable(f"{t.path}: {why}; the {self.name} probe traces "
                                       "binaries (not scripts): measure this one with "
                                       "--probe rusage") from None
            self._layouts[real] = lay
            self._deps[real] = layout.dependency_paths(lay)
            if not self.settings["uprobes"]:
                continue
            if self._group is None:
                self._group = UprobeGroup(self._perf)
                self._reaper.add("group", self._group.group)
            k = len(self._probed)
            points = []
            if lay.entry_file_offset is not None:
                points.append((f"e{k}", lay.entry_file_offset, "entry"))
            if lay.main_file_offset is not None:
                points.append((f"m{k}", lay.main_file_offset, "main"))
            self._group.add(real, points)
            self._probed.add(real)

    def layout(self, path: str) -> BinaryLayout | None:
        """The layout (segments, sections, dependencies) of a binary this probe has launched,
        by its path; None for one it has not seen."""
        return self._layouts.get(os.path.realpath(path))

    def _event_list(self) -> list[str]:
        probes = [] if self._group is None else [p.event for p in self._group.probes]
        return [*self._events, *probes]

    def evict_map(self, schedule: Schedule) -> dict[int, list[str]] | None:
        """Cold cache: the binary, its interpreter and libraries, plus any ``evict_extra``."""
        if schedule.cache != "cold":
            return None
        extra = schedule.settings.get("evict_extra") or {}
        out = {}
        for i, t in enumerate(schedule.targets):
            real = os.path.realpath(t.path)
            paths = [real, *self._deps.get(real, ()), *extra.get(t.name, ())]
            out[i] = list(dict.fromkeys(paths))
        return out

    # ------------------------------------------------------------------ measuring

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        for sample, _ in self.run_traced(schedule):
            yield sample

    def run_traced(self, schedule: Schedule) -> Iterator[tuple[Sample, LaunchTrace | None]]:
        """Like ``run``, with each launch's full trace (every fault, for Chrome traces)."""
        from loadbench.perf import session

        self._prepare(schedule.targets)
        self.calibrate_each_target(schedule)
        if self.stop.requested:
            return  # a stop during the calibration ends the run before this batch
        # Real paths: perf's mmap events name the file the kernel mapped.
        real = with_real_paths(schedule)
        data = os.path.join(self._tmp, f"batch-{schedule.first_index}.data")
        raws: list[tuple[Any, ...]] = []
        try:
            try:
                raws.extend(
                    session.record(
                        self._perf,
                        self._launcher,
                        data,
                        self._event_list(),
                        real,
                        self.evict_map(schedule),
                        stop=self.stop,
                        pages=self._pages,
                        started=self._started,
                    )
                )
            finally:
                self._reaper.tracer(None)
            if not raws:
                return
            roles = {} if self._group is None else self._group.roles
            try:
                bt = session.analyse(self._perf, data, raws, self._layouts, roles)
            except _proc.ToolError:
                if not self.stop.requested:
                    raise
                # a terminal's Ctrl-C also reaches perf script: keep the rusage figures
                why = "interrupted before the trace was analysed"
                for i, raw in enumerate(raws):
                    yield sample_from_raw(raw, schedule.first_index + i, trace_error=why), None
                return
        finally:
            for p in (data, data + ".old"):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        self.totals["launches"] += len(raws)
        self.totals["records"] += bt.records
        self.totals["events"] += bt.events
        self.totals["script_s"] += bt.script_s
        self.totals["lost_records"] += bt.lost_records
        if bt.lost_records and self._pages < 16384:
            # the next batch gets a bigger buffer; this one's breakdowns are left out
            self._pages *= 4
            self.settings["ring_pages_raised_to"] = self._pages
        for i, (raw, tr) in enumerate(zip(raws, bt.traces, strict=True)):
            if tr is None:
                extra: dict[str, Any] = {"trace_error": "launch not found in the perf trace"}
            else:
                extra = tr.sample_extra()
            yield sample_from_raw(raw, schedule.first_index + i, **extra), tr

    # ------------------------------------------------------------------ observer effect

    def traced_block(self, target: Target, env: Mapping[str, str], *,
                     timeout_s: float = 10.0) -> Any:
        """A function launching ``target`` n times in one perf session of this probe (uprobes
        included), its analysis skipped."""
        from loadbench.perf import session

        self._prepare([target])
        real = dataclasses.replace(target, path=os.path.realpath(target.path))

        def traced(n: int) -> list[Sample]:
            data = os.path.join(self._tmp, "calibrate.data")
            try:
                raws = list(
                    session.record(
                        self._perf,
                        self._launcher,
                        data,
                        self._event_list(),
                        Schedule(targets=(real,), order=(0,) * n, env=env, timeout_s=timeout_s),
                        None,
                        stop=self.stop,
                        pages=self._pages,
                        started=self._started,
                    )
                )
            finally:
                self._reaper.tracer(None)
                for p in (data, data + ".old"):
                    if os.path.exists(p):
                        os.unlink(p)
            return [sample_from_raw(raw, 0) for raw in raws]

        return traced

    # ------------------------------------------------------------------ cleanup

    def _started(self, proc: Any) -> None:
        self._reaper.tracer(proc.pid)

    def close(self) -> None:
        try:
            if self._group is not None:
                self._group.close()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            leftovers.remove_perf_vdso_copies(self._started_at)
            self._reaper.close()

