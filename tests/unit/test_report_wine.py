"""Reports of a run under Wine never pass Wine's figures off as Windows': on the record a real
windows-job run under Wine 8.0 wrote (tests/wine, kept in tests/data/wine/record.json), every
format labels the host as Wine on Linux, warns that the latencies are Wine's, and shows the
fields Wine does not implement as n/a instead of a measured-looking 0."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loadbench import host, inspector, merge, storage
from loadbench.cli import cli
from loadbench.model import Record
from loadbench.report import html, markdown, pyperf_export, tables

RECORD = Path(__file__).resolve().parents[1] / "data" / "wine" / "record.json"
UNTRUSTED = {"user_ns", "sys_ns", "faults_minor", "faults_total_windows", "max_rss_bytes"}


@pytest.fixture(scope="module")
def rec() -> Record:
    return storage.load_record(RECORD)


def _native(rec: Record) -> Record:
    """The same launches as if a Windows host had recorded them."""
    h = {k: v for k, v in rec.host.items() if k != "wine"}
    h.update(os="Windows", os_release="11", os_version="10.0.26100")
    return dataclasses.replace(rec, host=h, probe=dataclasses.replace(rec.probe, settings={},
                                                                      tool_version=None))


def test_the_captured_record_is_a_wine_run_with_its_untrusted_fields(rec: Record) -> None:
    assert rec.host["os"] == "Wine" and rec.host["wine"]["host_os"] == "Linux"
    assert set(tables.untrusted_fields(rec)) == UNTRUSTED
    for m in rec.measurements:  # what Wine does not implement really is 0 there
        assert {s.faults_minor + s.user_ns + s.sys_ns + s.max_rss_bytes for s in m.samples} == {0}


def test_rows_blank_what_was_not_measured_and_keep_the_latencies(rec: Record) -> None:
    rows = tables.measurement_rows(rec, ["hello"])
    native = tables.measurement_rows(_native(rec), ["hello"])
    for r, n in zip(rows, native, strict=True):
        for key in ("faults_median", "faults_minor_median", "faults_major_median",
                    "faults_summary", "max_rss_median_bytes", "max_rss_summary",
                    "user_median_ns", "sys_median_ns"):
            assert r[key] is None and n[key] is not None
        assert r["median_ns"] == n["median_ns"] > 1_000_000  # Wine's launches take ms
        assert r["ratio_to_hello"] == n["ratio_to_hello"]


def test_the_warning_says_whose_figures_they_are(rec: Record) -> None:
    text = tables.emulation_warning(rec)
    assert text is not None
    assert text.startswith("measured under Wine 8.0 on Linux 6.18")
    assert "not Windows figures" in text
    assert text.endswith("faults_minor, faults_total_windows, max_rss_bytes, sys_ns, user_ns")
    assert tables.emulation_warning(_native(rec)) is None
    # A record whose probe marked nothing (an older probe) still warns from its host facts.
    bare = dataclasses.replace(rec, probe=dataclasses.replace(rec.probe, settings={}))
    assert (tables.emulation_warning(bare) or "").startswith("measured under Wine 8.0 on Linux")


def test_markdown_and_html_label_the_host_and_blank_the_fields(rec: Record) -> None:
    md = markdown.render(rec).replace("\\_", "_")
    assert "| OS | Wine 8.0 on Linux 6.18.44-fc-v657 (AMD64) |" in md
    assert "- measured under Wine 8.0" in md
    for name in ("hello", "web"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
        assert row.endswith("| n/a (n/a/n/a) | n/a |")
    page = html.render([rec])
    assert "<li>measured under Wine 8.0 on Linux" in page
    assert "Faint dots are launches" not in page  # no latency-vs-faults plot of zeros
    assert "Faint dots are launches" in html.render([_native(rec)])


def test_merged_reports_and_exports_name_wine_not_windows(rec: Record) -> None:
    assert merge.host_label(rec.host) == "Wine 8.0 on Linux AMD64 (vm)"
    assert merge.host_label(_native(rec).host) == "Windows AMD64 (vm)"
    both = merge.merge_runs([merge.MergedRun(merge.host_label(r.host), r)
                             for r in (rec, dataclasses.replace(_native(rec), run_id="w"))])
    md = markdown.render_merged(both)
    assert "Wine 8.0 on Linux AMD64 (vm): median us" in md
    assert "Windows AMD64 (vm): median us" in md
    assert pyperf_export.run_metadata(rec)["platform"].startswith("Wine-8.0 on Linux")


def test_stats_prints_na_and_the_warning(rec: Record, tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(rec.to_json()))
    res = CliRunner().invoke(cli, ["stats", str(path)])
    assert res.exit_code == 0, res.output
    hello = next(line for line in res.output.splitlines() if line.startswith("hello "))
    assert hello.split()[-2:] == ["n/a", "n/a"]
    assert "warning: measured under Wine 8.0 on Linux" in res.output


def test_off_wine_the_host_is_itself() -> None:
    assert host.wine() is None
    facts = host.facts()
    assert "wine" not in facts and facts["os"] != "Wine"
    assert isinstance(facts["memory_bytes"], int)  # psutil, which a real install has


def test_without_lief_a_binary_is_not_inspected_rather_than_malformed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lief", None)  # import lief -> ImportError
    with pytest.raises(inspector.InspectError,
                       match=r"not inspected: LIEF is not installed \(lief\)$"):
        inspector.inspect_file(sys.executable)


def test_a_windows_report_says_what_its_probe_measured(rec: Record) -> None:
    from loadbench.report import markdown

    md = markdown.render(rec)
    assert "CreateProcessW to the wait on the process handle" in md
    assert "`wait4`" not in md.split("## Launch latency")[1].split("\n## ")[0]
