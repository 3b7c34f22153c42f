"""Both tracing probes leave nothing behind when loadbench is interrupted or killed outright.

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


def _sigint_default() -> None:
    """The child takes SIGINT as Ctrl-C even when these tests run where it is ignored (a
    shell's background job): loadbench keeps a signal it was started with ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

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
                                preexec_fn=_sigint_default)
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
