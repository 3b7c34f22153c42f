"""The bpf probe for real: bpftrace, the kernel program, the native launcher and built targets.

Needs root and bpftrace (skipped with the reason otherwise; ``LOADBENCH_REQUIRE_TRACING=1``, as
.ci/run sets it, turns the skip into a failure). About a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loadbench.probes.linux_bpf import BpfProbe

pytestmark = [pytest.mark.bpf, pytest.mark.integration]

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}


@pytest.fixture(scope="module", autouse=True)
def bpf_available() -> None:
    a = BpfProbe.availability()
    if not a.ok:
        if os.environ.get("LOADBENCH_REQUIRE_TRACING"):
            pytest.fail(f"bpf probe unavailable where it is required: {a.reason}")
        pytest.skip(f"bpf probe unavailable here: {a.reason}")


def _run(binaries: dict[str, str], out: Path, runs: int, **settings: Any) -> dict[str, Any]:
    from loadbench import runner

    opts = runner.RunOptions(runs=runs, warmup=1, probe="bpf", calibrate=False,
                             cache=settings.pop("cache", "warm"), probe_settings=settings)
    runner.run([runner.TargetSpec(n, p) for n, p in binaries.items()], out, opts)
    from loadbench import storage

    rec = storage.load_record(out)
    data = rec.to_json()
    for m, d in zip(rec.measurements, data["measurements"], strict=True):
        d["samples"] = [s.to_json() for s in m.samples]  # one dict per launch, as read here
    return data


def _samples(rec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return next(m["samples"] for m in rec["measurements"] if m["name"] == name)


@pytest.fixture(scope="module")
def mixed(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    names = [n for n in ("web", "hello", "hello-pie", "hello-sw", "cgo", "cmain", "floor")
             if n in built]
    return _run({n: built[n] for n in names}, tmp_path_factory.mktemp("mixed"), runs=12)


def test_phases_sum_to_total_in_every_sample(mixed: dict[str, Any]) -> None:
    for m in mixed["measurements"]:
        for s in m["samples"]:
            ph = s["phases_ns"]
            assert "trace_error" not in s, (m["name"], s.get("trace_error"))
            parts = [v for k, v in ph.items() if k != "total"]
            assert all(v >= 0 for v in parts) and sum(parts) == ph["total"], (m["name"], ph)
            assert ph["total"] < s["wall_ns"]


def test_phases_of_each_kind_of_binary(mixed: dict[str, Any]) -> None:
    want = {
        "web": ("to_entry", "runtime_init"),
        "hello": ("to_entry", "runtime_init"),
        "hello-pie": ("to_interp", "ld_so", "runtime_init"),
        "cgo": ("to_interp", "ld_so", "runtime_init"),
        "cmain": ("to_entry", "runtime_init"),
        "hello-sw": ("to_entry", "entry_to_exit"),
        "floor": ("to_entry", "entry_to_exit"),
    }
    for m in mixed["measurements"]:
        for s in m["samples"]:
            keys = list(s["phases_ns"])
            assert keys[:2] == ["spawn", "exec_load"] and keys[-1] == "total", keys
            for p in want[m["name"]]:
                assert p in keys, (m["name"], keys)
    cgo = _samples(mixed, "cgo") if "cgo" in {m["name"] for m in mixed["measurements"]} else []
    if cgo:  # ld.so relocating libc and Go's runtime is most of a cgo binary's start
        # medians: one launch preempted in to_interp (98 us against ~4) failed a per-launch check
        ld_so = statistics.median(s["phases_ns"]["ld_so"] for s in cgo)
        to_interp = statistics.median(s["phases_ns"]["to_interp"] for s in cgo)
        assert ld_so > 10 * to_interp, (ld_so, to_interp)


def test_fault_gap_to_rusage(mixed: dict[str, Any]) -> None:
    """rusage - traced = probe.settings.fault_gap_expected[name] (1 for execve's argv copy + 1
    per page holding a uprobe) in nearly every launch; a fault retried because a signal was
    pending is seen twice, so the gap can only be smaller."""
    expected = mixed["probe"]["settings"]["fault_gap_expected"]
    for m in mixed["measurements"]:
        gaps = Counter(s["faults_minor"] + s["faults_major"] - s["trace_faults_minor"]
                       - s["trace_faults_major"] for s in m["samples"])
        want = expected[m["name"]]
        assert gaps.most_common(1)[0][0] == want, (m["name"], gaps, want)
        assert all(want - 2 <= g <= want for g in gaps), (m["name"], gaps)


def test_regions_kinds_and_phases_add_up(mixed: dict[str, Any]) -> None:
    for m in mixed["measurements"]:
        for s in m["samples"]:
            total = s["trace_faults_minor"] + s["trace_faults_major"]
            for key in ("faults_by_region", "faults_by_kind", "faults_by_phase"):
                assert sum(s[key].values()) == total, (m["name"], key)
    web = _samples(mixed, "web")
    assert all(".text" in s["faults_by_region"] and "go heap" in s["faults_by_region"]
               for s in web)
    if "cgo" in {m["name"] for m in mixed["measurements"]}:
        assert all(s["faults_by_region"].get("libc.so.6", 0) > 5 for s in _samples(mixed, "cgo"))


def test_kernel_and_page_modes_agree(built: dict[str, str], tmp_path: Path) -> None:
    bins = {n: built[n] for n in ("web", "cgo") if n in built}
    k = _run(bins, tmp_path / "kernel", runs=15)
    p = _run(bins, tmp_path / "page", runs=15, regions="page")
    for name in bins:
        km, pm = Counter(), Counter()
        for s in _samples(k, name):
            km.update(s["faults_by_region"])
        for s in _samples(p, name):
            pm.update(s["faults_by_region"])
        for region in set(km) | set(pm):
            a, b = km[region] / 15, pm[region] / 15
            if region in ("go heap", "anonymous"):
                continue  # their split varies launch to launch; their sum is checked below
            assert abs(a - b) <= max(1.5, 0.2 * max(a, b)), (name, region, a, b)
        heap = (km["go heap"] + km["anonymous"]) / 15, (pm["go heap"] + pm["anonymous"]) / 15
        assert abs(heap[0] - heap[1]) <= 0.1 * max(heap), (name, heap)


def test_cold_cache_major_faults(built: dict[str, str], tmp_path: Path) -> None:
    rec = _run({"hello": built["hello"]}, tmp_path, runs=5, cache="cold")
    ss = _samples(rec, "hello")
    assert statistics.median(s["trace_faults_major"] for s in ss) >= 1
    assert statistics.median(s["faults_major"] for s in ss) >= 1


def test_execve_marker_gives_the_perf_probes_exec_phase(
    built: dict[str, str], tmp_path: Path
) -> None:
    rec = _run({"hello": built["hello"]}, tmp_path, runs=5, execve="true")
    for s in _samples(rec, "hello"):
        assert list(s["phases_ns"])[:2] == ["spawn", "exec"]


def test_calibrate_stores_the_inflation_with_its_ci(built: dict[str, str]) -> None:
    from loadbench.probes.base import Target

    null = built.get("floor") or built["hello"]
    with BpfProbe() as probe:
        assert isinstance(probe, BpfProbe)
        m = probe.measure_inflation(Target("null", null), ENV, launches=320)
        over = dict(probe.overhead)
    assert m.rounds >= 8 and m.launches_per_block == 20
    assert m.ci95 is not None and m.ci95[0] <= m.ratio <= m.ci95[1]
    stored = m.overhead()
    assert stored["trace_inflation"]["ci95"] == list(m.ci95)
    if m.reliable:
        assert stored["trace_inflation_ratio"] == m.ratio
    else:
        assert "trace_inflation_ratio" not in stored
        assert m.verdict in stored["trace_inflation_flag"]
    assert over == {}  # measure_inflation alone stores nothing


def test_nothing_left_in_tracefs_or_tmp(built: dict[str, str], tmp_path: Path) -> None:
    before = set(os.listdir("/tmp"))
    _run({"hello": built["hello"]}, tmp_path, runs=3)
    from loadbench import tracefs

    fs = tracefs.find()
    assert fs is not None
    with open(os.path.join(fs.path, "uprobe_events")) as f:
        assert not [ln for ln in f if ln.startswith("p:lb")]  # bpftrace uprobes are fd-based
    # names loadbench gives temp files carry its pid; other sessions share /tmp
    new = set(os.listdir("/tmp")) - before
    assert not {n for n in new if n.startswith("loadbench") and f"-{os.getpid()}-" in n}


def test_trace_uses_bpf_and_perf_only_for_fault_instants(
    built: dict[str, str], tmp_path: Path
) -> None:
    from loadbench.probes.linux_perf import PerfProbe
    from loadbench.trace import render_summary, summary_json, trace

    perf = PerfProbe.availability().ok
    res = trace(built["web"], runs=6, out_dir=tmp_path, calibrate=False)
    assert res.probe == "bpf" and len(res.traces) == 6
    assert len(res.instants) == (5 if perf else 0)
    doc = json.loads((tmp_path / "trace.json").read_text())
    assert doc["otherData"]["probe"] == "bpf"
    slices = {e["name"] for e in doc["traceEvents"] if e.get("cat") == "phase"}
    assert {"spawn", "exec_load", "to_entry", "runtime_init", "main_to_exit"} <= slices
    launch = [e for e in doc["traceEvents"] if e.get("cat") == "launch"]
    assert any("faults_by_region" in e["args"] for e in launch)  # bpf: counts in the slice
    instants = [e for e in doc["traceEvents"] if e["ph"] == "i"]
    if perf:  # every fault of the perf launches, on their own labelled processes
        assert len(instants) > 5 * 200
        names = [e["args"]["name"] for e in doc["traceEvents"] if e.get("name") == "process_name"]
        assert sum(n.startswith("perf launch") for n in names) == 5
    text = render_summary(res)
    assert "bpf probe" in text.splitlines()[0]
    top = text.split("top regions")[1].split("top sections")[0]
    assert ".text" in top and "go heap" in top
    js = summary_json(res)
    assert js["probe"] == "bpf" and js["faults_counted"] > 6 * 250
    assert list(js["phases_ns_median"])[:2] == ["spawn", "exec_load"]


def test_a_stripped_dynamic_binary_is_traced(tmp_path: Path) -> None:
    """Found with `--timeout` on /bin/sleep: bpftrace refused the entry uprobe of a stripped
    binary ("Could not resolve address"), so no stripped dynamic binary could be measured."""
    import shutil
    import subprocess

    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not shutil.which("strip"):
        pytest.skip("needs a C compiler and binutils' strip")
    src = tmp_path / "main.c"
    src.write_text("int main(void) { return 0; }\n")
    stripped = tmp_path / "dyn-stripped"
    subprocess.run([cc, "-O2", "-o", str(stripped), str(src)], check=True)  # dynamic, PIE
    subprocess.run(["strip", "--strip-all", str(stripped)], check=True)
    rec = _run({"stripped": str(stripped)}, tmp_path / "run", runs=6)
    samples = _samples(rec, "stripped")
    assert len(samples) == 6 and all(s["status"] == "ok" for s in samples)
    for s in samples:
        ph = s["phases_ns"]
        assert ph["ld_so"] > 0 and ph["entry_to_exit"] > 0
        assert sum(v for k, v in ph.items() if k != "total") == ph["total"]
        assert "no symbol table" in s["phases_missing"]["main_to_exit"]
