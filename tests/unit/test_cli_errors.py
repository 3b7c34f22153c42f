"""One error path: every verb that reads a record, fed bad records and bad options in-process,
answers with one line ``loadbench: error: ...`` naming the problem, exit code 2, no traceback,
and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from loadbench import runner
from loadbench.cli import cli


def _elf(path: Path, size: int) -> str:
    path.write_bytes(b"\x7fELF" + b"\0" * size)
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("records")
    a, b = _elf(d / "a", 100), _elf(d / "b", 90_000)
    out: dict[str, Path] = {}
    for name, targets, settings in (
        ("two", [("a", a), ("b", b)], {}),
        ("one", [("a", a)], {}),
        ("failing", [("a", a), ("b", b)], {"fail": {"b": "exit-nonzero"}}),
        ("allfail", [("a", a)], {"fail": {"a": "exit-nonzero"}}),
    ):
        try:
            runner.run([runner.TargetSpec(n, p) for n, p in targets], d / name,
                       runner.RunOptions(runs=12, warmup=0, seed=1, probe="fake",
                                         calibrate=False, probe_settings=settings))
        except runner.RunError:
            pass  # "every launch failed" is raised after the record is written
        out[name] = d / name / "record.json"
    return out


def _mutate(src: Path, dest: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads(src.read_text())
    change(data)
    dest.write_text(json.dumps(data, allow_nan=True))
    return dest


def _set(d: dict[str, Any], field: str, value: Any) -> None:
    """Set the first launch's ``field`` (samples are held column-wise)."""
    d["measurements"][0]["samples"][field][0] = value


BAD_RECORDS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "missing": (lambda src, d: d / "nope.json", "no such record file"),
    "directory": (lambda src, d: d, "no such record file"),
    "empty": (lambda src, d: _write(d / "e.json", b""), "not valid JSON"),
    "not-json": (lambda src, d: _write(d / "t.json", b"hello"), "not valid JSON"),
    "not-utf8": (lambda src, d: _write(d / "b.json", b"\xff\xfe{}"), "not a text file"),
    "list": (lambda src, d: _write(d / "l.json", b"[1, 2]"), "top level is not an object"),
    "no-version": (lambda src, d: _write(d / "n.json", b"{}"), "no integer schema_version"),
    "newer": (lambda src, d: _mutate(src, d / "v.json", lambda x: x.update(schema_version=99)),
              "newer than this loadbench"),
    "wall-abc": (lambda src, d: _mutate(src, d / "w.json",
                                        lambda x: _set(x, "wall_ns", "abc")),
                 'measurements[0].samples.wall_ns[0]: expected an integer, got "abc"'),
    "wall-nan": (lambda src, d: _mutate(src, d / "nan.json",
                                        lambda x: _set(x, "wall_ns", float("nan"))),
                 "NaN is not a JSON number"),
    "wall-negative": (lambda src, d: _mutate(src, d / "neg.json",
                                             lambda x: _set(x, "wall_ns", -1)),
                      "samples.wall_ns[0]: must be at least 0, got -1"),
    "faults-float": (lambda src, d: _mutate(src, d / "f.json",
                                            lambda x: _set(x, "faults_minor", 1.5)),
                     "faults_minor[0]: expected an integer, got 1.5"),
    "status": (lambda src, d: _mutate(src, d / "s.json",
                                      lambda x: x["measurements"][0]["samples"]
                                      .update(status_names=["exploded"])),
               "samples.status_names[0]: \"exploded\" is not one of"),
    "no-name": (lambda src, d: _mutate(src, d / "nn.json",
                                       lambda x: x["measurements"][0].pop("name")),
                "measurements[0]: missing 'name'"),
    "timeout-inf": (lambda src, d: _mutate(src, d / "ti.json",
                                           lambda x: x["spec"].update(timeout_s=float("inf"))),
                    "Infinity is not a JSON number"),
}


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


READERS: dict[str, list[str]] = {
    "stats": ["stats", "{r}"],
    "stats-json": ["stats", "{r}", "--json"],
    "compare": ["compare", "{r}"],
    "compare-two": ["compare", "{good}", "{r}"],
    "correlate": ["correlate", "{r}"],
    "report-html": ["report", "{r}", "-o", "{out}/r.html"],
    "report-md": ["report", "{r}", "--format", "md", "-o", "{out}/r.md"],
    "export-pyperf": ["export", "{r}", "--format", "pyperf", "-o", "{out}/p.json"],
    "export-hyperfine": ["export", "{r}", "--format", "hyperfine", "-o", "{out}/h.json"],
    "export-csv": ["export", "{r}", "--format", "csv", "-o", "{out}/c.csv"],
    "merge": ["merge", "{r}", "-o", "{out}/m.json"],
}


def one_line_error(args: list[str], needle: str) -> str:
    res = CliRunner().invoke(cli, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    assert res.exit_code == 2, (args, res.output)
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("loadbench: error: "), lines[0]
    assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("verb", list(READERS))
@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_every_reader_refuses_every_bad_record(verb: str, case: str, records: dict[str, Path],
                                               tmp_path: Path) -> None:
    make, needle = BAD_RECORDS[case]
    bad = make(records["two"], tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    args = [a.format(r=bad, good=records["two"], out=out) for a in READERS[verb]]
    one_line_error(args, needle)
    assert not list(out.iterdir()), "an output was written for a bad input"


@pytest.mark.parametrize(("args", "needle"), [
    (["compare", "{one}"], "the record has one measurement: nothing to compare it with"),
    (["compare", "{two}", "--baseline", "typo"], "--baseline 'typo' is not in the record; it "
                                                 "has: a, b"),
    (["compare", "{two}", "--band", "-1"], "'--band': -1.0 is not in the range x>=0"),
    (["compare", "{two}", "--band", "nan"], "'--band': 'nan' is not a finite number"),
    (["compare", "{two}", "{two}", "{two}"], "compare takes one record"),
    (["compare", "{failing}"], "b: no successful launch to compare"),
    (["stats", "{two}", "--baseline", "typo"], "--baseline 'typo' is not in the record"),
    (["export", "{allfail}", "--format", "pyperf", "-o", "{out}/p.json"],
     "no measurement has a successful launch"),
    (["export", "{two}", "--format", "pyperf", "-o", "{out}/missing/p.json"],
     "the directory"),
    (["export", "{two}", "--format", "csv", "-o", "{out}/missing/c.csv"], "does not exist"),
    (["export", "{two}", "--format", "hyperfine", "-o", "{out}/missing/h.json"],
     "does not exist"),
    (["report", "{two}", "-o", "{out}/missing/r.html"], "does not exist"),
    (["report", "{two}", "--format", "md", "-o", "{out}/missing/r.md"], "does not exist"),
    (["merge", "{two}", "-o", "{out}/missing/m.json"], "does not exist"),
    (["import", "hyperfine", "{two}", "-o", "{out}/i.json"], "not a hyperfine"),
    (["run", "--resume", "{twodir}"], "the run is complete already"),
    (["run", "/bin/true", "--timeout", "nan"], "'--timeout': 'nan' is not a finite number"),
    (["run", "/bin/true", "--timeout", "inf"], "'--timeout': 'inf' is not a finite number"),
    (["run", "/bin/true", "--timeout", "0"], "'--timeout': 0.0 is not in the range x>=0.001"),
    (["run", "/bin/true", "--timeout", "0.0005"], "0.0005 is not in the range x>=0.001"),
    (["run", "/bin/true", "--runs", "0"], "'--runs': 0 is not in the range x>=1"),
    (["run", "/bin/true", "--max-seconds", "-1"], "'--max-seconds': -1.0 is not in the range"),
    (["run", "/bin/true", "--target-ci", "0"], "'--target-ci': 0.0 is not in the range x>0"),
    (["bench", "--runs", "0"], "'--runs': 0 is not in the range x>=1"),
    (["trace", "/bin/true", "--runs", "0"], "'--runs': 0 is not in the range x>=1"),
])
def test_bad_options_and_unusable_records(args: list[str], needle: str,
                                          records: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    subs = {k: str(v) for k, v in records.items()} | {"out": str(out),
                                                      "twodir": str(records["two"].parent)}
    one_line_error([a.format(**subs) for a in args], needle)
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_exporting_a_record_with_one_failing_binary_warns_and_keeps_the_others(
        records: dict[str, Path], tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["export", str(records["failing"]), "--format", "pyperf",
                                   "-o", str(tmp_path / "p.json")])
    assert res.exit_code == 0, res.output
    assert "loadbench: warning: b: no successful launch; left out of the pyperf export" in \
        res.stderr
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(tmp_path / "p.json"))
    assert suite.get_benchmark_names() == ["a"]
