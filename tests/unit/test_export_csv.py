"""The CSV export: one row per launch, every core field and every flattened probe extra."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from loadbench.model import BinaryRef, LaunchStatus, Measurement, ProbeInfo, Record, RunSpec, Sample
from loadbench.report import csv_export

CORE = ["index", "status", "wall_ns", "user_ns", "sys_ns", "faults_minor", "faults_major",
        "max_rss_bytes", "exit_code", "signal", "start_ns", "session"]


def _record() -> Record:
    traced = Sample(index=0, status=LaunchStatus.OK, wall_ns=2_000_000, user_ns=5, sys_ns=6,
                    faults_minor=180, max_rss_bytes=1_600_000, exit_code=0, start_ns=77,
                    extra={"phases_ns": {"exec": 90_000, "total": 1_900_000},
                           "faults_by_region": {".text": 9, "go heap": 70},
                           "trace_threads": 4, "kinds": ["a", "b"]})
    failed = Sample(index=1, status=LaunchStatus.SIGNALED, wall_ns=3_000_000, signal=9)
    warm = Sample(index=-1, status=LaunchStatus.OK, wall_ns=9_000_000, exit_code=0)
    a = Measurement('he,llo "q"\nx', BinaryRef("/bin/hello", "ab" * 32), (), (traced, failed),
                    (warm,))
    b = Measurement("web", BinaryRef("/bin/web", "cd" * 32), (),
                    (Sample(index=2, status=LaunchStatus.OK, wall_ns=4_000_000, exit_code=0),))
    return Record(run_id="r9", created_utc="2026-11-27T00:00:00Z", host={},
                  probe=ProbeInfo("perf", "1"),
                  spec=RunSpec(runs=2, warmup=1, seed=0, timeout_s=1.0, env={}),
                  measurements=(a, b), complete=True, end_reason="done")


def test_one_row_per_launch_with_flattened_extras(tmp_path: Path) -> None:
    rec = _record()
    p = tmp_path / "launches.csv"
    csv_export.export(rec, p)
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = list(reader)
    assert header is not None
    assert header[:5] == ["run_id", "measurement", "binary_sha256", "binary_path", "warmup"]
    assert header[5:5 + len(CORE)] == CORE
    extras = header[5 + len(CORE):]
    assert extras == sorted(extras)
    assert {"phases_ns.exec", "phases_ns.total", "faults_by_region..text",
            "faults_by_region.go heap", "trace_threads", "kinds"} == set(extras)
    # 1 warm-up + 2 launches of the first measurement, 1 launch of the second
    assert len(rows) == 4
    warm, traced, failed, web = rows
    assert warm["warmup"] == "true" and traced["warmup"] == "false"
    assert traced["measurement"] == 'he,llo "q"\nx'  # quoting survives commas, quotes, newlines
    assert traced["binary_sha256"] == "ab" * 32 and traced["run_id"] == "r9"
    assert traced["phases_ns.exec"] == "90000" and traced["faults_by_region.go heap"] == "70"
    assert traced["kinds"] == '["a","b"]'
    assert traced["wall_ns"] == "2000000" and traced["start_ns"] == "77"
    assert failed["status"] == "signaled" and failed["signal"] == "9"
    assert failed["exit_code"] == "" and failed["phases_ns.exec"] == ""
    assert web["measurement"] == "web" and web["trace_threads"] == ""


def test_every_row_has_every_column_and_numbers_parse() -> None:
    text = csv_export.to_csv(_record())
    rows = list(csv.reader(io.StringIO(text)))
    assert len({len(r) for r in rows}) == 1
    header, *body = rows
    wall = header.index("wall_ns")
    assert [int(r[wall]) for r in body] == [9_000_000, 2_000_000, 3_000_000, 4_000_000]
