"""The perf probe without perf: availability reasons, perf argv, events asset, Chrome trace and
terminal summary built from real captured traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadbench import _proc
from loadbench.launch_native import parse_line
from loadbench.perf import session
from loadbench.perf.attribution import fold, match_launches
from loadbench.perf.chrome import chrome_trace
from loadbench.perf.inittrace import parse_inittrace, summarize
from loadbench.perf.layout import layout_from_info
from loadbench.perf.script import iter_events
from loadbench.probes import asset_path, linux_perf, probe_class
from loadbench.probes.base import Availability
from loadbench.probes.rusage import sample_from_raw
from loadbench.trace import TraceResult, render_summary, summary_json

DATA = Path(__file__).resolve().parents[1] / "data" / "perf"


def test_registry_and_import() -> None:
    cls = probe_class("perf")
    assert cls is linux_perf.PerfProbe
    assert cls.platforms == ("linux",)
    assert isinstance(cls.availability(), Availability)  # never raises, whatever the host


def test_events_asset_lists_what_the_parser_needs() -> None:
    evs = session.read_events_file(asset_path(linux_perf.EVENTS_ASSET).read_text())
    for ev in (
        "syscalls:sys_enter_execve",
        "sched:sched_process_exec",
        "sched:sched_process_exit",
        "minor-faults",
        "major-faults",
        *linux_perf.KIND_EVENTS,
    ):
        assert ev in evs


def test_record_and_script_argv() -> None:
    argv = session.record_argv("perf", "/t/p.data", ["minor-faults", "g:g_e0"])
    assert argv[:2] == ["perf", "record"] and argv[-1] == "--"
    joined = " ".join(argv)
    for part in (
        "-k CLOCK_MONOTONIC",
        "-c 1",
        " -d ",
        "--no-bpf-event",
        "-o /t/p.data",
        "-e minor-faults",
        "-e g:g_e0",
    ):
        assert part in joined
    sargv = session.script_argv("perf", "/t/p.data")
    assert "--ns" in sargv and "--show-mmap-events" in sargv and "--show-lost-events" in sargv
    assert sargv[sargv.index("-F") + 1].startswith("pid,tid,")


def _unavailable(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str:
    monkeypatch.setattr(linux_perf.sys, "platform", "linux")
    monkeypatch.setattr(linux_perf._proc, "which", lambda n: kw.get("which", "/usr/bin/perf"))
    monkeypatch.setattr(
        linux_perf._proc, "run", lambda argv, **k: _proc.Completed(tuple(argv), 0, "perf 6", "")
    )
    monkeypatch.setattr(linux_perf.os, "geteuid", lambda: kw.get("euid", 0))
    monkeypatch.setattr(linux_perf, "_tracefs", lambda: kw.get("tracefs", "/sys/kernel/tracing"))
    real_isdir = linux_perf.os.path.isdir
    monkeypatch.setattr(linux_perf.os.path, "isdir",
                        lambda p: kw.get("mount_point", True) if p == "/sys/kernel/tracing"
                        else real_isdir(p))
    a = linux_perf.PerfProbe.availability()
    assert not a.ok
    return a.reason


def test_availability_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "not installed" in _unavailable(monkeypatch, which=None)
    reason = _unavailable(monkeypatch, euid=1000)
    assert "not root" in reason and "uprobes" in reason
    reason = _unavailable(monkeypatch, tracefs=None, mount_point=False)
    assert "tracefs is not mounted and cannot be" in reason


def test_unmounted_tracefs_is_no_reason_to_refuse_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # the probe mounts it when it starts (loadbench.tracefs.ensure), as perf's tools do
    monkeypatch.setattr(linux_perf.sys, "platform", "linux")
    monkeypatch.setattr(linux_perf._proc, "which", lambda n: "/usr/bin/perf")
    monkeypatch.setattr(
        linux_perf._proc, "run", lambda argv, **k: _proc.Completed(tuple(argv), 0, "perf 6", "")
    )
    monkeypatch.setattr(linux_perf.os, "geteuid", lambda: 0)
    monkeypatch.setattr(linux_perf, "_tracefs", lambda: None)
    real_isdir = linux_perf.os.path.isdir
    monkeypatch.setattr(linux_perf.os.path, "isdir",
                        lambda p: True if p == "/sys/kernel/tracing" else real_isdir(p))
    assert linux_perf.PerfProbe.availability().ok


def test_availability_when_perf_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linux_perf.sys, "platform", "linux")
    monkeypatch.setattr(linux_perf._proc, "which", lambda n: "/usr/bin/perf")

    def boom(argv: Any, **kw: Any) -> Any:
        raise _proc.ToolError("perf exited with 1: WARNING: perf not found for kernel 6.18")

    monkeypatch.setattr(linux_perf._proc, "run", boom)
    a = linux_perf.PerfProbe.availability()
    assert not a.ok and "does not run" in a.reason and "kernel 6.18" in a.reason
    monkeypatch.setattr(linux_perf.sys, "platform", "darwin")
    assert "Linux only" in linux_perf.PerfProbe.availability().reason


def _launches(name: str) -> tuple[list[Any], Any]:
    meta = json.loads((DATA / f"{name}.layout.json").read_text())
    lay = layout_from_info(meta["info"], meta["symbols"], has_symtab=meta["has_symtab"])
    raws = [parse_line(ln) for ln in (DATA / f"{name}.launches.tsv").read_text().splitlines()]
    with open(DATA / f"{name}.script.txt") as f:
        traces = match_launches(raws, fold(iter_events(f), {lay.path: lay}, meta["uprobe_roles"]))
    out = []
    for i, (raw, tr) in enumerate(zip(raws, traces, strict=True)):
        assert tr is not None
        out.append((sample_from_raw(raw, i, **tr.sample_extra()), tr))
    return out, lay


def test_chrome_trace_of_real_launch() -> None:
    launches, lay = _launches("web")
    init = parse_inittrace((DATA / "inittrace-web.txt").read_text())
    doc = chrome_trace(launches, binary=lay.path, inittrace=init)
    json.dumps(doc, allow_nan=False)  # serialisable as is
    evs = doc["traceEvents"]
    slices = [e for e in evs if e["ph"] == "X" and e["pid"] == 1]
    names = [e["name"] for e in slices]
    assert names[:2] == ["spawn", "launch"]
    assert names[2:] == ["exec", "to_entry", "runtime_init", "main_to_exit"]
    launch = slices[1]
    for s in slices[2:]:  # phases nest inside the launch slice
        assert s["ts"] >= launch["ts"] and s["dur"] >= 0
        assert s["ts"] + s["dur"] <= launch["ts"] + launch["dur"] + 0.002
    faults = [e for e in evs if e["ph"] == "i"]
    assert len(faults) == len(launches[0][1].faults)
    assert {"region", "kind", "major", "segment", "phase", "address"} <= set(faults[0]["args"])
    inits = [e for e in evs if e.get("cat") == "go-init"]
    assert len(inits) == len(init.packages)


def test_render_summary_names_text_heap_and_fetch_in_text() -> None:
    launches, lay = _launches("web")
    init = parse_inittrace((DATA / "inittrace-web.txt").read_text())
    result = TraceResult(
        binary=lay.path,
        launches=tuple(launches),
        out_dir=None,
        chrome_trace_path=None,
        inflation={
            "traced_wall_ns_median": 3_000_000,
            "untraced_wall_ns_median": 2_000_000,
            "trace_inflation_ratio": 1.5,
            "traced_faults_median": 300,
            "untraced_faults_median": 301,
            "launches_each": 20,
        },
        inittrace=summarize([init]),
        events=1234,
        elapsed_s=1.0,
    )
    text = render_summary(result)
    regions = text.split("top regions")[1].split("top sections")[0]
    assert ".text" in regions and "go heap" in regions
    rows = {ln.split()[0]: ln.split() for ln in text.splitlines() if ln.startswith("  LOAD")}
    text_row = next(r for k, r in rows.items() if r[1] == "r-x")
    assert float(text_row[2]) > 0  # instruction fetches in the r-x segment
    assert "x1.50" in text
    assert "runtime_init" in text and "internal/godebug" in text


def test_render_summary_stripped_binary_says_why() -> None:
    launches, lay = _launches("hello-sw")
    result = TraceResult(
        binary=lay.path, launches=tuple(launches), out_dir=None, chrome_trace_path=None
    )
    text = render_summary(result)
    assert "entry_to_exit" in text
    assert "no main.main symbol (stripped" in text


def test_summary_json_and_ring_pages() -> None:
    launches, lay = _launches("hello-cold")
    result = TraceResult(
        binary=lay.path, launches=tuple(launches), out_dir=None, chrome_trace_path=None
    )
    doc = summary_json(result)
    json.dumps(doc, allow_nan=False)
    assert doc["fully_traced"] == 2
    assert doc["phases_ns_median"]["total"] > 0
    assert doc["faults_per_launch_median"]["rusage"] > doc["faults_per_launch_median"]["traced"]
    assert session.ring_pages(2) == 2048
    assert session.ring_pages(16) == 1024
    assert session.ring_pages(256) == 256
