"""Uprobes as global kernel state, owned for exactly one session and always deleted.

``perf probe -x BIN -a 'GROUP:NAME=0xOFF'`` creates a uprobe at a *file offset* of BIN, so the
address is the same for every launch whatever the PIE load bias. Every session uses its own group
(``lb<pid>``, ``lb<pid>_<n>`` for later sessions of the same process) and deletes exactly that
group (``perf probe -d 'GROUP:*'``) on close, at interpreter exit (atexit) and -- for sessions
killed outright -- at the next session's start, which removes ``lb<pid>`` groups whose process
no longer exists.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from loadbench import _proc

GROUP_RE = re.compile(r"^lb(\d+)(?:_\d+)?$")
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class Uprobe:
    event: str  # "GROUP:GROUP_NAME", as perf record's -e wants it
    binary: str
    file_offset: int
    role: str  # "entry" or "main"


def tracefs() -> str | None:
    for d in TRACEFS:
        if os.path.exists(os.path.join(d, "uprobe_events")):
            return d
    return None


def parse_uprobe_events(text: str) -> tuple[tuple[str, str], ...]:
    """(group, event) pairs from tracefs ``uprobe_events`` lines like
    ``p:lb123/e0 /path/bin:0x000000000008d100``."""
    out = []
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        _, colon, name = head.partition(":")
        group, slash, event = name.partition("/")
        if colon and slash:
            out.append((group, event))
    return tuple(out)


def stale_groups(pairs: Iterable[tuple[str, str]], alive: set[int] | None = None) -> list[str]:
    """loadbench groups whose owning process is gone (``alive``: pids known to exist;
    None asks the kernel)."""
    out: list[str] = []
    for group, _ in pairs:
        m = GROUP_RE.match(group)
        if not m or group in out:
            continue
        pid = int(m.group(1))
        gone = (pid not in alive) if alive is not None else not _pid_alive(pid)
        if gone:
            out.append(group)
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _current() -> tuple[tuple[str, str], ...]:
    d = tracefs()
    if d is None:
        return ()
    try:
        with open(os.path.join(d, "uprobe_events")) as f:
            return parse_uprobe_events(f.read())
    except OSError:
        return ()


def remove_stale(perf: str) -> list[str]:
    """Delete uprobe groups left by loadbench processes that died; returns their names."""
    removed = []
    for group in stale_groups(_current()):
        _delete(perf, group)
        removed.append(group)
    return removed


def _delete(perf: str, group: str) -> None:
    if not any(g == group for g, _ in _current()):
        return
    done = _proc.run([perf, "probe", "-q", "-d", f"{group}:*"], timeout=60, check=False)
    if any(g == group for g, _ in _current()):
        # perf probe failed (e.g. the events are still open): say so, never leave silently
        raise _proc.ToolError(
            f"could not delete uprobes {group}:* ({done.stderr.strip()[-200:]}); "
            f"remove them with: perf probe -d '{group}:*'"
        )


class UprobeGroup:
    """The uprobes of one session. ``close`` is idempotent and also runs at interpreter exit."""

    def __init__(self, perf: str) -> None:
        self.perf = perf
        n = next(_counter)
        self.group = f"lb{os.getpid()}" + (f"_{n}" if n else "")
        self.probes: list[Uprobe] = []
        self._closed = False
        atexit.register(self.close)

    def add(self, binary: str, points: Iterable[tuple[str, int, str]]) -> list[Uprobe]:
        """Create probes ``(name, file offset, role)`` on ``binary`` in one perf probe call; the
        event is ``GROUP:GROUP_name`` (event names must be unique across all groups)."""
        points = list(points)
        if not points:
            return []
        if self._closed:
            raise RuntimeError("uprobe group already closed")
        argv = [self.perf, "probe", "-q", "-x", binary]
        new = []
        for name, off, role in points:
            # perf probe refuses an event name that exists in *any* group: prefix the group
            event = f"{self.group}:{self.group}_{name}"
            argv += ["-a", f"{event}={off:#x}"]
            new.append(Uprobe(event, binary, off, role))
        try:
            _proc.run(argv, timeout=60)
        except _proc.ToolError:
            self.close()  # a partial add leaves some probes behind
            raise
        self.probes += new
        return new

    @property
    def roles(self) -> dict[str, str]:
        return {p.event: p.role for p in self.probes}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            atexit.unregister(self.close)
        except Exception:
            pass
        _delete(self.perf, self.group)
