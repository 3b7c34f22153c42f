"""The portable POSIX probe: posix_spawn + wait4 per launch, the child's own rusage, no privileges.

It runs the launcher in-process (see ``loadbench.launch`` for why posix_spawn and what the
numbers include) and turns its raw tuples into Samples. ``samples_from_raw`` is shared with the
probes that run the same launcher under a tracer.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from loadbench import launch, launch_native
from loadbench.model import LaunchStatus, Sample
from loadbench.probes.base import (
    COLD_CACHE,
    Availability,
    Probe,
    ProbeUnavailable,
    Schedule,
    StopFlag,
)

_STATUS = {
    launch.OK: LaunchStatus.OK,
    launch.EXIT_NONZERO: LaunchStatus.EXIT_NONZERO,
    launch.SIGNALED: LaunchStatus.SIGNALED,
    launch.TIMEOUT: LaunchStatus.TIMEOUT,
    launch.SPAWN_FAILED: LaunchStatus.SPAWN_FAILED,
}


def sample_from_raw(raw: Sequence[Any], index: int, **extra: Any) -> Sample:
    (_t, status, wall, user, sys_, minflt, majflt, rss, code, sig, start, _pid) = raw
    st = _STATUS[int(status)]
    if st is LaunchStatus.SPAWN_FAILED:
        # exit_code carries the errno of the failed spawn; keep it out of exit_code.
        extra = {"errno": code, **extra}
        code = None
    return Sample(
        index=index,
        status=st,
        wall_ns=int(wall),
        user_ns=int(user),
        sys_ns=int(sys_),
        faults_minor=int(minflt),
        faults_major=int(majflt),
        max_rss_bytes=int(rss),
        exit_code=None if code is None else int(code),
        signal=None if sig is None else int(sig),
        start_ns=int(start),
        extra=extra,
    )


def samples_from_raw(raws: Iterable[Sequence[Any]], first_index: int) -> Iterator[Sample]:
    for i, raw in enumerate(raws):
        yield sample_from_raw(raw, first_index + i)


def evict_map(schedule: Schedule) -> dict[int, list[str]] | None:
    """Files to drop from the page cache before each launch in a cold-cache schedule: the
    binary and, for a dynamic one, its interpreter and libraries (so cold means the same under
    every probe)."""
    if schedule.cache != "cold":
        return None
    extra = schedule.settings.get("evict_extra") or {}
    return {i: [t.path, *_dependencies(t.path), *extra.get(t.name, ())]
            for i, t in enumerate(schedule.targets)}


@functools.lru_cache(maxsize=256)
def _dependencies(path: str) -> tuple[str, ...]:
    if not sys.platform.startswith("linux"):
        return ()
    try:
        from loadbench.perf.layout import dependency_paths, load_layout

        return tuple(dependency_paths(load_layout(path)))
    except Exception:
        return ()


class RusageProbe(Probe):
    """Spawn + wait4. Setting ``launcher``: ``auto`` (native on Linux when a C compiler exists,
    else Python), ``native`` (vfork) or ``python`` (posix_spawn); the one used is recorded."""

    name = "rusage"
    # 2: the native launcher spawns with vfork, not posix_spawn, so each launch counts the 1-2
    # faults of glibc's spawn-helper stack no more.
    version = "2"
    platforms: ClassVar[tuple[str, ...]] = ("linux", "darwin", "freebsd")
    capabilities: ClassVar[frozenset[str]] = frozenset({COLD_CACHE})
    options: ClassVar[Mapping[str, str]] = {
               "launcher": "auto, native (the vfork launcher) or python (posix_spawn)",
               "evict_extra": "with --cache cold: more files to evict per target name"}

    def __init__(self, stop: StopFlag | None = None, **settings: Any) -> None:
        super().__init__(stop=stop, **settings)
        self._launcher: str | None = None
        choice = self.settings.setdefault("launcher", "auto")
        if choice not in ("auto", "native", "python"):
            raise ValueError(f"launcher must be auto, native or python (got {choice!r})")
        if choice in ("auto", "native"):
            try:
                self._launcher = launch_native.ensure_launcher()
            except launch_native.LauncherUnavailable as e:
                if choice == "native":
                    raise ProbeUnavailable(str(e)) from None
                self.settings["launcher_fallback_reason"] = str(e)
        self.settings["launcher_used"] = "native" if self._launcher else "python"
        if self._launcher:
            self.settings.update(launch_native.describe())
        else:
            self.settings["launcher_spawn"] = "posix_spawn"

    @classmethod
    def availability(cls) -> Availability:
        if not sys.platform.startswith(cls.platforms):
            return Availability(
                False,
                f"rusage needs a POSIX system with posix_spawn and wait4 "
                f"(this is {sys.platform}); on Windows use windows-job",
            )
        return Availability(True)

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        first = schedule.first_index
        if self._launcher:
            raws = launch_native.run(self._launcher, schedule, evict=evict_map(schedule),
                                     stop=self.stop)
            for i, raw in enumerate(raws):
                yield sample_from_raw(raw, first + i)
            return
        produced: list[Sample] = []

        def emit(raw: Sequence[Any]) -> None:
            produced.append(sample_from_raw(raw, first + len(produced)))

        launch.run_batch(schedule, evict_map(schedule), emit=emit, stop=self.stop)
        yield from produced
