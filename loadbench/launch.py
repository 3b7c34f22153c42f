"""The Python launcher: posix_spawn + wait4 per launch, nothing else.

On Linux the native launcher (``launcher.c``, vfork + execve + wait4) is the instrument; this
module is its fallback when no C compiler exists, and the launcher on other POSIX systems.

Why posix_spawn: glibc implements it with ``clone(CLONE_VM | CLONE_VFORK)``, so the child shares
the parent's memory until ``execve`` and no page tables are copied. A ``fork`` child instead
copies the parent's page tables and then takes copy-on-write faults that are charged to the
*child's* rusage before exec: the fault count would depend on the size of the launching process,
not on the binary. With posix_spawn the child's own rusage (``wait4``, never RUSAGE_CHILDREN)
holds what exec and the binary cost, plus the handful of faults glibc's spawn helper takes on
its own freshly mapped stack between clone and exec (1-2; the native launcher's vfork child
takes none: measured and documented in the README).

This module imports only the standard library's smallest pieces and does no per-launch work that
is not measurement: argv, environment and file actions are built once per batch; the clock is
read just before ``posix_spawn`` and just after ``wait4`` returns. A per-launch timeout is an
interval timer whose SIGALRM handler kills the child's process group (armed and disarmed
outside the timed span).

It runs in-process (``run_batch``) or as its own small process (``python -I -S launch.py``) so
that tracing probes (perf) can record exactly the launcher and the targets it starts. In that
mode it reads a JSON schedule from argv[1] and writes one tab-separated line per launch.
"""

import os
import signal
import sys
import time

# Raw result of one launch, in this order (kept a plain tuple so the loop allocates little).
FIELDS = (
    "target",
    "status",
    "wall_ns",
    "user_ns",
    "sys_ns",
    "faults_minor",
    "faults_major",
    "max_rss_bytes",
    "exit_code",
    "signal",
    "start_ns",
    "pid",
)

# Status codes; the model maps them to LaunchStatus values.
OK, EXIT_NONZERO, SIGNALED, TIMEOUT, SPAWN_FAILED = range(5)

_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere


class _Alarm:
    """SIGALRM handler state: the process group to kill when the per-launch timer fires."""

    pid = 0
    fired = False

    @classmethod
    def handler(cls, signum, frame):
        if cls.pid:
            cls.fired = True
            # The target leads its own process group (setpgroup=0): kill the whole group,
            # so a script's children do not outlive a timed-out launch.
            try:
                os.killpg(cls.pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(cls.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def evict(paths):
    """Drop ``paths`` from the page cache (POSIX_FADV_DONTNEED); no root needed."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def run_batch(schedule, evict_paths=None, emit=None, stop=None):
    """Launch ``schedule.targets[schedule.order[i]]`` for each i; return a list of raw result
    tuples (FIELDS).

    ``schedule`` is a ``probes.base.Schedule`` or anything with its attributes: ``targets``
    (each with ``path`` and ``args``), ``order``, ``env``, ``timeout_s``, ``show_output``.
    ``evict_paths`` optionally
    maps a target index to the files to evict from the page cache before each of its launches
    (cold-cache runs). ``emit``, when given, is called with each result as it is produced.
    ``stop`` is an optional object with a ``requested`` attribute; the batch ends before the
    next launch once it is true (set by a signal handler), so an interruption never kills a
    launch.
    Targets run in their own process group: a terminal's Ctrl-C reaches loadbench, not them.
    """
    import gc

    spawn = os.posix_spawn
    wait4 = os.wait4
    clock = time.monotonic_ns
    setitimer = signal.setitimer
    itimer = signal.ITIMER_REAL
    argvs = [[t.path, *t.args] for t in schedule.targets]
    order = schedule.order
    env = dict(schedule.env)
    timeout_s = schedule.timeout_s
    show_output = schedule.show_output
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = (
        []
        if show_output
        else [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2),
        ]
    )
    # Python ignores SIGPIPE/SIGXFSZ; ignored signals survive exec, so reset them for the target.
    sigdef = tuple(
        s
        for s in (getattr(signal, "SIGPIPE", None), getattr(signal, "SIGXFSZ", None))
        if s is not None
    )
    old_handler = signal.signal(signal.SIGALRM, _Alarm.handler)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside the timed span would be charged to the target
    results = []
    try:
        for t in order:
            if stop is not None and stop.requested:
                break
            argv = argvs[t]
            if evict_paths and t in evict_paths:
                evict(evict_paths[t])
            _Alarm.fired = False
            _Alarm.pid = 0
            setitimer(itimer, timeout_s)
            t0 = clock()
            try:
                pid = spawn(argv[0], argv, env, file_actions=actions, setsigdef=sigdef, setpgroup=0)
            except OSError as e:
                setitimer(itimer, 0)
                r = (t, SPAWN_FAILED, clock() - t0, 0, 0, 0, 0, 0, e.errno, None, t0, 0)
                results.append(r)
                if emit is not None:
                    emit(r)
                continue
            _Alarm.pid = pid
            _, status, ru = wait4(pid, 0)
            t1 = clock()
            setitimer(itimer, 0)
            _Alarm.pid = 0
            if _Alarm.fired:
                st, code, sig = TIMEOUT, None, signal.SIGKILL
            elif os.WIFSIGNALED(status):
                st, code, sig = SIGNALED, None, os.WTERMSIG(status)
            else:
                code = os.WEXITSTATUS(status)
                st, sig = (OK if code == 0 else EXIT_NONZERO), None
            r = (
                t,
                st,
                t1 - t0,
                round(ru.ru_utime * 1e9),
                round(ru.ru_stime * 1e9),
                ru.ru_minflt,
                ru.ru_majflt,
                ru.ru_maxrss * _RSS_UNIT,
                code,
                sig,
                t0,
                pid,
            )
            results.append(r)
            if emit is not None:
                emit(r)
    finally:
        setitimer(itimer, 0)
        _Alarm.pid = 0
        signal.signal(signal.SIGALRM, old_handler)
        if gc_was_enabled:
            gc.enable()
        os.close(devnull)
    return results


def _main(argv):
    """Subprocess mode: ``launch.py SCHEDULE.json`` -> one TSV line per launch on stdout."""
    import json

    with open(argv[1]) as f:
        spec = json.load(f)
    evict_paths = {int(k): v for k, v in (spec.get("evict") or {}).items()}
    out = sys.stdout
    # Lines are written at the end of the batch: no per-launch write between launches.
    from types import SimpleNamespace

    targets = [SimpleNamespace(path=argv[0], args=tuple(argv[1:])) for argv in spec["targets"]]
    schedule = SimpleNamespace(targets=targets, order=spec["order"], env=spec["env"],
                               timeout_s=spec.get("timeout_s", 10.0),
                               show_output=spec.get("show_output", False))
    results = run_batch(schedule, evict_paths)
    for r in results:
        out.write("\t".join("" if v is None else str(v) for v in r))
        out.write("\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
