"""Records round-trip, are written atomically, and bad files give one-line RecordErrors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadbench import storage
from loadbench.model import (
    SCHEMA_VERSION,
    BinaryRef,
    LaunchStatus,
    Measurement,
    ProbeInfo,
    Record,
    RunSpec,
    Sample,
)


def _record(n: int = 3) -> Record:
    samples = tuple(Sample(index=i, status=LaunchStatus.OK, wall_ns=1000 + i, faults_minor=5,
                           extra={"phases_ns": {"exec": 10, "total": 20}}) for i in range(n))
    bad = Sample(index=n, status=LaunchStatus.TIMEOUT, wall_ns=10**9, signal=9)
    m = Measurement(name="hello", binary=BinaryRef("/x/hello", "ab" * 32, {"format": "ELF"}),
                    argv=("-v",), samples=(*samples, bad), warmup=samples[:1])
    return Record(run_id="r1", created_utc="2026-01-01T00:00:00Z", host={"os": "Linux"},
                  probe=ProbeInfo("rusage", "1", overhead={"null_wall_ns_median": 100}),
                  spec=RunSpec(runs=n, warmup=1, seed=7, timeout_s=5.0, env={"PATH": "/bin"}),
                  measurements=(m,), complete=True, end_reason="done")


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    rec = _record()
    p = tmp_path / "record.json"
    storage.save_record(p, rec)
    back = storage.load_record(p)
    assert back == rec
    data = json.loads(p.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    cols = data["measurements"][0]["samples"]
    # samples are held column-wise; probe extras per launch, beside the columns
    assert cols["extra"][0]["phases_ns"] == {"exec": 10, "total": 20}
    assert cols["status_names"][cols["status"][0]] == "ok" and cols["wall_ns"][0] == 1000
    assert cols["n"] == len(cols["wall_ns"]) == len(rec.measurements[0].samples)
    assert back.measurements[0].ok_samples()[-1].index == 2
    assert len(back.measurements[0].ok_samples()) == 3


def test_load_accepts_directory(tmp_path: Path) -> None:
    storage.save_record(tmp_path / "record.json", _record())
    assert storage.load_record(tmp_path).run_id == "r1"


def test_atomic_write_leaves_no_temp_and_old_file_on_failure(tmp_path: Path) -> None:
    p = tmp_path / "record.json"
    storage.save_record(p, _record(2))
    before = p.read_text()
    with pytest.raises(ValueError):
        storage.write_json_atomic(p, {"x": float("nan")})  # allow_nan=False refuses
    assert p.read_text() == before
    assert [x.name for x in tmp_path.iterdir()] == ["record.json"]


@pytest.mark.parametrize(("content", "needle"), [
    ("{not json", "not valid JSON"),
    ('{"schema_version": 1, "run_id": "x"', "not valid JSON"),
    ("[1, 2]", "not a loadbench record"),
    ('{"run_id": "x"}', "no integer schema_version"),
    ('{"schema_version": 999}', "newer than this loadbench"),
    ('{"schema_version": 1, "run_id": "x"}', "malformed record"),
])
def test_bad_records_are_one_line_errors(tmp_path: Path, content: str, needle: str) -> None:
    p = tmp_path / "record.json"
    p.write_text(content)
    with pytest.raises(storage.RecordError) as e:
        storage.load_record(p)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_record(tmp_path: Path) -> None:
    with pytest.raises(storage.RecordError, match="no such record file"):
        storage.load_record(tmp_path / "nope.json")


def test_extra_cannot_shadow_core_fields() -> None:
    s = Sample(index=0, status=LaunchStatus.OK, wall_ns=1, extra={"wall_ns": 2})
    with pytest.raises(ValueError, match="shadow"):
        s.to_json()


def test_a_write_removes_the_temp_files_of_killed_writers(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".record.json.{dead}.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    alive = tmp_path / ".record.json.1.def456.tmp"
    alive.write_bytes(b"y")  # pid 1 is alive: its writer may still finish
    storage.save_record(tmp_path / "record.json", _record())
    assert not stale.exists() and alive.exists()
    assert storage.load_record(tmp_path).run_id == "r1"
