"""StopFlag: a stop request reaches every hook, including one added after the request."""

from __future__ import annotations

import shutil
import time

from loadbench import launch_native
from loadbench.probes.base import Schedule, StopFlag, Target


def test_hook_added_after_the_request_fires_at_once() -> None:
    stop = StopFlag()
    calls: list[str] = []
    stop.add_hook(lambda: calls.append("early"))
    stop.request("SIGINT")
    assert calls == ["early"] and stop.reason == "SIGINT"
    stop.add_hook(lambda: calls.append("late"))  # the race: checked, then started a child
    assert calls == ["early", "late"]


def test_native_launcher_launches_nothing_after_a_stop() -> None:
    """Issue 17 case 2: a stop that came before the batch started used to run all of it."""
    if not (shutil.which("cc") or shutil.which("gcc")):
        import pytest

        pytest.skip("no C compiler for the native launcher")
    launcher = launch_native.ensure_launcher()
    stop = StopFlag()
    stop.request("SIGINT")
    sleep = shutil.which("sleep") or "/bin/sleep"
    t0 = time.monotonic()
    got = list(launch_native.run(launcher, Schedule(targets=(Target("s", sleep, ("1",)),),
                                                    order=(0,) * 5, env={}), stop=stop))
    assert got == [] and time.monotonic() - t0 < 0.5
