"""The committed reference run still loads and its report regenerates with the same figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loadbench import storage
from loadbench.report import markdown

ROOT = Path(__file__).resolve().parents[2]
RUNS = sorted(p.parent for p in (ROOT / "results").glob("reference-*/record.json"))


def _latency_rows(md: str) -> list[str]:
    start = md.index("## Launch latency")
    end = md.index("\n## ", start + 5)
    return [ln for ln in md[start:end].splitlines() if ln.startswith("| ") and "variant" not in ln]


@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_reference_regenerates(run: Path) -> None:
    rec = storage.load_record(run)
    assert rec.complete and len(rec.measurements) >= 4
    static = json.loads((run / "static.json").read_text())["binaries"]
    manifest = json.loads((run / "bin" / "manifest.json").read_text())
    committed = (run / "report.md").read_text()
    title = committed.splitlines()[0].removeprefix("# ").replace("\\", "")
    again = markdown.render(rec, static=static, manifest=manifest, title=title)
    assert _latency_rows(again) == _latency_rows(committed)
    # and the HTML report renders from the same inputs
    from loadbench.report import html

    page = html.render([rec], static=static, manifest=manifest, title=title)
    assert page.count("<svg") >= 3
    for m in rec.measurements:
        assert re.search(re.escape(m.name), page)


@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_reference_exports_match_the_record(run: Path) -> None:
    rec = storage.load_record(run)
    hf = json.loads((run / "export-hyperfine.json").read_text())
    by = {r["command"]: r for r in hf["results"]}
    assert len(by) == len(rec.measurements)
    for m in rec.measurements:
        assert len(by[m.name]["times"]) == len(m.ok_samples())
    rows = (run / "export-csv.csv").read_text().splitlines()
    assert len(rows) - 1 == sum(len(m.samples) + len(m.warmup) for m in rec.measurements)
