"""The bpftrace probe: per-launch phases and fault attribution, counted in the kernel.

One bpftrace session per batch (``loadbench.bpf.session``) runs the template
``probes/linux/bpf-launch.bt`` filled for the batch's binaries (``loadbench.bpf.program``). Every
page fault of a launch updates one counter in a kernel map, keyed by the launch, its phase, the
fault's kind and -- with ``regions=kernel``, the default -- the region the kernel program placed it
in by the layout it knows (the binary's sections through the load bias, stack, vDSO, ld.so, Go
heap arenas, brk heap); nothing reaches user space until the launcher exits, when bpftrace prints
its maps once. Each Sample keeps the launcher's rusage figures and adds, as the perf probe does,
``phases_ns``, ``faults_by_region``, ``faults_by_kind``, ``faults_by_phase``,
``faults_by_segment`` and ``trace_faults_minor``/``_major`` (see ``loadbench.bpf.fold`` for the
phases). ``calibrate`` measures the inflation (``loadbench.probes.inflation``) and stores it with
its CI.

Settings: ``regions`` (``kernel``, or ``page``: every fault keyed by its address and placed after
exit -- same answers, more map entries, more cost), ``uprobes`` (default true: ``main.main``/
``main`` markers and the entry of dynamic binaries), ``execve`` (default false: the
``sys_enter_execve`` marker that splits ``spawn`` from ``exec`` exactly as the perf probe does;
any syscall tracepoint sends every syscall of every process through the slow path, about 3% on
Go web here), ``calibrate_targets`` (default true).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from loadbench import _proc, launch_native
from loadbench.model import Sample
from loadbench.probes.base import (
    COLD_CACHE,
    FAULT_ATTRIBUTION,
    INFLATION,
    PHASES,
    Availability,
    ProbeUnavailable,
    Schedule,
    StopFlag,
    Target,
)
from loadbench.probes.rusage import evict_map, sample_from_raw
from loadbench.probes.tracing import TracingProbe, flag, with_real_paths

TEMPLATE_ASSET = "linux/bpf-launch.bt"
MIN_VERSION = (0, 16)  # tuples as map values, BTF struct access in tracepoints
REQUIRED_EVENTS = (
    "sched/sched_process_fork",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
    "exceptions/page_fault_user",
    "exceptions/page_fault_kernel",
)
BTF = "/sys/kernel/btf/vmlinux"
MAX_MAP_KEYS = 1 << 18  # bpftrace preallocates every map at this size: ~0.9 s to start here
# Distinct map keys per launch, a first guess (web: ~330 faults, ~80 distinct placed keys).
KEYS_PER_LAUNCH = {"kernel": 160, "page": 500}


class BpfProbe(TracingProbe):
    """See the module docstring for what it measures and its settings."""

    name = "bpf"
    version = "1"
    platforms: ClassVar[tuple[str, ...]] = ("linux",)
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {COLD_CACHE, PHASES, FAULT_ATTRIBUTION, INFLATION})
    assets: ClassVar[tuple[str, ...]] = (TEMPLATE_ASSET,)
    options: ClassVar[Mapping[str, str]] = {
        "regions": "kernel (placed by the kernel program) or page (keyed by address, placed "
                   "after exit; more map entries, more cost)",
        "uprobes": "1/0: uprobes at main.main/main and at a dynamic binary's entry (phases)",
        "execve": "1/0: the sys_enter_execve marker (perf's exec phase; every syscall of every "
                  "process then takes the slow path)",
        "calibrate_targets": "1/0: measure the tracing inflation per target",
        "evict_extra": "with --cache cold: more files to evict per target name",
    }

    def __init__(self, stop: StopFlag | None = None, **settings: Any) -> None:
        super().__init__(stop=stop, **settings)
        from loadbench import tracefs
        from loadbench.bpf import program, regions
        from loadbench.probes import asset_path

        avail = self.availability()
        if not avail.ok:
            raise ProbeUnavailable(avail.reason)
        mode = str(self.settings.setdefault("regions", "kernel"))
        if mode not in program.REGION_MODES:
            raise ValueError(f"setting regions must be kernel or page (got {mode!r})")
        for key, default in (("uprobes", True), ("execve", False), ("calibrate_targets", True)):
            self.settings[key] = flag(self.settings.get(key, default), key)
        try:
            fs = tracefs.ensure()
        except tracefs.TracefsUnavailable as e:
            raise ProbeUnavailable(str(e)) from None
        if fs.mounted_now:
            self.notes.append(fs.note)
            self.settings["tracefs_mounted_by_loadbench"] = fs.path
        missing = [e for e in REQUIRED_EVENTS if not fs.has_event(e)]
        if missing:
            raise ProbeUnavailable(f"the kernel lacks tracepoints {', '.join(missing)}")
        bpftrace = _proc.which("bpftrace")
        assert bpftrace is not None  # availability checked it
        self._bpftrace = bpftrace
        try:
            self._launcher = launch_native.ensure_launcher()
        except launch_native.LauncherUnavailable as e:
            raise ProbeUnavailable(f"the bpf probe needs the native launcher: {e}") from None
        self.settings.update(launch_native.describe())
        self._template = asset_path(TEMPLATE_ASSET).read_text()
        self._features = program.KernelFeatures(
            prepare_exec=fs.has_event("sched/sched_prepare_exec"),
            group_dead="group_dead" in fs.event_format("sched/sched_process_exit"),
            maple_tree=fs.has_event("maple_tree/ma_write"),
        )
        self._options = program.Options(
            regions=mode, uprobes=self.settings["uprobes"], execve=self.settings["execve"]
        )
        try:
            with open("/proc/self/maps") as f:
                self._geom = regions.parse_vdso_geometry(f.read())
        except OSError:
            self._geom = None
        self._layouts: dict[str, Any] = {}  # real path -> (BinaryLayout, Interp | None)
        self._programs: dict[tuple[str, ...], Any] = {}
        self._keys: dict[str, int] = {}  # real path -> distinct map keys per launch, measured
        self.totals: dict[str, float] = {"launches": 0, "sessions": 0, "startup_s": 0.0,
                                         "readout_s": 0.0, "map_keys_max": 0}
        self.settings["kernel_features"] = {
            "prepare_exec": self._features.prepare_exec,
            "group_dead": self._features.group_dead,
            "maple_tree": self._features.maple_tree,
        }

    # ------------------------------------------------------------------ availability

    @classmethod
    def availability(cls) -> Availability:
        if not sys.platform.startswith("linux"):
            return Availability(False, f"bpftrace is Linux only (this is {sys.platform})")
        from loadbench import tracefs
        from loadbench.bpf import session

        bpftrace = _proc.which("bpftrace")
        if bpftrace is None:
            return Availability(False, "bpftrace is not installed: apt-get install bpftrace")
        text = session.run_version(bpftrace)
        if text is None:
            return Availability(False, f"bpftrace is installed but does not run ({bpftrace})")
        ver = session.parse_version(text)
        if ver is not None and ver[:2] < MIN_VERSION:
            return Availability(False, f"{text} is too old: the bpf probe needs bpftrace 0.16+")
        if os.geteuid() != 0:
            return Availability(False, "not root: bpftrace needs root (run with sudo)")
        if not os.path.exists(BTF):
            return Availability(
                False, f"no kernel BTF ({BTF}): the program reads task and mm fields"
            )
        mounted, _ = tracefs.status()
        if not mounted and not os.path.isdir(tracefs.MOUNT_POINT):
            return Availability(False, "tracefs is not mounted and cannot be (no CONFIG_TRACING?)")
        return Availability(True)

    def tool_version(self) -> str | None:
        from loadbench.bpf import session

        return session.run_version(self._bpftrace)

    # ------------------------------------------------------------------ set-up per batch

    def _layout(self, path: str) -> Any:
        from loadbench.bpf import regions
        from loadbench.perf import layout

        real = os.path.realpath(path)
        got = self._layouts.get(real)
        if got is None:
            try:
                lay = layout.load_layout(real)
                interp = None
                if lay.interpreter:
                    interp = regions.interp_from_layout(
                        layout.load_layout(os.path.realpath(lay.interpreter))
                    )
            except ValueError as e:  # InspectError and ParseError are ValueErrors
                raise ProbeUnavailable(f"{path}: {e}") from None
            got = self._layouts[real] = (lay, interp)
        return got

    def layout(self, path: str) -> Any:
        """The layout of a binary this probe has launched, by its path; None for one it has not
        seen."""
        got = self._layouts.get(os.path.realpath(path))
        return None if got is None else got[0]

    def _program(self, targets: Sequence[Target]) -> Any:
        from loadbench.bpf import program, regions

        key = tuple(os.path.realpath(t.path) for t in targets)
        prog = self._programs.get(key)
        if prog is not None:
            return prog
        bts, devs = [], []
        for i, path in enumerate(key):
            lay, interp = self._layout(path)
            st = os.stat(path)
            bts.append(regions.BpfTarget(i, lay, st.st_ino, interp))
            devs.append((st.st_ino, program.kernel_dev(st.st_dev)))
        try:
            prog = program.render(self._template, bts, devs, self._options, self._features,
                                  self._geom)
        except ValueError as e:
            raise ProbeUnavailable(str(e)) from None
        self._programs[key] = (prog, {t.index: t for t in bts})
        gaps = self.settings.setdefault("fault_gap_expected", {})
        for t, bt in zip(targets, bts, strict=True):
            gaps[t.name] = 1 + program.uprobe_pages(prog.uprobes, bt.index)
        return self._programs[key]

    def _reasons(self, targets: Mapping[int, Any], prog: Any) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        roles = {(u.target, u.role) for u in prog.uprobes}
        for i, bt in targets.items():
            why: dict[str, str] = {}
            if (i, "main") not in roles:
                why["main"] = (bt.layout.main_missing_reason if self.settings["uprobes"]
                               else "no main uprobe in this session (setting uprobes=false)")
            if bt.dynamic and (i, "entry") not in roles:
                why["entry"] = ("entry point not in a file-backed segment"
                                if bt.layout.entry_file_offset is None
                                else "no entry uprobe in this session (setting uprobes=false)")
            if not self._features.prepare_exec:
                why["prepare_exec"] = "this kernel has no sched_prepare_exec tracepoint"
            out[i] = why
        return out

    # ------------------------------------------------------------------ measuring

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        for sample, _ in self.run_traced(schedule):
            yield sample

    def run_traced(self, schedule: Schedule) -> Iterator[tuple[Sample, Any]]:
        """Like ``run``, with each launch's ``BpfLaunch`` (None when it was not traced)."""
        from loadbench.bpf import fold, regions, session

        prog, targets = self._program(schedule.targets)
        self.calibrate_each_target(schedule)
        if self.stop.requested:
            return  # a stop during the calibration ends the run before this batch
        # Real paths: the program recognises the exec'd binaries by inode, uprobes by path.
        real = with_real_paths(schedule)
        classifier = regions.Classifier(targets, self._geom)
        reasons = self._reasons(targets, prog)
        index = schedule.first_index
        paths = [os.path.realpath(t.path) for t in schedule.targets]
        est = [self._keys.get(p, KEYS_PER_LAUNCH[self._options.regions]) for p in paths]
        # Sessions no larger than the kernel maps: every map is preallocated at one size.
        per = max(1, MAX_MAP_KEYS * 4 // 5 // max(est))
        order = list(schedule.order)
        for start in range(0, len(order), per):
            if self.stop.requested:
                return
            part = order[start:start + per]
            keys = _map_keys(sum(est[i] for i in part))
            res = session.record(
                self._bpftrace, prog.text, self._launcher,
                dataclasses.replace(real, order=tuple(part)), evict_map(schedule),
                map_keys=keys, stop=self.stop, unsafe=prog.unsafe,
            )
            self.totals["sessions"] += 1
            self.totals["launches"] += len(res.raws)
            self.totals["startup_s"] += res.startup_s
            self.totals["readout_s"] += res.readout_s
            self.totals["map_keys_max"] = max(self.totals["map_keys_max"], keys)
            launches = fold.fold(res.output, targets, prog.table, classifier,
                                 execve=self._options.execve,
                                 prepare_exec=self._features.prepare_exec, reasons=reasons)
            self._learn_keys(res, paths, est)
            for raw, bl in zip(res.raws, fold.match_launches(res.raws, launches), strict=True):
                if bl is None:
                    extra: dict[str, Any] = {"trace_error": "launch not found in the bpf maps"}
                else:
                    extra = bl.sample_extra()
                yield sample_from_raw(raw, index, **extra), bl
                index += 1

    def _learn_keys(self, res: Any, paths: Sequence[str], est: Sequence[int]) -> None:
        """Size the next sessions' maps from the keys this one used per launch of each binary
        (doubling after a map filled up: those launches' breakdowns are marked and left out)."""
        full = bool(res.output.helper_errors.get("map_update_elem"))
        launches = [0] * len(paths)
        for raw in res.raws:
            launches[raw[0]] += 1
        used = [0] * len(paths)
        for state, _, _ in res.output.map("@f"):
            t = (state >> 4) & 0xFF
            if t < len(paths):
                used[t] += 1
        for i, p in enumerate(paths):
            if full:
                self._keys[p] = est[i] * 2
            elif launches[i]:
                self._keys[p] = max(16, int(used[i] / launches[i] * 1.5) + 8)

    # ------------------------------------------------------------------ observer effect

    def traced_block(self, target: Target, env: Mapping[str, str], *,
                     timeout_s: float = 10.0) -> Any:
        """A function launching ``target`` n times in one session of this probe, exactly as for
        a record (the maps are read and parsed after the block, outside every launch)."""
        from loadbench.bpf import session

        prog, _ = self._program((target,))
        path = os.path.realpath(target.path)
        real = dataclasses.replace(target, path=path)

        def traced(n: int) -> list[Sample]:
            per = self._keys.get(path, KEYS_PER_LAUNCH[self._options.regions])
            sched = Schedule(targets=(real,), order=(0,) * n, env=env, timeout_s=timeout_s)
            res = session.record(self._bpftrace, prog.text, self._launcher, sched, None,
                                 map_keys=_map_keys(n * per), stop=self.stop,
                                 unsafe=prog.unsafe)
            self._learn_keys(res, [path], [per])
            return [sample_from_raw(raw, 0) for raw in res.raws]

        return traced

    def close(self) -> None:
        """Nothing to remove: bpftrace ends with each batch, its uprobes with it, and no file is
        ever written (see ``loadbench.bpf.session``)."""


def _map_keys(estimate: int) -> int:
    n = 4096
    while n < estimate * 5 // 4 and n < MAX_MAP_KEYS:
        n *= 2
    return n

