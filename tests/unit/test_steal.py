"""Hypervisor steal: read from /proc/stat, kept with the record, warned about in reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import host, runner
from loadbench.report import tables


def test_cpu_jiffies_and_steal_pct(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = iter([
        "cpu  100 5 50 800 10 1 2 32 7 0\ncpu0 ...",
        "cpu  150 5 70 860 10 1 2 102 9 0\n",
    ])
    monkeypatch.setattr(host, "_read", lambda path: next(lines))
    a, b = host.cpu_jiffies(), host.cpu_jiffies()
    assert a == (1000, 32) and b == (1200, 102)  # guest time is inside user: not added again
    assert host.steal_pct(a, b) == 35.0
    assert host.steal_pct(None, b) is None and host.steal_pct(b, a) is None
    monkeypatch.setattr(host, "_read", lambda path: "intr 1 2 3")
    assert host.cpu_jiffies() is None


def test_steal_warning_thresholds() -> None:
    assert tables.steal_warning({}) is None
    assert tables.steal_warning({"cpu_steal_pct": 0.5, "cpu_steal_pct_max_batch": 3}) is None
    w = tables.steal_warning({"cpu_steal_pct": 26.76, "cpu_steal_pct_max_batch": 28.42})
    assert w is not None and "stole 26.76% of CPU time" in w and "worst batch 28.42%" in w
    # a quiet run with one bad batch is still worth saying
    assert tables.steal_warning({"cpu_steal_pct": 1.0, "cpu_steal_pct_max_batch": 12.0})


def test_a_run_records_steal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc/stat as a clock: every reading 100 ticks later; batch 2 loses 30 of them, the
    # others 10 (readings: start, then before and after each batch)
    steals = iter([0, 0, 10, 10, 40, 40, 50])
    ticks = iter(range(0, 10_000, 100))
    monkeypatch.setattr(host, "cpu_jiffies", lambda: (next(ticks), next(steals)))
    exe = tmp_path / "a"
    exe.write_bytes(b"\x7fELF" + b"\0" * 10)
    exe.chmod(0o755)
    rec = runner.run([runner.TargetSpec("a", str(exe))], tmp_path / "out",
                     runner.RunOptions(runs=60, warmup=0, seed=1, probe="fake", calibrate=False,
                                       batch_launches=20))
    assert rec.host["cpu_steal_pct"] == 8.33  # 50 of 600 ticks, 2 decimals
    assert rec.host["cpu_steal_pct_max_batch"] == 30.0
