"""perf leaves /tmp/perf-vdso.so-XXXXXX behind when a signal ends it at the wrong moment (5 such
files collected here in a day of runs; test_tracing_cleanup's SIGKILL under perf leaves one).
The perf probe (and its reaper, if loadbench is killed) removes the copies made during its
session, unless some perf is running (the copy may be that perf's, read until it exits)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from loadbench.perf import leftovers as leftovers
from loadbench.perf.leftovers import remove_perf_vdso_copies


def _copies(tmp_path: Path) -> tuple[Path, Path, Path]:
    old = tmp_path / "perf-vdso.so-OLD123"
    old.write_bytes(b"\x7fELF")
    past = time.time() - 3600
    os.utime(old, (past, past))
    ours = tmp_path / "perf-vdso.so-abcDEF"
    ours.write_bytes(b"\x7fELF")
    other = tmp_path / "unrelated-file"
    other.write_bytes(b"x")
    return old, ours, other


def test_only_this_sessions_copies_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leftovers, "_perf_running", lambda: False)
    since = time.time() - 60
    old, ours, other = _copies(tmp_path)
    assert remove_perf_vdso_copies(since, str(tmp_path)) == [str(ours)]
    assert not ours.exists()
    assert old.exists()  # from before this session: not ours to judge
    assert other.exists()


def test_a_perf_that_is_ending_is_waited_for(tmp_path: Path) -> None:
    """A killed loadbench's perf writes its copy while it exits on the SIGTERM, after the reaper
    has started cleaning: the copies are listed once no perf runs, not before."""
    fake = tmp_path / "perf"
    shutil.copy("/bin/sh", fake)
    since = time.time() - 60
    proc = subprocess.Popen([str(fake), "-c", f"sleep 0.5; echo x > {tmp_path}/perf-vdso.so-LATE1"])
    try:
        while not leftovers._perf_running():
            time.sleep(0.01)
        removed = remove_perf_vdso_copies(since, str(tmp_path), wait_s=20)
    finally:
        proc.wait()
    assert removed == [str(tmp_path / "perf-vdso.so-LATE1")]


def test_nothing_is_removed_while_a_perf_runs(tmp_path: Path) -> None:
    fake = tmp_path / "perf"  # a process whose comm is "perf", as a user's own perf would be
    shutil.copy("/bin/sleep", fake)
    proc = subprocess.Popen([str(fake), "30"])
    try:
        deadline = time.monotonic() + 5
        while not leftovers._perf_running() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert leftovers._perf_running()
        _, ours, _ = _copies(tmp_path)
        assert remove_perf_vdso_copies(time.time() - 60, str(tmp_path)) == []
        assert ours.exists()
    finally:
        proc.kill()
        proc.wait()
