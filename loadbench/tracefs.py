"""The kernel's tracing filesystem, which both Linux tracing probes need, found or mounted.

perf (tracepoints, ``perf probe`` uprobes) and bpftrace (tracepoint formats and ids) read
``/sys/kernel/tracing``. A fresh machine may not have it mounted: as root, ``ensure`` mounts it
the way perf's own tools do (``mount -t tracefs nodev /sys/kernel/tracing``) and says so;
otherwise the reason names the command. Everything else is a read of the mounted tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from loadbench import _proc
from loadbench.errors import LoadbenchError

TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
MOUNT_POINT = TRACEFS_DIRS[0]
MOUNT_ARGV = ("mount", "-t", "tracefs", "nodev", MOUNT_POINT)
MOUNT_COMMAND = " ".join(MOUNT_ARGV)


class TracefsUnavailable(LoadbenchError, RuntimeError):
    """tracefs is not mounted and cannot be; ``str()`` says what to do, in one line."""


@dataclass(frozen=True, slots=True)
class Tracefs:
    path: str
    mounted_now: bool = False  # loadbench mounted it in this process

    @property
    def note(self) -> str:
        return f"mounted tracefs at {self.path} ({MOUNT_COMMAND})" if self.mounted_now else ""

    def has_event(self, event: str) -> bool:
        """``event`` as ``group/name`` or ``group:name``."""
        return os.path.isdir(os.path.join(self.path, "events", event.replace(":", "/")))

    def event_format(self, event: str) -> str:
        try:
            with open(os.path.join(self.path, "events", event.replace(":", "/"), "format")) as f:
                return f.read()
        except OSError:
            return ""


def find() -> Tracefs | None:
    for d in TRACEFS_DIRS:
        if os.path.isdir(os.path.join(d, "events")):
            return Tracefs(d)
    return None


def ensure() -> Tracefs:
    """The mounted tracefs, mounting it first when missing and running as root."""
    fs = find()
    if fs is not None:
        return fs
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise TracefsUnavailable(f"tracefs is not mounted; as root run: {MOUNT_COMMAND}")
    if not os.path.isdir(MOUNT_POINT):
        raise TracefsUnavailable(
            f"tracefs is not mounted and {MOUNT_POINT} does not exist (no CONFIG_TRACING?)"
        )
    try:
        _proc.run(list(MOUNT_ARGV), timeout=30)
    except _proc.ToolError as e:
        raise TracefsUnavailable(f"tracefs is not mounted and mounting it failed: {e}") from None
    fs = find()
    if fs is None:
        raise TracefsUnavailable(f"{MOUNT_COMMAND} succeeded but {MOUNT_POINT}/events is missing")
    return Tracefs(fs.path, mounted_now=True)


def status() -> tuple[bool, str]:
    """(mounted, detail) for ``doctor``: never mounts anything."""
    fs = find()
    if fs is not None:
        return True, f"mounted at {fs.path}"
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return False, ("not mounted (the perf and bpf probes mount it when they start as root)"
                   if root else "not mounted")
