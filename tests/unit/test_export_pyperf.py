"""The pyperf export: pyperf's own CLI reads it, and its medians are loadbench's."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest

from loadbench.model import BinaryRef, LaunchStatus, Measurement, ProbeInfo, Record, RunSpec, Sample
from loadbench.report import pyperf_export, tables

_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "sec": 1.0}


def _record(seed: int, shift: float = 1.0, run_id: str = "r1") -> Record:
    rng = random.Random(seed)
    ms = []
    for j, (name, centre_us) in enumerate((("floor", 130.0), ("hello", 1100.0),
                                           ("web", 1700.0))):
        samples = [Sample(index=3 * i + j, status=LaunchStatus.OK,
                          wall_ns=int(centre_us * shift * 1000 * rng.lognormvariate(0, 0.1)),
                          faults_minor=100, exit_code=0) for i in range(60)]
        samples.append(Sample(index=500 + j, status=LaunchStatus.TIMEOUT, wall_ns=10**10,
                              signal=9))
        warm = (Sample(index=-1, status=LaunchStatus.OK, wall_ns=5_000_000),)
        ms.append(Measurement(name, BinaryRef(f"/r/bin/{name}", f"{j:064x}"), ("-v",),
                              tuple(samples), warm))
    host = {"os": "Linux", "os_release": "6.1.0", "machine": "x86_64", "hostname": "vm\nx",
            "cpu_model": "Xeon", "cpu_count_logical": 2, "boot_time": 1795785214,
            "load_average": [0.5, 0.4, 0.3]}
    return Record(run_id=run_id, created_utc="2026-11-27T13:38:31.745634Z", host=host,
                  probe=ProbeInfo("rusage", "1"),
                  spec=RunSpec(runs=60, warmup=1, seed=1, timeout_s=10.0, env={}),
                  measurements=tuple(ms), complete=True, end_reason="done",
                  loadbench_version="0.1.0")


def _seconds(text: str) -> float:
    value, unit = text.split()
    return float(value) * _UNITS[unit]


def _pyperf(*args: str) -> str:
    cp = subprocess.run([sys.executable, "-m", "pyperf", *args], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def test_suite_maps_each_successful_launch_to_one_run(tmp_path: Path) -> None:
    rec = _record(1)
    p = tmp_path / "a.json"
    pyperf_export.export(rec, p)
    suite = pyperf.BenchmarkSuite.load(str(p))
    assert suite.get_benchmark_names() == ["floor", "hello", "web"]
    for m in rec.measurements:
        b = suite.get_benchmark(m.name)
        assert b.get_nrun() == 60  # the timeout is left out
        assert all(len(r.values) == 1 for r in b.get_runs())
        assert list(b.get_values()) == [s.wall_ns / 1e9 for s in m.ok_samples()]
        md = b.get_metadata()
        assert md["unit"] == "second" and md["loops"] == 1 and md["name"] == m.name
        assert md["loadbench_failed_launches"] == 1 and md["loadbench_warmup_launches"] == 1
        assert md["command"] == f"/r/bin/{m.name} -v" and md["binary_sha256"] == m.binary.sha256
        # the record's host, not the machine that exported; newlines are not allowed in pyperf
        assert md["hostname"] == "vm x" and md["platform"] == "Linux-6.1.0-x86_64"
        assert md["cpu_count"] == 2 and md["date"] == "2026-11-27 13:38:31"
    # the file is plain pyperf JSON of pyperf's current format version
    data = json.loads(p.read_text())
    assert isinstance(data["version"], str) and len(data["benchmarks"]) == 3


def test_pyperf_stats_median_matches_loadbench(tmp_path: Path) -> None:
    rec = _record(2)
    p = tmp_path / "a.json"
    pyperf_export.export(rec, p)
    out = _pyperf("stats", str(p))
    medians = [_seconds(m) for m in re.findall(r"Median \+- MAD:\s+(\S+ \S+) \+-", out)]
    rows = tables.measurement_rows(rec)
    assert len(medians) == len(rows)
    for got, row in zip(medians, rows, strict=True):
        want = row["median_ns"] / 1e9
        # pyperf prints three significant digits: within 1% of loadbench's exact median
        assert abs(got - want) / want < 0.01, (row["name"], got, want)


def test_pyperf_compare_to_reads_two_exports(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    pyperf_export.export(_record(3, run_id="a"), a)
    pyperf_export.export(_record(4, shift=1.5, run_id="b"), b)
    out = _pyperf("compare_to", str(a), str(b))
    for name in ("floor", "hello", "web"):
        assert re.search(rf"^{name}: .*slower", out, re.M), out


def test_nothing_to_export_is_a_clear_error(tmp_path: Path) -> None:
    rec = _record(5)
    failed = tuple(Measurement(m.name, m.binary, m.argv,
                               tuple(s for s in m.samples if not s.ok)) for m in rec.measurements)
    bad = Record(rec.run_id, rec.created_utc, rec.host, rec.probe, rec.spec, failed)
    with pytest.raises(pyperf_export.ExportError, match="no measurement has a successful"):
        pyperf_export.export(bad, tmp_path / "x.json")
    assert not list(tmp_path.iterdir())
