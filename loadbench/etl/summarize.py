"""Offline summary of one ETL trace: the library behind ``loadbench etl summarize``.

``summarize(path)`` streams a ``.etl`` (or the ``.etl`` inside a ``.zip``) once: buffers are read
and decompressed one at a time, every record is counted by event name (known classes) or by
provider and opcode/id (everything else), the process, thread, image and fault events are decoded
and handed to the assembler, which yields one ``ProcessReport`` per process instance.
``TraceSummary.to_json()`` is the ``--json`` output (versioned); ``render_text`` the terminal view.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadbench.etl.assemble import Assembler, ProcessReport
from loadbench.etl.errors import EtlError
from loadbench.etl.events import PayloadError, decode, event_name
from loadbench.etl.reader import (
    ByteStream,
    TraceHeader,
    format_filetime,
    iter_buffers,
    iter_events,
    open_etl,
    parse_trace_header,
)

SUMMARY_FORMAT = "loadbench.etl-summary"
SUMMARY_VERSION = 1


@dataclass(frozen=True, slots=True)
class DecodeStats:
    """What the decoder read and how fast. ``etl_bytes`` is the size of the ETL itself (inside the
    zip, if zipped); ``event_bytes`` the buffer contents after decompression."""

    etl_bytes: int
    event_bytes: int
    buffers: int
    compressed_buffers: int
    events: int
    malformed: Mapping[str, int]  # payloads shorter than their layout, by event name
    unattributed_hardfaults: int
    unattributed_faults: int
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.etl_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"etl_bytes": self.etl_bytes, "event_bytes": self.event_bytes,
                "buffers": self.buffers, "compressed_buffers": self.compressed_buffers,
                "events": self.events, "malformed": dict(self.malformed),
                "unattributed_hardfaults": self.unattributed_hardfaults,
                "unattributed_faults": self.unattributed_faults,
                "seconds": round(self.seconds, 3), "mb_per_s": round(self.mb_per_s, 2),
                "events_per_s": round(self.events_per_s)}


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """The whole trace in numbers: header, event counts and one report per process instance.

    ``event_counts`` holds events of known classes by ``Class/Opcode`` name (``Process/Start``,
    ``Image/Load``, ``PageFault/HardFault``, ``Microsoft-Windows-Kernel-Process/ProcessStop``...);
    ``unknown_counts`` everything else by provider (kernel group name or GUID) and opcode or id.
    """

    path: str
    header: TraceHeader
    processes: tuple[ProcessReport, ...]
    event_counts: Mapping[str, int]
    unknown_counts: Mapping[str, int]
    stats: DecodeStats
    duration_ns: int
    pid: int | None = None

    def class_counts(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for name, n in self.event_counts.items():
            out[name.partition("/")[0]] += n
        return dict(sorted(out.items()))

    def find(self, pid: int) -> tuple[ProcessReport, ...]:
        return tuple(p for p in self.processes if p.pid == pid)

    def to_json(self) -> dict[str, Any]:
        h = self.header
        return {
            "format": SUMMARY_FORMAT, "version": SUMMARY_VERSION, "path": self.path,
            "pid_filter": self.pid,
            "trace": {
                "start_utc": format_filetime(h.start_time_100ns),
                "end_utc": format_filetime(h.end_time_100ns),
                "boot_utc": format_filetime(h.boot_time_100ns),
                "duration_ms": _ms(self.duration_ns), "clock_type": h.clock_type,
                "ticks_per_second": h.ticks_per_second, "pointer_size": h.pointer_size,
                "num_cpus": h.num_cpus, "os_build": h.os_build, "logger_name": h.logger_name,
                "log_file_name": h.log_file_name, "buffer_size": h.buffer_size,
                "buffers_written": h.buffers_written, "events_lost": h.events_lost,
                "buffers_lost": h.buffers_lost,
            },
            "decode": self.stats.to_json(),
            "class_counts": self.class_counts(),
            "event_counts": dict(sorted(self.event_counts.items())),
            "unknown_counts": dict(sorted(self.unknown_counts.items())),
            "processes": [_process_json(p, h) for p in self.processes],
        }


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 6)


def _process_json(p: ProcessReport, h: TraceHeader) -> dict[str, Any]:
    return {
        "pid": p.pid, "image": p.image, "command_line": p.command_line,
        "parent_pid": p.parent_pid,
        "start_ms": _ms(p.start_ns), "end_ms": _ms(p.end_ns), "lifetime_ms": _ms(p.lifetime_ns),
        "start_utc": None if p.start_utc_100ns is None else format_filetime(p.start_utc_100ns),
        "kernel_process": {
            "create_time_utc": format_filetime(p.kp_create_time_100ns or 0),
            "exit_time_utc": format_filetime(p.kp_exit_time_100ns or 0),
            "lifetime_ms": _ms(p.kp_lifetime_ns),
        },
        "exit_code": p.exit_code,
        "image_loads": len(p.image_loads),
        "milestones_ms": {k: _ms(v) for k, v in p.milestones_ns().items()},
        "images": [{"file_name": ld.file_name, "image_base": f"{ld.image_base:#x}",
                    "image_size": ld.image_size, "at_ms": _ms(ld.time_ns),
                    "since_start_ms": _ms(ld.since_start_ns)} for ld in p.image_loads],
        "threads": list(p.threads),
        "hard_fault_count": p.hard_fault_count,
        "hardfault_events": p.hardfault_events,
        "faults_by_kind": dict(p.faults_by_kind),
        "faults_by_image": {k: dict(v) for k, v in p.faults_by_image.items()},
        "commit_peak_bytes": p.commit_peak_bytes,
        "started_before_trace": p.started_before_trace,
    }


def summarize(path: str | Path, pid: int | None = None) -> TraceSummary:
    """Decode ``path`` (``.etl`` or ``.etl.zip``); with ``pid``, report only that process id."""
    summary = scan(path, None if pid is None else (pid,))
    if pid is None:
        return summary
    return TraceSummary(path=summary.path, header=summary.header, processes=summary.processes,
                        event_counts=summary.event_counts, unknown_counts=summary.unknown_counts,
                        stats=summary.stats, duration_ns=summary.duration_ns, pid=pid)


def scan(path: str | Path, pids: Iterable[int] | None = None) -> TraceSummary:
    """One streaming pass over the trace; ``pids`` limits the process reports to those ids."""
    started = time.perf_counter()
    with open_etl(path) as stream:
        return scan_stream(stream, name=str(path), pids=pids, started=started)


def scan_stream(stream: ByteStream, *, name: str = "<stream>", pids: Iterable[int] | None = None,
                started: float | None = None) -> TraceSummary:
    """``scan`` over an open binary stream of ETL bytes (what the tests feed damaged data to)."""
    if started is None:
        started = time.perf_counter()
    counts: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    malformed: Counter[str] = Counter()
    names: dict[tuple[Any, ...], tuple[str, bool]] = {}
    header: TraceHeader | None = None
    assembler: Assembler | None = None
    etl_bytes = event_bytes = buffers = compressed = events = 0
    last_ts = 0
    for buf, data in iter_buffers(stream):
        buffers += 1
        etl_bytes += buf.disk_bytes
        event_bytes += len(data)
        compressed += buf.compressed
        for raw in iter_events(buf, data):
            if header is None:
                header = parse_trace_header(raw)
                assembler = Assembler(header.utc_100ns(header.start_timestamp), pids)
                last_ts = raw.timestamp
            events += 1
            if raw.timestamp > last_ts:
                last_ts = raw.timestamp
            key = (raw.kind, raw.group, raw.opcode, raw.event_id, raw.guid)
            named = names.get(key)
            if named is None:
                named = names[key] = event_name(raw)
            event, known = named
            if not known:
                unknown[event] += 1
                continue
            counts[event] += 1
            try:
                decoded = decode(raw, header)
            except PayloadError:
                malformed[event] += 1
                continue
            if decoded is not None:
                assembler.add(decoded)  # type: ignore[union-attr]
    if header is None or assembler is None:
        raise EtlError(f"{name}: no events (empty or not an ETL trace)")
    processes, astats = assembler.finish()
    stats = DecodeStats(etl_bytes=etl_bytes, event_bytes=event_bytes, buffers=buffers,
                        compressed_buffers=compressed, events=events, malformed=dict(malformed),
                        unattributed_hardfaults=astats.unattributed_hardfaults,
                        unattributed_faults=astats.unattributed_faults,
                        seconds=time.perf_counter() - started)
    return TraceSummary(path=name, header=header, processes=processes,
                        event_counts=dict(counts), unknown_counts=dict(unknown), stats=stats,
                        duration_ns=header.rel_ns(last_ts))


def _fmt_ms(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:,.3f}"


def render_text(summary: TraceSummary, *, max_processes: int = 50, max_unknown: int = 15) -> str:
    """A terminal view: trace facts, one line per process, event counts."""
    h = summary.header
    s = summary.stats
    lines = [
        f"trace      {summary.path}",
        f"start      {format_filetime(h.start_time_100ns)}  "
        f"({_fmt_ms(summary.duration_ns)} ms of events, {h.num_cpus} CPUs, "
        f"Windows build {h.os_build}, {h.pointer_size * 8}-bit, logger {h.logger_name!r})",
        f"decoded    {s.events:,} events in {s.buffers:,} buffers "
        f"({s.compressed_buffers:,} compressed), {s.etl_bytes / 1e6:.1f} MB in {s.seconds:.2f} s "
        f"({s.mb_per_s:.1f} MB/s, {s.events_per_s:,.0f} events/s)",
    ]
    if h.events_lost or h.buffers_lost:
        lines.append(f"LOST       {h.events_lost} events, {h.buffers_lost} buffers")
    if s.malformed:
        lines.append("malformed  " + ", ".join(f"{k} x{v}" for k, v in s.malformed.items()))
    procs = [p for p in summary.processes
             if summary.pid is not None or p.start_ns is not None or p.end_ns is not None
             or p.hard_fault_count is not None or p.hardfault_events or p.image_loads]
    lines.append("")
    lines.append(f"{'pid':>7}  {'image':<24} {'start ms':>11} {'end ms':>11} {'lifetime ms':>12} "
                 f"{'loads':>5} {'HFCount':>7} {'HF ev':>5} {'ntdll ms':>9} {'k32 ms':>9} "
                 f"{'exe ms':>9}")
    for p in procs[:max_processes]:
        m = p.milestones_ns()
        lines.append(
            f"{p.pid:>7}  {p.image[:24]:<24} {_fmt_ms(p.start_ns):>11} {_fmt_ms(p.end_ns):>11} "
            f"{_fmt_ms(p.lifetime_ns):>12} {len(p.image_loads):>5} "
            f"{'-' if p.hard_fault_count is None else p.hard_fault_count:>7} "
            f"{p.hardfault_events:>5} {_fmt_ms(m['ntdll']):>9} {_fmt_ms(m['kernel32']):>9} "
            f"{_fmt_ms(m['exe']):>9}")
    if len(procs) > max_processes:
        lines.append(f"  ... {len(procs) - max_processes} more processes (use --json)")
    if not procs:
        lines.append("  (no process started, ended or faulted in this trace)")
    for p in procs if summary.pid is not None else ():
        if p.faults_by_kind:
            lines.append(f"  pid {p.pid} faults: " + ", ".join(
                f"{k} {v}" for k, v in p.faults_by_kind.items()))
            top = sorted(p.faults_by_image.items(), key=lambda kv: -sum(kv[1].values()))[:10]
            for image, kinds in top:
                lines.append(f"    {image:<32} {sum(kinds.values()):>6}")
    lines.append("")
    lines.append("events     " + ", ".join(f"{k} {v:,}" for k, v in
                                          sorted(summary.event_counts.items())))
    if summary.unknown_counts:
        top_unknown = sorted(summary.unknown_counts.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} {v:,}" for k, v in top_unknown[:max_unknown])
        more = len(top_unknown) - max_unknown
        lines.append(f"not decoded {sum(summary.unknown_counts.values()):,} events: {shown}"
                     + (f", ... {more} more kinds" if more > 0 else ""))
    return "\n".join(lines) + "\n"
