"""One bpftrace session around one batch of launches; the only part of ``loadbench.bpf`` that runs
bpftrace (through ``loadbench._proc``).

Order: bpftrace starts first, in its own session (a terminal's Ctrl-C reaches loadbench and the
launcher, never bpftrace mid-batch) and with SIGTERM as its parent-death signal (a SIGKILLed
loadbench cannot leave it running); once its BEGIN probe has printed ``ready`` every probe is
attached, and the native launcher runs the batch as loadbench's own child, exactly as the rusage
probe runs it. When the launcher exits, the program's ``exit()`` ends bpftrace, which prints its
maps: the only output, read after the batch. The program text travels in an in-memory file and
bpftrace's uprobes are perf-event based (not tracefs ``uprobe_events``), so the kernel removes
them with the process: nothing can be left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadbench import _proc, launch_native
from loadbench.bpf.output import BpfOutput, parse_output

READY_TIMEOUT_S = 120.0  # compiling and attaching a large program takes a few seconds
EXIT_GRACE_S = 10.0  # after the launcher: bpftrace prints its maps and exits by itself
# stderr lines that are not errors: the memlock limit is moot on kernels that account BPF
# memory to the cgroup (5.11+), and the sign-comparison warnings are about pid fields.
_NOISE = ("couldn't set RLIMIT_MEMLOCK", "comparison of integers of different signs")


@dataclass(frozen=True, slots=True)
class SessionResult:
    raws: tuple[tuple[Any, ...], ...]
    output: BpfOutput
    startup_s: float  # bpftrace start to "ready" (compile + attach), outside every launch
    readout_s: float  # launcher exit to parsed maps
    lines: tuple[str, ...] = ()  # bpftrace's output as printed (``keep_lines``)


def bpftrace_argv(bpftrace: str, program_path: str, launcher: str,
                  unsafe: bool = False) -> list[str]:
    flags = ["--unsafe"] if unsafe else []
    return [bpftrace, *flags, "-f", "json", "-k", program_path, str(os.getpid()), launcher]


def _errors(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not any(n in ln for n in _NOISE)]
    return " | ".join(useful[-3:])[-400:]


class _Reader(threading.Thread):
    """Collects bpftrace's stdout lines; sets ``ready`` at the BEGIN probe's line."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            for raw in self.stream:
                line = raw.decode("utf-8", errors="replace")
                if not self.ready.is_set() and '"printf"' in line and "ready" in line:
                    self.ready.set()
                    continue
                self.lines.append(line)
        finally:
            self.done.set()
            self.ready.set()


def record(
    bpftrace: str,
    program: str,
    launcher: str,
    schedule: Any,
    evict: Mapping[int, Sequence[str]] | None,
    *,
    map_keys: int,
    stop: Any = None,
    keep_lines: bool = False,
    started: Any = None,
    unsafe: bool = False,
) -> SessionResult:
    """Run one batch (a ``probes.base.Schedule``, its targets by real path) under ``program``;
    the launcher's raw tuples and bpftrace's parsed maps.

    A stop request (SIGINT/SIGTERM via ``stop``) ends the launcher after the launch in flight;
    bpftrace then ends with it and the finished launches keep their traces. ``started(proc)`` is
    called with the bpftrace process once its probes are attached."""
    pfd = os.memfd_create("loadbench-bpf-program", os.MFD_CLOEXEC)
    efd = os.memfd_create("loadbench-bpftrace-stderr", os.MFD_CLOEXEC)
    proc = None
    try:
        os.write(pfd, program.encode())
        tool_env = dict(os.environ)
        tool_env.update(BPFTRACE_MAP_KEYS_MAX=str(map_keys), LC_ALL="C")
        t0 = time.monotonic()
        proc = _proc.start(
            bpftrace_argv(bpftrace, f"/proc/{os.getpid()}/fd/{pfd}", launcher, unsafe),
            env=tool_env,
            stdout=subprocess.PIPE,
            stderr=efd,
            new_session=True,
            die_with_parent=signal.SIGTERM,
        )
        assert proc.stdout is not None
        reader = _Reader(proc.stdout)
        reader.start()
        if not reader.ready.wait(READY_TIMEOUT_S) or reader.done.is_set():
            if proc.poll() is None:
                _proc.stop(proc, sig=signal.SIGINT)
            reader.done.wait(5)
            raise _proc.ToolError(
                f"bpftrace did not start (exit {proc.poll()}): {_errors(_read(efd))}"
            )
        startup = time.monotonic() - t0
        if started is not None:
            started(proc)
        raws: list[tuple[Any, ...]] = []
        try:
            raws.extend(launch_native.run(launcher, schedule, evict=evict, stop=stop))
        except _proc.ToolError:
            if stop is None or not stop.requested:
                raise
        t1 = time.monotonic()
        # The program exits when the launcher does; a launcher it never recognised leaves it
        # waiting, and SIGINT makes it print its maps all the same.
        try:
            proc.wait(EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            _proc.stop(proc, sig=signal.SIGINT, timeout=60)
        reader.done.wait(60)
        rc = proc.returncode
        if rc not in (0, None) and not reader.lines:
            raise _proc.ToolError(f"bpftrace exited with {rc}: {_errors(_read(efd))}")
        out = parse_output(reader.lines)
        return SessionResult(tuple(raws), out, startup, time.monotonic() - t1,
                             tuple(reader.lines) if keep_lines else ())
    finally:
        if proc is not None and proc.poll() is None:
            _proc.stop(proc, sig=signal.SIGINT)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        os.close(pfd)
        os.close(efd)


def _read(fd: int) -> str:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0).decode(errors="replace") if size else ""


def run_version(bpftrace: str) -> str | None:
    try:
        return _proc.run([bpftrace, "--version"], timeout=30).stdout.strip() or None
    except _proc.ToolError:
        return None


def parse_version(text: str) -> tuple[int, ...] | None:
    """``bpftrace v0.17.0`` -> (0, 17, 0)."""
    for word in text.split():
        w = word.lstrip("v")
        parts = w.split(".")
        if len(parts) >= 2 and all(p.isascii() and p.isdigit() for p in parts[:2]):
            return tuple(int(p) for p in parts if p.isascii() and p.isdigit())
    return None

