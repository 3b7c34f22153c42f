"""The one interface every probe implements, and the schedule it is handed.

A probe measures a *batch* of launches in one session (perf or wpr is started once per batch, not
per launch) and yields one ``Sample`` per launch, in schedule order. Availability is a value with
a human reason, never an exception at import: every probe module imports on every OS.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from loadbench.errors import LoadbenchError
from loadbench.model import ProbeInfo, Sample


@dataclass(frozen=True, slots=True)
class Availability:
    ok: bool
    reason: str = ""  # why not, and what to do about it; empty when ok

    def __bool__(self) -> bool:
        return self.ok


class StopFlag:
    """A stop request shared by the runner (which sets it from a signal handler) and probes
    (which check it between launches and may register hooks, e.g. to forward it to a child)."""

    __slots__ = ("_hooks", "reason", "requested")

    def __init__(self) -> None:
        self.requested = False
        self.reason: str | None = None
        self._hooks: list[Callable[[], None]] = []

    def request(self, reason: str) -> None:
        self.requested = True
        self.reason = reason
        for hook in list(self._hooks):
            hook()

    def add_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` on a stop request; at once if one came already (a request that
        arrives between a caller's check and its child's start must still reach the child)."""
        self._hooks.append(hook)
        if self.requested:
            hook()

    def remove_hook(self, hook: Callable[[], None]) -> None:
        if hook in self._hooks:
            self._hooks.remove(hook)


class ProbeUnavailable(LoadbenchError, RuntimeError):
    """Raised when a probe is asked to run where ``availability()`` said no."""


@dataclass(frozen=True, slots=True)
class Target:
    """One binary to launch: ``name`` is the variant label, ``args`` are argv[1:]."""

    name: str
    path: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Schedule:
    """A batch of launches: ``order[i]`` is the index into ``targets`` of launch ``first_index+i``.

    ``env`` is the complete environment each target gets (nothing is inherited). ``cache`` is
    ``warm`` or ``cold`` (cold: evict the binary's pages before each launch).
    """

    targets: tuple[Target, ...]
    order: tuple[int, ...]
    env: Mapping[str, str]
    timeout_s: float = 10.0
    first_index: int = 0
    cache: str = "warm"
    show_output: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)


# What a probe can do beyond timing launches, declared so callers ask instead of guessing.
COLD_CACHE = "cold-cache"  # evicts the binary and its libraries before each launch
PHASES = "phases"  # samples carry phases_ns
FAULT_ATTRIBUTION = "fault-attribution"  # samples carry faults_by_region/kind/phase
TRACE_EVENTS = "trace-events"  # run_traced() gives every fault of a launch (Chrome traces)
INFLATION = "inflation"  # measure_inflation(): traced against untraced launches


class Probe(abc.ABC):
    """Base class of all probes. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    version: ClassVar[str]
    platforms: ClassVar[tuple[str, ...]]  # sys.platform prefixes: "linux", "darwin", "win32"
    assets: ClassVar[tuple[str, ...]] = ()  # files under the top-level probes/ folder
    hidden: ClassVar[bool] = False
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # The settings a user may give (``--probe-opt KEY=VALUE``), with what each does; anything
    # else is refused, so a misspelt key cannot be stored and silently ignored. Probes record
    # their own facts in ``settings`` too (the launcher used, ...): those are not options.
    options: ClassVar[Mapping[str, str]] = {}

    def __init__(self, stop: StopFlag | None = None, **settings: Any) -> None:
        self.settings: dict[str, Any] = dict(settings)
        self.overhead: dict[str, Any] = {}
        self.stop = stop if stop is not None else StopFlag()
        # one-line messages for the user (e.g. "mounted tracefs at ..."), printed by the CLI
        self.notes: list[str] = []

    @classmethod
    @abc.abstractmethod
    def availability(cls) -> Availability:
        """Whether this probe can run here; never raises."""

    def calibrate(
        self, null_target: Target, env: Mapping[str, str], launches: int, *,
        timeout_s: float = 10.0,
    ) -> dict[str, Any]:
        """Measure this probe's own cost (e.g. latency of a null binary under it); stored with
        the results. The default launches ``null_target`` and keeps median wall time. Every
        launch obeys ``timeout_s``, the run's per-launch timeout."""
        samples = list(self.run(Schedule(targets=(null_target,), order=(0,) * launches, env=env,
                                         timeout_s=timeout_s)))
        walls = sorted(s.wall_ns for s in samples if s.ok)
        if walls:
            self.overhead["null_wall_ns_median"] = walls[len(walls) // 2]
            self.overhead["null_launches"] = len(walls)
        return dict(self.overhead)

    @abc.abstractmethod
    def run(self, schedule: Schedule) -> Iterator[Sample]:
        """Launch ``schedule`` in one session; yield one Sample per launch in schedule order."""

    def tool_version(self) -> str | None:
        return None

    def describe(self) -> ProbeInfo:
        from loadbench.probes import asset_digests

        return ProbeInfo(
            name=self.name,
            version=self.version,
            tool_version=self.tool_version(),
            asset_digests=asset_digests(self.assets),
            overhead=dict(self.overhead),
            settings=dict(self.settings),
        )

    def close(self) -> None:
        """Release everything the probe created (sessions, uprobes, temp files). Idempotent."""

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
