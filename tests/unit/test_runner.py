"""The runner with the deterministic fake probe: schedule, warm-up, persistence, stopping."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loadbench import pagecache, runner, storage
from loadbench.model import LaunchStatus
from loadbench.probes.fake import FakeProbe


def _bins(tmp_path: Path, sizes: dict[str, int]) -> list[runner.TargetSpec]:
    out = []
    for name, size in sizes.items():
        p = tmp_path / name
        p.write_bytes(b"\x7fELF" + b"\0" * size)
        p.chmod(0o755)
        out.append(runner.TargetSpec(name, str(p)))
    return out


def _opts(**kw: Any) -> runner.RunOptions:
    base: dict[str, Any] = {"runs": 50, "warmup": 3, "seed": 42, "probe": "fake",
                            "calibrate": False, "batch_launches": 20}
    base.update(kw)
    return runner.RunOptions(**base)


def test_rounds_are_balanced_and_seeded() -> None:
    order = runner.schedule_rounds(3, 100, seed=1)
    assert len(order) == 300
    for r in range(100):
        assert sorted(order[3 * r:3 * r + 3]) == [0, 1, 2]
    assert order == runner.schedule_rounds(3, 100, seed=1)
    assert order != runner.schedule_rounds(3, 100, seed=2)
    # each target holds each position about equally often: drift hits all alike
    first = Counter(order[3 * r] for r in range(100))
    assert all(20 < c < 47 for c in first.values())


def test_run_writes_a_complete_record(tmp_path: Path) -> None:
    ts = _bins(tmp_path, {"a": 10, "b": 400_000})
    rec = runner.run(ts, tmp_path / "out", _opts(), argv=["loadbench", "run"])
    back = storage.load_record(tmp_path / "out" / "record.json")
    assert back == rec
    assert rec.complete and rec.end_reason == "done"
    assert [m.name for m in rec.measurements] == ["a", "b"]
    for m in rec.measurements:
        assert len(m.samples) == 50 and len(m.warmup) == 3
    # interleaved: global indices of a and b alternate round by round
    idx = sorted((s.index, m.name) for m in rec.measurements for s in m.samples)
    assert [i for i, _ in idx] == list(range(100))
    assert rec.spec.seed == 42 and rec.spec.env == runner.DEFAULT_ENV
    assert rec.measurements[1].binary.sha256 != rec.measurements[0].binary.sha256
    # fake latency grows with file size
    med = {m.name: sorted(s.wall_ns for s in m.samples)[25] for m in rec.measurements}
    assert med["b"] > 1.1 * med["a"]


def test_every_batch_is_on_disk_when_it_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    ts = _bins(tmp_path, {"a": 10, "b": 20})
    out = tmp_path / "out"
    seen: list[int] = []
    real_run = FakeProbe.run

    def spy(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        # before each batch: what a reader finds on disk (the header plus the samples log)
        seen.append(sum(len(m.samples) for m in storage.load_record(out).measurements))
        yield from real_run(self, schedule)

    monkeypatch.setattr(FakeProbe, "run", spy)
    rec = runner.run(ts, out, _opts(runs=50, batch_launches=20, warmup=0))
    assert seen == list(range(0, 100, 20))
    # the finished run folded its log into the record and removed it
    assert not storage.log_path(out / "record.json").exists()
    assert json.loads((out / "record.json").read_text())["samples_log"] is None
    assert storage.load_record(out) == rec


def test_stop_request_leaves_a_valid_incomplete_record(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ts = _bins(tmp_path, {"a": 10})
    calls = {"n": 0}
    real_run = FakeProbe.run

    def run_then_interrupt(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:  # warm-up batch, then two measured batches; stop in the second
            self.stop.request("SIGINT")
        yield from real_run(self, schedule)

    monkeypatch.setattr(FakeProbe, "run", run_then_interrupt)
    rec = runner.run(ts, tmp_path / "out", _opts(runs=100, batch_launches=10))
    back = storage.load_record(tmp_path / "out")
    # the batch in flight finishes (the fake probe does not check the flag), nothing after it
    assert len(back.measurements[0].samples) == 20
    assert not back.complete and back.end_reason == "interrupted by SIGINT"
    assert back == rec


def test_target_ci_stops_early(tmp_path: Path) -> None:
    ts = _bins(tmp_path, {"a": 10, "b": 20})
    rec = runner.run(ts, tmp_path / "out", _opts(runs=5000, target_ci_pct=2.0, min_runs=30,
                                                 batch_launches=100))
    n = len(rec.measurements[0].samples)
    assert 30 <= n < 5000
    assert rec.end_reason == "target CI of 2% reached" and rec.complete


def test_every_launch_failing_is_an_error(tmp_path: Path) -> None:
    ts = _bins(tmp_path, {"a": 10, "b": 20})
    with pytest.raises(runner.RunError, match="b: every launch failed"):
        runner.run(ts, tmp_path / "out", _opts(probe_settings={"fail": {"b": "signaled"}}))
    rec = storage.load_record(tmp_path / "out")
    assert all(s.status is LaunchStatus.SIGNALED for s in rec.measurement("b").samples)
    assert len(rec.measurement("a").ok_samples()) == 50


@pytest.mark.parametrize(("kw", "needle"), [
    ({"runs": 0}, "--runs must be at least 1"),
    ({"warmup": -1}, "--warmup must be 0 or more"),
    ({"probe": "nope"}, "unknown probe 'nope'"),
    ({"cache": "lukewarm"}, "--cache must be one of warm, as-is, cold"),
])
def test_bad_options(tmp_path: Path, kw: dict[str, Any], needle: str) -> None:
    ts = _bins(tmp_path, {"a": 10})
    with pytest.raises(runner.RunError, match=needle):
        runner.run(ts, tmp_path / "out", _opts(**kw))


def test_existing_record_is_never_overwritten(tmp_path: Path) -> None:
    ts = _bins(tmp_path, {"a": 10})
    runner.run(ts, tmp_path / "out", _opts(runs=2))
    before = (tmp_path / "out" / "record.json").read_bytes()
    with pytest.raises(runner.RunError, match="exists already"):
        runner.run(ts, tmp_path / "out", _opts(runs=2))
    assert (tmp_path / "out" / "record.json").read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no sched_setaffinity here")
def test_affinity_parsing_and_errors() -> None:
    from loadbench.model import format_cpus

    allowed = sorted(os.sched_getaffinity(0))
    assert runner.parse_cpus(str(allowed[0])) == (allowed[0],)
    assert runner.parse_cpus(format_cpus(allowed)) == tuple(allowed)
    assert format_cpus([0, 1, 2, 3, 6, 8, 9]) == "0-3,6,8-9"
    assert format_cpus([5]) == "5"
    for text, needle in (("x", "expected CPU numbers"), ("3-1", "not a CPU range"),
                         ("0,,1", "expected CPU numbers"), ("4096", "not available")):
        with pytest.raises(runner.RunError, match=needle):
            runner.parse_cpus(text)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no sched_setaffinity here")
def test_run_is_pinned_while_it_runs_and_unpinned_after(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    before = os.sched_getaffinity(0)
    cpu = max(before)
    seen: list[set[int]] = []
    real_run = FakeProbe.run

    def spy(self: FakeProbe, schedule: Any) -> Any:
        seen.append(os.sched_getaffinity(0))  # what the launcher and targets would inherit
        return real_run(self, schedule)

    monkeypatch.setattr(FakeProbe, "run", spy)
    rec = runner.run(_bins(tmp_path, {"a": 10}), tmp_path / "out", _opts(affinity=(cpu,)))
    assert seen and all(s == {cpu} for s in seen)
    assert os.sched_getaffinity(0) == before
    assert rec.spec.affinity == (cpu,) and rec.spec.affinity_text() == f"pinned to CPU {cpu}"
    data = json.loads((tmp_path / "out" / "record.json").read_text())
    assert data["spec"]["affinity"] == [cpu]
    # unpinned runs record None; an error inside a pinned run still restores the mask
    (tmp_path / "u").mkdir()
    assert runner.run(_bins(tmp_path / "u", {"a": 10}), tmp_path / "out2",
                      _opts()).spec.affinity is None

    def boom(self: FakeProbe, schedule: Any) -> Any:
        assert os.sched_getaffinity(0) == {cpu}
        raise OSError("probe failed")

    monkeypatch.setattr(FakeProbe, "run", boom)
    with pytest.raises(OSError, match="probe failed"):
        runner.run(_bins(tmp_path / "u", {"a": 10}), tmp_path / "out3", _opts(affinity=(cpu,)))
    assert os.sched_getaffinity(0) == before


def test_a_probe_without_cold_cache_support_is_refused_up_front(monkeypatch: Any,
                                                                tmp_path: Path) -> None:
    from loadbench import probes
    from loadbench.probes.fake import FakeProbe

    class WarmOnly(FakeProbe):
        name = "warm-only"
        capabilities = frozenset()

    monkeypatch.setitem(probes.REGISTRY, "warm-only", f"{__name__}:_WarmOnly")
    monkeypatch.setitem(globals(), "_WarmOnly", WarmOnly)
    exe = tmp_path / "a"
    exe.write_bytes(b"\x7fELF" + b"\0" * 64)
    exe.chmod(0o755)
    with pytest.raises(runner.RunError, match="cannot evict binaries from the page cache"):
        runner.run([runner.TargetSpec("a", str(exe))], tmp_path / "out",
                   runner.RunOptions(runs=2, probe="warm-only", cache="cold", calibrate=False))
    assert not (tmp_path / "out" / "record.json").exists()
    # warm is fine with the same probe
    runner.run([runner.TargetSpec("a", str(exe))], tmp_path / "out2",
               runner.RunOptions(runs=2, probe="warm-only", calibrate=False))


def test_sessions_split_the_rounds_and_each_has_its_cache_state_and_warm_up(
        tmp_path: Path) -> None:
    ts = _bins(tmp_path, {"a": 10, "b": 400_000})
    rec = runner.run(ts, tmp_path / "out", _opts(runs=50, sessions=3))
    assert rec.spec.sessions == 3 and rec.complete
    assert runner.session_rounds(50, 3) == [17, 17, 16]
    for m in rec.measurements:
        per = Counter(s.session for s in m.samples)
        assert per == {0: 17, 1: 17, 2: 16}
        assert Counter(s.session for s in m.warmup) == {0: 3, 1: 3, 2: 3}
        if sys.platform.startswith("linux"):
            assert [e["session"] for e in m.page_cache] == [0, 1, 2]
            assert all(e["after"]["resident_pages"] == e["after"]["pages"]
                       for e in m.page_cache)
    # the global launch index still runs through the whole schedule, session after session
    idx = sorted((s.index, s.session) for m in rec.measurements for s in m.samples)
    assert [i for i, _ in idx] == list(range(100))
    assert [k for _, k in idx] == sorted(k for _, k in idx)
    # each session has its own shuffle; one session is exactly the schedule without sessions
    plan = runner.session_schedule(2, 50, 42, 3)
    assert plan[0] == runner.schedule_rounds(2, 17, 42)
    assert runner.session_schedule(2, 50, 42, 1) == [runner.schedule_rounds(2, 50, 42)]
    assert rec.spec.cache_method == pagecache.METHOD
    back = storage.load_record(tmp_path / "out")
    assert back == rec


def test_as_is_records_the_layout_without_changing_it(tmp_path: Path) -> None:
    ts = _bins(tmp_path, {"a": 10})
    rec = runner.run(ts, tmp_path / "out", _opts(runs=4, cache="as-is", sessions=2))
    assert rec.spec.cache == "as-is" and rec.spec.cache_method is None
    if sys.platform.startswith("linux"):
        entries = rec.measurements[0].page_cache
        assert [e["session"] for e in entries] == [0, 1]
        assert all(e["after"] is None and e["before"]["pages"] == 1 for e in entries)


def test_sessions_need_a_round_each() -> None:
    with pytest.raises(runner.RunError, match="--sessions 5 is more than --runs 4"):
        runner._check_options(_opts(runs=4, sessions=5))


def test_a_version_1_record_is_one_session() -> None:
    rec = storage.load_record(Path(__file__).resolve().parents[1] / "data" / "records"
                              / "v1-fake-two-binaries.json")
    assert rec.schema_version == storage.SCHEMA_VERSION
    assert rec.spec.sessions == 1 and rec.spec.cache_method is None
    assert {s.session for m in rec.measurements for s in m.samples} == {0}
    from loadbench.report import tables

    row = tables.variant_rows(rec)[0]
    assert row.latency is not None and row.latency.ci_kind == "within-run"


def test_the_schedule_is_made_as_it_is_consumed() -> None:
    # a run of 10^12 launches starts without building its schedule
    import itertools

    it = runner.session_order(2, 10**12, seed=3)
    assert len(list(itertools.islice(it, 10))) == 10
    # the lazy order is the listed one, and skipping lands where a resume starts
    full = runner.schedule_rounds(3, 40, seed=9)
    assert list(runner.session_order(3, 40, 9)) == full
    for skip in (0, 1, 2, 3, 7, 119, 120):
        assert list(runner.session_order(3, 40, 9, skip=skip)) == full[skip:]


def test_huge_affinity_ranges_are_refused_before_they_are_built() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("Linux only")
    with pytest.raises(runner.RunError, match="is not available; this process may use"):
        runner.parse_cpus("0-99999999999")


def test_a_stop_after_the_last_launch_interrupts_nothing(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ts = _bins(tmp_path, {"a": 10})
    real_run = FakeProbe.run
    stop_box: list[Any] = []

    def last_then_stop(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        for s in real_run(self, schedule):
            if s.index == 19:  # Ctrl-C while the last launch is being handed over
                self.stop.request("SIGINT")
                stop_box.append(True)
            yield s

    monkeypatch.setattr(FakeProbe, "run", last_then_stop)
    rec = runner.run(ts, tmp_path / "out", _opts(runs=20, batch_launches=10, warmup=0))
    assert stop_box and rec.complete and rec.end_reason == "done"


def test_two_resumes_of_one_record_cannot_both_run(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ts = _bins(tmp_path, {"a": 10})
    out = tmp_path / "out"
    real_run = FakeProbe.run

    def stop_early(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        self.stop.request("SIGINT")
        yield from real_run(self, schedule)

    monkeypatch.setattr(FakeProbe, "run", stop_early)
    runner.run(ts, out, _opts(runs=40, batch_launches=10, warmup=0))
    monkeypatch.setattr(FakeProbe, "run", real_run)
    # while one resume holds the record, a second is refused with the holder's pid
    held = pytest.raises(storage.RecordError, match=rf"another loadbench \(pid {os.getpid()}\)")
    with storage.record_lock(out / "record.json"), held:
        runner.resume(out, calibrate=False)
    rec = runner.resume(out, calibrate=False)
    assert rec.complete and len(rec.measurements[0].samples) == 40
    assert not (out / "record.lock").exists()


@pytest.mark.parametrize("how", ["in-place, mtime restored", "renamed over"])
def test_a_batch_during_which_a_binary_changed_is_dropped(how: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ts = _bins(tmp_path, {"a": 10})
    exe = Path(ts[0].path)
    real_run = FakeProbe.run

    def change_in_third_batch(self: FakeProbe, schedule: Any):  # type: ignore[no-untyped-def]
        if schedule.first_index == 20:
            st = exe.stat()
            if how.startswith("in-place"):
                with open(exe, "r+b") as f:  # same inode, same size, other bytes
                    f.seek(8)
                    f.write(b"\x01")
                os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns))
            else:
                new = tmp_path / "new"
                new.write_bytes(exe.read_bytes()[:-1] + b"\x02")
                new.chmod(0o755)
                os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
                os.replace(new, exe)
        yield from real_run(self, schedule)

    monkeypatch.setattr(FakeProbe, "run", change_in_third_batch)
    with pytest.raises(runner.RunError, match="the 10 launches of the batch during which it "
                                              "changed were dropped"):
        runner.run(ts, tmp_path / "out", _opts(runs=50, batch_launches=10, warmup=0))
    rec = storage.load_record(tmp_path / "out")
    assert len(rec.measurements[0].samples) == 20  # the two batches before the change
    assert not rec.complete and "modified during the run" in rec.end_reason
