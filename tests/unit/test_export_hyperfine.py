"""hyperfine JSON both ways: the export has hyperfine's shape with one time per launch, import
round-trips it, and real hyperfine 1.15 exports import with statuses from their exit codes."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbench import analysis, storage
from loadbench.model import BinaryRef, LaunchStatus, Measurement, ProbeInfo, Record, RunSpec, Sample
from loadbench.report import hyperfine_export as hf

DATA = Path(__file__).resolve().parents[1] / "data" / "hyperfine"
KEYS = {"command", "mean", "stddev", "median", "user", "system", "min", "max", "times",
        "exit_codes"}


def _record(walls: dict[str, list[tuple[int, LaunchStatus]]]) -> Record:
    ms = []
    i = 0
    for name, launches in walls.items():
        samples = []
        for wall, status in launches:
            code = {LaunchStatus.OK: 0, LaunchStatus.EXIT_NONZERO: 3}.get(status)
            samples.append(Sample(index=i, status=status, wall_ns=wall, user_ns=wall // 4,
                                  sys_ns=wall // 2, exit_code=code,
                                  signal=9 if status is LaunchStatus.SIGNALED else None))
            i += 1
        ms.append(Measurement(name, BinaryRef(f"/bin/{name}", "cd" * 32), ("--flag",),
                              tuple(samples), warmup=(Sample(index=-1, status=LaunchStatus.OK,
                                                             wall_ns=1),)))
    return Record(run_id="r", created_utc="2026-11-27T00:00:00Z", host={"os": "Linux"},
                  probe=ProbeInfo("rusage", "1"),
                  spec=RunSpec(runs=3, warmup=1, seed=0, timeout_s=1.0, env={}),
                  measurements=tuple(ms), complete=True, end_reason="done")


def test_export_has_hyperfines_shape_and_one_time_per_launch(tmp_path: Path) -> None:
    ok = LaunchStatus.OK
    rec = _record({"hello": [(1_000_000, ok), (1_200_000, ok), (1_100_000, ok),
                             (10_000_000_000, LaunchStatus.TIMEOUT)],
                   "web": [(2_000_000, ok), (2_500_000, LaunchStatus.EXIT_NONZERO)]})
    p = tmp_path / "h.json"
    hf.export(rec, p)
    data = json.loads(p.read_text())
    # the command line, as hyperfine writes it; the variant's name rides along for the import
    assert [r["command"] for r in data["results"]] == [
        m.command_line() for m in rec.measurements]
    assert [r["loadbench"]["name"] for r in data["results"]] == ["hello", "web"]
    hello = data["results"][0]
    assert set(hello) >= KEYS
    # warm-up launches are not measured launches: one time per launch of m.samples
    assert len(hello["times"]) == len(hello["exit_codes"]) == 4
    assert hello["times"][:3] == [0.001, 0.0012, 0.0011]
    assert hello["exit_codes"] == [0, 0, 0, None]
    assert hello["median"] == statistics.median(hello["times"])
    assert hello["mean"] == pytest.approx(statistics.fmean(hello["times"]))
    assert hello["stddev"] == pytest.approx(statistics.stdev(hello["times"]))
    assert hello["min"] == 0.001 and hello["max"] == 10.0
    assert hello["user"] == pytest.approx(statistics.fmean(t / 4 for t in hello["times"]),
                                          rel=1e-6)
    assert data["results"][1]["exit_codes"] == [0, 3]


def test_a_single_launch_has_no_stddev_like_hyperfine() -> None:
    r = hf.result(_record({"a": [(5, LaunchStatus.OK)]}).measurements[0])
    assert r["stddev"] is None and r["times"] == [5e-9]


_statuses = st.sampled_from(list(LaunchStatus))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12),
                       st.lists(st.tuples(st.integers(1, 60 * 10**9), _statuses), min_size=1,
                                max_size=30),
                       min_size=1, max_size=4))
def test_export_import_round_trip(walls: dict[str, list[tuple[int, LaunchStatus]]]) -> None:
    rec = _record(walls)
    back = hf.record_from_json(json.loads(json.dumps(hf.to_json(rec))), source="x.json")
    assert [m.name for m in back.measurements] == [m.name for m in rec.measurements]
    for a, b in zip(rec.measurements, back.measurements, strict=True):
        assert [s.wall_ns for s in b.samples] == [s.wall_ns for s in a.samples]
        assert [s.status for s in b.samples] == [s.status for s in a.samples]
        assert b.binary.path == a.binary.path and b.binary.sha256 == a.binary.sha256
        assert b.argv == a.argv
    assert back.probe.name == "hyperfine-import"


def test_import_of_a_real_hyperfine_export() -> None:
    rec = hf.import_record(DATA / "true-false.json")
    raw = json.loads((DATA / "true-false.json").read_text())
    assert [m.name for m in rec.measurements] == ["true", "false"]
    t, f = rec.measurements
    assert len(t.samples) == len(f.samples) == 30
    assert [s.wall_ns for s in t.samples] == [round(x * 1e9) for x in raw["results"][0]["times"]]
    assert all(s.status is LaunchStatus.OK for s in t.samples)
    assert all(s.status is LaunchStatus.EXIT_NONZERO and s.exit_code == 1 for s in f.samples)
    # hyperfine runs commands back to back: indices follow that order
    assert [s.index for s in (*t.samples, *f.samples)] == list(range(60))
    # what hyperfine does not know is 0, and the probe says so
    assert all(s.faults == 0 and s.max_rss_bytes == 0 and s.user_ns == 0 for s in t.samples)
    assert "faults_minor" in rec.probe.settings["not_recorded"]
    assert rec.probe.settings["hyperfine_means_s"]["true"]["user"] == raw["results"][0]["user"]
    assert rec.complete and rec.host == {}
    # the median of the imported launches is hyperfine's own median
    ok = [s.wall_ns for s in t.ok_samples()]
    assert statistics.median(ok) / 1e9 == pytest.approx(raw["results"][0]["median"], rel=1e-9)


def test_a_signal_in_real_hyperfine_output_stays_an_exit_code() -> None:
    rec = hf.import_record(DATA / "killed.json")
    (m,) = rec.measurements
    assert m.name == "sh -c 'kill -KILL $$'" and m.binary.path == "sh"
    assert m.argv == ("-c", "kill -KILL $$")
    assert {(s.status, s.exit_code) for s in m.samples} == {(LaunchStatus.EXIT_NONZERO, 137)}


def test_imported_runs_compare_with_loadbench_runs(tmp_path: Path) -> None:
    rec = hf.import_record(DATA / "true-false.json", names=["hello", "web"])
    ok = LaunchStatus.OK
    lb = _record({"hello": [(10**6 + i, ok) for i in range(30)],
                  "web": [(2 * 10**6 + i, ok) for i in range(30)]})
    storage.save_record(tmp_path / "imported.json", rec)
    back = storage.load_record(tmp_path / "imported.json")
    assert back == rec
    # hyperfine's "web" (/bin/false) never succeeded, so compare hello only
    (c,) = analysis.compare_records([back, lb], baseline="hello")
    assert c.name == "hello@r" and c.baseline == "hello@hyperfine-true-false"
    assert c.n_baseline == c.n_candidate == 30


@pytest.mark.parametrize(("payload", "needle"), [
    ({"nope": 1}, "no 'results' list"),
    ({"results": []}, "'results' is empty"),
    ({"results": [{"command": "a"}]}, "no 'times' list"),
    ({"results": [{"command": "a", "times": [0.1], "exit_codes": [0, 0]}]}, "same length"),
    ({"results": [{"command": "a", "times": [-1.0], "exit_codes": [0]}]}, "non-negative"),
    ({"results": [{"command": "a", "times": [0.1], "exit_codes": ["x"]}]}, "not an integer"),
])
def test_bad_hyperfine_files_are_one_line_errors(tmp_path: Path, payload: object,
                                                 needle: str) -> None:
    p = tmp_path / "h.json"
    p.write_text(json.dumps(payload))
    with pytest.raises(hf.HyperfineError) as e:
        hf.import_record(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_exit_codes_mean_success_as_in_old_hyperfine() -> None:
    rec = hf.record_from_json({"results": [{"command": "a", "times": [0.5, 0.25]}]})
    assert [s.status for s in rec.measurements[0].samples] == [LaunchStatus.OK] * 2
