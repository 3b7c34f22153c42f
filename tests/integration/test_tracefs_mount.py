"""A fresh machine has tracefs unmounted: the tracing probes mount it themselves, as root, and say
so. Checked for real in a private mount namespace (``unshare -m``), so the machine's own tracefs
mount is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

CHILD = """
import os, subprocess, sys
subprocess.run(["umount", "/sys/kernel/tracing"], check=True)
from loadbench import tracefs
assert tracefs.find() is None, "tracefs still mounted"
from loadbench.probes import probe_class
probe = probe_class(sys.argv[1])()
print("notes:", probe.notes)
print("setting:", probe.settings.get("tracefs_mounted_by_loadbench"))
assert tracefs.find() is not None
probe.close()
"""


@pytest.mark.parametrize("probe", [pytest.param("perf", marks=pytest.mark.perf),
                                   pytest.param("bpf", marks=pytest.mark.bpf)])
def test_probe_mounts_missing_tracefs_and_says_so(probe: str) -> None:
    from loadbench import tracefs
    from loadbench.probes import probe_class

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    if tracefs.find() is None or tracefs.find().path != tracefs.MOUNT_POINT:  # type: ignore[union-attr]
        pytest.skip("tracefs is not mounted at /sys/kernel/tracing here to begin with")
    a = probe_class(probe).availability()
    if not a.ok:
        if os.environ.get("LOADBENCH_REQUIRE_TRACING"):
            pytest.fail(f"{probe} probe unavailable where it is required: {a.reason}")
        pytest.skip(f"{probe} probe unavailable here: {a.reason}")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cp = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                         CHILD, probe], capture_output=True, text=True, env=env, timeout=300)
    assert cp.returncode == 0, cp.stderr[-800:]
    assert f"notes: ['mounted tracefs at /sys/kernel/tracing ({tracefs.MOUNT_COMMAND})']" \
        in cp.stdout
    assert "setting: /sys/kernel/tracing" in cp.stdout
    assert tracefs.find() is not None  # ours, outside the namespace, untouched
