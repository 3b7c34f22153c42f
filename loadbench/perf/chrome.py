"""Chrome trace-event JSON of traced launches (loads in Perfetto and chrome://tracing).

One trace "process" per launch: a ``launch`` slice from execve (perf) or vfork (bpf) to exit with
the phases nested inside as complete (``X``) slices, for perf the ``spawn`` slice before it (spawn
to execve) and one instant (``i``) event per page fault on the thread that took it, with region,
kind, segment and address in ``args`` (bpf counts faults in the kernel: its per-launch breakdowns
go into the launch slice's args instead). Timestamps are microseconds (fractional, so nanoseconds
survive) from the first launch's spawn. A Go ``inittrace`` launch, when given, becomes one more
process with a slice per package initialiser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from loadbench.model import Sample
from loadbench.perf.attribution import LaunchTrace
from loadbench.perf.inittrace import InitTrace


def _us(ns: int) -> float:
    return round(ns / 1000.0, 3)


def chrome_trace(
    launches: Sequence[tuple[Sample, Any]],
    *,
    binary: str,
    inittrace: InitTrace | None = None,
    metadata: Mapping[str, Any] | None = None,
    extra: Sequence[tuple[str, Sequence[tuple[Sample, Any]]]] = (),
) -> dict[str, Any]:
    """``launches`` pair each Sample with its perf ``LaunchTrace`` (phases and every fault) or
    its bpf ``BpfLaunch`` (phases; its faults are counts, so they go into the launch slice's
    args, not instants). ``extra`` adds labelled groups of launches after them (e.g. a few perf
    launches for the per-fault instants when the bpf probe made the rest)."""
    groups = [("", launches), *extra]
    starts = [s.start_ns for _, ls in groups for s, _ in ls if s.start_ns]
    t0 = min(starts) if starts else 0
    events: list[dict[str, Any]] = []
    name = os.path.basename(binary)
    n = 0
    for tag, ls in groups:
        for sample, tr in ls:
            n += 1
            _launch_events(events, n, tag, name, sample, tr, t0)
    _inittrace_events(events, n + 1, name, inittrace)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {"binary": binary, "clock": "CLOCK_MONOTONIC", **dict(metadata or {})},
    }


def _launch_events(events: list[dict[str, Any]], pid: int, tag: str, name: str, sample: Sample,
                   tr: Any, t0: int) -> None:
    # trace pids are launch numbers: real pids may be reused
    label = (f"{tag + ' ' if tag else ''}launch {sample.index} of {name}"
             + (f" (pid {tr.pid})" if tr else ""))
    events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": label}})
    events.append(
        {"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}}
    )
    if tr is None:
        return
    main_tid = tr.pid
    m = tr.markers
    start = m.get("execve", m.get("fork"))
    if "execve" in m and "fork" not in m and sample.start_ns:
        events.append(_slice("spawn", "spawn", sample.start_ns, m["execve"], pid, main_tid, t0))
    if start is not None and "exit" in m:
        args: dict[str, Any] = {"wall_ns": sample.wall_ns, "faults_rusage": sample.faults}
        if not isinstance(tr, LaunchTrace):
            for key in ("faults_by_phase", "faults_by_region", "faults_by_kind"):
                if key in sample.extra:
                    args[key] = sample.extra[key]
        events.append(_slice("launch", "launch", start, m["exit"], pid, main_tid, t0, args))
    for phase, a, b in tr.phase_bounds():
        events.append(_slice(phase, "phase", a, b, pid, main_tid, t0))
    if not isinstance(tr, LaunchTrace):
        return
    for f, phase in zip(tr.faults, tr.fault_phase(), strict=True):
        events.append(
            {
                "ph": "i",
                "s": "t",
                "name": f"{'major' if f.major else 'minor'} fault: {f.region}",
                "cat": "fault",
                "ts": _us(f.time_ns - t0),
                "pid": pid,
                "tid": f.tid,
                "args": {
                    "region": f.region,
                    "kind": str(f.kind),
                    "major": f.major,
                    "segment": f.segment,
                    "phase": phase,
                    "kernel_mode": f.kernel_mode,
                    "address": f"{f.address:#x}",
                },
            }
        )


def _inittrace_events(events: list[dict[str, Any]], pid: int, name: str,
                      inittrace: InitTrace | None) -> None:
    if inittrace is None or not inittrace.packages:
        return
    events.append(
        {
            "ph": "M",
            "name": "process_name",
            "pid": pid,
            "args": {"name": f"Go inittrace of {name} (separate launch; runtime start = 0)"},
        }
    )
    for p in inittrace.packages:
        events.append(
            {
                "ph": "X",
                "name": f"init {p.package}",
                "cat": "go-init",
                "ts": _us(p.start_ns),
                "dur": _us(p.clock_ns),
                "pid": pid,
                "tid": 1,
                "args": {"alloc_bytes": p.alloc_bytes, "allocs": p.allocs},
            }
        )


def _slice(
    name: str,
    cat: str,
    a: int,
    b: int,
    pid: int,
    tid: int,
    t0: int,
    args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "ph": "X",
        "name": name,
        "cat": cat,
        "ts": _us(a - t0),
        "dur": _us(b - a),
        "pid": pid,
        "tid": tid,
        "args": {"dur_ns": b - a, **dict(args or {})},
    }


def write_chrome_trace(path: str | os.PathLike[str], trace: Mapping[str, Any]) -> None:
    """Write atomically (a reader never sees half a file)."""
    from loadbench import storage

    storage.write_json_atomic(path, dict(trace))
