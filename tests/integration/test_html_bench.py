"""Publishing real runs: the HTML report of two real rusage runs (with the cross-compiled PE and
Mach-O builds in its static table) opens in headless Chromium without a console message, two runs
merge into one report, and the pyperf/hyperfine/CSV exports hold every launch."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from loadbench import inspector, merge, runner, storage
from loadbench.report import csv_export, html, hyperfine_export, pyperf_export, tables

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0"]


def _static(paths: dict[str, str], runnable: bool) -> list[dict[str, object]]:
    out = []
    for name, path in paths.items():
        s = inspector.summary(inspector.inspect_file(path))
        goos = {"ELF": "linux", "PE": "windows", "MachO": "darwin"}.get(s["format"], "")
        out.append({"name": name, "runnable": runnable, "goos": goos, "goarch": s["arch"],
                    "summary": s})
    return out


@pytest.fixture(scope="module")
def run_dirs(built: dict[str, str], cross_built: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    names = [n for n in ("floor", "hello", "hello-sw", "web") if n in built]
    static = _static({n: built[n] for n in names}, True) + _static(cross_built, False)
    dirs = []
    for seed in (1, 2):
        out = tmp_path_factory.mktemp("publish") / f"run{seed}"
        runner.run([runner.TargetSpec(n, built[n]) for n in names], out,
                   runner.RunOptions(runs=20, warmup=2, seed=seed, calibrate=False),
                   argv=["loadbench", "run", "--seed", str(seed)])
        storage.write_json_atomic(out / "static.json", {"static_version": 1, "binaries": static})
        dirs.append(out)
    return dirs


@pytest.fixture(scope="module")
def report_path(run_dirs: list[Path]) -> Path:
    p = run_dirs[0] / "report.html"
    p.write_text(html.render_merged(merge.load_inputs([run_dirs[0]]), title="loadbench bench"),
                 encoding="utf-8")
    return p


def test_report_of_a_real_run(report_path: Path) -> None:
    doc = report_path.read_text(encoding="utf-8")
    assert doc.count("<svg") >= 3
    # the static table covers the cross-compiled Windows and macOS builds
    assert re.search(r"<td>PE x86_64</td>", doc) and re.search(r"<td>MachO (aarch64|arm64)", doc)
    assert "windows/" in doc and "darwin/" in doc
    assert "hello" in doc and "Latency against page faults" in doc


def test_report_opens_in_chromium_without_console_messages(report_path: Path,
                                                           tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("headless check needs Debian's chromium (apt-get install chromium)")
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        cp = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             f"--screenshot={shot}", "--window-size=1400,4000",
                             report_path.as_uri()], capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp.stderr[-2000:]
        dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                              "--dump-dom", report_path.as_uri()], capture_output=True,
                             text=True, timeout=120)
    # Chromium logs every console message (errors, CSP violations) as INFO:CONSOLE
    consoles = [ln for ln in cp.stderr.splitlines() + dom.stderr.splitlines()
                if ":CONSOLE" in ln]
    assert consoles == []
    assert shot.stat().st_size > 50_000
    assert '<section id="summary">' in dom.stdout and dom.stdout.count("<svg") >= 3


def test_two_runs_merge_into_one_report(run_dirs: list[Path], tmp_path: Path) -> None:
    merged = merge.load_inputs(run_dirs)
    merge.save_merged(tmp_path / "merged.json", merged)
    back = merge.load_merged(tmp_path / "merged.json")
    assert back.records == merged.records
    doc = html.render_merged(back)
    groups = re.findall(r'scope="colgroup" class="grp">([^<]*)</th>', doc)
    assert len(groups) == 2 and groups == list(back.labels)
    for rec in back.records:
        assert rec.run_id in doc


def test_exports_of_a_real_run(run_dirs: list[Path], tmp_path: Path) -> None:
    rec = storage.load_record(run_dirs[0])
    # pyperf: its stats command reads the file and its medians are loadbench's within 1%
    pyperf_export.export(rec, tmp_path / "a.json")
    pyperf_export.export(storage.load_record(run_dirs[1]), tmp_path / "b.json")
    out = subprocess.run([sys.executable, "-m", "pyperf", "stats", str(tmp_path / "a.json")],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "sec": 1.0}
    got = [float(v) * units[u] for v, u in re.findall(r"Median \+- MAD:\s+(\S+) (\S+) \+-", out)]
    want = [r["median_ns"] / 1e9 for r in tables.measurement_rows(rec)]
    assert len(got) == len(want)
    assert all(abs(g - w) / w < 0.01 for g, w in zip(got, want, strict=True))
    subprocess.run([sys.executable, "-m", "pyperf", "compare_to", str(tmp_path / "a.json"),
                    str(tmp_path / "b.json")], capture_output=True, check=True, timeout=60)
    # hyperfine: one time per launch, and the import gives the same launches back
    hyperfine_export.export(rec, tmp_path / "h.json")
    back = hyperfine_export.import_record(tmp_path / "h.json")
    for a, b in zip(rec.measurements, back.measurements, strict=True):
        assert [s.wall_ns for s in b.samples] == [s.wall_ns for s in a.samples]
        assert [s.status for s in b.samples] == [s.status for s in a.samples]
    # CSV: one row per launch, warm-ups included and flagged
    csv_export.export(rec, tmp_path / "l.csv")
    with (tmp_path / "l.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(m.samples) + len(m.warmup) for m in rec.measurements)
    assert sum(r["warmup"] == "true" for r in rows) == sum(len(m.warmup) for m in rec.measurements)
