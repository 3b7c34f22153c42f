"""The macOS tracing probe: the macos-rusage launcher under one dtrace session per batch (root).

``probes/macos/loadbench.d`` is started with ``dtrace -q -s loadbench.d <our pid>`` (through
``_proc``, stderr merged into stdout so dtrace's messages arrive in order with its records); the
probe waits for the script's ``LB begin`` line, launches the batch exactly as ``macos-rusage``
does, then stops dtrace with SIGINT so its END clause prints the per-pid fault counts, and merges
each launch's kernel exec-success -> exit time and fault counts by kind into its Sample (matched
by pid). The SIP warning is tolerated; missing privileges, missing probes and other dtrace
errors become ``ProbeUnavailable`` or ``ToolError`` with dtrace's own words. Samples come out
after the batch, when dtrace's data is complete. Tracing faults slows launches: keep timing runs
on ``macos-rusage`` and use this probe for attribution.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from loadbench import _proc
from loadbench.macos import ParseError
from loadbench.macos.dtrace import (
    RECORD_TAG,
    LineKind,
    MessageKind,
    classify_message,
    parse_dtrace_lines,
    tokenize,
)
from loadbench.model import Sample
from loadbench.probes import asset_path
from loadbench.probes.base import Availability, Probe, ProbeUnavailable, Schedule
from loadbench.probes.macos_rusage import (
    Launcher,
    darwin_kernel,
    launch_schedule,
    macos_only,
    refuse_cold,
)

SCRIPT = "macos/loadbench.d"
_BEGIN = f"{RECORD_TAG} begin "
_SIP_HINT = ("with System Integrity Protection on, dtrace may hide probes; 'csrutil enable "
             "--without dtrace' from recovery mode lifts that restriction")


def dtrace_failure(text: str, returncode: int | None) -> Exception:
    """The exception for a dtrace session that ended (or hung) before its BEGIN line."""
    errors: list[str] = []
    for line in tokenize(text):
        if line.kind is not LineKind.MESSAGE:
            continue
        body = line.fields[0]
        kind = classify_message(body)
        if kind is MessageKind.PRIVILEGES:
            return ProbeUnavailable(f"macos-dtrace needs root: run loadbench with sudo "
                                    f"(dtrace: {body})")
        if kind is MessageKind.ERROR:
            if "does not match any probes" in body or "probe description" in body:
                return ProbeUnavailable(f"dtrace cannot enable loadbench.d's probes (dtrace: "
                                        f"{body}); {_SIP_HINT}")
            errors.append(body)
    if errors:
        return _proc.ToolError(f"dtrace failed: {errors[0]}")
    tail = " | ".join(ln.strip() for ln in text.strip().splitlines()[-3:])
    if returncode is None:
        return _proc.ToolError(f"dtrace printed no '{_BEGIN.strip()}' line in time"
                               + (f": {tail}" if tail else ""))
    return _proc.ToolError(f"dtrace exited with {returncode} before its "
                           f"'{_BEGIN.strip()}' line" + (f": {tail}" if tail else ""))


class DtraceRun:
    """A running ``dtrace`` process whose merged output is collected by a reader thread."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._lines: list[str] = []
        self._begun = threading.Event()
        self._done = threading.Event()
        self.began = False
        self._reader = threading.Thread(target=self._read, name="dtrace-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        try:
            if out is not None:
                for raw in iter(out.readline, b""):
                    line = raw.decode("utf-8", "replace")
                    self._lines.append(line)
                    if line.startswith(_BEGIN):
                        self.began = True
                        self._begun.set()
        finally:
            self._done.set()
            self._begun.set()  # wake a waiter: dtrace is gone

    @classmethod
    def start(cls, argv: Sequence[str], begin_timeout_s: float) -> DtraceRun:
        """Start dtrace and return once its BEGIN line arrived; raise what went wrong if not."""
        run = cls(_proc.start(list(argv), stderr=subprocess.STDOUT))
        run._begun.wait(begin_timeout_s)
        if not run.began:
            exited = run._done.is_set()
            text = run.stop(timeout_s=5)
            raise dtrace_failure(text, run.proc.returncode if exited else None)
        return run

    def stop(self, timeout_s: float = 15) -> str:
        """SIGINT (dtrace then runs END and prints its aggregations), wait, return all output."""
        _proc.stop(self.proc, sig=signal.SIGINT, timeout=timeout_s)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return "".join(self._lines)


def merge_dtrace(samples: Sequence[Sample], text: str) -> list[Sample]:
    """Add each launch's dtrace figures to its Sample (matched on ``extra["pid"]``).

    Extras: ``dtrace`` ("ok" or why not), ``kernel_exec_to_exit_ns`` (exec-success to exit,
    kernel timestamps), ``faults_by_kind`` (every vminfo kind, 0 when it never fired) and
    ``dtrace_drops`` when dtrace reported lost data (counts are then lower bounds).
    """
    try:
        session = parse_dtrace_lines(text)
    except ParseError as e:
        return [_with(s, dtrace=f"unparsed: {e}") for s in samples]
    drops = len(session.drops)
    out = []
    for s in samples:
        pid = s.extra.get("pid")
        if not isinstance(pid, int):
            out.append(s)  # never spawned: nothing to merge
            continue
        extra: dict[str, Any] = {}
        if drops:
            extra["dtrace_drops"] = drops
        lives = [x for x in session.launches_for(pid) if x.exec_ns is not None]
        reused = len(lives) > 1
        if reused:
            # The same pid lived twice in this session: D timestamps and time.monotonic_ns()
            # share mach_absolute_time on macOS, so the exec inside this launch's span is ours.
            lives = [x for x in lives if x.exec_ns is not None
                     and s.start_ns <= x.exec_ns <= s.start_ns + s.wall_ns]
        if len(lives) != 1:
            extra["dtrace"] = ("pid reused within the session: launches not told apart"
                               if reused else "no exec-success seen for this pid")
        else:
            life = lives[0]
            extra["dtrace"] = "ok"
            if life.exec_to_exit_ns is not None:
                extra["kernel_exec_to_exit_ns"] = life.exec_to_exit_ns
            if pid in session.reused_pids:
                # Counts are summed per pid over the session, here over two processes.
                extra["dtrace"] = "ok; fault counts omitted (pid reused within the session)"
            else:
                extra["faults_by_kind"] = session.faults_for(pid)
        out.append(_with(s, **extra))
    return out


def _with(s: Sample, **extra: Any) -> Sample:
    return dataclasses.replace(s, extra={**s.extra, **extra})


def session_warnings(session_text: str) -> list[str]:
    """dtrace's own non-fatal lines (SIP warning, drops, other messages) of a session."""
    return [ln.fields[0] for ln in tokenize(session_text) if ln.kind is LineKind.MESSAGE]


class MacosDtraceProbe(Probe):
    """macos-rusage's launcher under ``loadbench.d``. Setting ``begin_timeout_s`` (default 30):
    how long to wait for dtrace to compile and enable the script."""

    name = "macos-dtrace"
    version = "1"
    platforms: ClassVar[tuple[str, ...]] = ("darwin",)
    options: ClassVar[Mapping[str, str]] = {
        "begin_timeout_s": "seconds to wait for dtrace to start (default 30)"}
    assets: ClassVar[tuple[str, ...]] = (SCRIPT,)

    @classmethod
    def availability(cls) -> Availability:
        off = macos_only(cls.name, "perf" if sys.platform.startswith("linux") else "rusage")
        if off is not None:
            return off
        if _proc.which("dtrace") is None:
            return Availability(False, "dtrace not found on PATH (macOS ships it as "
                                       "/usr/sbin/dtrace)")
        if os.geteuid() != 0:
            return Availability(False, "macos-dtrace needs root: run loadbench with sudo "
                                       "(otherwise dtrace says 'DTrace requires additional "
                                       "privileges')")
        try:
            asset_path(SCRIPT)
            darwin_kernel()
        except (FileNotFoundError, OSError) as e:
            return Availability(False, f"{cls.name}: {e}")
        return Availability(True)

    def tool_version(self) -> str | None:
        exe = _proc.which("dtrace") if sys.platform == "darwin" else None
        if exe is None:
            return None
        try:
            done = _proc.run([exe, "-V"], timeout=10, check=False)
        except _proc.ToolError:
            return None
        out = (done.stdout or done.stderr).strip()
        return out.splitlines()[0] if out else None

    def argv(self, script: Path) -> list[str]:
        return [_proc.which("dtrace") or "dtrace", "-q", "-s", str(script), str(os.getpid())]

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        avail = self.availability()
        if not avail:
            raise ProbeUnavailable(avail.reason)
        refuse_cold(schedule, self.name)
        launcher = Launcher(darwin_kernel())
        timeout = float(self.settings.get("begin_timeout_s", 30))
        session = DtraceRun.start(self.argv(asset_path(SCRIPT)), timeout)
        samples: list[Sample] = []
        interrupted: BaseException | None = None
        try:
            for sample in launch_schedule(launcher, schedule, self.stop):
                samples.append(sample)
        except BaseException as e:  # keep the finished launches, then re-raise below
            interrupted = e
        finally:
            text = session.stop()
        warnings = session_warnings(text)
        if warnings:
            self.settings["dtrace_messages"] = warnings
        yield from merge_dtrace(samples, text)
        if interrupted is not None:
            raise interrupted
