"""Facts about the machine a run happens on: OS, kernel, CPU, governor, perf settings.

The only module that asks the host about itself. Every fact is best effort: a fact that cannot
be read is stored as None, never guessed.

Under Wine the Windows APIs are Wine's and the machine is the Linux host, so a record says
``os: Wine`` with the Wine and Linux versions, never the Windows version Wine pretends to be.
Wine maps the Linux root to drive ``Z:``, so the host's ``/proc`` and ``/sys`` facts are read
through it. ``platform``'s OS queries are not used there: in Wine 8.0 they reach WMI through
``_wmi.pyd`` and abort the process on an unimplemented ``propsys`` export.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class WineHost:
    """The Wine a Windows process runs under: Wine's version and the OS underneath."""

    version: str  # "8.0"
    host_os: str  # "Linux"
    host_release: str  # the Linux kernel release

    def describe(self) -> str:
        return f"Wine {self.version} on {self.host_os} {self.host_release}"


@functools.cache
def wine() -> WineHost | None:
    """The Wine this process runs under, or None (native Windows, or not Windows at all).

    Wine's ntdll exports ``wine_get_version`` and ``wine_get_host_version``; Windows' ntdll has
    neither, so their presence is the test (the one Wine's own FAQ gives)."""
    if sys.platform != "win32":
        return None
    import ctypes

    try:
        ntdll = ctypes.WinDLL("ntdll")  # type: ignore[attr-defined]
        get_version = ntdll.wine_get_version
        get_host = ntdll.wine_get_host_version
    except (OSError, AttributeError):
        return None
    get_version.restype = ctypes.c_char_p
    get_version.argtypes = []
    get_host.restype = None
    get_host.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)]
    sysname, release = ctypes.c_char_p(), ctypes.c_char_p()
    get_host(ctypes.byref(sysname), ctypes.byref(release))

    def text(b: bytes | None) -> str:
        return (b or b"").decode("utf-8", "replace")

    return WineHost(version=text(get_version()), host_os=text(sysname.value),
                    host_release=text(release.value))


def _host_path(path: str) -> str:
    """A Linux path of the host as this process can open it (``Z:`` prefixed under Wine)."""
    return f"Z:{path}" if wine() is not None else path


def _read(path: str) -> str | None:
    try:
        return Path(_host_path(path)).read_text().strip()
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
    if sys.platform.startswith("linux") or wine() is not None:
        info = _read("/proc/cpuinfo") or ""
        for line in info.splitlines():
            if line.startswith(("model name", "Model", "cpu model")):
                return line.split(":", 1)[1].strip()
        if wine() is not None:
            return None
    return platform.processor() or None


def governors() -> list[str]:
    seen = []
    root = Path(_host_path("/sys/devices/system/cpu"))
    for p in sorted(root.glob("cpu[0-9]*/cpufreq/scaling_governor")):
        try:
            g = p.read_text().strip()
        except OSError:
            continue
        if g and g not in seen:
            seen.append(g)
    return seen


def perf_event_paranoid() -> int | None:
    return _int(_read("/proc/sys/kernel/perf_event_paranoid"))


def _os_facts() -> dict[str, Any]:
    w = wine()
    if w is None:
        return {"os": platform.system(), "os_release": platform.release(),
                "os_version": platform.version(), "machine": platform.machine()}
    win = sys.getwindowsversion()  # type: ignore[attr-defined]
    return {
        "os": "Wine",
        "os_release": f"{w.version} on {w.host_os} {w.host_release}",
        "os_version": f"Windows {win.major}.{win.minor}.{win.build} as Wine reports it",
        "machine": os.environ.get("PROCESSOR_ARCHITECTURE"),
        "wine": {"version": w.version, "host_os": w.host_os, "host_release": w.host_release},
    }


def _loadavg() -> list[float] | None:
    if hasattr(os, "getloadavg"):
        return list(os.getloadavg())
    fields = (_read("/proc/loadavg") or "").split()[:3] if wine() is not None else []
    try:
        return [float(x) for x in fields] if len(fields) == 3 else None
    except ValueError:
        return None


def facts() -> dict[str, Any]:
    from loadbench import __version__

    try:
        import psutil
    except ImportError:  # a bare interpreter, such as the Windows CPython of the Wine tests
        psutil = None  # type: ignore[assignment]
    return {
        "hostname": socket.gethostname(),
        **_os_facts(),
        "cpu_model": cpu_model(),
        "cpu_count_logical": psutil.cpu_count(logical=True) if psutil else os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False) if psutil else None,
        "memory_bytes": psutil.virtual_memory().total if psutil else None,
        "cpu_governors": governors(),
        "perf_event_paranoid": perf_event_paranoid(),
        "kptr_restrict": _int(_read("/proc/sys/kernel/kptr_restrict")),
        "aslr": _int(_read("/proc/sys/kernel/randomize_va_space")),
        "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "is_root": hasattr(os, "geteuid") and os.geteuid() == 0,
        "python": platform.python_version(),
        "loadbench_version": __version__,
        "load_average": _loadavg(),
        "boot_time": int(psutil.boot_time()) if psutil else None,
    }
