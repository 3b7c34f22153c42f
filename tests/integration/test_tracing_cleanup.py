"""What both tracing probes (their shared base, ``probes/tracing.py``) must do alike: leave
nothing behind when loadbench is interrupted or killed outright, stop during calibration, and
obey the run's timeout there.

A real ``loadbench`` process runs web under the probe; once its tracer, the launcher and a web
launch have been seen, it gets SIGINT (Ctrl-C) or SIGKILL. Afterwards no process it started is
alive (tracer, launcher, target, the perf probe's reaper), no uprobe of its session is in tracefs
and no temp file of its pid (nor a vdso copy of its perf) is in /tmp. Needs root, perf and
bpftrace (skips per probe).
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import proctree  # tests/integration/proctree.py
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHILD = """
import sys
from pathlib import Path
from loadbench import runner
probe, binary, out = sys.argv[1:4]
opts = runner.RunOptions(runs=100000, warmup=0, probe=probe, calibrate=False,
                         probe_settings={"calibrate_targets": False})
runner.run([runner.TargetSpec("web", binary)], Path(out), opts)
"""


def _available(probe: str) -> None:
    from loadbench.probes import probe_class

    a = probe_class(probe).availability()
    if not a.ok:
        if os.environ.get("LOADBENCH_REQUIRE_TRACING"):
            pytest.fail(f"{probe} probe unavailable where it is required: {a.reason}")
        pytest.skip(f"{probe} probe unavailable here: {a.reason}")


def _uprobe_groups() -> set[str]:
    from loadbench import tracefs
    from loadbench.perf.uprobes import parse_uprobe_events

    fs = tracefs.find()
    if fs is None:
        return set()
    with open(os.path.join(fs.path, "uprobe_events")) as f:
        return {g for g, _ in parse_uprobe_events(f.read())}


@pytest.mark.parametrize("probe", [pytest.param("perf", marks=pytest.mark.perf),
                                   pytest.param("bpf", marks=pytest.mark.bpf)])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_or_killed_run_leaves_nothing(
    probe: str, sig: signal.Signals, built: dict[str, str], tmp_path: Path
) -> None:
    _available(probe)
    vdso_before = set(glob.glob("/tmp/perf-vdso.so-*"))  # perf's own copies (fixed folder)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, probe, built["web"], str(out)],
                                stdout=subprocess.DEVNULL, stderr=err, env=env,
                                preexec_fn=proctree.sigint_default)
    tracer = "bpftrace" if probe == "bpf" else "perf"
    w = proctree.Watcher(proc.pid)
    try:
        running = w.wait_for(lambda ps: {tracer, "launcher", "web"} <= {p.comm for p in ps}, 120)
        why = (tmp_path / "stderr.txt").read_text()[-500:]
        assert running, f"never saw {tracer}, the launcher and web: {why}"
        time.sleep(1.0)
        w.poll()
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = w.survivors(45)
    assert not left, f"still running after {sig.name}: {left}"
    assert not {g for g in _uprobe_groups() if g == f"lb{proc.pid}" or
                g.startswith(f"lb{proc.pid}_")}
    assert not glob.glob(f"/tmp/loadbench-*{proc.pid}-*")
    # perf writes its vdso copy as it exits on the SIGTERM; the reaper removes it once no perf
    # runs (SIGKILL under perf left one every time)
    deadline = time.monotonic() + 45
    while not set(glob.glob("/tmp/perf-vdso.so-*")) <= vdso_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(glob.glob("/tmp/perf-vdso.so-*")) <= vdso_before
    if sig == signal.SIGINT:
        from loadbench import storage

        rec = storage.load_record(out)
        assert rec.end_reason == "interrupted by SIGINT"
        samples = rec.measurements[0].samples
        assert samples and all("phases_ns" in s.extra for s in samples)


PROBES = [pytest.param("perf", marks=pytest.mark.perf), pytest.param("bpf", marks=pytest.mark.bpf)]
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}


@pytest.mark.parametrize("probe", PROBES)
def test_calibration_obeys_the_runs_timeout(probe: str) -> None:
    """Issue 17 case 2: calibration used a fixed 10 s timeout, whatever --timeout said."""
    from loadbench.model import LaunchStatus
    from loadbench.probes import probe_class
    from loadbench.probes.base import Target

    _available(probe)
    sleep = Target("sleep", "/bin/sleep", ("30",))
    with probe_class(probe)() as p:
        t0 = time.monotonic()
        (s,) = p.traced_block(sleep, ENV, timeout_s=0.3)(1)
        took = time.monotonic() - t0
    assert s.status is LaunchStatus.TIMEOUT and 0.25e9 < s.wall_ns < 3e9
    assert took < 15, f"one timed-out traced launch took {took:.1f} s"


@pytest.mark.parametrize("probe", PROBES)
def test_a_stop_during_target_calibration_launches_no_batch(probe: str,
                                                            built: dict[str, str]) -> None:
    """Issue 17 case 2: Ctrl-C during the per-target calibration used to be ignored by the
    batch that followed it (the launcher was started with no stop hook to reach it)."""
    from loadbench.probes import probe_class
    from loadbench.probes.base import Schedule, Target

    _available(probe)
    hello = Target("hello", built["hello"])
    with probe_class(probe)() as p:
        p._calibrated = True  # as after the run's null-binary calibration

        class Stopped:
            def overhead(self) -> dict[str, float]:
                return {}

        def measure(target: Target, env: dict[str, str], launches: object = None, *,
                    timeout_s: float = 10.0) -> Stopped:
            p.stop.request("SIGINT")  # the Ctrl-C arrives while calibrating
            return Stopped()

        p.measure_inflation = measure
        t0 = time.monotonic()
        got = list(p.run(Schedule(targets=(hello,), order=(0,) * 2000, env=ENV)))
        took = time.monotonic() - t0
    assert got == [] and took < 2, f"{len(got)} launches in {took:.1f} s after the stop"
