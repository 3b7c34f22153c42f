"""The ETL decoder on PerfView's real, XPRESS-compressed trace, checked against PerfView itself.

``perfview-net.4.5.2.x64.etl.zip`` is a real WPR/PerfView-merged trace (Windows 8, 8 CPUs, 359 of
360 buffers compressed); ``perfview-net.4.5.2.x64.baseline.txt`` is PerfView's golden dump of a
sample of its events. Every baseline line of the classes loadbench decodes (14 kinds: classic
Process, Thread, Image and HardFault events and Microsoft-Windows-Kernel-Process start/stop) is
matched to a decoded event by name, time since trace start (PerfView prints 3 decimals) and pid,
and its field values are compared. The pid 3676 figures are the ones SOURCES.md lists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from loadbench.etl import render_text, summarize
from loadbench.etl.events import (
    HardFaultEvent,
    ImageEvent,
    KernelProcessStart,
    KernelProcessStop,
    ProcessEvent,
    ThreadEvent,
    decode,
    event_name,
)
from loadbench.etl.reader import (
    filetime_to_datetime,
    format_filetime,
    iter_buffers,
    iter_events,
    open_etl,
    parse_trace_header,
)
from loadbench.etl.summarize import TraceSummary

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "windows"
TRACE = FIXTURES / "perfview-net.4.5.2.x64.etl.zip"
BASELINE = FIXTURES / "perfview-net.4.5.2.x64.baseline.txt"
PID = 3676


def _need(path: Path) -> Path:
    return path


@pytest.fixture(scope="module")
def summary() -> TraceSummary:
    return summarize(_need(TRACE))


@pytest.fixture(scope="module")
def decoded() -> dict[str, Any]:
    """Every decoded event with its name and CPU (one streaming pass, no assembly)."""
    events: list[tuple[str, Any, int]] = []
    header = None
    with open_etl(_need(TRACE)) as stream:
        for buf, data in iter_buffers(stream):
            for raw in iter_events(buf, data):
                if header is None:
                    header = parse_trace_header(raw)
                ev = decode(raw, header)
                if ev is not None:
                    events.append((event_name(raw)[0], ev, raw.cpu))
    return {"header": header, "events": events}


# --- the figures SOURCES.md lists for Test.x64.exe -------------------------------------------

def test_pid_3676_lifetime_loads_and_hard_faults(summary: TraceSummary) -> None:
    (p,) = summary.find(PID)
    assert p.image == "Test.x64.exe"
    assert p.lifetime_ns is not None
    assert p.lifetime_ns / 1e6 == pytest.approx(5469.110, abs=0.01)  # classic Start -> End
    assert len(p.image_loads) == 31
    assert p.hard_fault_count == 145  # ProcessStop's HardFaultCount
    assert p.hardfault_events == 101  # PageFault/HardFault events on its threads
    assert p.threads == (3656, 3660, 3680, 3864)
    assert p.start_ns is not None and round(p.start_ns / 1e6, 3) == 2733.176
    assert p.exit_code == 0 and p.parent_pid == 3508
    # Process/End at 00:07:08.825901 UTC (SOURCES.md), from start time + trace clock.
    end_utc = summary.header.utc_100ns(summary.header.start_timestamp) + p.end_ns // 100
    assert format_filetime(end_utc).startswith("2020-07-29T00:07:08.825901")


def test_kernel_process_times_are_reported_beside_the_classic_lifetime(
        summary: TraceSummary) -> None:
    (p,) = summary.find(PID)
    assert p.kp_create_time_100ns == 132404548233564008
    assert p.kp_exit_time_100ns == 132404548288251536
    # The kernel's CreateTime precedes the classic Process/Start event by 0.39 ms here.
    assert p.kp_lifetime_ns == 5_468_752_800
    assert 0 < p.start_utc_100ns - p.kp_create_time_100ns < 10_000
    assert p.create_time_100ns == p.kp_create_time_100ns  # the launch key uses the kernel's


def test_image_load_milestones(summary: TraceSummary) -> None:
    (p,) = summary.find(PID)
    m = p.milestones_ns()
    # From the Image/Load times in the baseline: exe 2,738.899, ntdll 2,738.944 ms; the
    # Process/Start is at 2,733.1758 ms.
    assert m["exe"] == 5_723_500
    assert m["ntdll"] == 5_767_800
    assert m["kernel32"] == 6_638_100
    assert p.exe_load().basename == "Test.x64.exe"
    assert sum(p.faults_by_kind.values()) == p.hardfault_events
    assert sum(sum(k.values()) for k in p.faults_by_image.values()) == 101
    assert p.faults_by_image["clr.dll"] == {"HardFault": 74}


def test_trace_start_and_header(summary: TraceSummary) -> None:
    h = summary.header
    assert h.start_time_100ns == 132404548206236167
    # SOURCES.md quotes 00:07:00.623615: that is the same FILETIME through a float (FILETIME/1e7
    # is ~1.3e10 s, where a double's step is 1.9 us). The integer value is .6236167.
    start = filetime_to_datetime(h.start_time_100ns)
    expected = filetime_to_datetime(132404548206236150)
    assert abs((start - expected).total_seconds()) < 2e-6
    assert format_filetime(h.start_time_100ns) == "2020-07-29T00:07:00.6236167Z"
    assert (h.num_cpus, h.pointer_size, h.perf_freq, h.clock_type) == (8, 8, 10_000_000, 1)
    assert (h.os_build, h.buffers_written, h.buffer_size) == (9200, 360, 65536)
    assert h.logger_name == "Relogger"
    assert format_filetime(h.boot_time_100ns).startswith("2020-07-29T00:03:46.48")
    assert summary.stats.buffers == 360 and summary.stats.compressed_buffers == 359


def test_decodes_well_within_the_time_budget(summary: TraceSummary) -> None:
    assert summary.stats.seconds < 15
    assert summary.stats.events == 179_474
    assert summary.stats.malformed == {}
    assert summary.stats.unattributed_hardfaults == 0


# --- PerfView's own numbers --------------------------------------------------------------------

# PerfView name -> ours.
_NAMES = {
    "Windows Kernel/Process/Start": "Process/Start",
    "Windows Kernel/Process/Stop": "Process/End",
    "Windows Kernel/Process/DCStart": "Process/DCStart",
    "Windows Kernel/Process/DCStop": "Process/DCEnd",
    "Windows Kernel/Process/Defunct": "Process/Defunct",
    "Windows Kernel/Thread/Start": "Thread/Start",
    "Windows Kernel/Thread/Stop": "Thread/End",
    "Windows Kernel/Image/Load": "Image/Load",
    "Windows Kernel/Image/Unload": "Image/UnLoad",
    "Windows Kernel/Image/DCStart": "Image/DCStart",
    "Windows Kernel/Image/DCStop": "Image/DCEnd",
    "Windows Kernel/Memory/HardFault": "PageFault/HardFault",
    "Microsoft-Windows-Kernel-Process/ProcessStart/Start":
        "Microsoft-Windows-Kernel-Process/ProcessStart",
    "Microsoft-Windows-Kernel-Process/ProcessStop/Stop":
        "Microsoft-Windows-Kernel-Process/ProcessStop",
}
_LINE = re.compile(r"^EVENT ([\d,]+\.\d+): (.+?) (PID=.*)$")


def _baseline() -> tuple[list[tuple[float, str, dict[str, str]]], dict[str, int]]:
    events, counts = [], {}
    for line in _need(BASELINE).read_text().splitlines():
        if line.startswith("COUNT "):
            name, _, n = line[6:].rpartition(":")
            counts[name] = int(n)
            continue
        m = _LINE.match(line)
        if m and m.group(2) in _NAMES:
            fields = dict(kv.split("=", 1) for kv in m.group(3).rstrip("; ").split("; "))
            events.append((float(m.group(1).replace(",", "")), _NAMES[m.group(2)], fields))
    return events, counts


def _num(text: str) -> int:
    return int(text.replace(",", ""), 16 if text.startswith("0x") else 10)


def _signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def _prefix(value: str, ours: str) -> bool:
    """PerfView cuts long strings to 20 characters and appends '...'."""
    return ours.startswith(value[:-3]) if value.endswith("...") else ours == value


def _short_time(filetime: int) -> str:
    """PerfView's 'yy/mm/dd HH:MM:SS.ff' rendering of a FILETIME (it truncates, then '...')."""
    dt = filetime_to_datetime(filetime)
    return f"{dt:%y/%m/%d %H:%M:%S}.{dt.microsecond // 10_000:02d}..."


def _fields_match(name: str, ev: Any, f: dict[str, str], summary: TraceSummary) -> bool:
    if isinstance(ev, ProcessEvent):
        return (ev.pid == _num(f["ProcessID"]) == _num(f["PID"])
                and ev.parent_pid == _num(f["ParentID"])
                and _signed(ev.session_id) == int(f["SessionID"].replace(",", ""))
                and ev.exit_status == _num(f["ExitStatus"])
                and ev.unique_process_key == _num(f["UniqueProcessKey"])
                and ev.image_file_name == f["ImageFileName"]
                and _prefix(f["CommandLine"], ev.command_line))
    if isinstance(ev, ThreadEvent):
        return ev.pid == _num(f["PID"]) and ev.tid == _num(f["TID"])
    if isinstance(ev, ImageEvent):
        return (ev.pid == _num(f["PID"]) and ev.image_base == _num(f["ImageBase"])
                and ev.image_size == _num(f["ImageSize"]))
    if isinstance(ev, HardFaultEvent):
        owner = [p for p in summary.processes if ev.thread_id in p.threads]
        return (ev.thread_id == _num(f["TID"]) and ev.read_offset == _num(f["ReadOffset"])
                and ev.virtual_address == _num(f["VirtualAddress"])
                and ev.byte_count == _num(f["ByteCount"])
                and ev.file_object == _num(f["FileKey"])
                and abs(ev.elapsed_ns / 1e6 - float(f["ElapsedTimeMSec"])) <= 0.0006
                and [p.pid for p in owner] == [_num(f["PID"])])
    if isinstance(ev, KernelProcessStart):
        return (ev.pid == _num(f["ProcessID"]) and ev.parent_pid == _num(f["ParentProcessID"])
                and ev.session_id == _num(f["SessionID"])
                and _short_time(ev.create_time_100ns) == f["CreateTime"]
                and _prefix(f["ImageName"], ev.image_name))
    if isinstance(ev, KernelProcessStop):
        return (ev.pid == _num(f["ProcessID"]) and ev.exit_code == _num(f["ExitCode"])
                and ev.hard_fault_count == _num(f["HardFaultCount"])
                and ev.commit_peak_bytes == _num(f["CommitPeak"])
                and ev.cpu_cycles == _num(f["CPUCycleCount"])
                and ev.image_name == f["ImageName"]
                and _short_time(ev.create_time_100ns) == f["CreateTime"]
                and _short_time(ev.exit_time_100ns) == f["ExitTime"])
    raise AssertionError(f"unexpected {name}")


def test_every_baseline_event_of_the_decoded_kinds_matches(
        decoded: dict[str, Any], summary: TraceSummary) -> None:
    baseline, _ = _baseline()
    kinds = {name for _, name, _ in baseline}
    assert len(kinds) == 14 and len(baseline) == 51
    for ms, name, fields in baseline:
        candidates = [
            (ev, cpu) for n, ev, cpu in decoded["events"]
            if n == name and abs(ev.time_ns / 1e6 - ms) <= 0.0005 + 1e-9
        ]
        matched = [(ev, cpu) for ev, cpu in candidates
                   if _fields_match(name, ev, fields, summary)]
        assert matched, f"no decoded {name} at {ms} ms matches PerfView's {fields}"
        assert any(cpu == int(fields["ProceNum"]) for _, cpu in matched), (name, ms)


def test_class_counts_equal_perfviews_counts(summary: TraceSummary) -> None:
    _, counts = _baseline()
    for theirs, ours in _NAMES.items():
        assert summary.event_counts.get(ours, 0) == counts[theirs], theirs
    # Events PerfView names that loadbench counts under the EventTrace class.
    for op in ("Extension", "EndExtension", "RundownComplete"):
        assert summary.event_counts[f"EventTrace/{op}"] == counts[f"Windows Kernel/EventTrace/{op}"]
    assert summary.event_counts["Process/PerfCtr"] == counts["Windows Kernel/Process/PerfCtr"]


def test_summary_json_and_text(summary: TraceSummary) -> None:
    doc = json.loads(json.dumps(summary.to_json()))
    assert doc["format"] == "loadbench.etl-summary" and doc["version"] == 1
    (p,) = [p for p in doc["processes"] if p["pid"] == PID]
    assert p["image"] == "Test.x64.exe"
    assert p["lifetime_ms"] == pytest.approx(5469.1088)
    assert (p["image_loads"], p["hard_fault_count"], p["hardfault_events"]) == (31, 145, 101)
    assert p["kernel_process"]["create_time_utc"] == "2020-07-29T00:07:03.3564008Z"
    assert doc["trace"]["start_utc"] == "2020-07-29T00:07:00.6236167Z"
    assert doc["event_counts"]["Image/Load"] == 35
    assert doc["unknown_counts"]["PerfInfo/opcode46"] == 79_528  # sampled profile, not decoded
    text = render_text(summary)
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(str(PID)))
    assert "Test.x64.exe" in line and "5,469.109" in line and " 145 " in line and " 101 " in line


def test_pid_filter_keeps_only_that_process() -> None:
    only = summarize(_need(TRACE), pid=PID)
    assert [p.pid for p in only.processes] == [PID]
    assert only.processes[0].hardfault_events == 101  # thread table still sees every thread
    assert only.to_json()["pid_filter"] == PID
    assert "pid 3676 faults: HardFault 101" in render_text(only)
