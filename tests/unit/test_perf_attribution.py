"""Phases and fault attribution on real captured traces (tests/data/perf), plus edge cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loadbench.launch_native import parse_line
from loadbench.perf.attribution import (
    PHASES,
    FaultKind,
    LaunchTrace,
    _MapTable,
    fault_kind,
    fold,
    match_launches,
)
from loadbench.perf.layout import BinaryLayout, layout_from_info, parse_ld_list
from loadbench.perf.script import Fault, Lost, Marker, MarkerKind, Mmap, iter_events

DATA = Path(__file__).resolve().parents[1] / "data" / "perf"
CAPTURES = ("web", "cgo", "hello-sw", "hello-cold", "cmain")


def capture(name: str) -> tuple[list[tuple[Any, ...]], list[LaunchTrace], BinaryLayout]:
    meta = json.loads((DATA / f"{name}.layout.json").read_text())
    lay = layout_from_info(meta["info"], meta["symbols"], has_symtab=meta["has_symtab"])
    raws = [parse_line(ln) for ln in (DATA / f"{name}.launches.tsv").read_text().splitlines()]
    with open(DATA / f"{name}.script.txt") as f:
        folded = fold(iter_events(f), {lay.path: lay}, meta["uprobe_roles"])
    traces = match_launches(raws, folded)
    assert all(t is not None for t in traces)
    return raws, [t for t in traces if t is not None], lay


@pytest.mark.parametrize("name", CAPTURES)
def test_phases_in_order_and_sum_to_total(name: str) -> None:
    _, traces, _ = capture(name)
    for tr in traces:
        ph = tr.phases_ns()
        parts = {k: v for k, v in ph.items() if k != "total"}
        assert all(v >= 0 for v in parts.values())
        assert sum(parts.values()) == ph["total"]  # telescoping: exact, not just within 1%
        bounds = tr.phase_bounds()
        assert [b[1] for b in bounds] == sorted(b[1] for b in bounds)


@pytest.mark.parametrize("name", CAPTURES)
def test_breakdowns_sum_to_traced_total_and_match_rusage(name: str) -> None:
    raws, traces, _ = capture(name)
    for raw, tr in zip(raws, traces, strict=True):
        extra = tr.sample_extra()
        total = extra["trace_faults_minor"] + extra["trace_faults_major"]
        assert total == len(tr.faults)
        for key in ("faults_by_region", "faults_by_kind", "faults_by_phase"):
            assert sum(extra[key].values()) == total, key
        rusage = raw[5] + raw[6]
        # rusage also counts get_user_pages faults (argv copy, one per uprobe install), which
        # raise no perf event: a few more, never fewer
        assert 0 <= rusage - total <= 3
        assert extra["trace_faults_major"] <= raw[6]


def test_web_regions_kinds_and_phases() -> None:
    _, (tr,), lay = capture("web")
    extra = tr.sample_extra()
    assert list(extra["phases_ns"]) == [*PHASES, "total"]
    assert "phases_missing" not in extra
    regions = extra["faults_by_region"]
    top = list(regions)[:5]
    assert "go heap" in top and ".text" in top
    for sec in (".bss", ".data", ".noptrbss", ".gopclntab", ".rodata"):
        assert regions.get(sec, 0) > 0, sec
    assert regions[PRE := "launcher memory (pre-exec)"] >= 1, PRE
    fetch = Counter(f.segment for f in tr.faults if f.kind is FaultKind.IFETCH)
    text_seg = next(s.label for s in lay.segments if "x" in s.perms)
    assert fetch[text_seg] > 0.9 * sum(fetch.values())
    # .text faults are instruction fetches; .bss is anonymous memory reached through the bias
    assert all(f.kind is FaultKind.IFETCH for f in tr.faults if f.region == ".text")
    assert all(f.kind is not FaultKind.IFETCH for f in tr.faults if f.region == ".bss")
    assert extra["faults_by_phase"]["runtime_init"] > 0.8 * len(tr.faults)
    assert extra["faults_by_phase"]["spawn"] >= 1
    assert extra["trace_threads"] >= 2


def test_dynamic_binary_has_loader_phase_and_libraries() -> None:
    _, (tr,), lay = capture("cgo")
    assert lay.interpreter and lay.is_go
    extra = tr.sample_extra()
    regions = extra["faults_by_region"]
    assert regions.get("libc.so.6", 0) > 0
    assert any(r.startswith("ld-linux") for r in regions)
    # ld.so runs between exec and the entry point: its faults and time land in to_entry
    assert extra["faults_by_phase"]["to_entry"] > 10
    assert extra["phases_ns"]["to_entry"] > extra["phases_ns"]["exec"] / 10


def test_stripped_binary_reports_missing_phases_not_wrong_ones() -> None:
    _, (tr,), lay = capture("hello-sw")
    assert lay.main_symbol is None
    assert "stripped" in lay.main_missing_reason
    extra = tr.sample_extra()
    ph = extra["phases_ns"]
    assert "runtime_init" not in ph and "main_to_exit" not in ph
    assert ph["entry_to_exit"] == ph["total"] - ph["exec"] - ph["to_entry"]
    missing = extra["phases_missing"]
    assert set(missing) == {"runtime_init", "main_to_exit"}
    assert "no main.main symbol (stripped" in missing["runtime_init"]
    assert "entry_to_exit" in extra["faults_by_phase"]


def test_cold_capture_major_faults_are_attributed() -> None:
    raws, traces, _ = capture("hello-cold")
    assert len(traces) == 2
    for raw, tr in zip(raws, traces, strict=True):
        extra = tr.sample_extra()
        assert extra["trace_faults_major"] >= 1
        assert raw[6] >= extra["trace_faults_major"]
        majors = [f for f in tr.faults if f.major]
        assert all(f.segment is not None for f in majors)  # the binary's own pages


def test_c_binary_uses_main_symbol() -> None:
    _, (tr,), lay = capture("cmain")
    assert lay.main_symbol == "main" and not lay.is_go
    ph = tr.phases_ns()
    assert set(PHASES) <= set(ph)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (0x14, FaultKind.IFETCH),
        (0x15, FaultKind.IFETCH),
        (0x4, FaultKind.READ),
        (0x0, FaultKind.READ),
        (0x6, FaultKind.WRITE),
        (0x2, FaultKind.WRITE),
        (0x7, FaultKind.COW),
        (None, FaultKind.UNKNOWN),
    ],
)
def test_fault_kind(code: int | None, kind: FaultKind) -> None:
    assert fault_kind(code) is kind


def _mm(start: int, length: int, path: str = "//anon") -> Mmap:
    return Mmap(1, 1, 0, start, length, 0, "rw-p", path)


def test_map_table_newer_mapping_wins() -> None:
    t = _MapTable()
    big = _mm(0x1000, 0x10000, "//anon")
    t.add(big)
    mid = _mm(0x4000, 0x2000, "/lib/x.so")
    t.add(mid)
    assert t.find(0x1000) is big
    assert t.find(0x3FFF) is big
    assert t.find(0x4000) is mid
    assert t.find(0x5FFF) is mid
    assert t.find(0x6000) is big
    assert t.find(0x10FFF) is big
    assert t.find(0x11000) is None
    assert t.find(0x0FFF) is None
    over = _mm(0x0, 0x20000, "[heap]")
    t.add(over)
    assert t.starts == [0x0] and t.find(0x5000) is over


def _lay() -> BinaryLayout:
    info = {
        "path": "/bin/pie",
        "format": "ELF",
        "entry": 0x1100,
        "segments": [
            _seg("LOAD0", 0x0, 0x800, 0x0, 0x800, "r--"),
            _seg("LOAD1", 0x1000, 0x2000, 0x1000, 0x2000, "r-x"),
            _seg("LOAD2", 0x3DF0, 0x3000, 0x2DF0, 0x300, "rw-"),
        ],
        "sections": [
            {"name": ".text", "vaddr": 0x1100, "size_bytes": 0x1E00, "mapped": True},
            {"name": ".data", "vaddr": 0x3DF0, "size_bytes": 0x300, "mapped": True},
            {"name": ".bss", "vaddr": 0x40F0, "size_bytes": 0x2000, "mapped": True},
            {"name": ".comment", "vaddr": 0, "size_bytes": 0x20, "mapped": False},
        ],
        "elf": {"interpreter": "/lib64/ld.so", "needed": ["libc.so.6"], "is_pie": True},
        "go": None,
    }
    return layout_from_info(info, {"main": 0x1200}, has_symtab=True)


def _seg(name: str, va: int, mem: int, off: int, filesz: int, perms: str) -> dict[str, Any]:
    return {
        "name": name,
        "vaddr": va,
        "mem_size_bytes": mem,
        "file_offset": off,
        "file_size_bytes": filesz,
        "perms": perms,
    }


def test_layout_pie_bias_and_bss() -> None:
    lay = _lay()
    assert lay.entry_file_offset == 0x1100
    assert lay.main_symbol == "main" and lay.main_file_offset == 0x1200
    base = 0x5555_5555_4000
    assert lay.bias(base, 0) == base
    assert lay.bias(base + 0x1000, 0x1000) == base
    assert lay.bias(base + 0x3000, 0x2000) == base  # RW segment: page of file offset 0x2df0
    assert lay.bias(base, 0x9000) is None
    assert lay.locate(0x1150) == ("LOAD1 r-x", ".text")
    assert lay.locate(0x3E00) == ("LOAD2 rw-", ".data")
    assert lay.locate(0x5000) == ("LOAD2 rw-", ".bss")  # no file offset: found by address
    assert lay.locate(0x1050) == ("LOAD1 r-x", None)
    assert lay.locate(0x9000) is None


def test_fold_pie_launch_with_pid_reuse_and_lost_records() -> None:
    lay = _lay()
    base = 0x5555_5555_4000

    def life(t: int) -> list[Any]:
        return [
            Fault(10, 10, t + 1, 0x7FFF_0000, False, 0x6, False),  # pre-exec, launcher memory
            Marker(10, 10, t + 2, MarkerKind.EXECVE),
            Mmap(10, 10, t + 3, base, 0x1000, 0, "r--p", "/bin/pie"),
            Mmap(10, 10, t + 4, base + 0x1000, 0x2000, 0x1000, "r-xp", "/bin/pie"),
            Mmap(10, 10, t + 5, 0x7FFD_0000, 0x21000, 0, "rw-p", "[stack]"),
            Marker(10, 10, t + 6, MarkerKind.EXEC, "/bin/pie"),
            Marker(10, 10, t + 7, MarkerKind.UPROBE, "g:e0"),
            Fault(10, 10, t + 8, base + 0x1150, False, 0x14, False),
            Fault(10, 10, t + 9, base + 0x5000, False, 0x6, False),  # .bss via the bias
            Fault(10, 10, t + 10, 0x7FFC_FFF0, False, 0x6, False),  # stack grown below
            Marker(10, 10, t + 11, MarkerKind.UPROBE, "g:m0"),
            Marker(10, 11, t + 12, MarkerKind.EXIT, "", False),
            Marker(10, 10, t + 13, MarkerKind.EXIT, "", True),
        ]

    evs = life(1000) + life(500_000)
    folded = fold(evs, {"/bin/pie": lay}, {"g:e0": "entry", "g:m0": "main"})
    assert len(folded[10]) == 2
    raws = [
        (0, 0, 1, 0, 0, 5, 0, 0, 0, None, 500_000, 10),
        (0, 0, 1, 0, 0, 5, 0, 0, 0, None, 1000, 10),
    ]
    second, first = match_launches(raws, folded)
    assert first is not None and second is not None
    assert first.begin_ns == 1001 and second.begin_ns == 500_001
    regions = [f.region for f in first.faults]
    assert regions == ["launcher memory (pre-exec)", ".text", ".bss", "stack"]
    assert first.phases_ns() == {
        "exec": 4,
        "to_entry": 1,
        "runtime_init": 4,
        "main_to_exit": 2,
        "total": 11,
    }
    assert first.sample_extra()["faults_by_phase"] == {"spawn": 1, "runtime_init": 3}
    assert second.sample_extra()["faults_by_region"]["stack"] == 1
    # a lost record anywhere in the session: no launch of it is vouched for
    folded = fold([*evs, Lost(500_005, 3)], {"/bin/pie": lay}, {"g:e0": "entry"})
    for tr in folded[10]:
        extra = tr.sample_extra()
        assert tr.lost and "trace_error" in extra and "faults_by_region" not in extra
        assert extra["phases_ns"]["total"] == 11  # the markers are still right


def test_out_of_order_marker_is_dropped_with_reason() -> None:
    evs = [
        Marker(3, 3, 10, MarkerKind.EXECVE),
        Marker(3, 3, 20, MarkerKind.EXEC, "/x"),
        Marker(3, 3, 30, MarkerKind.UPROBE, "g:e0"),
        Marker(3, 3, 40, MarkerKind.EXIT, "", True),
    ]
    (tr,) = fold(evs, {}, {"g:e0": "entry"})[3]
    assert tr.phases_ns() == {"exec": 10, "to_entry": 10, "entry_to_exit": 10, "total": 30}
    bad = LaunchTrace(
        pid=3,
        begin_ns=0,
        end_ns=50,
        markers={"execve": 10, "exec": 20, "entry": 30, "exit": 40},
        missing={},
        faults=(),
        threads=1,
        binary=None,
    )
    assert bad.phases_missing()["runtime_init"].startswith("no main marker")
    evs[2] = Marker(3, 3, 5, MarkerKind.UPROBE, "g:e0")  # before exec: not a valid entry hit
    (tr,) = fold(evs, {}, {"g:e0": "entry"})[3]
    assert "entry" not in tr.markers


def test_parse_ld_list() -> None:
    text = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f00)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f11)\n"
    )
    assert parse_ld_list(text) == (
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    )
    from loadbench.perf import ParseError

    with pytest.raises(ParseError):
        parse_ld_list("\tlibfoo.so => not found\n")


def test_without_uprobes_phases_merge_and_say_why() -> None:
    meta = json.loads((DATA / "web.layout.json").read_text())
    lay = layout_from_info(meta["info"], meta["symbols"], has_symtab=meta["has_symtab"])
    with open(DATA / "web.script.txt") as f:
        (tr,) = fold(iter_events(f), {lay.path: lay}, {})[7143]
    ph = tr.phases_ns()
    assert set(ph) == {"exec", "exec_to_exit", "total"}
    assert ph["exec"] + ph["exec_to_exit"] == ph["total"]
    missing = tr.phases_missing()
    assert set(missing) == {"to_entry", "runtime_init", "main_to_exit"}
    assert all("uprobes=false" in why for why in missing.values())
