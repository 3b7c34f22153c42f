"""Files perf itself leaves behind, which no option of perf moves or removes."""

from __future__ import annotations

import glob
import os


def remove_perf_vdso_copies(since: float, folder: str = "/tmp") -> list[str]:
    """perf copies the vdso to ``/tmp/perf-vdso.so-XXXXXX`` (a fixed folder, not $TMPDIR) while
    it records and deletes the copy when it exits; a perf ended by a signal at the wrong moment
    leaves it behind (loadbench SIGKILLed under perf: test_tracing_cleanup). Remove the copies
    made since ``since`` (this session's perf, which has ended), unless some perf is running:
    the copy may be its own, which it reads until it exits. The removed paths."""

    copies = [p for p in glob.glob(os.path.join(folder, "perf-vdso.so-*"))
              if _mtime(p) >= since]
    if not copies or _perf_running():
        return []
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
    for pid in os.listdir("/proc"):
        if not (pid.isascii() and pid.isdigit()):
            continue
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                if f.read().strip() == b"perf":
                    return True
        except OSError:
            pass
    return False

