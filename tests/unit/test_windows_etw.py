"""The windows-etw probe on any OS: its WPR profile, its availability answers, and its whole
wpr -cancel/-start/launch/-stop/decode/merge sequence with ``_proc`` and the launcher replaced by
fakes. The fake ``wpr -stop`` writes PerfView's real trace, and the fake launch reports pid 3676
with the creation time that trace's Kernel-Process events carry, so the merge is checked on real
decoded data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sys
import types
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadbench import _proc
from loadbench.etl.summarize import summarize
from loadbench.model import LaunchStatus, Sample
from loadbench.probes import asset_path, probe_class
from loadbench.probes import windows_etw as we
from loadbench.probes.base import Availability, ProbeUnavailable, Schedule, StopFlag, Target

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "windows"
PERFVIEW = FIXTURES / "perfview-net.4.5.2.x64.etl.zip"
KP_CREATE_3676 = 132404548233564008  # Kernel-Process CreateTime of Test.x64.exe in that trace
KERNEL_PROCESS = "22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716"


# --- the .wprp profile --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wprp() -> ET.Element:
    return ET.parse(asset_path("windows/loadbench.wprp")).getroot()


def test_wprp_is_well_formed_with_file_and_memory_profiles(wprp: ET.Element) -> None:
    assert wprp.tag == "WindowsPerformanceRecorder" and wprp.get("Author")
    profiles = {p.get("Id"): p for p in wprp.iter("Profile")}
    assert set(profiles) == {"LoadBench.Verbose.File", "LoadBench.Verbose.Memory",
                             "LoadBench.Light.File", "LoadBench.Light.Memory"}
    for pid, p in profiles.items():
        name, level, mode = pid.split(".")
        # WPR: Id is Name.DetailLevel.LoggingMode, and one Name per file.
        assert (p.get("Name"), p.get("DetailLevel"), p.get("LoggingMode")) == (name, level, mode)
        assert name == "LoadBench" and p.get("Description")


def _keywords(wprp: ET.Element, provider_id: str) -> set[str]:
    (prov,) = [p for p in wprp.iter() if p.get("Id") == provider_id]
    return {k.get("Value") for k in prov.iter("Keyword")}  # type: ignore[misc]


def _profile_providers(wprp: ET.Element, profile_id: str) -> tuple[str, list[str]]:
    (p,) = [p for p in wprp.iter("Profile") if p.get("Id") == profile_id]
    (system,) = [s.get("Value") for s in p.iter("SystemProviderId")]
    events = [e.get("Value") for e in p.iter("EventProviderId")]
    return system, events  # type: ignore[return-value]


def test_wprp_keywords_and_providers(wprp: ET.Element) -> None:
    for mode in ("File", "Memory"):
        system, events = _profile_providers(wprp, f"LoadBench.Verbose.{mode}")
        assert _keywords(wprp, system) == {"ProcessThread", "Loader", "HardFaults"}
        (kp,) = events
        (prov,) = [p for p in wprp.iter("EventProvider") if p.get("Id") == kp]
        assert prov.get("Name") == KERNEL_PROCESS
        assert _keywords(wprp, kp) == {"0x50"}  # 0x10 process | 0x40 image
        system, events = _profile_providers(wprp, f"LoadBench.Light.{mode}")
        assert _keywords(wprp, system) == {"ProcessThread", "Loader", "HardFaults", "AllFaults"}
        assert events == [kp]


def test_wprp_merge_is_uncompressed_and_ids_resolve(wprp: ET.Element) -> None:
    (compression,) = list(wprp.iter("FileCompression"))
    assert compression.get("Value") == "false"
    defined = {e.get("Id") for e in wprp.iter() if e.get("Id")}
    for ref in ("SystemCollectorId", "SystemProviderId", "EventCollectorId", "EventProviderId"):
        for e in wprp.iter(ref):
            assert e.get("Value") in defined, (ref, e.get("Value"))
    # WPR reads collectors, then system providers, then event providers, then profiles.
    order = [c.tag for c in wprp.find("Profiles")]  # type: ignore[union-attr]
    rank = {"SystemCollector": 0, "EventCollector": 0, "SystemProvider": 1, "EventProvider": 2,
            "Profile": 3}
    assert [rank[t] for t in order] == sorted(rank[t] for t in order)


def test_probe_describes_its_profile_digest() -> None:
    info = we.WindowsEtwProbe().describe()
    digest = hashlib.sha256(asset_path("windows/loadbench.wprp").read_bytes()).hexdigest()
    assert info.asset_digests == {"windows/loadbench.wprp": digest}
    assert we.WindowsEtwProbe().profile == "LoadBench.Verbose"
    assert we.WindowsEtwProbe(all_faults=True).profile == "LoadBench.Light"


@pytest.mark.skipif(sys.platform == "win32", reason="checks the off-Windows answer")
def test_availability_off_windows() -> None:
    cls = probe_class("windows-etw")
    assert cls is we.WindowsEtwProbe
    avail = cls.availability()
    assert not avail
    assert avail.reason == f"windows-etw runs only on Windows (this is {sys.platform})"
    with pytest.raises(ProbeUnavailable):
        list(cls().run(Schedule(targets=(Target("t", "t.exe"),), order=(0,), env={})))


def test_availability_names_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(we.sys, "platform", "win32")
    monkeypatch.setattr(we, "_is_admin", lambda: False)
    assert "elevated" in we.WindowsEtwProbe.availability().reason
    assert "windows-job" in we.WindowsEtwProbe.availability().reason
    monkeypatch.setattr(we, "_is_admin", lambda: True)
    monkeypatch.setattr(we, "_proc", types.SimpleNamespace(which=lambda name: None,
                                                            ToolError=_proc.ToolError))
    assert "wpr.exe not found" in we.WindowsEtwProbe.availability().reason
    monkeypatch.setattr(we, "_proc", types.SimpleNamespace(which=lambda name: "wpr.exe",
                                                            ToolError=_proc.ToolError))
    assert we.WindowsEtwProbe.availability().ok


# --- the recording sequence with fakes ---------------------------------------------------------

@pytest.fixture(scope="module")
def perfview_etl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("etw") / "perfview.etl"
    with zipfile.ZipFile(PERFVIEW) as z, z.open("net.4.5.2.x64.etl") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


class FakeWpr:
    """Stands in for ``_proc``: records every wpr command; ``-stop`` writes the given trace."""

    ToolError = _proc.ToolError

    def __init__(self, trace: Path | None, fail_stop: bool = False) -> None:
        self.trace = trace
        self.fail_stop = fail_stop
        self.calls: list[list[str]] = []

    def which(self, name: str) -> str:
        return "C:\\Windows\\System32\\wpr.exe"

    def run(self, argv: list[str], **kw: Any) -> _proc.Completed:
        self.calls.append([str(a) for a in argv[1:]])
        if argv[1] == "-stop":
            if self.fail_stop:
                raise _proc.ToolError("wpr exited with 2147942402: the merge failed")
            assert self.trace is not None
            shutil.copyfile(self.trace, argv[2])
        return _proc.Completed(tuple(argv), 0, "", "")


def _launches(extra: list[dict[str, Any]]) -> Any:
    def fake(schedule: Schedule, stop: StopFlag | None = None) -> Iterator[Sample]:
        assert stop is not None  # the probe's own flag, so a stop request ends the batch
        for i, e in enumerate(extra):
            yield Sample(index=schedule.first_index + i, status=LaunchStatus.OK,
                         wall_ns=6_000_000_000, faults_minor=9000, extra=e)
    return fake


@pytest.fixture
def probe_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(we.WindowsEtwProbe, "availability",
                        classmethod(lambda cls: Availability(True)))
    return monkeypatch


def _schedule(n: int) -> Schedule:
    return Schedule(targets=(Target("test", "C:\\Test.x64.exe"),), order=(0,) * n, env={})


def test_session_sequence_and_merge_on_the_real_trace(
        probe_env: pytest.MonkeyPatch, perfview_etl: Path, tmp_path: Path) -> None:
    fake = FakeWpr(perfview_etl)
    probe_env.setattr(we, "_proc", fake)
    probe_env.setattr(we, "launch_schedule", _launches([
        {"pid": 3676, "create_time_100ns": KP_CREATE_3676},
        {"pid": 4242, "create_time_100ns": KP_CREATE_3676 + 10},  # nothing in the trace
    ]))
    keep = tmp_path / "kept.etl"
    probe = we.WindowsEtwProbe(keep_trace=str(keep))
    samples = list(probe.run(_schedule(2)))
    profile = asset_path("windows/loadbench.wprp")
    assert fake.calls[0] == ["-cancel"]
    assert fake.calls[1] == ["-start", f"{profile}!LoadBench.Verbose", "-filemode"]
    assert fake.calls[2][0] == "-stop" and fake.calls[2][1].endswith("loadbench.etl")
    assert len(fake.calls) == 3  # no cancel after a clean stop
    assert not Path(fake.calls[2][1]).parent.exists()  # temp directory removed
    assert keep.stat().st_size == perfview_etl.stat().st_size
    first, second = samples
    assert first.faults_minor == 9000  # job accounting kept
    e = first.extra
    assert e["etw_matched"] is True and e["pid"] == 3676
    assert e["etw_lifetime_ns"] == 5_469_108_800
    assert e["etw_kp_lifetime_ns"] == 5_468_752_800
    assert (e["etw_image_loads"], e["etw_hard_fault_count"], e["etw_hardfault_events"]) == (
        31, 145, 101)
    assert (e["etw_exe_load_ns"], e["etw_ntdll_load_ns"]) == (5_723_500, 5_767_800)
    assert e["etw_threads"] == 4 and e["etw_faults_by_kind"] == {"HardFault": 101}
    assert second.extra["etw_matched"] is False
    first.to_json()  # no etw key shadows a core field


def test_a_failed_launch_cancels_the_session(probe_env: pytest.MonkeyPatch) -> None:
    fake = FakeWpr(None)
    probe_env.setattr(we, "_proc", fake)

    def boom(schedule: Schedule, stop: StopFlag | None = None) -> Iterator[Sample]:
        raise OSError(5, "AssignProcessToJobObject failed: Access is denied")
        yield  # pragma: no cover

    probe_env.setattr(we, "launch_schedule", boom)
    probe = we.WindowsEtwProbe(all_faults=True)
    with pytest.raises(OSError, match="Access is denied"):
        list(probe.run(_schedule(1)))
    assert fake.calls[1][1].endswith("!LoadBench.Light")
    assert fake.calls[-1] == ["-cancel"] and len(fake.calls) == 3
    probe.close()  # idempotent: nothing left to cancel
    assert len(fake.calls) == 3


def test_a_failed_stop_keeps_the_job_samples(probe_env: pytest.MonkeyPatch) -> None:
    fake = FakeWpr(None, fail_stop=True)
    probe_env.setattr(we, "_proc", fake)
    probe_env.setattr(we, "launch_schedule", _launches([{"pid": 1, "create_time_100ns": 2}]))
    (sample,) = we.WindowsEtwProbe().run(_schedule(1))
    assert sample.extra["etw_error"].startswith("ToolError: wpr exited")
    assert fake.calls[-1] == ["-cancel"]  # the session never stopped cleanly: cancelled


def test_match_falls_back_to_the_start_time_without_kernel_process_events(
        perfview_etl: Path) -> None:
    (report,) = summarize(perfview_etl, pid=3676).processes
    classic_only = dataclasses.replace(report, kp_create_time_100ns=None)
    launch = Sample(index=0, status=LaunchStatus.OK, wall_ns=1,
                    extra={"pid": 3676, "create_time_100ns": KP_CREATE_3676})
    assert we.match_process(launch, [report]) is report
    assert we.match_process(launch, [classic_only]) is classic_only  # 0.39 ms apart
    far = Sample(index=0, status=LaunchStatus.OK, wall_ns=1,
                 extra={"pid": 3676, "create_time_100ns": KP_CREATE_3676 - 10_000_000})
    assert we.match_process(far, [classic_only]) is None
    assert we.match_process(Sample(index=0, status=LaunchStatus.OK, wall_ns=1), [report]) is None
