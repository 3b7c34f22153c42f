"""The perf probe for real: perf record/script, uprobes, the native launcher and built targets.

Needs root and perf (skipped with the reason otherwise; ``LOADBENCH_REQUIRE_TRACING=1``, as .ci/run
sets it, turns the skip into a failure). Kept short: about 20 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import proctree  # tests/integration/proctree.py
import pytest

from loadbench.perf import uprobes
from loadbench.probes.linux_perf import PerfProbe

pytestmark = [pytest.mark.perf, pytest.mark.integration]

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}


@pytest.fixture(scope="module", autouse=True)
def perf_available() -> None:
    a = PerfProbe.availability()
    if not a.ok:
        if os.environ.get("LOADBENCH_REQUIRE_TRACING"):
            pytest.fail(f"perf probe unavailable where it is required: {a.reason}")
        pytest.skip(f"perf probe unavailable here: {a.reason}")


def _groups() -> set[str]:
    d = uprobes.tracefs()
    assert d is not None
    with open(os.path.join(d, "uprobe_events")) as f:
        return {g for g, _ in uprobes.parse_uprobe_events(f.read())}


def _ours(pid: int) -> set[str]:
    return {g for g in _groups() if g == f"lb{pid}" or g.startswith(f"lb{pid}_")}


@pytest.fixture(autouse=True)
def no_uprobes_left() -> Iterator[None]:
    yield
    assert not _ours(os.getpid()), "uprobes left behind"


def _run(binary: str, out: Path, runs: int, cache: str = "warm") -> dict:
    from loadbench import runner, storage

    opts = runner.RunOptions(runs=runs, warmup=1, probe="perf", cache=cache, calibrate=False)
    runner.run([runner.TargetSpec(Path(binary).name, binary)], out, opts)
    rec = storage.load_record(out)
    data = rec.to_json()
    for m, d in zip(rec.measurements, data["measurements"], strict=True):
        d["samples"] = [s.to_json() for s in m.samples]  # one dict per launch, as read here
    return data


def test_run_web_phases_breakdowns_and_rusage_agreement(
    built: dict[str, str], tmp_path: Path
) -> None:
    rec = _run(built["web"], tmp_path, runs=40)
    samples = rec["measurements"][0]["samples"]
    assert len(samples) == 40
    diffs = []
    for s in samples:
        ph = s["phases_ns"]
        assert list(ph) == ["exec", "to_entry", "runtime_init", "main_to_exit", "total"]
        parts = [v for k, v in ph.items() if k != "total"]
        assert all(v >= 0 for v in parts)
        assert abs(sum(parts) - ph["total"]) <= 0.01 * ph["total"]
        total = s["trace_faults_minor"] + s["trace_faults_major"]
        for key in ("faults_by_region", "faults_by_kind", "faults_by_phase"):
            assert sum(s[key].values()) == total
        diffs.append(s["faults_minor"] + s["faults_major"] - total)
        assert ".text" in s["faults_by_region"] and "go heap" in s["faults_by_region"]
    rusage = statistics.median(s["faults_minor"] + s["faults_major"] for s in samples)
    traced = statistics.median(s["trace_faults_minor"] + s["trace_faults_major"] for s in samples)
    assert abs(rusage - traced) <= 0.02 * rusage
    assert all(0 <= d <= 3 for d in diffs)  # get_user_pages faults only (see attribution.py)
    assert rec["probe"]["name"] == "perf" and rec["probe"]["tool_version"].startswith("perf")


def test_cold_cache_gives_major_faults_warm_none(built: dict[str, str], tmp_path: Path) -> None:
    cold = _run(built["hello"], tmp_path / "cold", runs=5, cache="cold")
    warm = _run(built["hello"], tmp_path / "warm", runs=5, cache="warm")
    cs = cold["measurements"][0]["samples"]
    ws = warm["measurements"][0]["samples"]
    assert statistics.median(s["faults_major"] for s in cs) > 0
    assert statistics.median(s["trace_faults_major"] for s in cs) > 0
    assert statistics.median(s["faults_major"] for s in ws) == 0
    assert statistics.median(s["trace_faults_major"] for s in ws) == 0


def test_cold_evicts_interpreter_and_libraries(built: dict[str, str]) -> None:
    if "cgo" not in built:
        pytest.skip("no C compiler: no cgo target")
    from loadbench.probes.base import Schedule, Target

    t = Target("cgo", built["cgo"])
    with PerfProbe() as probe:
        assert isinstance(probe, PerfProbe)
        probe._prepare([t])
        ev = probe.evict_map(Schedule(targets=(t,), order=(0,), env=ENV, cache="cold"))
        assert ev is not None
        names = [os.path.basename(p) for p in ev[0]]
        assert ev[0][0] == os.path.realpath(built["cgo"])
        assert any(n.startswith("ld-linux") for n in names)
        assert "libc.so.6" in names
        assert all(os.path.isabs(p) and os.path.realpath(p) == p for p in ev[0])
        assert probe.evict_map(Schedule(targets=(t,), order=(0,), env=ENV)) is None


def test_sigint_mid_run_leaves_no_uprobes(built: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadbench", "run", built["web"], "--probe", "perf",
             "--runs", "100000", "--warmup", "0", "--out", str(out), "-q"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=proctree.sigint_default,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not _ours(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert _ours(proc.pid), "the run never created its uprobes"
            time.sleep(2)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not _ours(proc.pid)
    rec = json.loads((out / "record.json").read_text())
    assert rec["end_reason"] == "interrupted by SIGINT"
    assert not list(Path("/tmp").glob(f"loadbench-perf-{proc.pid}-*"))


def test_stale_groups_of_dead_sessions_are_removed(built: dict[str, str]) -> None:
    from loadbench import _proc
    from loadbench.perf.layout import load_layout

    dead = subprocess.Popen(["true"])
    dead.wait()
    group = f"lb{dead.pid}"
    lay = load_layout(built["hello"])
    perf = _proc.which("perf")
    assert perf and lay.entry_file_offset is not None
    _proc.run(
        [
            perf,
            "probe",
            "-q",
            "-x",
            lay.path,
            "-a",
            f"{group}:{group}_e0={lay.entry_file_offset:#x}",
        ]
    )
    try:
        assert group in _groups()
        with PerfProbe() as probe:
            assert group in probe.settings["stale_uprobe_groups_removed"]
        assert group not in _groups()
    finally:
        if group in _groups():
            _proc.run([perf, "probe", "-q", "-d", f"{group}:*"], check=False)


def test_trace_writes_chrome_trace_summary_and_inittrace(
    built: dict[str, str], tmp_path: Path
) -> None:
    from loadbench.trace import render_summary, trace

    res = trace(built["web"], runs=5, out_dir=tmp_path, inittrace=True, calibrate=False,
                probe="perf")
    assert len(res.traces) == 5
    doc = json.loads((tmp_path / "trace.json").read_text())
    phases = {e["name"] for e in doc["traceEvents"] if e.get("cat") == "phase"}
    assert phases == {"exec", "to_entry", "runtime_init", "main_to_exit"}
    assert sum(1 for e in doc["traceEvents"] if e["ph"] == "i") > 5 * 200
    launches = json.loads((tmp_path / "launches.json").read_text())
    assert len(launches["samples"]) == 5
    assert len(res.inittrace) > 50
    text = render_summary(res)
    top = text.split("top regions")[1].split("top sections")[0]
    assert ".text" in top and "go heap" in top


def test_calibrate_stores_inflation(built: dict[str, str]) -> None:
    from loadbench.probes.base import Target

    null = built.get("floor") or built["hello"]
    with PerfProbe() as probe:
        over = probe.calibrate(Target("null", null), ENV, 16)
    infl = over["trace_inflation"]
    assert infl["rounds"] >= 8 and infl["ci95"][0] <= infl["ratio"] <= infl["ci95"][1]
    assert over["traced_wall_ns_median"] > 0 and over["untraced_wall_ns_median"] > 0
    assert over["launches_each"] == infl["rounds"] * infl["launches_per_block"]
    # a figure is stored as fact only when its CI is tight and above 1
    if infl["verdict"] == "ok":
        assert over["trace_inflation_ratio"] == infl["ratio"]
    else:
        assert "trace_inflation_ratio" not in over and over["trace_inflation_flag"]
