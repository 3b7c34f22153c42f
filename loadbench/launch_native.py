"""Build and drive the native launcher (``launcher.c``) that measures launches on Linux.

The launcher is compiled once per C compiler and source digest into loadbench's cache (static
when the C library allows it, so its own pre-exec footprint -- which Linux folds into every
child's ru_maxrss -- stays a few hundred KiB). ``run`` streams its per-launch lines back as raw
tuples in ``launch.FIELDS`` order, so an interrupted batch keeps every finished launch.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from loadbench import _proc

SOURCE = Path(__file__).resolve().parent / "launcher.c"


class LauncherUnavailable(RuntimeError):
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
    for flags in (["-O2", "-static"], ["-O2"]):
        try:
            _proc.run([cc, *flags, "-o", str(partial), str(SOURCE)], timeout=120)
            os.replace(partial, dest)
            return str(dest)
        except _proc.ToolError as e:
            errors.append(str(e))
    raise LauncherUnavailable(f"could not compile the native launcher: {errors[-1]}")


def encode_schedule(
    argvs: Sequence[Sequence[str]],
    order: Sequence[int],
    env: Mapping[str, str],
    timeout_s: float,
    show_output: bool,
    evict: Mapping[int, Sequence[str]] | None,
) -> bytes:
    toks: list[str] = [
        "LB1",
        str(max(1, round(timeout_s * 1000))),
        "1" if show_output else "0",
        str(len(argvs)),
    ]
    for i, argv in enumerate(argvs):
        toks.append(str(len(argv)))
        toks.extend(argv)
        ev = list((evict or {}).get(i, ()))
        toks.append(str(len(ev)))
        toks.extend(ev)
    toks.append(str(len(env)))
    toks.extend(f"{k}={v}" for k, v in env.items())
    toks.append(str(len(order)))
    toks.extend(str(t) for t in order)
    for t in toks:
        if "\0" in t:
            raise ValueError(f"argument contains a NUL byte: {t!r}")
    return b"".join(t.encode() + b"\0" for t in toks)


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


def run(
    launcher: str,
    argvs: Sequence[Sequence[str]],
    order: Sequence[int],
    env: Mapping[str, str],
    timeout_s: float,
    show_output: bool,
    evict: Mapping[int, Sequence[str]] | None = None,
    stop: Any = None,
    prefix: Sequence[str] = (),
) -> Iterator[tuple[Any, ...]]:
    """Run one batch; yield raw result tuples as the launcher reports them.

    ``prefix`` wraps the launcher (e.g. ``perf record ... --``). ``stop`` (a StopFlag) gets a
    hook that forwards a stop request to the launcher as SIGTERM.
    """
    fd, sched = tempfile.mkstemp(prefix="loadbench-schedule-", suffix=".bin")
    proc = None
    hook = None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encode_schedule(argvs, order, env, timeout_s, show_output, evict))
        proc = _proc.start([*prefix, launcher, sched])
        if stop is not None:
            p = proc

            def hook() -> None:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)

            stop.add_hook(hook)
        assert proc.stdout is not None
        for raw in proc.stdout:
            yield parse_line(raw.decode())
        rc = proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if rc != 0:
            raise _proc.ToolError(f"launcher exited with {rc}: {err.strip()[-300:]}")
    finally:
        if stop is not None and hook is not None:
            stop.remove_hook(hook)
        if proc is not None and proc.poll() is None:
            _proc.stop(proc)
        if proc is not None:
            for s in (proc.stdout, proc.stderr):
                if s is not None:
                    s.close()
        try:
            os.unlink(sched)
        except FileNotFoundError:
            pass
