"""Turn one session's kernel maps into one ``BpfLaunch`` per launch: phases and fault breakdowns.

Launch ``id`` is the launcher's fork number, so the k-th result line of the launcher belongs to
the k-th fork (checked against the pid). Markers ``fork`` -> [``execve``] -> ``prepare_exec``
-> ``exec`` -> [``interp``] -> ``entry`` -> ``main`` -> ``exit`` delimit the phases:

* ``spawn``: the launcher's vfork to ``execve`` (with the optional ``execve`` marker) or to
  execve's point of no return (``sched_prepare_exec``: the binary is open, argv copied, its
  format recognised); the launcher's own child code is in here, a few microseconds.
* ``exec`` (execve -> exec done) or, without the ``execve`` marker, ``exec_load`` (point of no
  return -> exec done: the old memory released, the new image mapped).
* ``to_entry`` (static binary: exec done -> its first instruction) or, with an interpreter,
  ``to_interp`` (-> ld.so's first instruction) and ``ld_so`` (-> the binary's entry point).
* ``runtime_init`` (entry -> ``main.main``/``main``) and ``main_to_exit``.

``total`` is fork -> exit and is the sum of the phases. A missing marker merges its neighbours
under ``<from>_to_<to>`` and is listed with the reason, as the perf probe does. A fault belongs to
the phase its launch was in when it was taken (the kernel program keeps the phase per launch).
Region codes come from the session's ``RegionTable``; faults the kernel keyed by address are
placed here with ``regions.Classifier``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadbench.bpf.output import BpfOutput
from loadbench.bpf.regions import (
    REGION_CODE_LIMIT,
    BpfTarget,
    Classifier,
    FileVma,
    LaunchFacts,
    Region,
    RegionTable,
)
from loadbench.perf.attribution import fault_kind, phase_durations

MARKER_NAMES = {1: "fork", 2: "execve", 3: "prepare_exec", 4: "exec", 5: "interp", 6: "entry",
                7: "main", 8: "exit"}
MARKER_ORDER = tuple(MARKER_NAMES.values())
_PHASE_NAMES = {
    ("fork", "execve"): "spawn",
    ("fork", "prepare_exec"): "spawn",
    ("execve", "exec"): "exec",
    ("prepare_exec", "exec"): "exec_load",
    ("exec", "interp"): "to_interp",
    ("interp", "entry"): "ld_so",
    ("exec", "entry"): "to_entry",
    ("entry", "main"): "runtime_init",
    ("main", "exit"): "main_to_exit",
}


def phase_name(a: str, b: str) -> str:
    return _PHASE_NAMES.get((a, b)) or f"{a}_to_{b}"


def expected_markers(target: BpfTarget | None, *, execve: bool, prepare_exec: bool) -> list[str]:
    """Phase boundaries a launch of ``target`` should have, in order."""
    out = ["fork"]
    if execve:
        out.append("execve")
    elif prepare_exec:
        out.append("prepare_exec")
    out.append("exec")
    if target is not None and target.dynamic:
        out.append("interp")
    return [*out, "entry", "main", "exit"]


@dataclass(frozen=True, slots=True)
class BpfLaunch:
    """What the kernel program counted for one launch."""

    id: int
    pid: int
    markers: Mapping[str, int]  # boundary markers present, in order -> CLOCK_MONOTONIC ns
    expected: tuple[str, ...]  # boundary markers the launch should have
    missing: Mapping[str, str]  # marker -> why it is absent
    faults: Mapping[tuple[str, int, Region], int]  # (phase, error code & 0x17, region) -> count
    major: int
    threads: int
    facts: LaunchFacts | None
    incomplete: str = ""  # why the breakdowns cannot be vouched for ("" when they can)

    def phase_bounds(self) -> list[tuple[str, int, int]]:
        present = [(m, t) for m, t in self.markers.items()]
        return [(phase_name(a, b), ta, tb) for (a, ta), (b, tb) in itertools.pairwise(present)]

    def phases_ns(self) -> dict[str, int]:
        return phase_durations(self.phase_bounds(), self.markers, start="fork")

    def phases_missing(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for a, b in itertools.pairwise(self.expected):
            for m in (a, b):
                if m not in self.markers:
                    out[phase_name(a, b)] = f"no {m} marker: {self.missing.get(m, 'not seen')}"
                    break
        for m in ("fork", "exit"):
            if m not in self.markers:
                out["total"] = f"no {m} marker: {self.missing.get(m, 'not seen')}"
        return out

    def breakdowns(self) -> dict[str, Any]:
        by_region: Counter[str] = Counter()
        by_kind: Counter[str] = Counter()
        by_phase: Counter[str] = Counter()
        by_segment: Counter[str] = Counter()
        kernel = 0
        for (phase, code, region), n in self.faults.items():
            by_region[region.name] += n
            by_kind[str(fault_kind(code))] += n
            by_phase[phase] += n
            if region.segment is not None:
                by_segment[region.segment] += n
            if not code & 0x4:
                kernel += n
        total = sum(by_region.values())
        order = [p for p, _, _ in self.phase_bounds()]
        phases = {p: by_phase[p] for p in order if by_phase[p]}
        phases.update({p: n for p, n in by_phase.most_common() if p not in phases})
        return {
            "faults_by_region": dict(by_region.most_common()),
            "faults_by_kind": dict(by_kind.most_common()),
            "faults_by_phase": phases,
            "faults_by_segment": dict(by_segment.most_common()),
            "trace_faults_minor": total - self.major,
            "trace_faults_major": self.major,
            "trace_faults_kernel_mode": kernel,
        }

    def sample_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"phases_ns": self.phases_ns()}
        missing = self.phases_missing()
        if missing:
            extra["phases_missing"] = missing
        extra["trace_threads"] = self.threads + 1
        if self.incomplete:
            extra["trace_error"] = self.incomplete
            return extra
        extra.update(self.breakdowns())
        return extra


@dataclass(slots=True)
class _Build:
    markers: dict[int, int] = field(default_factory=dict)
    faults: Counter[tuple[int, int, int]] = field(default_factory=Counter)  # region code or -1-addr
    major: int = 0


def _facts(x: Any, y: Any, vmas: Sequence[FileVma]) -> LaunchFacts | None:
    if not isinstance(x, list) or len(x) != 7:
        return None
    ys = [int(v) for v in y] if isinstance(y, list) and len(y) == 4 else [0, 0, 0, 0]
    t, code, stk, env, vdso, base, brk = (int(v) for v in x)
    return LaunchFacts(t, code, stk, env, vdso, base, brk, brk_end=ys[0], xol=ys[1],
                       arena=(ys[2], ys[3]), vmas=tuple(vmas))


def fold(
    out: BpfOutput,
    targets: Mapping[int, BpfTarget],
    table: RegionTable,
    classifier: Classifier,
    *,
    execve: bool,
    prepare_exec: bool,
    reasons: Mapping[int, Mapping[str, str]] | None = None,
) -> dict[int, BpfLaunch]:
    """One BpfLaunch per launch id. ``reasons[target][marker]`` says why a marker cannot be
    there (no main symbol, uprobes off...), for launches that lack it."""
    builds: dict[int, _Build] = {}

    def b(i: int) -> _Build:
        return builds.setdefault(i, _Build())

    for (i, marker), t in out.map("@m").items():
        b(i).markers[marker] = int(t)
    for (state, code, where), n in out.map("@f").items():
        rc = where if where < REGION_CODE_LIMIT else -1 - where  # an address: placed below
        b(state >> 12).faults[(state & 0xF, code, rc)] += int(n)
    for (state,), n in out.map("@j").items():
        b(state >> 12).major += int(n)
    vmas: dict[int, list[tuple[int, FileVma]]] = {}
    for (i, seq), v in out.map("@v").items():
        if isinstance(v, list) and len(v) == 4:
            vmas.setdefault(i, []).append(
                (seq, FileVma(int(v[0]), int(v[1]), int(v[2]), str(v[3])))
            )
    threads = {k[0]: int(n) for k, n in out.map("@th").items()}
    pids = {k[0]: int(p) for k, p in out.map("@pid").items()}
    first_fetch = {k[0]: int(a) for k, a in out.map("@fa").items()}
    lost = ""
    full = out.helper_errors.get("map_update_elem", 0)
    if full:
        lost = f"kernel maps were full ({full} updates lost); fault breakdowns left out"
    elif out.lost_events:
        lost = f"bpftrace lost {out.lost_events} events; fault breakdowns left out"
    result: dict[int, BpfLaunch] = {}
    for i in sorted(pids):
        bd = builds.get(i, _Build())
        facts = _facts(out.map("@x").get((i,)), out.map("@y").get((i,)),
                       [v for _, v in sorted(vmas.get(i, []))])
        target = targets.get(facts.target) if facts is not None else None
        expected = expected_markers(target, execve=execve, prepare_exec=prepare_exec)
        why: dict[str, str] = dict((reasons or {}).get(facts.target, {}) if facts else {})
        if facts is not None and facts.target not in targets:
            why.setdefault("entry", "the exec'd binary is not one of the session's targets")
        present: dict[str, int] = {}
        names = {MARKER_NAMES[k]: t for k, t in bd.markers.items() if k in MARKER_NAMES}
        fetch = first_fetch.get(i)
        if target is not None and fetch is not None and facts is not None:
            # the first instruction fetch after exec must be at the expected entry point
            if target.interp is not None:
                want, m = facts.at_base + target.interp.entry_vaddr, "interp"
            else:
                want, m = target.layout.entry_vaddr + facts.bias(target), "entry"
            if fetch != want and m in names:
                del names[m]
                why[m] = f"first instruction fetch after exec at {fetch:#x}, not at {want:#x}"
        last = None
        for m in expected:
            if m not in names:
                why.setdefault(m, "not seen")
                continue
            if last is not None and names[m] < last:
                why[m] = "marker out of order"
                continue
            present[m] = last = names[m]
        faults: Counter[tuple[str, int, Region]] = Counter()
        bounds = list(present)
        for (ph, code, rc), n in bd.faults.items():
            phase = _phase_of(ph, bounds)
            region = classifier.classify(-1 - rc, ph, facts) if rc < 0 else table.region(rc)
            faults[(phase, code, region)] += n
        result[i] = BpfLaunch(
            id=i,
            pid=pids[i],
            markers=present,
            expected=tuple(expected),
            missing={m: w for m, w in why.items() if m not in present},
            faults=dict(faults),
            major=bd.major,
            threads=threads.get(i, 0),
            facts=facts,
            incomplete=lost,
        )
    return result


def _phase_of(code: int, bounds: Sequence[str]) -> str:
    """Name of the phase a fault taken in phase ``code`` belongs to: the phase that starts at
    the last present boundary marker at or before marker ``code``."""
    name = MARKER_NAMES.get(code)
    if name is None:
        return "unknown"
    rank = MARKER_ORDER.index(name)
    start = None
    for j, m in enumerate(bounds):
        if MARKER_ORDER.index(m) <= rank:
            start = j
    if start is None:
        return "unknown"
    if start + 1 < len(bounds):
        return phase_name(bounds[start], bounds[start + 1])
    return f"after {bounds[start]}"


def match_launches(
    raws: Iterable[tuple[Any, ...]], launches: Mapping[int, BpfLaunch]
) -> list[BpfLaunch | None]:
    """The launch of each launcher result tuple (pid last), in order: the k-th fork is the
    k-th launch that got a pid (a failed vfork has pid 0 and no fork)."""
    ids = sorted(launches)
    out: list[BpfLaunch | None] = []
    j = 0
    for raw in raws:
        pid = int(raw[-1])
        if pid <= 0:
            out.append(None)
            continue
        k = j
        while k < len(ids) and launches[ids[k]].pid != pid:
            k += 1
        if k < len(ids):
            out.append(launches[ids[k]])
            j = k + 1
        else:
            out.append(None)
    return out

