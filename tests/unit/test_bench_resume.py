"""A resumed bench folder gets its reports written again: they never describe fewer launches
than the record holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from loadbench import runner, storage
from loadbench.cli import cli
from loadbench.probes.fake import FakeProbe


def test_resume_of_a_bench_folder_rewrites_its_reports(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "hello"
    exe.write_bytes(b"\x7fELF" + b"\0" * 64)
    exe.chmod(0o755)
    out = tmp_path / "bench"
    real_run = FakeProbe.run

    def stop_after_first(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        for s in real_run(self, schedule):
            if s.index == len(schedule.order) - 1:  # Ctrl-C during the first batch's last launch
                self.stop.request("SIGINT")
            yield s

    monkeypatch.setattr(FakeProbe, "run", stop_after_first)
    rec = runner.run([runner.TargetSpec("hello", str(exe))], out,
                     runner.RunOptions(runs=60, warmup=0, probe="fake", calibrate=False,
                                       batch_launches=20))
    monkeypatch.setattr(FakeProbe, "run", real_run)
    assert not rec.complete and len(rec.measurements[0].samples) == 20
    # what bench leaves beside its record
    (out / "bin").mkdir()
    storage.write_json_atomic(out / "bin" / "manifest.json", {"manifest_version": 1,
                                                              "binaries": []})
    storage.write_json_atomic(out / "static.json", {"static_version": 1, "binaries": []})
    storage.write_json_atomic(out / "bench.json", {"bench_version": 1, "title": "t",
                                                   "claims": False, "go": None})
    (out / "report.md").write_text("stale\n")
    res = CliRunner().invoke(cli, ["run", "--resume", str(out), "-q"])
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith("| hello |"))
    assert row.split("|")[2].strip() == "60"  # n ok: every launch of the resumed record
    assert (out / "report.html").exists()
    assert json.loads((out / "record.json").read_text())["complete"] is True
