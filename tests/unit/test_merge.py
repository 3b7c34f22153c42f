"""Merged records: hosts kept, labels per host, versioned file, loading from folders and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadbench import merge, storage
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
from loadbench.report import markdown


def _record(run_id: str, host: dict[str, object], wall: int = 1000) -> Record:
    samples = tuple(Sample(index=i, status=LaunchStatus.OK, wall_ns=wall + i) for i in range(5))
    m = Measurement("hello", BinaryRef("/b/hello", "ab" * 32), (), samples)
    return Record(run_id=run_id, created_utc="2026-11-27T00:00:00Z", host=host,
                  probe=ProbeInfo("rusage", "1"),
                  spec=RunSpec(runs=5, warmup=0, seed=1, timeout_s=1.0, env={}),
                  measurements=(m,), complete=True, end_reason="done")


LINUX = {"os": "Linux", "machine": "x86_64", "hostname": "lin"}
WINDOWS = {"os": "Windows", "machine": "AMD64", "hostname": "win"}
MAC = {"os": "Darwin", "machine": "arm64", "hostname": "mac"}


def test_merge_keeps_each_host_and_labels_it() -> None:
    recs = [_record("a", LINUX), _record("b", WINDOWS), _record("c", MAC)]
    m = merge.merge(recs, created_utc="2026-11-27T01:00:00Z")
    assert m.records == tuple(recs)
    assert m.labels == ("Linux x86_64 (lin)", "Windows AMD64 (win)", "Darwin arm64 (mac)")
    assert [r.record.host for r in m.runs] == [LINUX, WINDOWS, MAC]


def test_two_runs_on_one_host_are_told_apart_by_run_id() -> None:
    m = merge.merge([_record("a", LINUX), _record("b", LINUX)])
    assert m.labels == ("Linux x86_64 (lin) run a", "Linux x86_64 (lin) run b")
    assert merge.host_label({}) == "unknown OS"


def test_the_same_run_twice_is_an_error() -> None:
    r = _record("a", LINUX)
    with pytest.raises(merge.MergeError, match="given twice"):
        merge.merge([r, r])
    with pytest.raises(merge.MergeError, match="nothing to merge"):
        merge.merge([])
    with pytest.raises(merge.MergeError, match="1 entries for 2 records"):
        merge.merge([r, _record("b", MAC)], static=[[]])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    static = [{"name": "hello", "runnable": True, "goos": "linux", "goarch": "amd64",
               "summary": {"format": "ELF"}}]
    m = merge.merge([_record("a", LINUX), _record("b", WINDOWS, 2000)], static=[static, []],
                    manifests=[{"cc": "gcc", "binaries": []}, None],
                    created_utc="2026-11-27T01:00:00Z")
    p = tmp_path / "merged.json"
    merge.save_merged(p, m)
    data = json.loads(p.read_text())
    assert data["merged_version"] == merge.MERGED_VERSION
    assert [r["record"]["schema_version"] for r in data["runs"]] == [SCHEMA_VERSION] * 2
    back = merge.load_merged(p)
    assert back == m
    assert back.static_entries() == [{**static[0], "host": "Linux x86_64 (lin)"}]
    # a merged file is not a record: load_record refuses it with its usual one-line message
    with pytest.raises(storage.RecordError, match="no integer schema_version"):
        storage.load_record(p)


@pytest.mark.parametrize(("content", "needle"), [
    ('{"runs": []}', "no integer merged_version"),
    ('{"merged_version": 999, "runs": []}', "newer than this loadbench"),
    ('{"merged_version": 1, "runs": []}', "no runs"),
    ('{"merged_version": 1, "runs": [{"record": {"schema_version": 999}}]}',
     "newer than this loadbench"),
    ('{"merged_version": 1, "runs": [{"record": {"schema_version": 1}}]}', "malformed record"),
    ('{"merged_version": 1, "runs": [{"record": {}, "static": {}}]}', "static is not a list"),
    ("[", "not valid JSON"),
])
def test_bad_merged_files_are_one_line_errors(tmp_path: Path, content: str, needle: str) -> None:
    p = tmp_path / "merged.json"
    p.write_text(content)
    with pytest.raises(merge.MergeError) as e:
        merge.load_merged(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_load_inputs_takes_folders_records_and_merged_files(tmp_path: Path) -> None:
    # a result folder as `loadbench bench` writes it
    run = tmp_path / "bench-ubuntu-latest"
    (run / "bin").mkdir(parents=True)
    storage.save_record(run / "record.json", _record("a", LINUX))
    static = [{"name": "web-windows-amd64", "runnable": False, "goos": "windows",
               "goarch": "amd64", "summary": {"format": "PE"}}]
    (run / "static.json").write_text(json.dumps({"static_version": 1, "binaries": static}))
    (run / "bin" / "manifest.json").write_text(json.dumps({"manifest_version": 1, "cc": "gcc"}))
    # a bare record file, with a broken static.json beside it (ignored, not fatal)
    other = tmp_path / "other"
    other.mkdir()
    storage.save_record(other / "win.json", _record("b", WINDOWS))
    (other / "static.json").write_text("{broken")
    # a merged file holding a third host
    merged_in = tmp_path / "m.json"
    merge.save_merged(merged_in, merge.merge([_record("c", MAC)]))

    m = merge.load_inputs([run, other / "win.json", merged_in])
    assert [r.record.run_id for r in m.runs] == ["a", "b", "c"]
    assert m.runs[0].static == tuple(static) and m.runs[0].manifest == {
        "manifest_version": 1, "cc": "gcc"}
    assert m.runs[1].static == () and m.runs[1].manifest is None
    assert m.labels[2] == "Darwin arm64 (mac)"
    # merging a merged file with one of its own runs again is caught
    with pytest.raises(merge.MergeError, match="given twice"):
        merge.load_inputs([merged_in, merged_in])
    with pytest.raises(merge.MergeError, match="no such record file"):
        merge.load_inputs([tmp_path / "missing"])


def test_markdown_puts_hosts_side_by_side() -> None:
    m = merge.merge([_record("a", LINUX, 1000), _record("b", WINDOWS, 3000)])
    text = markdown.render_merged(m, title="matrix")
    head = next(ln for ln in text.splitlines() if ln.startswith("| variant"))
    assert "Linux x86\\_64 (lin): median us" in head and "Windows AMD64 (win): median us" in head
    row = next(ln for ln in text.splitlines() if ln.startswith("| hello |"))
    assert "1.0 (" in row and "3.0 (" in row  # each host's own median, in microseconds
    # each run's own report follows under its label, headings one level down
    assert "\n## Linux x86\\_64 (lin)\n" in text and "\n## Windows AMD64 (win)\n" in text
    assert "\n# " not in text.split("\n", 1)[1].split("```")[0]


def test_caveats_name_what_differs_between_two_runs() -> None:
    from dataclasses import replace

    from loadbench import analysis
    from loadbench.report import html

    a = _record("a", LINUX)
    assert analysis.record_caveats(a, a) == []
    same = analysis.record_caveats(a, _record("b", LINUX))
    assert len(same) == 1 and "not interleaved" in same[0]  # two runs: drift, nothing else
    b = replace(_record("b", WINDOWS),
                probe=ProbeInfo("rusage", "2", settings={"launcher_spawn": "vfork"}),
                spec=RunSpec(runs=5, warmup=0, seed=1, timeout_s=1.0, env={}, cache="cold"))
    got = analysis.record_caveats(a, b)
    assert got[1:] == ["host differs: lin vs win", "probe differs: rusage v1 vs rusage v2",
                       "launcher spawn differs: n/a vs vfork",
                       "page cache (--cache) differs: warm vs cold"]
    page = html.render_merged(merge.merge([a, b]))
    assert page.count("not interleaved") == 1 and "probe differs: rusage v1 vs rusage v2" in page
    md = markdown.render_merged(merge.merge([a, b]))
    assert md.count("not interleaved") == 1 and "probe differs: rusage v1 vs rusage v2" in md
    # three runs: each difference says which pair it is about
    c = _record("c", MAC)
    three = analysis.cross_caveats(["A", "B", "C"], [a, b, c])
    assert "A vs B: host differs: lin vs win" in three
    assert "A vs C: host differs: lin vs mac" in three
