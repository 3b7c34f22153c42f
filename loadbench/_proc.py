"""The one place that starts tool subprocesses (go, perf, wpr, dtrace, hyperfine, cc...).

Never through a shell: argv lists only. A tool that is missing, fails or times out becomes a
``ToolError`` whose message is one line naming the tool, what happened and the tail of its stderr.
Targets being *measured* are not started here: ``launch`` owns that, for speed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from loadbench.errors import LoadbenchError


class ToolError(LoadbenchError, RuntimeError):
    """A tool could not run or failed; ``str()`` is a one-line message for the user."""


@dataclass(frozen=True, slots=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def which(name: str) -> str | None:
    return shutil.which(name)


def _tail(text: str, limit: int = 300) -> str:
    """The part of a tool's output that says why: from its first line naming an error (a
    compiler's "fatal error: ... No space left on device" comes before its source excerpt),
    else its last lines; three lines at most."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    first = next((i for i, ln in enumerate(lines) if "error" in ln.lower()), None)
    tail = " | ".join(lines[first:first + 3] if first is not None else lines[-3:])
    return tail if len(tail) <= limit else "..." + tail[-limit:]


def run(
    argv: Sequence[str],
    *,
    timeout: float | None = 600,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
    input: str | None = None,
) -> Completed:
    """Run ``argv`` to completion and capture its text output.

    The tool runs in a process group of its own; if this process is interrupted (Ctrl-C, or
    SIGTERM/SIGHUP, which the CLI turns into an exception) or the tool times out, the whole
    group gets SIGINT first (``go build`` then removes its temp work directory), then SIGKILL,
    and is waited for: no build keeps running after loadbench."""
    argv = tuple(str(a) for a in argv)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                env=None if env is None else dict(env), cwd=cwd,
                                start_new_session=True)
    except FileNotFoundError:
        raise ToolError(f"{argv[0]}: not found; install it or put it on PATH") from None
    except PermissionError:
        raise ToolError(f"{argv[0]}: permission denied") from None
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _end_group(proc)
        raise ToolError(
            f"{os.path.basename(argv[0])} did not finish within {timeout:g} s: {' '.join(argv[:6])}"
        ) from None
    except BaseException:
        _end_group(proc)
        raise
    done = Completed(argv, proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise ToolError(
            f"{os.path.basename(argv[0])} exited with {proc.returncode}: "
            f"{_tail(err or out)}"
        )
    return done


def _end_group(proc: subprocess.Popen[str], grace_s: float = 5.0) -> None:
    """SIGINT to the tool's process group, SIGKILL after ``grace_s``, then reap it."""
    import signal as _signal

    for sig, wait in ((_signal.SIGINT, grace_s), (_signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, _signal.SIGKILL)  # whatever of the group outlived its leader
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def _die_with_parent(sig: int) -> Any:
    """A preexec function: the child gets ``sig`` when this process dies, even by SIGKILL
    (Linux ``PR_SET_PDEATHSIG``), and exits at once if it already has."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def setup() -> None:
        prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    return setup


def start(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stderr: int | IO[Any] | None = subprocess.PIPE,
    new_session: bool = False,
    die_with_parent: int | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start a long-lived tool session (perf record, dtrace, wpr) and return its handle.

    The caller owns stopping it; use ``stop`` on every exit path. ``new_session``: a terminal's
    Ctrl-C does not reach it (the caller stops it in order). ``die_with_parent`` (Linux): the
    signal it gets if loadbench itself is killed, so no tracer outlives a SIGKILLed loadbench.
    Start it from the main thread: the kernel sends the signal when the creating *thread* ends.
    """
    argv = [str(a) for a in argv]
    preexec = None
    if die_with_parent is not None and sys.platform.startswith("linux"):
        preexec = _die_with_parent(die_with_parent)
    try:
        return subprocess.Popen(
            argv,
            env=None if env is None else dict(env),
            cwd=cwd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=new_session,
            preexec_fn=preexec,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError:
        raise ToolError(f"{argv[0]}: not found; install it or put it on PATH") from None


def stop(proc: subprocess.Popen[bytes], *, sig: int | None = None, timeout: float = 10) -> int:
    """Stop a session started by ``start``: send ``sig`` (default SIGTERM), wait, then kill."""
    import signal as _signal

    if proc.poll() is None:
        try:
            proc.send_signal(_signal.SIGTERM if sig is None else sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
