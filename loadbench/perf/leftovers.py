"""Files perf itself leaves behind, which no option of perf moves or removes."""

from __future__ import annotations

import glob
import os
import time


def remove_perf_vdso_copies(since: float, folder: str = "/tmp",
                            wait_s: float = 0.0) -> list[str]:
    """perf copies the vdso to ``/tmp/perf-vdso.so-XXXXXX`` (a fixed folder, not $TMPDIR) while
    it records and deletes the copy when it exits; a perf ended by a signal at the wrong moment
    leaves it behind (loadbench SIGKILLed under perf: test_tracing_cleanup). Remove the copies
    made since ``since`` (this session's perf, which has ended), unless some perf is running:
    the copy may be its own, which it reads until it exits. ``wait_s``: how long to wait for
    running perfs to end first (a killed loadbench's `perf record` and `perf script` are still
    exiting when its reaper gets here). The removed paths."""

    deadline = time.monotonic() + wait_s
    while _perf_running():  # first: a perf ending on a signal writes its copy as it exits
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.1)
    copies = [p for p in glob.glob(os.path.join(folder, "perf-vdso.so-*"))
              if _mtime(p) >= since]
    removed = []
    for p in copies:
        try:
            os.unlink(p)
            removed.append(p)
        except OSError:
            pass
    return removed


def _mtime(path: str) -> float:
    try:
        st = os.lstat(path)
    except OSError:
        return -1.0
    return st.st_mtime if st.st_uid == os.geteuid() else -1.0


def _perf_running() -> bool:
    """Is some process named perf alive (a zombie, already exited, does not count)?"""
    for pid in os.listdir("/proc"):
        if not (pid.isascii() and pid.isdigit()):
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        name, _, rest = stat.partition(b"(")[2].rpartition(b")")
        if name == b"perf" and rest.split()[:1] != [b"Z"]:
            return True
    return False
