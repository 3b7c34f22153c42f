"""The main job end to end through the CLI: real builds, real launches, record and report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loadbench import storage
from loadbench.cli import cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "run"
    res = CliRunner().invoke(cli, ["bench", "--quick", "--out", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    return out


def test_bench_quick_record(bench_dir: Path) -> None:
    rec = storage.load_record(bench_dir / "record.json")
    assert rec.complete and rec.end_reason == "done"
    names = [m.name for m in rec.measurements]
    assert {"hello", "hello-sw", "hello-pie", "web", "web-sw", "web-pie"} <= set(names)
    assert len(rec.measurements) >= 4
    for m in rec.measurements:
        assert len(m.ok_samples()) >= 30, m.name
        assert m.binary.build is not None and m.binary.build["sha256"] == m.binary.sha256
        assert m.binary.summary["format"] == "ELF"
    assert rec.probe.name == "rusage" and rec.probe.overhead["null_wall_ns_median"] > 0
    for key in ("os_release", "cpu_model", "perf_event_paranoid", "loadbench_version"):
        assert key in rec.host
    med = {m.name: sorted(s.wall_ns for s in m.ok_samples())[len(m.ok_samples()) // 2]
           for m in rec.measurements}
    if "floor" in med:
        assert med["floor"] < med["hello"]
    manifest = json.loads((bench_dir / "bin" / "manifest.json").read_text())
    gos = {b["goos"] for b in manifest["binaries"]}
    assert {"linux", "windows", "darwin"} <= gos


def test_bench_report_sections(bench_dir: Path) -> None:
    md = (bench_dir / "report.md").read_text()
    for heading in ("## Host and toolchain", "## Launch latency, faults and memory per variant",
                    "## Warnings", "## Static structure", "## Reproduce"):
        assert heading in md
    assert "web-windows-amd64" in md and "PE x86\\_64" in md
    assert "web-darwin-arm64" in md and "MachO aarch64" in md
    assert "x floor" in md or "x hello" in md
    assert "go build" in md


def test_stats_json(bench_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["stats", "--json", str(bench_dir / "record.json")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    rows = {r["name"]: r for r in data["measurements"]}
    h = rows["hello"]
    for key in ("median_ns", "ci95_low_ns", "ci95_high_ns", "mean_ns", "sd_ns", "sem_ns",
                "p5_ns", "p95_ns", "outliers_low", "outliers_high", "faults_median"):
        assert key in h
    assert h["ci95_low_ns"] <= h["median_ns"] <= h["ci95_high_ns"]
    assert h["ratio_to_hello"] == pytest.approx(1.0)
    assert rows["web"]["faults_median"] > h["faults_median"]
    bad = CliRunner().invoke(cli, ["stats", "--baseline", "nope", str(bench_dir)])
    assert bad.exit_code == 2 and "not in the record" in bad.output


def test_second_build_is_cached(bench_dir: Path, tmp_path: Path) -> None:
    import time

    t0 = time.monotonic()
    res = CliRunner().invoke(cli, ["build", "--quick", "--out", str(tmp_path / "b"), "--json"])
    took = time.monotonic() - t0
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)
    assert all(b["cached"] for b in m["binaries"])
    assert took < 5  # copies only; the bar is "well under a second" per build


def test_doctor_reports_each_gap() -> None:
    res = CliRunner().invoke(cli, ["doctor", "--json"])
    assert res.exit_code == 0
    checks = {c["name"]: c for c in json.loads(res.output)}
    assert checks["go toolchain"]["ok"]
    assert "probe rusage" in checks and checks["probe rusage"]["ok"]
    assert not checks["probe windows-job"]["ok"] if "probe windows-job" in checks else True
    # the tracing probes' needs, each with the command that fixes it when missing
    for name in ("tracefs", "kernel BTF", "bpftrace", "probe bpf", "probe perf"):
        assert name in checks, name
        assert checks[name]["ok"] or checks[name]["fix"] or "probe" in name, checks[name]
    if not checks["tracefs"]["ok"]:
        assert "mount -t tracefs nodev /sys/kernel/tracing" in checks["tracefs"]["fix"]


def test_python_m_help() -> None:
    cp = subprocess.run([sys.executable, "-m", "loadbench", "--help"], capture_output=True,
                        text=True, check=True)
    for verb in ("bench", "build", "inspect", "run", "stats", "doctor"):
        assert verb in cp.stdout


def test_run_cli_errors_are_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "missing"), "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("loadbench: error:") and "no such file" in res.output
    res = CliRunner().invoke(cli, ["run", "/bin/true", "--runs", "-3"])
    assert res.exit_code == 2 and "'--runs': -3 is not in the range x>=1" in res.output
    res = CliRunner().invoke(cli, ["run", "/bin/true", "--probe", "nope", "--out",
                                   str(tmp_path / "o2")])
    assert res.exit_code == 2 and "unknown probe" in res.output
