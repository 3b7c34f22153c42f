"""Build and drive the native launcher (``launcher.c``) that measures launches on Linux.

The launcher is compiled once per C compiler and source digest into loadbench's cache (static
when the C library allows it, so its own pre-exec footprint -- which Linux folds into every
child's ru_maxrss -- stays a few hundred KiB). ``run`` streams its per-launch lines back as raw
tuples in ``launch.FIELDS`` order; an interrupted batch keeps every finished launch.
"""

from __future__ import annotations

import functools
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from loadbench import _proc
from loadbench.errors import LoadbenchError

SOURCE = Path(__file__).resolve().parent / "launcher.c"
SPAWN = "vfork"  # how launcher.c starts a target; the Python fallback uses posix_spawn


@functools.cache
def describe() -> dict[str, str]:
    """What a record stores about the native launcher: how it spawns and which source it is
    (read once per process: every probe and every resume check asks)."""
    return {"launcher_spawn": SPAWN,
            "launcher_source_sha256": hashlib.sha256(SOURCE.read_bytes()).hexdigest()}


class LauncherUnavailable(LoadbenchError, RuntimeError):
    pass


def ensure_launcher(cc: str | None = None) -> str:
    """Path of the compiled launcher, building it on first use; raises LauncherUnavailable."""
    from loadbench import builder

    if not sys.platform.startswith("linux"):
        raise LauncherUnavailable("the native launcher is built for Linux only")
    cc = builder.find_cc(cc)
    if not cc:
        raise LauncherUnavailable("no C compiler (install gcc) to build the native launcher")
    src = SOURCE.read_bytes()
    key = hashlib.sha256(src + cc.encode()).hexdigest()[:16]
    dest = builder.cache_dir() / "launcher" / key / "launcher"
    if dest.is_file():
        return str(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f"launcher.{os.getpid()}.partial")
    errors = []
    # The compiler's own temporary files go next to its output: that folder has just been made
    # and must have room anyway, while /tmp may be full.
    env = {**os.environ, "TMPDIR": str(dest.parent)}
    for flags in (["-O2", "-static"], ["-O2"]):
        try:
            _proc.run([cc, *flags, "-o", str(partial), str(SOURCE)], timeout=120, env=env)
            os.replace(partial, dest)
            return str(dest)
        except _proc.ToolError as e:
            errors.append(str(e))
        finally:
            partial.unlink(missing_ok=True)
    raise LauncherUnavailable(f"could not compile the native launcher: {errors[-1]}")


_PREFIX = "loadbench-schedule-"


def cleanup_stale(prefix: str = _PREFIX) -> list[str]:
    """Remove temp files and folders ``<tmp>/<prefix><pid>-*`` left by loadbench processes that
    no longer exist (e.g. killed with SIGKILL). Every temp path loadbench creates carries its
    pid in this form for that reason."""
    import shutil

    removed: list[str] = []
    try:
        tmp = Path(tempfile.gettempdir())
    except OSError:  # no usable temporary folder: nothing of ours can be in one either
        return removed
    for p in tmp.glob(f"{prefix}*-*"):
        pid_text = p.name[len(prefix):].split("-", 1)[0]
        if not (pid_text.isascii() and pid_text.isdigit()):
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # its owner is alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(str(p))
        except OSError:
            pass
    return removed


def encode_schedule(schedule: Any, evict: Mapping[int, Sequence[str]] | None = None,
                    show_output: bool | None = None) -> bytes:
    """The launcher's schedule file for a ``probes.base.Schedule`` (targets, order, env,
    timeout, output); ``show_output`` overrides the schedule's (a tracer's launcher must not
    let targets print)."""
    show = schedule.show_output if show_output is None else show_output
    toks: list[str] = [
        "LB1",
        str(max(1, round(schedule.timeout_s * 1000))),
        "1" if show else "0",
        str(len(schedule.targets)),
    ]
    for i, t in enumerate(schedule.targets):
        argv = [t.path, *t.args]
        toks.append(str(len(argv)))
        toks.extend(argv)
        ev = list((evict or {}).get(i, ()))
        toks.append(str(len(ev)))
        toks.extend(ev)
    toks.append(str(len(schedule.env)))
    toks.extend(f"{k}={v}" for k, v in schedule.env.items())
    toks.append(str(len(schedule.order)))
    toks.extend(str(t) for t in schedule.order)
    for tok in toks:
        if "\0" in tok:
            raise ValueError(f"argument contains a NUL byte: {tok!r}")
    # os.fsencode: the bytes of a path, argument or variable that is not UTF-8 (which Python
    # holds as surrogate escapes) reach the target exactly as the user gave them.
    return b"".join(os.fsencode(tok) + b"\0" for tok in toks)


def parse_line(line: str) -> tuple[Any, ...]:
    f = line.rstrip("\n").split("\t")
    if len(f) != 12:
        raise ValueError(f"launcher output line has {len(f)} fields, expected 12: {line!r}")
    return (
        int(f[0]),
        int(f[1]),
        int(f[2]),
        int(f[3]),
        int(f[4]),
        int(f[5]),
        int(f[6]),
        int(f[7]),
        int(f[8]) if f[8] else None,
        int(f[9]) if f[9] else None,
        int(f[10]),
        int(f[11]),
    )


def _memfd(name: str) -> tuple[int, str]:
    """An anonymous in-memory file and the path the launcher opens it by: no name on disk, so
    nothing is left behind whatever ends loadbench. ``/proc/<our pid>/fd/N`` rather than the
    child's own fd keeps the descriptor out of the launcher (and of the targets it execs)."""
    fd = os.memfd_create(f"loadbench-{name}", os.MFD_CLOEXEC)
    return fd, f"/proc/{os.getpid()}/fd/{fd}"


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def run(
    launcher: str,
    schedule: Any,
    *,
    evict: Mapping[int, Sequence[str]] | None = None,
    stop: Any = None,
    prefix: Sequence[str] = (),
    show_output: bool | None = None,
    started: Any = None,
) -> Iterator[tuple[Any, ...]]:
    """Run one batch (a ``probes.base.Schedule``); yield raw result tuples once the launcher
    has finished the batch.

    ``prefix`` wraps the launcher (e.g. ``perf record ... --``); the wrapping tool gets SIGTERM
    if loadbench dies (perf then ends its workload, the launcher, which stops after the launch in
    flight). ``stop`` (a StopFlag) gets a hook that forwards a stop request to the launcher as
    SIGTERM; it then finishes the launch in flight and writes every finished launch. Schedule,
    results and the launcher's own messages travel through in-memory files (see ``_memfd``), so
    a target allowed to print (``show_output``: loadbench's stdout and stderr) cannot mix into
    them and a killed loadbench leaves no file behind. ``started(proc)`` is called with the
    process once it runs.
    """
    if stop is not None and stop.requested:
        return  # a stop that came before the batch: launch nothing
    cleanup_stale()  # temp files of loadbench versions that used named ones
    fds: list[int] = []
    proc = None
    hook = None
    try:
        sfd, sched = _memfd("schedule")
        fds.append(sfd)
        rfd, results = _memfd("results")
        fds.append(rfd)
        efd, errors = _memfd("launcher-errors")
        fds.append(efd)
        os.write(sfd, encode_schedule(schedule, evict, show_output))
        shown = schedule.show_output if show_output is None else show_output
        # Shown output goes to loadbench's own stdout and stderr; the launcher's messages go
        # to their memfd either way (its stderr is the targets').
        proc = _proc.start([*prefix, launcher, sched, results, errors],
                           stdout=None if shown else subprocess.DEVNULL,
                           stderr=None if shown else efd,
                           die_with_parent=signal.SIGTERM if prefix else None)
        if started is not None:
            started(proc)
        if stop is not None:
            p = proc

            def hook() -> None:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)

            stop.add_hook(hook)
        rc = proc.wait()
        stopped = stop is not None and stop.requested
        if rc != 0 and not stopped:
            tail = _read_fd(efd).decode(errors="replace").strip()[-300:]
            who = os.path.basename(prefix[0]) if prefix else "launcher"
            raise _proc.ToolError(f"{who} exited with {rc}: {tail}")
        # After a stop request the launcher has written every launch it finished, even when
        # the wrapping tool (perf) exits with the signal's status.
        lines = _read_fd(rfd).decode("utf-8").splitlines()
        for line in lines:
            yield parse_line(line)
    finally:
        if stop is not None and hook is not None:
            stop.remove_hook(hook)
        if proc is not None and proc.poll() is None:
            _proc.stop(proc)
        for fd in fds:
            os.close(fd)
