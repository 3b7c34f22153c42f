"""Commands as hyperfine users give them, inline exports, complete hyperfine/pyperf exports,
figures as files, and what --resume accepts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from loadbench import runner, storage
from loadbench.cli import cli
from loadbench.probes.fake import FakeProbe
from loadbench.report import hyperfine_export, pyperf_export


def test_a_program_name_is_looked_up_on_path_and_a_command_line_is_split() -> None:
    t = runner.target_from_command("true")
    assert t.path == shutil.which("true") and t.name == "true" and t.args == ()
    c = runner.target_from_command("python3 -S -c 'print(1)'", ("--x",))
    assert c.path == shutil.which("python3")
    assert c.args == ("-S", "-c", "print(1)", "--x")
    assert c.name == "python3 -S -c 'print(1)'"
    assert c.command == "python3 -S -c 'print(1)' --x"
    with pytest.raises(runner.RunError, match="not a program on PATH"):
        runner.target_from_command("no-such-program-here")
    with pytest.raises(runner.RunError, match="not a command line"):
        runner.target_from_command("python3 -c 'unbalanced")


def test_an_existing_file_with_blanks_in_its_name_is_a_binary(tmp_path: Path) -> None:
    exe = tmp_path / "my prog"
    exe.write_bytes(b"\x7fELF")
    t = runner.target_from_command(str(exe))
    assert t.path == str(exe) and t.args == () and t.name == "my prog"


def _stub(tmp_path: Path, name: str, size: int = 64) -> str:
    p = tmp_path / name
    p.write_bytes(b"\x7fELF" + b"\0" * size)
    p.chmod(0o755)
    return str(p)


def test_inline_exports_are_written_when_the_run_ends(tmp_path: Path) -> None:
    a, b = _stub(tmp_path, "a"), _stub(tmp_path, "b", 90_000)
    out = tmp_path / "out"
    files = {fmt: tmp_path / f"x.{fmt}" for fmt in ("hyperfine", "pyperf", "csv", "markdown")}
    res = CliRunner().invoke(cli, ["run", a, b, "--probe", "fake", "--runs", "12", "--warmup",
                                   "0", "--out", str(out), "-q",
                                   *(x for fmt, p in files.items()
                                     for x in (f"--export-{fmt}", str(p)))])
    assert res.exit_code == 0, res.output
    hf = json.loads(files["hyperfine"].read_text())
    assert [r["command"] for r in hf["results"]] == [a, b]
    assert all(len(r["memory_usage_byte"]) == len(r["times"]) == 12 for r in hf["results"])
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(files["pyperf"]))
    assert suite.get_benchmark_names() == ["a", "b"]
    assert len(files["csv"].read_text().splitlines()) == 1 + 24
    assert files["markdown"].read_text().startswith("# loadbench report")


def test_an_interrupted_run_exports_what_it_measured(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    a = _stub(tmp_path, "a")
    real = FakeProbe.run

    def stop(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        for s in real(self, schedule):
            # Ctrl-C at the end of the first measured batch (not during the calibration)
            if schedule.targets[0].name == "a" and s.index == len(schedule.order) - 1:
                self.stop.request("SIGINT")
            yield s

    monkeypatch.setattr(FakeProbe, "run", stop)
    hfile = tmp_path / "h.json"
    res = CliRunner().invoke(cli, ["run", a, "--probe", "fake", "--runs", "300", "--warmup",
                                   "0", "--out", str(tmp_path / "out"), "-q",
                                   "--export-hyperfine", str(hfile)])
    assert res.exit_code == 130
    times = json.loads(hfile.read_text())["results"][0]["times"]
    assert 0 < len(times) < 300


def test_resume_refuses_what_would_change_the_schedule_and_honours_a_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _stub(tmp_path, "a")
    out = tmp_path / "out"
    real = FakeProbe.run

    def stop(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        for s in real(self, schedule):
            if schedule.targets[0].name == "a" and s.index == len(schedule.order) - 1:
                self.stop.request("SIGINT")
            yield s

    monkeypatch.setattr(FakeProbe, "run", stop)
    CliRunner().invoke(cli, ["run", a, "--probe", "fake", "--runs", "2000", "--warmup", "0",
                             "--out", str(out), "-q"])
    monkeypatch.setattr(FakeProbe, "run", real)
    res = CliRunner().invoke(cli, ["run", "--resume", str(out), "--runs", "5"])
    assert res.exit_code == 2 and "--runs cannot change it" in res.stderr
    slow = real

    def slow_run(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        import time

        time.sleep(0.05)
        yield from slow(self, schedule)

    monkeypatch.setattr(FakeProbe, "run", slow_run)
    res = CliRunner().invoke(cli, ["run", "--resume", str(out), "--max-seconds", "0.2", "-q"])
    assert res.exit_code == 0, res.output
    rec = storage.load_record(out)
    assert rec.end_reason.startswith("time budget of 0.2 s used")
    assert len(rec.measurements[0].samples) < 2000


def test_hyperfine_parameters_for_an_alignment_sweep_and_go_versions(tmp_path: Path) -> None:
    a = _stub(tmp_path, "a")
    rec = runner.run([runner.TargetSpec(f"web-R{q:#x}", a, build={"tags": ["align"]})
                      for q in (0x1000, 0x10000)]
                     + [runner.TargetSpec("web-go1.21.13", a, build={"tags": ["goversion"],
                                                                      "go_version": "1.21.13"})],
                     tmp_path / "out", runner.RunOptions(runs=3, warmup=0, probe="fake",
                                                         calibrate=False))
    # the stub's summary has no alignment: give the sweep its measured one
    import dataclasses

    ms = tuple(dataclasses.replace(m, binary=dataclasses.replace(
        m.binary, summary={"segment_alignment": 0x1000 if m.name.endswith("R0x1000") else 0x10000}))
        for m in rec.measurements)
    data = hyperfine_export.to_json(dataclasses.replace(rec, measurements=ms))
    params = [r.get("parameters") for r in data["results"]]
    assert params == [{"alignment": "4096"}, {"alignment": "65536"}, {"go": "1.21.13"}]


def test_pyperf_runs_carry_their_date_duration_and_rss(tmp_path: Path) -> None:
    a, b = _stub(tmp_path, "a"), _stub(tmp_path, "b", 90_000)
    rec = runner.run([runner.TargetSpec("a", a), runner.TargetSpec("b", b)], tmp_path / "out",
                     runner.RunOptions(runs=10, warmup=0, probe="fake", calibrate=False))
    data = pyperf_export.to_json(rec)
    runs = [r for bench in data["benchmarks"] for r in bench["runs"]]
    assert len(runs) == 20
    assert all({"date", "duration", "command_max_rss"} <= set(r["metadata"]) for r in runs)
    # the durations add up to the run's elapsed time (first launch to last), not to the sum
    # of the launches' own latencies
    starts = sorted(s.start_ns for m in rec.measurements for s in m.samples)
    last = max(rec.measurements, key=lambda m: max(s.start_ns for s in m.samples))
    elapsed = (starts[-1] - starts[0]) / 1e9 + max(
        s.wall_ns for s in last.samples if s.start_ns == starts[-1]) / 1e9
    assert sum(r["metadata"]["duration"] for r in runs) == pytest.approx(elapsed, rel=1e-6)
    suite = pyperf_export.suite(rec)  # pyperf reads it
    assert suite.get_benchmark_names() == ["a", "b"]
    assert suite.get_total_duration() == pytest.approx(elapsed, rel=1e-6)


def test_report_writes_every_figure_as_a_file_with_real_text(tmp_path: Path) -> None:
    from tests.unit.test_report_html import make_record

    rec = make_record(traced=True)
    storage.save_record(tmp_path / "record.json", rec)
    for fmt in ("svg", "pdf", "png"):
        figs = tmp_path / f"figs-{fmt}"
        md = tmp_path / f"r-{fmt}.md"
        res = CliRunner().invoke(cli, ["report", str(tmp_path), "--format", "md", "-o", str(md),
                                       "--figures", str(figs), "--figure-format", fmt])
        assert res.exit_code == 0, res.output
        names = sorted(p.name for p in figs.iterdir())
        assert names == sorted(f"{n}.{fmt}" for n in ("ratios", "latency-ecdf", "phases",
                                                       "fault-regions", "latency-vs-faults"))
        text = md.read_text()
        for n in names:
            assert f"](figs-{fmt}/{n})" in text
        if fmt == "svg":
            svg = (figs / "latency-vs-faults.svg").read_text()
            assert "<text" in svg and "page faults per launch" in svg  # text, not paths
        if fmt == "pdf":
            assert (figs / "ratios.pdf").read_bytes().startswith(b"%PDF")
