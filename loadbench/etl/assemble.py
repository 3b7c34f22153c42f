"""Per-process assembly: turns decoded kernel events into one report per process instance.

A process instance is keyed by pid plus creation time, because pids are reused: the classic
Process/Start..End pair gives the lifetime on the trace clock, Microsoft-Windows-Kernel-Process
ProcessStart/ProcessStop give the kernel's CreateTime/ExitTime FILETIMEs (the same values
GetProcessTimes returns) and HardFaultCount. Image loads are timed from Process/Start; page faults
are counted by kind and by the image whose [base, base + size) holds the faulting address; HardFault
events are logged when the read completes, so they are attributed through their TThreadId to the
thread's process at that time. Events arrive in file order, which is per-CPU buffer order, not time
order, so the assembler keeps only these few compact facts and replays them sorted by time.
"""

from __future__ import annotations

import bisect
import ntpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from loadbench.etl.events import (
    Decoded,
    FaultKind,
    HardFaultEvent,
    ImageEvent,
    KernelProcessStart,
    KernelProcessStop,
    PageFaultEvent,
    ProcessEvent,
    ThreadEvent,
)

UNKNOWN_IMAGE = "<no image>"  # faulting address outside every mapped image (heap, stack, ...)
# How far apart the Kernel-Process ProcessStart and the classic Process/Start of one process may
# be: both are logged while the process is created (0.1 ms apart in the PerfView fixture).
_START_PAIR_NS = 1_000_000_000
MILESTONE_IMAGES = ("ntdll.dll", "kernel32.dll")


@dataclass(frozen=True, slots=True)
class ImageLoad:
    """One Image/Load of a process. ``since_start_ns`` runs from the process's Process/Start."""

    file_name: str
    image_base: int
    image_size: int
    time_ns: int
    since_start_ns: int | None

    @property
    def basename(self) -> str:
        return ntpath.basename(self.file_name)


@dataclass(frozen=True, slots=True)
class ProcessReport:
    """Everything the trace says about one process instance.

    Times ending in ``_ns`` without "since" are nanoseconds since the trace start; ``_100ns`` are
    FILETIMEs. ``start_ns``/``end_ns`` come from the classic Process/Start and Process/End events
    (None when the process started before, or ended after, the trace). ``kp_*`` come from
    Microsoft-Windows-Kernel-Process. ``hard_fault_count`` is ProcessStop's HardFaultCount (the
    kernel's own counter); ``hardfault_events`` counts PageFault/HardFault events on the process's
    threads; the two count differently and are reported side by side.
    """

    pid: int
    image: str
    command_line: str
    parent_pid: int | None
    start_ns: int | None
    end_ns: int | None
    start_utc_100ns: int | None
    kp_create_time_100ns: int | None
    kp_exit_time_100ns: int | None
    exit_code: int | None
    image_loads: tuple[ImageLoad, ...]
    threads: tuple[int, ...]
    hard_fault_count: int | None
    hardfault_events: int
    faults_by_kind: Mapping[str, int]
    faults_by_image: Mapping[str, Mapping[str, int]]
    commit_peak_bytes: int | None
    started_before_trace: bool  # no Process/Start or ProcessStart: known from later events only

    @property
    def lifetime_ns(self) -> int | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        return self.end_ns - self.start_ns

    @property
    def kp_lifetime_ns(self) -> int | None:
        if not self.kp_create_time_100ns or not self.kp_exit_time_100ns:
            return None
        return (self.kp_exit_time_100ns - self.kp_create_time_100ns) * 100

    @property
    def create_time_100ns(self) -> int | None:
        """The key's creation time: the kernel's CreateTime when logged, else Process/Start."""
        return self.kp_create_time_100ns or self.start_utc_100ns

    def first_load(self, basename: str) -> ImageLoad | None:
        want = basename.lower()
        for load in self.image_loads:
            if load.basename.lower() == want:
                return load
        return None

    def exe_load(self) -> ImageLoad | None:
        """The executable's own Image/Load: by name, else the first ``.exe`` loaded."""
        found = self.first_load(self.image) if self.image else None
        if found is None:
            found = next((ld for ld in self.image_loads
                          if ld.basename.lower().endswith(".exe")), None)
        return found

    def milestones_ns(self) -> dict[str, int | None]:
        """Time from Process/Start to the loads of the exe, ntdll and kernel32."""
        out: dict[str, int | None] = {}
        exe = self.exe_load()
        out["exe"] = exe.since_start_ns if exe else None
        for name in MILESTONE_IMAGES:
            load = self.first_load(name)
            out[name.removesuffix(".dll")] = load.since_start_ns if load else None
        return out


@dataclass(slots=True)
class _Instance:
    """Mutable accumulator behind one ProcessReport while the events are replayed."""

    pid: int
    image: str = ""
    command_line: str = ""
    parent_pid: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    start_utc_100ns: int | None = None
    kp_create: int | None = None
    kp_exit: int | None = None
    kp_seen_ns: int | None = None
    exit_code: int | None = None
    loads: list[ImageLoad] = field(default_factory=list)
    threads: dict[int, None] = field(default_factory=dict)
    hard_fault_count: int | None = None
    hardfault_events: int = 0
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    faults_by_image: dict[str, dict[str, int]] = field(default_factory=dict)
    commit_peak: int | None = None
    before_trace: bool = False
    range_starts: list[int] = field(default_factory=list)
    ranges: list[tuple[int, int, str]] = field(default_factory=list)
    bases: set[int] = field(default_factory=set)

    def add_range(self, base: int, size: int, name: str) -> None:
        if base in self.bases:
            return
        self.bases.add(base)
        at = bisect.bisect_right(self.range_starts, base)
        self.range_starts.insert(at, base)
        self.ranges.insert(at, (base, base + size, name))

    def image_at(self, address: int) -> str:
        at = bisect.bisect_right(self.range_starts, address) - 1
        # Scan down a little: a later, smaller mapping may start below an address that an
        # earlier, larger one covers.
        for i in range(at, max(at - 8, -1), -1):
            base, end, name = self.ranges[i]
            if base <= address < end:
                return name
        return UNKNOWN_IMAGE

    def count_fault(self, kind: str, address: int) -> None:
        self.faults_by_kind[kind] = self.faults_by_kind.get(kind, 0) + 1
        per = self.faults_by_image.setdefault(self.image_at(address), {})
        per[kind] = per.get(kind, 0) + 1

    def report(self) -> ProcessReport:
        return ProcessReport(
            pid=self.pid, image=self.image, command_line=self.command_line,
            parent_pid=self.parent_pid, start_ns=self.start_ns, end_ns=self.end_ns,
            start_utc_100ns=self.start_utc_100ns, kp_create_time_100ns=self.kp_create,
            kp_exit_time_100ns=self.kp_exit, exit_code=self.exit_code,
            image_loads=tuple(self.loads), threads=tuple(sorted(self.threads)),
            hard_fault_count=self.hard_fault_count, hardfault_events=self.hardfault_events,
            faults_by_kind=dict(sorted(self.faults_by_kind.items())),
            faults_by_image={k: dict(sorted(v.items()))
                             for k, v in sorted(self.faults_by_image.items())},
            commit_peak_bytes=self.commit_peak, started_before_trace=self.before_trace)


@dataclass(frozen=True, slots=True)
class AssemblyStats:
    """What could not be attributed to a process (and therefore appears in no report)."""

    unattributed_hardfaults: int
    unattributed_faults: int


class Assembler:
    """Collects decoded events (any order), then ``finish()`` replays them in time order.

    ``start_utc_100ns`` is the FILETIME of time zero (the trace header event). ``pids`` restricts
    the reports (and what is kept) to those process ids; thread events are kept for every process
    because HardFault attribution needs the thread table.
    """

    def __init__(self, start_utc_100ns: int, pids: Iterable[int] | None = None) -> None:
        self._start_utc = start_utc_100ns
        self._pids = None if pids is None else frozenset(pids)
        self._events: list[tuple[int, int, Decoded]] = []

    def add(self, event: Decoded) -> None:
        pids = self._pids
        if pids is not None:
            pid = getattr(event, "pid", None)
            if isinstance(event, PageFaultEvent | ImageEvent | ProcessEvent | KernelProcessStart
                          | KernelProcessStop) and pid is not None and pid not in pids:
                return
        self._events.append((event.time_ns, len(self._events), event))

    def finish(self) -> tuple[tuple[ProcessReport, ...], AssemblyStats]:
        self._events.sort(key=lambda item: (item[0], item[1]))
        replay = _Replay(self._start_utc)
        for _t, _seq, event in self._events:
            replay.feed(event)
        reports, stats = replay.done()
        if self._pids is not None:
            reports = tuple(r for r in reports if r.pid in self._pids)
        return reports, stats


class _Replay:
    """The time-ordered pass: process instances, the thread table, attribution."""

    def __init__(self, start_utc_100ns: int) -> None:
        self.start_utc = start_utc_100ns
        self.instances: list[_Instance] = []
        self.open: dict[int, _Instance] = {}  # pid -> instance alive now
        self.latest: dict[int, _Instance] = {}  # pid -> most recent instance, alive or not
        self.thread_pid: dict[int, int] = {}  # tid -> pid of its most recent Start/DCStart
        self.rundown_thread_pid: dict[int, int] = {}  # tid -> pid from DCStart/DCEnd
        self.pending_hardfaults: list[HardFaultEvent] = []
        self.unattributed_hardfaults = 0
        self.unattributed_faults = 0

    def _new(self, pid: int, *, alive: bool = True) -> _Instance:
        inst = _Instance(pid=pid)
        self.instances.append(inst)
        if alive:
            self.open[pid] = inst
        self.latest[pid] = inst
        return inst

    def _current(self, pid: int) -> _Instance:
        """The live instance of ``pid``; one that started before the trace if none is known."""
        inst = self.open.get(pid)
        if inst is None:
            inst = self._new(pid)
            inst.before_trace = True
        return inst

    def _owner(self, pid: int) -> _Instance | None:
        return self.open.get(pid) or self.latest.get(pid)

    def feed(self, ev: Decoded) -> None:
        if isinstance(ev, PageFaultEvent):
            self._page_fault(ev)
        elif isinstance(ev, HardFaultEvent):
            pid = self.thread_pid.get(ev.thread_id)
            if pid is None:
                self.pending_hardfaults.append(ev)
            else:
                self._hard_fault(ev, pid)
        elif isinstance(ev, ImageEvent):
            self._image(ev)
        elif isinstance(ev, ThreadEvent):
            self._thread(ev)
        elif isinstance(ev, ProcessEvent):
            self._process(ev)
        elif isinstance(ev, KernelProcessStart):
            self._kp_start(ev)
        elif isinstance(ev, KernelProcessStop):
            self._kp_stop(ev)

    def _process(self, ev: ProcessEvent) -> None:
        op = ev.name.partition("/")[2]
        if op == "Start":
            inst = self.open.get(ev.pid)
            # Kernel-Process ProcessStart is logged just before the classic Start: same instance.
            if (inst is None or inst.start_ns is not None or inst.before_trace
                    or inst.kp_seen_ns is None or ev.time_ns - inst.kp_seen_ns > _START_PAIR_NS):
                inst = self._new(ev.pid)
            inst.start_ns = ev.time_ns
            inst.start_utc_100ns = self.start_utc + ev.time_ns // 100
        elif op == "End":
            inst = self._current(ev.pid)
            inst.end_ns = ev.time_ns
            inst.exit_code = ev.exit_status
            self.open.pop(ev.pid, None)
        elif op == "Defunct":
            # A process that exited but is still referenced when the rundown ran.
            inst = self._current(ev.pid)
            inst.exit_code = ev.exit_status
            self.open.pop(ev.pid, None)
        else:  # DCStart / DCEnd: alive when the trace started / stopped
            inst = self._current(ev.pid)
        if ev.image_file_name:
            inst.image = ev.image_file_name
        if ev.command_line:
            inst.command_line = ev.command_line
        inst.parent_pid = ev.parent_pid

    def _kp_start(self, ev: KernelProcessStart) -> None:
        inst = self.open.get(ev.pid)
        if (inst is None or inst.kp_create is not None or inst.before_trace
                or inst.start_ns is None
                or abs(ev.time_ns - inst.start_ns) > _START_PAIR_NS):
            inst = self._new(ev.pid)
        inst.kp_create = ev.create_time_100ns
        inst.kp_seen_ns = ev.time_ns
        inst.parent_pid = ev.parent_pid
        if not inst.image:
            inst.image = ntpath.basename(ev.image_name)

    def _kp_stop(self, ev: KernelProcessStop) -> None:
        inst = self._owner(ev.pid)
        if inst is None or (inst.kp_create is not None
                            and inst.kp_create != ev.create_time_100ns):
            inst = self._new(ev.pid, alive=False)  # a process whose start the trace missed
            inst.before_trace = True
        inst.kp_create = ev.create_time_100ns
        inst.kp_exit = ev.exit_time_100ns
        inst.hard_fault_count = ev.hard_fault_count
        inst.commit_peak = ev.commit_peak_bytes
        if inst.exit_code is None:
            inst.exit_code = ev.exit_code
        if not inst.image:
            inst.image = ev.image_name

    def _thread(self, ev: ThreadEvent) -> None:
        op = ev.name.partition("/")[2]
        if op in ("Start", "DCStart"):
            self.thread_pid[ev.tid] = ev.pid
        if op in ("DCStart", "DCEnd"):
            self.rundown_thread_pid.setdefault(ev.tid, ev.pid)
        inst = self._owner(ev.pid) if op in ("End", "DCEnd") else self._current(ev.pid)
        if inst is not None:
            inst.threads[ev.tid] = None

    def _image(self, ev: ImageEvent) -> None:
        if ev.name == "Image/UnLoad":
            return  # the mapping stays known: faults after an unload are rare and still its own
        inst = self._current(ev.pid) if ev.name != "Image/DCEnd" else self._owner(ev.pid)
        if inst is None:
            return
        if ev.name == "Image/Load":
            since = None if inst.start_ns is None else ev.time_ns - inst.start_ns
            inst.loads.append(ImageLoad(file_name=ev.file_name, image_base=ev.image_base,
                                        image_size=ev.image_size, time_ns=ev.time_ns,
                                        since_start_ns=since))
        inst.add_range(ev.image_base, ev.image_size, ntpath.basename(ev.file_name))

    def _page_fault(self, ev: PageFaultEvent) -> None:
        pid = ev.pid
        if pid is None and ev.tid is not None:
            pid = self.thread_pid.get(ev.tid)
        inst = None if pid is None else self._owner(pid)
        if inst is None:
            self.unattributed_faults += 1
            return
        inst.count_fault(str(ev.kind), ev.virtual_address)

    def _hard_fault(self, ev: HardFaultEvent, pid: int) -> None:
        inst = self._owner(pid)
        if inst is None:
            self.unattributed_hardfaults += 1
            return
        inst.hardfault_events += 1
        inst.threads.setdefault(ev.thread_id, None)
        inst.count_fault(str(FaultKind.HARD_FAULT), ev.virtual_address)

    def done(self) -> tuple[tuple[ProcessReport, ...], AssemblyStats]:
        # HardFaults seen before their thread's rundown record belong to threads that existed
        # before the trace: the rundown names their process.
        for ev in self.pending_hardfaults:
            pid = self.rundown_thread_pid.get(ev.thread_id)
            if pid is None:
                self.unattributed_hardfaults += 1
            else:
                self._hard_fault(ev, pid)
        reports = tuple(inst.report() for inst in self.instances)
        return reports, AssemblyStats(unattributed_hardfaults=self.unattributed_hardfaults,
                                      unattributed_faults=self.unattributed_faults)
