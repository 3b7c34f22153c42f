"""Fold parsed perf events into one ``LaunchTrace`` per launch: phases, faults by region/kind/phase.

A launch is one process lifetime of a pid, from its first event (the spawned child, still in
the launcher's memory) to the exit of its last thread (``group_dead``). Phases run between the
markers ``execve`` (sys_enter_execve) -> ``exec`` (sched_process_exec) -> ``entry`` (uprobe at
the ELF entry point) -> ``main`` (uprobe at main.main/main) -> ``exit``; a missing marker merges
its two neighbouring phases under a ``<from>_to_<to>`` name and is listed with the reason in
``missing``, so the phases always telescope to ``total`` and no number is ever made up.

Each fault is attributed at the time it happened: to a section (or segment) of the launched
binary through the load bias taken from the binary's mmap record, else to the mapping that held
the address (shared library by name, ``stack``, ``vdso``, ``go heap`` for anonymous memory inside
a Go heap arena reservation, ``anonymous``), else to ``launcher memory (pre-exec)`` for faults the
spawn child takes before its new image exists. The traced total is what the kernel's perf
software events counted; wait4's rusage counts the same faults plus those taken inside
get_user_pages (execve copying argv/envp into the new stack, uprobe installation), which raise
no perf event: rusage is therefore a few faults higher, never lower.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadbench.perf.layout import BinaryLayout
from loadbench.perf.script import Fault, Lost, Marker, MarkerKind, Mmap

MARKERS = ("execve", "exec", "entry", "main", "exit")
PHASES = ("exec", "to_entry", "runtime_init", "main_to_exit")
_PHASE_OF = dict(zip(itertools.pairwise(MARKERS), PHASES, strict=True))
SPAWN_PHASE = "spawn"  # faults before execve: the spawned child, still in the launcher's memory
PRE_EXEC_REGION = "launcher memory (pre-exec)"
GO_ARENA_BYTES = 64 << 20  # heapArenaBytes on 64-bit Linux: arenas are reserved in these units
_KERNEL_HALF = 1 << 47


class FaultKind(enum.StrEnum):
    IFETCH = "instruction-fetch"
    READ = "read"
    WRITE = "write"
    COW = "copy-on-write"  # write to a present page: a protection fault, e.g. a private page
    UNKNOWN = "unknown"  # no exceptions:page_fault_* record was paired with the fault


def fault_kind(error_code: int | None) -> FaultKind:
    """Kind from the x86 page-fault error code (0x1 present, 0x2 write, 0x10 fetch)."""
    if error_code is None:
        return FaultKind.UNKNOWN
    if error_code & 0x10:
        return FaultKind.IFETCH
    if error_code & 0x2:
        return FaultKind.COW if error_code & 0x1 else FaultKind.WRITE
    return FaultKind.READ


def phase_name(a: str, b: str) -> str:
    return _PHASE_OF.get((a, b)) or f"{a}_to_{b}"


def phase_durations(bounds: Sequence[tuple[str, int, int]], markers: Mapping[str, int], *,
                    start: str) -> dict[str, int]:
    """Each phase's duration from its (name, start ns, end ns), and ``total`` from the ``start``
    marker to ``exit`` when both were seen (both probes: perf from execve, bpf from fork)."""
    out = {name: tb - ta for name, ta, tb in bounds}
    if start in markers and "exit" in markers:
        out["total"] = markers["exit"] - markers[start]
    return out


@dataclass(frozen=True, slots=True)
class AttributedFault:
    time_ns: int
    tid: int
    address: int
    major: bool
    kind: FaultKind
    kernel_mode: bool
    region: str  # section name, segment label, library name, "stack", "go heap", ...
    segment: str | None  # the binary's segment label when the address is in the binary


@dataclass(frozen=True, slots=True)
class LaunchTrace:
    """Everything perf saw of one launch. ``markers`` maps marker name -> CLOCK_MONOTONIC ns."""

    pid: int
    begin_ns: int
    end_ns: int
    markers: Mapping[str, int]
    missing: Mapping[str, str]  # marker -> why it is absent
    faults: tuple[AttributedFault, ...]
    threads: int
    binary: str | None  # real path of the exec'd binary (from sched_process_exec)
    lost: bool = False  # perf dropped records in this session: breakdowns may be incomplete

    def phase_bounds(self) -> list[tuple[str, int, int]]:
        """(phase, start ns, end ns) between consecutive present markers, in order."""
        present = [(m, self.markers[m]) for m in MARKERS if m in self.markers]
        return [(phase_name(a, b), ta, tb) for (a, ta), (b, tb) in itertools.pairwise(present)]

    def phases_ns(self) -> dict[str, int]:
        return phase_durations(self.phase_bounds(), self.markers, start="execve")

    def phases_missing(self) -> dict[str, str]:
        """Canonical phases that could not be measured, with the reason."""
        out: dict[str, str] = {}
        for (a, b), name in _PHASE_OF.items():
            for m in (a, b):
                if m not in self.markers:
                    out[name] = f"no {m} marker: {self.missing.get(m, 'not seen in the trace')}"
                    break
        if "execve" not in self.markers or "exit" not in self.markers:
            m = "execve" if "execve" not in self.markers else "exit"
            out["total"] = f"no {m} marker: {self.missing.get(m, 'not seen in the trace')}"
        return out

    def fault_phase(self) -> list[str]:
        """Phase of each fault (``spawn`` before execve), parallel to ``faults``."""
        bounds = self.phase_bounds()
        if not bounds:
            return [SPAWN_PHASE if "execve" in self.markers else "unknown"] * len(self.faults)
        starts = [b[1] for b in bounds]
        out = []
        for f in self.faults:
            i = bisect.bisect_right(starts, f.time_ns) - 1
            # after the last marker (a thread still unwinding) counts in the last phase
            out.append(SPAWN_PHASE if i < 0 else bounds[i][0])
        return out

    def breakdowns(self) -> dict[str, Any]:
        """The per-launch fault figures stored in Sample.extra (each sums to the total)."""
        by_region: Counter[str] = Counter()
        by_kind: Counter[str] = Counter()
        by_segment: Counter[str] = Counter()
        major = kernel = 0
        for f in self.faults:
            by_region[f.region] += 1
            by_kind[f.kind] += 1
            if f.segment is not None:
                by_segment[f.segment] += 1
            major += f.major
            kernel += f.kernel_mode
        by_phase = Counter(self.fault_phase())
        phase_order = [SPAWN_PHASE, *(b[0] for b in self.phase_bounds()), "unknown"]
        return {
            "faults_by_region": dict(by_region.most_common()),
            "faults_by_kind": {str(k): n for k, n in by_kind.most_common()},
            "faults_by_phase": {p: by_phase[p] for p in phase_order if by_phase[p]},
            "faults_by_segment": dict(by_segment.most_common()),
            "trace_faults_minor": len(self.faults) - major,
            "trace_faults_major": major,
            "trace_faults_kernel_mode": kernel,
        }

    def sample_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"phases_ns": self.phases_ns()}
        missing = self.phases_missing()
        if missing:
            extra["phases_missing"] = missing
        extra["trace_threads"] = self.threads
        if self.lost:
            extra["trace_error"] = (
                "perf lost records in this session (ring buffer full); fault breakdowns left out"
            )
            return extra
        extra.update(self.breakdowns())
        return extra


class _MapTable:
    """Non-overlapping address ranges -> mmap record; a newer mapping replaces what it covers
    (MAP_FIXED over a reservation), like the kernel's own VMA tree."""

    __slots__ = ("ends", "maps", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.maps: list[Mmap] = []

    def add(self, m: Mmap) -> None:
        s, e = m.start, m.start + m.length
        lo = bisect.bisect_right(self.starts, s) - 1
        if lo < 0 or self.ends[lo] <= s:
            lo += 1
        hi = bisect.bisect_left(self.starts, e)  # ranges lo..hi-1 overlap [s, e)
        new: list[tuple[int, int, Mmap]] = []
        for i in range(lo, hi):
            if self.starts[i] < s:  # the head of an old mapping survives before the new one
                new.append((self.starts[i], s, self.maps[i]))
        new.append((s, e, m))
        for i in range(lo, hi):
            if self.ends[i] > e:  # and its tail after it
                new.append((e, self.ends[i], self.maps[i]))
        self.starts[lo:hi] = [x[0] for x in new]
        self.ends[lo:hi] = [x[1] for x in new]
        self.maps[lo:hi] = [x[2] for x in new]

    def find(self, addr: int) -> Mmap | None:
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0 and addr < self.ends[i]:
            return self.maps[i]
        return None


_SPECIAL = {
    "[stack]": "stack",
    "[heap]": "heap (brk)",
    "[vdso]": "vdso",
    "[vvar]": "vvar",
    "[vvar_vclock]": "vvar",
    "[uprobes]": "uprobes (observer)",
}


@dataclass(slots=True)
class _Life:
    """One process lifetime of a pid while events are folded (mutable while building)."""

    pid: int
    begin_ns: int
    end_ns: int = 0
    markers: dict[str, int] = field(default_factory=dict)
    exits: list[int] = field(default_factory=list)
    dead: bool = False
    faults: list[AttributedFault] = field(default_factory=list)
    tids: set[int] = field(default_factory=set)
    maps: _MapTable = field(default_factory=_MapTable)
    arenas: list[tuple[int, int]] = field(default_factory=list)
    stack: tuple[int, int] | None = None
    layout: BinaryLayout | None = None
    bias: int | None = None
    span: tuple[int, int] = (0, 0)
    new_image: bool = False
    binary: str | None = None

    def region(self, addr: int) -> tuple[str, str | None]:
        if addr >= _KERNEL_HALF:
            return "kernel", None
        lay = self.layout
        if lay is not None and self.bias is not None:
            v = addr - self.bias
            if self.span[0] <= v < self.span[1]:
                hit = lay.locate(v)
                if hit is not None:
                    seg, sec = hit
                    return (sec or f"{seg} (no section)"), seg
        m = self.maps.find(addr)
        if m is None:
            if not self.new_image:
                return PRE_EXEC_REGION, None
            # the main stack grows below its first mapping without a new mmap record
            if self.stack is not None and self.stack[0] - (8 << 20) <= addr < self.stack[0]:
                return "stack", None
            return "unmapped", None
        path = m.path
        if path.startswith("//anon") or not path:
            if lay is not None and lay.is_go:
                for a, b in self.arenas:
                    if a <= addr < b:
                        return "go heap", None
            return "anonymous", None
        special = _SPECIAL.get(path)
        if special is not None:
            return special, None
        if path.startswith("/"):
            return os.path.basename(path), None
        return path, None


def fold(
    events: Iterable[Fault | Mmap | Marker | Lost],
    layouts: Mapping[str, BinaryLayout],
    uprobe_roles: Mapping[str, str],
    pids: Iterable[int] | None = None,
) -> dict[int, list[LaunchTrace]]:
    """Group events into launches per pid (a pid reused after its exit starts a new launch).

    ``layouts`` maps a binary's real path to its layout; ``uprobe_roles`` maps uprobe event
    names ("lb123:e0") to the marker they stand for ("entry" or "main"); ``pids`` limits the
    work to the launched targets (the launcher's own events are skipped).
    """
    wanted = None if pids is None else set(pids)
    lives: dict[int, list[_Life]] = {}
    lost_times: list[int] = []
    for ev in events:
        if isinstance(ev, Lost):
            lost_times.append(ev.time_ns)
            continue
        pid = ev.pid
        if wanted is not None and pid not in wanted:
            continue
        seq = lives.get(pid)
        if seq is None or seq[-1].dead:
            life = _Life(pid=pid, begin_ns=ev.time_ns)
            lives.setdefault(pid, []).append(life)
        else:
            life = seq[-1]
        life.tids.add(ev.tid)
        life.end_ns = ev.time_ns
        if isinstance(ev, Fault):
            region, seg = life.region(ev.address)
            life.faults.append(
                AttributedFault(
                    ev.time_ns,
                    ev.tid,
                    ev.address,
                    ev.major,
                    fault_kind(ev.error_code),
                    ev.kernel_mode,
                    region,
                    seg,
                )
            )
        elif isinstance(ev, Mmap):
            _on_mmap(life, ev, layouts)
        else:
            _on_marker(life, ev, uprobe_roles)
    roles = set(uprobe_roles.values())
    out: dict[int, list[LaunchTrace]] = {}
    for pid, seq in lives.items():
        out[pid] = [_finish(life, lost_times, roles) for life in seq]
    return out


def _on_mmap(life: _Life, m: Mmap, layouts: Mapping[str, BinaryLayout]) -> None:
    if "execve" in life.markers:
        life.new_image = True
    life.maps.add(m)
    if m.path == "[stack]" and life.stack is None:
        life.stack = (m.start, m.start + m.length)
    lay = layouts.get(m.path)
    if lay is not None and life.bias is None:
        b = lay.bias(m.start, m.pgoff)
        if b is not None:
            life.layout, life.bias = lay, b
            lo, hi = lay.span()
            life.span = (lo, hi)
    if (
        (m.path.startswith("//anon") or not m.path)
        and m.start % GO_ARENA_BYTES == 0
        and m.length % GO_ARENA_BYTES == 0
    ):
        life.arenas.append((m.start, m.start + m.length))


def _on_marker(life: _Life, mk: Marker, roles: Mapping[str, str]) -> None:
    k = mk.kind
    if k is MarkerKind.EXECVE:
        # the last execve before exec done is the one that loaded the image
        if "exec" not in life.markers:
            life.markers["execve"] = mk.time_ns
    elif k is MarkerKind.EXEC:
        if "exec" not in life.markers:
            life.markers["exec"] = mk.time_ns
            life.binary = mk.name or None
    elif k is MarkerKind.EXIT:
        life.exits.append(mk.time_ns)
        if mk.group_dead:
            life.markers["exit"] = mk.time_ns
            life.dead = True
    else:
        role = roles.get(mk.name)
        if role is not None and role not in life.markers and "exec" in life.markers:
            life.markers[role] = mk.time_ns


def _finish(life: _Life, lost_times: list[int], roles: set[str]) -> LaunchTrace:
    markers = dict(life.markers)
    missing: dict[str, str] = {}
    if "exit" not in markers and life.exits and not life.dead:
        # kernels without group_dead in the tracepoint: the last thread to exit ends it
        markers["exit"] = max(life.exits)
    lay = life.layout
    if "entry" not in markers:
        if lay is not None and lay.entry_file_offset is None:
            missing["entry"] = "entry point not in a file-backed segment"
        elif "entry" not in roles:
            missing["entry"] = "no entry uprobe in this session (setting uprobes=false)"
        else:
            missing["entry"] = "entry uprobe not hit"
    if "main" not in markers:
        if lay is not None and lay.main_missing_reason:
            missing["main"] = lay.main_missing_reason
        elif "main" not in roles:
            missing["main"] = "no main uprobe in this session (setting uprobes=false)"
        else:
            missing["main"] = "main uprobe not hit (exited before main?)"
    # a marker out of order would make a negative phase: drop it rather than report it
    last = None
    for m in MARKERS:
        if m in markers:
            if last is not None and markers[m] < last:
                missing[m] = "marker out of order in the trace"
                del markers[m]
                continue
            last = markers[m]
    # A PERF_RECORD_LOST is written when the buffer has room again, with the time and task of
    # that moment, not of the records it lost: no launch of the session can be vouched for.
    lost = bool(lost_times)
    return LaunchTrace(
        pid=life.pid,
        begin_ns=life.begin_ns,
        end_ns=life.end_ns,
        markers=markers,
        missing=missing,
        faults=tuple(life.faults),
        threads=len(life.tids),
        binary=life.binary,
        lost=lost,
    )


def match_launches(
    raws: Iterable[tuple[Any, ...]], traces: Mapping[int, list[LaunchTrace]]
) -> list[LaunchTrace | None]:
    """The trace of each launcher result tuple (pid last, start ns at [10]), or None."""
    out: list[LaunchTrace | None] = []
    for raw in raws:
        pid, start = int(raw[-1]), int(raw[10])
        best = None
        for lt in traces.get(pid, ()):
            # The child's first event comes after the launcher read the clock for the spawn
            # (same CLOCK_MONOTONIC; the slack covers perf's NMI-safe clock reads). A reused
            # pid has other lifetimes: take the first one that starts after this launch did.
            if lt.begin_ns >= start - 50_000 and (best is None or lt.begin_ns < best.begin_ns):
                best = lt
        out.append(best)
    return out
