"""Facts about the machine a run happens on: OS, kernel, CPU, governor, perf settings.

The only module that asks the host about itself. Every fact is best effort: a fact that cannot
be read is stored as None, never guessed.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def cpu_jiffies() -> tuple[int, int] | None:
    """(all CPU time, steal time) in clock ticks since boot, summed over CPUs, from /proc/stat;
    None where there is no such file. Steal is time a virtual CPU was ready to run but the
    hypervisor ran something else."""
    first = (_read("/proc/stat") or "").split("\n", 1)[0].split()
    if len(first) < 9 or first[0] != "cpu":
        return None
    try:
        ticks = [int(x) for x in first[1:]]
    except ValueError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    return sum(ticks[:8]), ticks[7]


def steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Share of CPU time stolen by the hypervisor between two ``cpu_jiffies`` readings."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return round(100.0 * (after[1] - before[1]) / (after[0] - before[0]), 2)


def cpu_model() -> str | None:
    if sys.platform.startswith("linux"):
        info = _read("/proc/cpuinfo") or ""
        for line in info.splitlines():
            if line.startswith(("model name", "Model", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def governors() -> list[str]:
    seen = []
    for p in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor")):
        g = _read(str(p))
        if g and g not in seen:
            seen.append(g)
    return seen


def perf_event_paranoid() -> int | None:
    return _int(_read("/proc/sys/kernel/perf_event_paranoid"))


def facts() -> dict[str, Any]:
    import psutil

    from loadbench import __version__

    vm = psutil.virtual_memory()
    return {
        "hostname": socket.gethostname(),
        "os": platform.system(),
        "os_release": platform.release(),
        "os_version": platform.version(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_bytes": vm.total,
        "cpu_governors": governors(),
        "perf_event_paranoid": perf_event_paranoid(),
        "kptr_restrict": _int(_read("/proc/sys/kernel/kptr_restrict")),
        "aslr": _int(_read("/proc/sys/kernel/randomize_va_space")),
        "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "is_root": hasattr(os, "geteuid") and os.geteuid() == 0,
        "python": platform.python_version(),
        "loadbench_version": __version__,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "boot_time": int(psutil.boot_time()),
    }
