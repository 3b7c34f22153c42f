"""One perf recording of one batch of launches, and its analysis into per-launch traces.

``record`` runs the native launcher under ``perf record`` (the launcher's own schedule, evict
lists and timeouts; perf only wraps it), so a single perf session covers the whole batch and the
launcher's result lines -- rusage per launch -- stream back as usual. ``analyse`` streams
``perf script`` output through the parser and folds it into one ``LaunchTrace`` per launch,
matched to the launcher's tuples by pid and start time. Both go through ``loadbench._proc``.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadbench import _proc, launch_native
from loadbench.perf.attribution import LaunchTrace, fold, match_launches
from loadbench.perf.layout import BinaryLayout
from loadbench.perf.script import Event, iter_events

# pid,tid first: the parser needs them; no ip/sym: symbol resolution is what makes perf
# script slow, and the tracepoints carry the fault's ip themselves.
SCRIPT_FIELDS = "pid,tid,time,event,addr,trace"


def ring_pages(cpus: int | None = None) -> int:
    """perf's ring buffer per CPU, in pages: 8 MiB per CPU on small machines (a Go launch
    writes ~600 fault records in ~2 ms), shrinking so the total stays near 64 MiB."""
    n = max(1, cpus or os.cpu_count() or 1)
    pages = 2048
    while pages > 256 and pages * n > 16384:
        pages //= 2
    return pages


def read_events_file(text: str) -> tuple[str, ...]:
    """Event names from a ``probes/linux/*.events`` file: one per line, ``#`` comments."""
    out = []
    for line in text.splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            out.append(name)
    return tuple(out)


def record_argv(
    perf: str, data_path: str, events: Sequence[str], pages: int | None = None
) -> list[str]:
    argv = [
        perf,
        "record",
        "-q",
        "-k",
        "CLOCK_MONOTONIC",  # comparable with the launcher's clock_gettime(CLOCK_MONOTONIC)
        "-c",
        "1",  # every event, not a sample of them
        "-d",  # the data address of each fault
        "-B",  # no build-id pass over the data at the end: it would read the whole file again
        "-N",
        "--no-bpf-event",  # its side-band thread polls with a 1 s timeout: +1 s per session
        "-m",
        str(pages or ring_pages()),
        "-o",
        data_path,
    ]
    for ev in events:
        argv += ["-e", ev]
    return [*argv, "--"]


def script_argv(perf: str, data_path: str) -> list[str]:
    return [
        perf,
        "script",
        "-i",
        data_path,
        "--ns",
        "--show-mmap-events",
        "--show-lost-events",
        "-F",
        SCRIPT_FIELDS,
    ]


def record(
    perf: str,
    launcher: str,
    data_path: str,
    events: Sequence[str],
    schedule: Any,
    evict: Mapping[int, Sequence[str]] | None,
    stop: Any = None,
    pages: int | None = None,
    started: Any = None,
) -> Iterator[tuple[Any, ...]]:
    """Run the batch (a ``probes.base.Schedule``) under perf record; yield the launcher's raw
    tuples as they come.

    A stop request (SIGINT/SIGTERM via ``stop``) ends perf, which ends the launcher after the
    launch in flight and still writes a complete perf.data: the tuples already yielded stay
    valid and the error perf's signal exit causes is swallowed.
    """
    try:
        yield from launch_native.run(
            launcher, schedule, evict=evict, stop=stop,
            prefix=record_argv(perf, data_path, events, pages),
            started=started,
        )
    except _proc.ToolError:
        if stop is None or not stop.requested:
            raise


@dataclass(frozen=True, slots=True)
class BatchTrace:
    traces: tuple[LaunchTrace | None, ...]  # parallel to the raw tuples
    records: int  # perf records read (a fault is two: tracepoint + software event)
    events: int  # events parsed (a fault counts once)
    lost_records: int
    script_s: float  # perf script + parse + fold


def _counted(items: Iterator[Any], box: list[int], slot: int) -> Iterator[Any]:
    n = 0
    for item in items:
        n += 1
        yield item
    box[slot] = n


def analyse(
    perf: str,
    data_path: str,
    raws: Sequence[tuple[Any, ...]],
    layouts: Mapping[str, BinaryLayout],
    uprobe_roles: Mapping[str, str],
) -> BatchTrace:
    """perf script over ``data_path`` -> one LaunchTrace per raw tuple (None if not traced)."""
    from loadbench.perf.script import Lost

    t0 = time.monotonic()
    err_path = data_path + ".script-err"
    pids = {int(r[-1]) for r in raws if int(r[-1]) > 0}
    with open(err_path, "wb") as err:
        proc = _proc.start(script_argv(perf, data_path), stderr=err.fileno())
        assert proc.stdout is not None
        box = [0, 0]
        lost = 0
        try:
            lines = io.TextIOWrapper(proc.stdout, encoding="utf-8", errors="replace")

            def tally(evs: Iterator[Event]) -> Iterator[Event]:
                nonlocal lost
                for ev in evs:
                    if isinstance(ev, Lost):
                        lost += max(1, ev.count)
                    yield ev

            events = iter_events(_counted(lines, box, 1))
            folded = fold(tally(_counted(events, box, 0)), layouts, uprobe_roles, pids)
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                _proc.stop(proc)
            proc.stdout.close()
    try:
        with open(err_path, errors="replace") as f:
            err_text = f.read()
    finally:
        os.unlink(err_path)
    if rc != 0:
        tail = " | ".join(ln for ln in err_text.splitlines()[-3:] if ln.strip())
        raise _proc.ToolError(f"perf script exited with {rc}: {tail[-300:]}")
    traces = match_launches(raws, folded)
    return BatchTrace(tuple(traces), box[1], box[0], lost, time.monotonic() - t0)
