"""Schedules launches and persists them as they happen.

Warm-up launches come first and are stored apart. The measured launches are laid out in rounds:
each round holds every binary once, in an order shuffled by a seeded generator, so drift in the
machine hits all binaries alike and the schedule can be reproduced from the seed. Launches go to
the probe in batches; after each batch the whole record is written atomically, so an interrupted
run keeps every finished launch. SIGINT/SIGTERM end the run after the launch in flight (targets
run in their own process group, so a terminal's Ctrl-C does not kill them mid-launch).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import itertools
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadbench import __version__, pagecache, storage
from loadbench.errors import LoadbenchError, OutputError
from loadbench.model import (
    BinaryRef,
    ColumnsBuilder,
    LaunchStatus,
    Measurement,
    Record,
    RunSpec,
    Sample,
    SampleColumns,
    format_cpus,
)
from loadbench.probes import UnknownProbe, probe_class
from loadbench.probes.base import COLD_CACHE, Probe, ProbeUnavailable, Schedule, StopFlag, Target

DEFAULT_ENV: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}
# warm: page cache normalised, then warm; as-is: as the system holds the files; cold: evicted
# before every launch
CACHE_MODES = ("warm", "as-is", "cold")
# The shortest per-launch timeout either launcher enforces as given: the native one arms a
# timer in microseconds, the Python one cannot kill a target before posix_spawn has returned.
MIN_TIMEOUT_S = 0.001


class RunError(LoadbenchError, RuntimeError):
    """The run cannot start or cannot go on; ``str()`` is a one-line message for the user."""


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    path: str
    args: tuple[str, ...] = ()
    build: Mapping[str, Any] | None = None
    command: str | None = None  # the command line as the user gave it, when not a bare path


def target_from_command(text: str, extra_args: Sequence[str] = ()) -> TargetSpec:
    """A target from what a user typed, as hyperfine users expect: an existing file is a
    binary; otherwise text with blanks is a command line, split as a POSIX shell splits words
    (no shell runs it), and a program name without a slash is looked up on PATH. The variant
    is named by the command line, or by the file name of a bare binary; ``extra_args``
    (``--arg``) follow the command's own arguments."""
    import shlex
    import shutil

    if os.path.exists(text) or not any(c.isspace() for c in text):
        parts = [text]
    else:
        try:
            parts = shlex.split(text)
        except ValueError as e:
            raise RunError(f"{text!r}: not a command line ({e}); quote it as a shell "
                           "would") from None
        if not parts:
            raise RunError(f"{text!r}: an empty command; pass a binary or a command line")
    prog = parts[0]
    path = prog
    if "/" not in prog and not os.path.exists(prog):
        found = shutil.which(prog)
        if found is None:
            raise RunError(f"{prog}: no such file, and not a program on PATH; give its path")
        path = found
    name = text if len(parts) > 1 else Path(prog).name
    command = shlex.join([*parts, *extra_args]) if extra_args else text
    return TargetSpec(name=name, path=path, args=(*parts[1:], *extra_args), command=command)


@dataclass(frozen=True, slots=True)
class RunOptions:
    runs: int = 100
    warmup: int = 5
    seed: int | None = None
    timeout_s: float = 10.0
    probe: str = "rusage"
    probe_settings: Mapping[str, Any] = field(default_factory=dict)
    cache: str = "warm"
    show_output: bool = False
    batch_launches: int = 250
    env: Mapping[str, str] | None = None
    calibrate: bool = True
    calibrate_launches: int = 200
    null_binary: str | None = None  # what calibration launches; default: the floor binary
    target_ci_pct: float | None = None  # stop when every median CI half-width is below this
    min_runs: int = 30  # with target_ci_pct: never stop before this many launches each
    max_seconds: float | None = None  # budget for the measured launches
    affinity: tuple[int, ...] | None = None  # pin the launcher and its targets to these CPUs
    sessions: int = 1  # the rounds are split into this many sessions (cache normalised, warm-up)


Progress = Callable[[int, int, str], None]


def validate_target(path: str) -> str:
    """Resolve and check a binary path; raise RunError with what is wrong and what to do."""
    p = Path(path)
    if not p.exists():
        raise RunError(f"{path}: no such file; check the path")
    if p.is_dir():
        raise RunError(f"{path}: is a directory; pass the binary inside it")
    if not p.is_file():
        raise RunError(f"{path}: not a regular file")
    if not os.access(p, os.X_OK):
        if _on_noexec(p):
            raise RunError(f"{path}: on a filesystem mounted noexec, where nothing may be "
                           "executed; copy it to another filesystem (or remount without "
                           "noexec)")
        raise RunError(f"{path}: not executable; chmod +x it")
    if p.stat().st_size == 0:
        raise RunError(f"{path}: empty file; rebuild it")
    return str(p.resolve())


def _on_noexec(p: Path) -> bool:
    st_noexec = getattr(os, "ST_NOEXEC", 8)
    try:
        return bool(os.statvfs(p).f_flag & st_noexec)
    except (OSError, AttributeError):
        return False


def binary_refs(targets: Sequence[TargetSpec]) -> list[BinaryRef]:
    """What each target is: its sha256 and the inspector's summary (parsed in a child process
    with memory and time limits: a hostile binary costs its summary, not the run)."""
    from loadbench import inspector
    from loadbench.builder import sha256_file

    refs = []
    for t, info in zip(targets, inspector.inspect_isolated([t.path for t in targets]),
                       strict=True):
        summary = ({"error": str(info)} if isinstance(info, inspector.InspectError)
                   else inspector.summary(info))
        sha = sha256_file(t.path)
        refs.append(BinaryRef(path=t.path, sha256=sha, summary=summary,
                              build=t.build if t.build is not None else _built_by_us(t.path, sha)))
    return refs


def _built_by_us(path: str, sha256: str) -> Mapping[str, Any] | None:
    """The build manifest entry of a binary that ``loadbench build`` put here (its folder's
    manifest.json lists the same bytes), so ``run`` on built binaries keeps how they were
    built: the alignment of a sweep, the Go release."""
    import json

    try:
        data = json.loads((Path(path).parent / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for b in data.get("binaries", []) if isinstance(data, dict) else []:
        if isinstance(b, dict) and b.get("sha256") == sha256:
            return b
    return None


def make_probe(name: str, settings: Mapping[str, Any], stop: StopFlag,
               cache: str = "warm") -> Probe:
    try:
        cls = probe_class(name)
    except UnknownProbe:
        from loadbench.probes import available_names

        raise RunError(
            f"unknown probe {name!r}; choose one of: {', '.join(available_names())}"
        ) from None
    avail = cls.availability()
    if not avail.ok:
        raise RunError(f"probe {name} cannot run here: {avail.reason}")
    if cache == "cold" and COLD_CACHE not in cls.capabilities:
        raise RunError(f"probe {name} cannot evict binaries from the page cache: leave out "
                       "--cache cold, or measure cold starts with a probe that can "
                       "(rusage or perf on Linux)")
    unknown = sorted(set(settings) - set(cls.options))
    if unknown:
        have = "; ".join(f"{k}: {v}" for k, v in cls.options.items()) or "none"
        raise RunError(f"probe {name} has no setting {unknown[0]!r}; its settings: {have}")
    try:
        return cls(stop=stop, **dict(settings))
    except (ProbeUnavailable, ValueError, TypeError) as e:
        raise RunError(f"probe {name}: {e}") from None


def schedule_rounds(n_targets: int, runs: int, seed: int) -> list[int]:
    """``runs`` rounds; each holds every target once in a seeded shuffled order."""
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(runs):
        rnd = list(range(n_targets))
        rng.shuffle(rnd)
        order.extend(rnd)
    return order


def session_rounds(runs: int, sessions: int) -> list[int]:
    """How many rounds each session holds: as even as possible, the first ones one longer."""
    return [runs // sessions + (k < runs % sessions) for k in range(sessions)]


def session_schedule(n_targets: int, runs: int, seed: int, sessions: int) -> list[list[int]]:
    """The launch order of each session: its own rounds, shuffled by its own seed (session 0
    uses ``seed`` itself, so one session is the schedule of a run without sessions)."""
    return [list(session_order(n_targets, r, _session_seed(seed, k)))
            for k, r in enumerate(session_rounds(runs, sessions))]


def _session_seed(seed: int, k: int) -> int:
    return seed if k == 0 else seed * 1_000_003 + k


def session_order(n_targets: int, rounds: int, seed: int, skip: int = 0) -> Iterator[int]:
    """One session's launch order, made as it is consumed (``schedule_rounds`` without the
    list: a run of 10^12 launches must not build one), from launch ``skip`` on."""
    rng = random.Random(seed)
    base = list(range(n_targets))
    done = 0
    for _ in range(rounds):
        rnd = base[:]
        rng.shuffle(rnd)
        if done + n_targets <= skip:
            done += n_targets
            continue
        yield from rnd[max(0, skip - done):]
        done += n_targets


def null_binary() -> str | None:
    """The floor binary for calibration: built (cached) with the C compiler, else `true`."""
    import shutil
    import tempfile

    from loadbench import builder

    if builder.find_cc():
        try:
            with tempfile.TemporaryDirectory(prefix="loadbench-null-") as d:
                m = builder.build([builder.variant("floor")], d)
                key = m.built[0].sha256[:16]
                dest = builder.cache_dir() / "null" / key / "floor"
                dest.parent.mkdir(parents=True, exist_ok=True)
                if not dest.exists():
                    shutil.copy2(m.built[0].path, dest)
                return str(dest)
        except (builder.BuildError, OSError):
            pass
    return shutil.which("true")


# What ends a run after the launch in flight: Ctrl-C, kill, and a closed terminal (SIGHUP, which
# would otherwise end loadbench on the spot and leave the record saying "running").
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, n))


class StopOnSignals:
    """Turns SIGINT/SIGTERM/SIGHUP into a stop request for the duration of a run (main thread
    only)."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self.received: str | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum).name
        self.stop.request(self.received)

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                # A signal loadbench was started with ignored stays ignored: `nohup` (SIGHUP) and
                # a shell's background job (SIGINT) ask for exactly that.
                if signal.getsignal(s) is not signal.SIG_IGN:
                    self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"


def parse_cpus(text: str) -> tuple[int, ...]:
    """``--affinity`` text ("1", "0,2", "0-3", "0-1,3") as sorted CPU numbers this process may
    use; RunError with the allowed set otherwise."""
    if not hasattr(os, "sched_setaffinity"):
        raise RunError("--affinity needs Linux (sched_setaffinity); leave it out here")
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        lo, dash, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise RunError(f"--affinity {text!r}: expected CPU numbers like 1, 0,2 or 0-3") \
                from None
        if first < 0 or last < first:
            raise RunError(f"--affinity {text!r}: {part!r} is not a CPU range")
        allowed = os.sched_getaffinity(0)
        if last > max(allowed):  # checked before the range is built: 0-99999999999 is 10^11
            raise RunError(f"--affinity {text!r}: CPU {max(first, max(allowed) + 1)} is not "
                           f"available; this process may use {format_cpus(allowed)}")
        cpus.update(range(first, last + 1))
    allowed = os.sched_getaffinity(0)
    if not cpus <= allowed:
        raise RunError(f"--affinity {text!r}: CPU {min(cpus - allowed)} is not available; this "
                       f"process may use {format_cpus(allowed)}")
    return tuple(sorted(cpus))


@contextlib.contextmanager
def _pinned(cpus: tuple[int, ...] | None) -> Iterator[None]:
    """Pin this process, and so every process it starts (launcher, targets, perf), to ``cpus``
    for the block; the previous mask comes back on every exit path."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as e:
        raise RunError(f"cannot pin to CPUs {format_cpus(cpus)}: {e.strerror}") from None
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _check_options(options: RunOptions) -> None:
    if options.runs < 1:
        raise RunError(f"--runs must be at least 1 (got {options.runs})")
    if options.warmup < 0:
        raise RunError(f"--warmup must be 0 or more (got {options.warmup})")
    if not options.timeout_s >= MIN_TIMEOUT_S:
        raise RunError(f"--timeout must be at least {MIN_TIMEOUT_S:g} s (got "
                       f"{options.timeout_s:g}): the launchers' timers cannot enforce less")
    if options.cache not in CACHE_MODES:
        raise RunError(f"--cache must be one of {', '.join(CACHE_MODES)} (got {options.cache!r})")
    if options.sessions < 1:
        raise RunError(f"--sessions must be at least 1 (got {options.sessions})")
    if options.sessions > options.runs:
        raise RunError(f"--sessions {options.sessions} is more than --runs {options.runs}: each "
                       "session needs at least one round; use fewer sessions or more runs")


def _exists_error(record_path: Path) -> RunError:
    return RunError(f"{record_path} exists already; choose another --out, remove it, or "
                    "continue an incomplete run with --resume")


def _prepare_out(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{out}: cannot create the output directory ({e.strerror})") from None
    record_path = out / "record.json"
    if record_path.exists():
        raise _exists_error(record_path)
    return record_path


def _create_exclusive(record_path: Path, record: Record) -> None:
    """Create the record file with O_EXCL, already holding a valid record: two runs aimed at
    the same directory never write into the same record, and no reader ever sees it empty."""
    import json

    data = (json.dumps(record.to_json(), separators=(",", ":"), allow_nan=False) + "\n").encode()
    try:
        fd = os.open(record_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise _exists_error(record_path) from None
    except OSError as e:
        raise RunError(f"{record_path.parent}: cannot write there ({e.strerror}); "
                       "choose another --out") from None
    try:
        os.write(fd, data)
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        record_path.unlink(missing_ok=True)
        raise RunError(f"{record_path}: cannot write the record ({e.strerror}); free space or "
                       "choose another --out") from None
    os.close(fd)


def run(
    targets: Sequence[TargetSpec],
    out_dir: str | os.PathLike[str],
    options: RunOptions,
    *,
    argv: Sequence[str] = (),
    progress: Progress | None = None,
) -> Record:
    """Measure ``targets`` and write ``out_dir/record.json`` as the run goes; return the record."""
    if not targets:
        raise RunError("no binaries to run; pass at least one path")
    _check_options(options)
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise RunError("two binaries have the same name; give each a unique --name")
    targets = [replace(t, path=validate_target(t.path)) for t in targets]
    stop = StopFlag()
    probe = make_probe(options.probe, options.probe_settings, stop, options.cache)
    record_path = _prepare_out(Path(out_dir))
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    env = dict(DEFAULT_ENV if options.env is None else options.env)
    spec = RunSpec(runs=options.runs, warmup=options.warmup, seed=seed,
                   timeout_s=options.timeout_s, env=env, argv=tuple(argv),
                   cache=options.cache, target_ci_pct=options.target_ci_pct,
                   affinity=options.affinity, sessions=options.sessions,
                   cache_method=pagecache.METHOD if options.cache == "warm" else None)
    refs = binary_refs(targets)
    execution = _Execution(targets=list(targets), refs=refs, record_path=record_path, spec=spec,
                       options=options, probe=probe, stop=stop, run_id=new_run_id(),
                       created=_now_utc())
    with storage.record_lock(record_path):
        # A log beside no record is a dead run's, not ours: it must not be appended to.
        storage.log_path(record_path).unlink(missing_ok=True)
        _create_exclusive(record_path, execution.record(header=True))
        return execution.execute(progress)


def resume(out_dir: str | os.PathLike[str], *, argv: Sequence[str] = (),
           progress: Progress | None = None, calibrate: bool = True,
           max_seconds: float | None = None) -> Record:
    """Continue an incomplete record in ``out_dir`` to its requested number of launches.

    The schedule is regenerated from the stored seed and continues where the record stops; the
    binaries must be unchanged (same sha256). A fresh warm-up is run first (this is a new
    process on a machine that may have cooled down) and stored with the other warm-ups.
    """

    record_path = Path(out_dir)
    if record_path.is_dir():
        record_path = record_path / "record.json"
    if not record_path.exists():
        raise RunError(f"{record_path}: no such record file; give the folder of the run to "
                       "continue")
    with storage.record_lock(record_path):
        return _resume_locked(record_path, argv, progress, calibrate, max_seconds)


def _resume_locked(record_path: Path, argv: Sequence[str], progress: Progress | None,
                   calibrate: bool, max_seconds: float | None) -> Record:
    from loadbench.builder import sha256_file

    rec = storage.load_record(record_path, for_append=True)
    if rec.complete:
        raise RunError(f"{record_path}: the run is complete already ({rec.end_reason}); "
                       "nothing to resume")
    targets = []
    for m in rec.measurements:
        path = validate_target(m.binary.path)
        if sha256_file(path) != m.binary.sha256:
            raise RunError(f"{m.name}: {path} changed since the run started (sha256 differs); "
                           "a resumed run must launch the same binaries")
        targets.append(TargetSpec(m.name, path, m.argv, m.binary.build, m.command))
    try:
        options_of = probe_class(rec.probe.name).options
    except UnknownProbe:
        options_of = {}
    # the user's options come back; the facts the probe recorded about itself do not
    settings = {k: v for k, v in rec.probe.settings.items() if k in options_of}
    options = RunOptions(runs=rec.spec.runs, warmup=rec.spec.warmup, seed=rec.spec.seed,
                         timeout_s=rec.spec.timeout_s, probe=rec.probe.name,
                         probe_settings=settings, cache=rec.spec.cache, env=dict(rec.spec.env),
                         calibrate=calibrate, target_ci_pct=rec.spec.target_ci_pct,
                         affinity=(None if rec.spec.affinity is None else
                                   parse_cpus(format_cpus(rec.spec.affinity))),
                         sessions=rec.spec.sessions, max_seconds=max_seconds)
    _check_options(options)
    stop = StopFlag()
    probe = make_probe(options.probe, settings, stop, options.cache)
    # One record, one instrument: samples from a changed probe or launcher would mix two.
    now = probe.describe()
    changed = now.version != rec.probe.version or any(
        rec.probe.settings.get(k) != now.settings.get(k)
        for k in ("launcher_spawn", "launcher_source_sha256", "wine"))
    if changed:
        probe.close()
        raise RunError(f"the {rec.probe.name} probe or its launcher changed since the run started "
                       "(loadbench upgraded?); a resumed run must measure with the same "
                       "instrument: start a new run")
    execution = _Execution(targets=targets, refs=[m.binary for m in rec.measurements],
                       record_path=record_path, spec=rec.spec, options=options, probe=probe,
                       stop=stop, run_id=rec.run_id, created=rec.created_utc,
                       host=dict(rec.host), resumed_from=rec)
    return execution.execute(progress)


class _Execution:
    """One execution of a schedule (fresh or resumed) that persists after every batch."""

    def __init__(self, *, targets: list[TargetSpec], refs: list[BinaryRef], record_path: Path,
                 spec: RunSpec, options: RunOptions, probe: Probe, stop: StopFlag, run_id: str,
                 created: str, host: dict[str, Any] | None = None,
                 resumed_from: Record | None = None) -> None:
        from loadbench import host as host_mod

        self.targets, self.refs, self.record_path = targets, refs, record_path
        self.spec, self.options, self.probe, self.stop = spec, options, probe, stop
        self.run_id, self.created = run_id, created
        self.host = host if host is not None else host_mod.facts()
        # Samples live in columns, not one object per launch: a run of a million launches
        # stays small, and each batch is appended to the samples log instead of rewriting the
        # record (saving costs O(batch)).
        self.samples = [ColumnsBuilder() for _ in targets]
        self.warm = [ColumnsBuilder() for _ in targets]
        self.page_cache: list[list[Mapping[str, Any]]] = [[] for _ in targets]
        self.log = storage.log_path(record_path)
        self.resumes = 0
        if resumed_from is not None:
            for i, m in enumerate(resumed_from.measurements):
                self.samples[i] = ColumnsBuilder(m.columns)
                self.warm[i] = ColumnsBuilder(m.warmup_columns)
                self.page_cache[i] = list(m.page_cache)
            self.resumes = int(resumed_from.host.get("resumes", 0)) + 1
            self.host["resumes"] = self.resumes
            self.previous_overhead = dict(resumed_from.probe.overhead)
        else:
            self.previous_overhead = {}
        self.complete = False
        self.end_reason = "running"
        # Hypervisor steal while measuring: the whole session's and the worst batch's.
        self._steal_max = self.host.get("cpu_steal_pct_max_batch")
        self.sched_targets = tuple(Target(t.name, t.path, t.args) for t in targets)
        self._stat = [_file_identity(t.path) for t in targets]

    def record(self, *, header: bool = False) -> Record:
        """The whole record, or with ``header`` everything but the samples, which are then in
        the samples log named by the record."""
        empty = SampleColumns.empty()
        ms = tuple(Measurement(name=t.name, binary=r, argv=t.args,
                               samples=empty if header else s.build(),
                               warmup=empty if header else w.build(), page_cache=tuple(pc),
                               command=t.command)
                   for t, r, s, w, pc in zip(self.targets, self.refs, self.samples, self.warm,
                                             self.page_cache, strict=True))
        probe_info = self.probe.describe()
        if not probe_info.overhead and self.previous_overhead:
            probe_info = replace(probe_info, overhead=self.previous_overhead)
        return Record(run_id=self.run_id, created_utc=self.created, host=self.host,
                      probe=probe_info, spec=self.spec, measurements=ms,
                      complete=self.complete, end_reason=self.end_reason,
                      loadbench_version=__version__,
                      samples_log=self.log.name if header else None)

    def _append(self, done: list[tuple[int, Sample]], *, warmup: bool) -> None:
        """Keep a batch's launches and append them to the samples log, then rewrite the small
        header: after this, the batch survives a crash."""
        if not done:
            return
        for t, s in done:
            (self.warm if warmup else self.samples)[t].append(s)
        try:
            storage.append_batch(self.log, storage.batch_line([t for t, _ in done],
                                                               [s for _, s in done], warmup))
        except OutputError as e:
            raise RunError(f"{self.log}: cannot write the samples ({e.reason}); free space or "
                           "choose another --out") from None
        self.save()

    def _note_steal(self, start: tuple[int, int] | None, batch: tuple[int, int] | None,
                    now: tuple[int, int] | None) -> None:
        from loadbench.host import steal_pct

        whole, this = steal_pct(start, now), steal_pct(batch, now)
        if whole is not None:
            self.host["cpu_steal_pct"] = whole
        if this is not None and (self._steal_max is None or this > self._steal_max):
            self._steal_max = this
            self.host["cpu_steal_pct_max_batch"] = this

    def save(self, *, fold: bool = False) -> None:
        """Rewrite the header (small, every batch); with ``fold`` write the whole record and
        remove the samples log, as a run does when it ends."""
        try:
            storage.save_record(self.record_path, self.record(header=not fold))
            if fold:
                self.log.unlink(missing_ok=True)
        except OutputError as e:
            raise RunError(f"{self.record_path}: cannot write the record ({e.reason}); free "
                           "space or choose another --out") from None

    def _batches(self, order: Iterable[int], first: int) -> Iterator[tuple[int, tuple[int, ...]]]:
        # Whole rounds per batch, so every stopping check sees balanced samples; taken from the
        # order as they are needed.
        n = len(self.targets)
        size = max(1, self.options.batch_launches // n) * n
        it = iter(order)
        while chunk := tuple(itertools.islice(it, size)):
            yield first, chunk
            first += len(chunk)

    def _schedule(self, chunk: tuple[int, ...], first: int) -> Schedule:
        o = self.options
        # The probes know warm and cold; "as-is" is warm without the normalisation.
        return Schedule(targets=self.sched_targets, order=chunk, env=self.spec.env,
                        timeout_s=o.timeout_s, first_index=first,
                        cache="cold" if o.cache == "cold" else "warm",
                        show_output=o.show_output, settings=o.probe_settings)

    def _check_binaries(self, batch: int = 0) -> None:
        """Each binary is still the file it was and holds the bytes that were hashed: the
        path's inode, size, mtime and ctime (which a rewrite cannot restore), then its sha256.
        Raised before a batch's launches are kept, so a batch during which a binary changed
        is dropped (``batch`` launches), never recorded under the old hash."""
        from loadbench.builder import sha256_file

        dropped = (f"; the {batch} launches of the batch during which it changed were dropped"
                   if batch else "")
        for t, ref, before in zip(self.targets, self.refs, self._stat, strict=True):
            now = _file_identity(t.path)
            if now is None:
                raise RunError(f"{t.name}: {t.path} was deleted during the run{dropped}; the "
                               "record keeps the launches made before, marked incomplete")
            try:
                same = now == before and sha256_file(t.path) == ref.sha256
            except OSError:
                same = False
            if not same:
                raise RunError(f"{t.name}: {t.path} was replaced or modified during the run "
                               f"(its bytes are not the ones hashed){dropped}; the record keeps "
                               "the launches made before, marked incomplete")

    def _prepare_cache(self, session: int) -> None:
        """One page-cache state for every binary at the start of a session (``warm``), or the
        state as found, recorded (``as-is``); ``cold`` evicts before each launch anyway."""
        mode = self.options.cache
        if mode == "cold":
            return
        for i, t in enumerate(self.targets):
            if mode == "warm":
                try:
                    done = pagecache.normalise(t.path)
                except OSError as e:
                    self._check_binaries()  # deleted or replaced: say so, as between batches
                    raise RunError(f"{t.name}: {t.path}: cannot put it in the page cache "
                                   f"({e.strerror or e})") from None
                entry = None if done is None else done.to_json()
            else:
                lay = pagecache.layout(t.path)
                entry = None if lay is None else {"before": lay.to_json(), "after": None,
                                                  "pages_that_stayed": None}
            if entry is not None:
                self.page_cache[i].append({"session": session, **entry})

    def _warm_up(self, session: int, progress: Progress | None) -> None:
        n, w = len(self.targets), self.options.warmup
        if not w:
            return
        first = sum(len(x) for x in self.warm)
        for start, chunk in self._batches([i for _ in range(w) for i in range(n)], first):
            if self.stop.requested:
                return
            done = [(t, replace(s, session=session)) for t, s in
                    zip(chunk, self.probe.run(self._schedule(chunk, start)), strict=False)]
            self._check_binaries(len(done))
            self._append(done, warmup=True)

    def execute(self, progress: Progress | None) -> Record:
        o = self.options
        n = len(self.targets)
        try:
            with _pinned(self.spec.affinity), StopOnSignals(self.stop), self.probe:
                for note in self.probe.notes:
                    if progress:
                        progress(0, 0, f"note: {note}")
                if o.calibrate:
                    null = o.null_binary or null_binary()
                    if null:
                        if progress:
                            progress(0, 0, "calibrating: launching the null binary")
                        self.probe.calibrate(Target("null", null), self.spec.env,
                                             o.calibrate_launches, timeout_s=o.timeout_s)
                        self.probe.overhead["null_binary"] = null
                self.save()
                rounds = session_rounds(o.runs, self.spec.sessions)
                done = sum(len(s) for s in self.samples)
                total = o.runs * n
                t_start = time.monotonic()
                from loadbench import host as host_mod

                j_start = host_mod.cpu_jiffies()
                next_check = 0
                start_of = 0  # index of the session's first launch in the whole schedule
                for k, r in enumerate(rounds):
                    end_of = start_of + r * n
                    if done >= end_of:
                        start_of = end_of
                        continue  # finished before a resume
                    if self.stop.requested:
                        break
                    if progress and self.spec.sessions > 1:
                        progress(0, 0, f"session {k + 1} of {self.spec.sessions}: page cache, "
                                       "warm-up")
                    self._prepare_cache(k)
                    self._warm_up(k, progress)
                    stopped_early = False
                    order = session_order(n, r, _session_seed(self.spec.seed, k),
                                          skip=done - start_of)
                    for first, chunk in self._batches(order, done):
                        if self.stop.requested:
                            break
                        j_batch = host_mod.cpu_jiffies()
                        batch = [(t, replace(s, session=k)) for t, s in
                                 zip(chunk, self.probe.run(self._schedule(chunk, first)),
                                     strict=False)]
                        done += len(batch)
                        self._note_steal(j_start, j_batch, host_mod.cpu_jiffies())
                        self._check_binaries(len(batch))  # before the batch is kept
                        self._append(batch, warmup=False)
                        if progress:
                            progress(done, total, "measuring")
                        if o.max_seconds is not None and \
                                time.monotonic() - t_start > o.max_seconds:
                            self.end_reason = f"time budget of {o.max_seconds:g} s used"
                            stopped_early = True
                            break
                        # One session: the rule can look after every batch. Several: only when
                        # a session ends, so the CI it watches has every finished session in it.
                        last_batch = done >= end_of
                        # The check reads every launch so far: look when the run has grown by a
                        # tenth since the last look, so its cost stays linear in the run.
                        due = done >= next_check or last_batch
                        if o.target_ci_pct is not None and due and \
                                (self.spec.sessions == 1 or last_batch):
                            next_check = int(done * 1.1) + 1
                        if o.target_ci_pct is not None and due and \
                                (self.spec.sessions == 1 or last_batch) \
                                and _ci_reached(self.samples, o):
                            self.end_reason = f"target CI of {o.target_ci_pct:g}% reached"
                            stopped_early = True
                            break
                    start_of = end_of
                    if stopped_early:
                        break
                finished = done >= total or self.end_reason != "running"
                if self.stop.requested and not finished:
                    self.end_reason = f"interrupted by {self.stop.reason}"
                elif self.end_reason == "running":
                    # a stop that came after the last launch interrupted nothing
                    self.end_reason = "done"
                self.complete = finished
                if self.resumes and self.complete:
                    self.end_reason += f" (resumed {self.resumes}x)"
                self.save(fold=True)
        except RunError as e:
            self._mark_incomplete(str(e))
            raise
        except BaseException as e:
            self._mark_incomplete(f"stopped by {type(e).__name__}")
            raise
        rec = self.record()
        _check_failures(rec)
        return rec

    def _mark_incomplete(self, reason: str) -> None:
        self.complete = False
        self.end_reason = f"incomplete: {reason}"
        try:
            self.save(fold=True)
        except (OSError, RunError):
            pass  # the last header and every appended batch stay on disk


def _file_identity(path: str) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    # ctime too: an in-place rewrite can set the mtime back, not the ctime
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _ci_reached(samples: Sequence[ColumnsBuilder], options: RunOptions) -> bool:
    """Every binary's reported median CI (between sessions when there are several) is narrower
    than the target, after at least ``min_runs`` successful launches each."""
    from loadbench import stats

    assert options.target_ci_pct is not None
    for b in samples:
        cols = b.build().ok()
        if len(cols) < options.min_runs:
            return False
        walls = cols.np_column("wall_ns")
        ses = cols.np_column("session")
        if len(set(ses.tolist())) > 1:
            summ = stats.summarize(walls, sessions=ses)
            rel = (summ.ci95_high - summ.ci95_low) / 2 / summ.median if summ.median else 1.0
        else:
            rel = stats.ci_halfwidth_rel(walls)
        if rel * 100 >= options.target_ci_pct:
            return False
    return True


def describe_failure(s: Sample) -> str:
    """One phrase for why a launch failed: status with exit code, signal name or errno text."""
    import errno as errno_mod

    if s.status is LaunchStatus.SPAWN_FAILED:
        e = s.extra.get("errno")
        if isinstance(e, int):
            name = errno_mod.errorcode.get(e, str(e))
            hint = {errno_mod.ENOEXEC: ": not an executable for this machine (another "
                                       "architecture, a truncated binary, or a script without "
                                       "#!)",
                    errno_mod.ENOENT: ": the file or its interpreter is missing",
                    errno_mod.EACCES: ": permission denied"}.get(e, "")
            return f"could not start: {os.strerror(e)} ({name}){hint}"
        return "could not start"
    if s.status is LaunchStatus.TIMEOUT:
        return "killed at the timeout"
    if s.signal is not None:
        try:
            sig = signal.Signals(s.signal).name
        except ValueError:
            sig = str(s.signal)
        return f"killed by {sig}"
    if s.exit_code is not None and s.exit_code != 0:
        return f"exit code {s.exit_code}"
    return str(s.status)


def _check_failures(rec: Record) -> None:
    bad = [m for m in rec.measurements if len(m.samples) and not m.has_ok()]
    if bad:
        m = bad[0]
        raise RunError(f"{m.name}: every launch failed ({describe_failure(m.samples[-1])}); the "
                       "record keeps them, but no figure can be computed")
