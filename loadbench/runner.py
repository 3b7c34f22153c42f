"""Schedules launches and persists them as they happen.

Warm-up launches come first and are stored apart. The measured launches are laid out in rounds:
each round holds every binary once, in an order shuffled by a seeded generator, so drift in the
machine hits all binaries alike and the schedule can be reproduced from the seed. Launches go to
the probe in batches; after each batch the whole record is written atomically, so an interrupted
run keeps every finished launch. SIGINT/SIGTERM end the run after the launch in flight (targets
run in their own process group, so a terminal's Ctrl-C does not kill them mid-launch).
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadbench import __version__, storage
from loadbench.model import BinaryRef, Measurement, Record, RunSpec, Sample
from loadbench.probes import UnknownProbe, probe_class
from loadbench.probes.base import Probe, ProbeUnavailable, Schedule, StopFlag, Target

DEFAULT_ENV: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}


class RunError(RuntimeError):
    """The run cannot start or cannot go on; ``str()`` is a one-line message for the user."""


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    path: str
    args: tuple[str, ...] = ()
    build: Mapping[str, Any] | None = None


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
        raise RunError(f"{path}: not executable; chmod +x it")
    if p.stat().st_size == 0:
        raise RunError(f"{path}: empty file; rebuild it")
    return str(p.resolve())


def binary_ref(t: TargetSpec) -> BinaryRef:
    from loadbench import inspector
    from loadbench.builder import sha256_file

    try:
        summary: dict[str, Any] = inspector.summary(inspector.inspect_file(t.path))
    except inspector.InspectError as e:
        summary = {"error": str(e)}
    return BinaryRef(path=t.path, sha256=sha256_file(t.path), summary=summary, build=t.build)


def make_probe(name: str, settings: Mapping[str, Any], stop: StopFlag) -> Probe:
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


class _Signals:
    """Turns SIGINT/SIGTERM into a stop request for the duration of a run (main thread only)."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self.received: str | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum).name
        self.stop.request(self.received)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"


def run(
    targets: Sequence[TargetSpec],
    out_dir: str | os.PathLike[str],
    options: RunOptions,
    *,
    argv: Sequence[str] = (),
    progress: Progress | None = None,
) -> Record:
    """Measure ``targets`` and write ``out_dir/record.json`` as the run goes; return the record."""
    from loadbench import host

    if not targets:
        raise RunError("no binaries to run; pass at least one path")
    if options.runs < 1:
        raise RunError(f"--runs must be at least 1 (got {options.runs})")
    if options.warmup < 0:
        raise RunError(f"--warmup must be 0 or more (got {options.warmup})")
    if options.timeout_s <= 0:
        raise RunError(f"--timeout must be positive (got {options.timeout_s:g})")
    if options.cache not in ("warm", "cold"):
        raise RunError(f"--cache must be warm or cold (got {options.cache!r})")
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise RunError("two binaries have the same name; give each a unique --name")
    targets = [replace(t, path=validate_target(t.path)) for t in targets]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{out}: cannot create the output directory ({e.strerror})") from None
    record_path = out / "record.json"
    if record_path.exists():
        raise RunError(f"{record_path} exists already; choose another --out or remove it")
    if not os.access(out, os.W_OK):
        raise RunError(f"{out}: not writable; choose another --out")

    stop = StopFlag()
    probe = make_probe(options.probe, options.probe_settings, stop)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    env = dict(DEFAULT_ENV if options.env is None else options.env)
    spec = RunSpec(
        runs=options.runs,
        warmup=options.warmup,
        seed=seed,
        timeout_s=options.timeout_s,
        env=env,
        argv=tuple(argv),
        cache=options.cache,
        target_ci_pct=options.target_ci_pct,
    )
    refs = [binary_ref(t) for t in targets]
    sched_targets = tuple(Target(t.name, t.path, t.args) for t in targets)
    samples: list[list[Sample]] = [[] for _ in targets]
    warm: list[list[Sample]] = [[] for _ in targets]
    state = {"complete": False, "end_reason": "running"}
    facts = host.facts()
    run_id = new_run_id()
    created = _now_utc()

    def record() -> Record:
        ms = tuple(
            Measurement(name=t.name, binary=r, argv=t.args, samples=tuple(s), warmup=tuple(w))
            for t, r, s, w in zip(targets, refs, samples, warm, strict=True)
        )
        return Record(
            run_id=run_id,
            created_utc=created,
            host=facts,
            probe=probe.describe(),
            spec=spec,
            measurements=ms,
            complete=bool(state["complete"]),
            end_reason=str(state["end_reason"]),
            loadbench_version=__version__,
        )

    def save() -> None:
        try:
            storage.save_record(record_path, record())
        except OSError as e:
            raise RunError(
                f"{record_path}: cannot write the record ({e.strerror}); "
                "free space or choose another --out"
            ) from None

    def batches(order: Sequence[int], first: int) -> list[tuple[int, tuple[int, ...]]]:
        # Whole rounds per batch, so every stopping check sees balanced samples.
        size = max(1, options.batch_launches // len(targets)) * len(targets)
        return [(first + i, tuple(order[i : i + size])) for i in range(0, len(order), size)]

    with _Signals(stop), probe:
        if options.calibrate:
            null = options.null_binary or null_binary()
            if null:
                if progress:
                    progress(0, 0, "calibrating: launching the null binary")
                probe.calibrate(Target("null", null), env, options.calibrate_launches)
                probe.overhead["null_binary"] = null
        save()
        warm_order = [i for _ in range(options.warmup) for i in range(len(targets))]
        for first, chunk in batches(warm_order, 0):
            if stop.requested:
                break
            sched = Schedule(
                targets=sched_targets,
                order=chunk,
                env=env,
                timeout_s=options.timeout_s,
                first_index=first,
                cache=options.cache,
                show_output=options.show_output,
                settings=options.probe_settings,
            )
            for t, s in zip(chunk, probe.run(sched), strict=False):
                warm[t].append(s)
        order = schedule_rounds(len(targets), options.runs, seed)
        total = len(order)
        done = 0
        t_start = time.monotonic()
        for first, chunk in batches(order, 0):
            if stop.requested:
                break
            sched = Schedule(
                targets=sched_targets,
                order=chunk,
                env=env,
                timeout_s=options.timeout_s,
                first_index=first,
                cache=options.cache,
                show_output=options.show_output,
                settings=options.probe_settings,
            )
            for t, s in zip(chunk, probe.run(sched), strict=False):
                samples[t].append(s)
                done += 1
            save()
            if progress:
                progress(done, total, "measuring")
            if options.max_seconds is not None and time.monotonic() - t_start > options.max_seconds:
                state["end_reason"] = f"time budget of {options.max_seconds:g} s used"
                break
            if options.target_ci_pct is not None and _ci_reached(samples, options):
                state["end_reason"] = f"target CI of {options.target_ci_pct:g}% reached"
                break
        if stop.requested:
            state["end_reason"] = f"interrupted by {stop.reason}"
        elif state["end_reason"] == "running":
            state["end_reason"] = "done"
        state["complete"] = not stop.requested
        save()
    rec = record()
    _check_failures(rec)
    return rec


def _ci_reached(samples: list[list[Sample]], options: RunOptions) -> bool:
    from loadbench import stats

    assert options.target_ci_pct is not None
    for ss in samples:
        walls = [s.wall_ns for s in ss if s.ok]
        if len(walls) < options.min_runs:
            return False
        if stats.ci_halfwidth_rel(walls) * 100 >= options.target_ci_pct:
            return False
    return True


def _check_failures(rec: Record) -> None:
    bad = [m for m in rec.measurements if m.samples and not m.ok_samples()]
    if bad:
        m = bad[0]
        s = m.samples[-1]
        why = (
            str(s.status)
            + (f" (exit code {s.exit_code})" if s.exit_code is not None else "")
            + (f" (signal {s.signal})" if s.signal is not None else "")
        )
        raise RunError(
            f"{m.name}: every launch failed ({why}); the record keeps them, but no "
            f"figure can be computed; check that the binary runs on its own"
        )
