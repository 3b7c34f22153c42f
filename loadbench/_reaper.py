"""Clean-up that survives loadbench being killed outright (SIGKILL, OOM, power to the terminal).

A tracing session leaves global state that the kernel does not tie to a process: perf's uprobes
(tracefs ``uprobe_events``) and its perf.data files. ``Reaper`` starts ``python -m
loadbench._reaper`` in its own session and tells it, one line at a time on a pipe, what to
clean: ``pid N T`` (the tracer running now, with its start time: it holds the uprobes open;
``pid 0 0`` once it has ended), ``group G`` with ``perf PATH`` (uprobe groups to delete), ``path
P`` (files or folders to remove). ``close`` says
``done`` after loadbench has cleaned up itself, and the reaper exits doing nothing. When the pipe
ends without ``done`` -- loadbench died -- the reaper waits for the tracers to end (they get
SIGTERM from the kernel as loadbench dies, see ``_proc.start(die_with_parent=...)``), kills any
still there after ``GRACE_S``, then deletes the groups and paths.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from loadbench import _proc

GRACE_S = 30.0  # a tracer stopping after the launch in flight, then writing its data


class Reaper:
    """The loadbench side: start once per probe, ``add`` as things are created, ``close``."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = _proc.start(
            [sys.executable, "-m", "loadbench._reaper"],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            new_session=True,  # a terminal's Ctrl-C or a group kill does not reach it
        )

    def tracer(self, pid: int | None) -> None:
        """The tracer process running now (None: it has ended). Its start time goes with it, so
        that a pid the system has handed to another process is never waited for or killed."""
        self.add("pid", "0 0" if pid is None else f"{pid} {_start_time(pid)}")

    def add(self, kind: str, value: str) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        if "\n" in value:
            raise ValueError(f"reaper {kind} {value!r}: no newlines")
        try:
            self._proc.stdin.write(f"{kind} {value}\n".encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._proc = None

    def close(self) -> None:
        """Everything was cleaned up by loadbench itself: the reaper exits without acting."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"done\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name ([0] is the state), [] when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> int:
    st = _stat(pid)
    return int(st[19]) if len(st) > 19 else 0  # field 22: starttime, in clock ticks


def _alive(pid: int, start: int) -> bool:
    """The very process (same start time), and not a zombie waiting to be reaped by init."""
    st = _stat(pid)
    return len(st) > 19 and int(st[19]) == start and st[0] != "Z"


def _clean(tracer: tuple[int, int], groups: list[tuple[str, str]], paths: list[str],
           vdso_since: float | None = None) -> None:
    from loadbench.perf import leftovers, uprobes

    deadline = time.monotonic() + GRACE_S
    pid, start = tracer
    while pid and _alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid and _alive(pid, start):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for perf, group in groups:
        # perf probe cannot delete events still open: retry until the tracer is gone
        while time.monotonic() < deadline + 10:
            try:
                uprobes._delete(perf, group)
                break
            except _proc.ToolError:
                time.sleep(0.2)
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass
    if vdso_since is not None:
        leftovers.remove_perf_vdso_copies(vdso_since, wait_s=GRACE_S)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    tracer = (0, 0)
    groups: list[tuple[str, str]] = []
    paths: list[str] = []
    perf = "perf"
    vdso_since: float | None = None
    for raw in sys.stdin.buffer:
        line = raw.decode(errors="replace").rstrip("\n")
        kind, _, value = line.partition(" ")
        if kind == "done":
            return
        if kind == "pid":
            parts = value.split()
            if len(parts) == 2 and all(p.isascii() and p.isdigit() for p in parts):
                tracer = (int(parts[0]), int(parts[1]))
        elif kind == "perf":
            perf = value
        elif kind == "group":
            groups.append((perf, value))
        elif kind == "path":
            paths.append(value)
        elif kind == "vdso":
            try:
                vdso_since = float(value)
            except ValueError:
                pass
    _clean(tracer, groups, paths, vdso_since)


if __name__ == "__main__":
    main()
