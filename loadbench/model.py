"""Everything loadbench persists, as frozen dataclasses, plus the record schema version.

Raw per-launch samples are the record; statistics are recomputed from them and never stored as
truth. Every integer field carries its unit in its name. ``to_json``/``from_json`` are the only
translation between these classes and the JSON on disk; ``storage`` owns reading and writing.

Schema history (keep every entry; ``storage.migrate`` upgrades older files):

* 1 -- first version: ``measurements[].samples[]`` with wall/user/sys ns, faults, max RSS,
  exit status; ``warmup`` samples kept apart; host, probe (with overhead) and run spec stored.
* 2 -- sessions: every sample carries ``session`` (its session index, 0-based);
  ``spec.sessions`` is how many the run was split into; ``spec.cache`` may be ``as-is``;
  ``spec.cache_method`` says how the page cache was normalised; ``measurements[].page_cache``
  holds the binary's page-cache layout before and after normalisation, per session. A version
  1 record is one session (``session`` 0, ``sessions`` 1).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2


class LaunchStatus(enum.StrEnum):
    """How one launch ended. Only ``ok`` launches count in latency statistics."""

    OK = "ok"  # exited with code 0
    EXIT_NONZERO = "exit-nonzero"
    SIGNALED = "signaled"
    TIMEOUT = "timeout"  # killed by loadbench after the per-launch timeout
    SPAWN_FAILED = "spawn-failed"  # the spawn or execve itself failed (e.g. ENOEXEC)


# The fields every probe fills; anything a probe adds (phases_ns, faults_by_region, ...) goes in
# ``Sample.extra`` and is stored flat beside these keys.
_SAMPLE_CORE = (
    "index",
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
    "session",
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One launch of one binary.

    ``index`` is the launch's position in the whole run's schedule (all binaries interleaved), so
    drift over time can be tested; ``session`` is the session it belongs to (the cache is
    normalised and the machine state sampled afresh per session). ``start_ns`` is CLOCK_MONOTONIC
    at spawn. ``wall_ns`` runs from
    just before the spawn (vfork or posix_spawn) to just after ``wait4`` returned. Rusage figures
    are the child's own (``wait4``), never RUSAGE_CHILDREN.
    """

    index: int
    status: LaunchStatus
    wall_ns: int
    user_ns: int = 0
    sys_ns: int = 0
    faults_minor: int = 0
    faults_major: int = 0
    max_rss_bytes: int = 0
    exit_code: int | None = None
    signal: int | None = None
    start_ns: int = 0
    session: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is LaunchStatus.OK

    @property
    def faults(self) -> int:
        return self.faults_minor + self.faults_major

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in _SAMPLE_CORE}
        d["status"] = str(self.status)
        for k, v in self.extra.items():
            if k in d:
                raise ValueError(f"probe field {k!r} would shadow a core sample field")
            d[k] = v
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Sample:
        core = {k: d[k] for k in _SAMPLE_CORE if k in d}
        core["status"] = LaunchStatus(core["status"])
        extra = {k: v for k, v in d.items() if k not in _SAMPLE_CORE}
        return cls(**core, extra=extra)


@dataclass(frozen=True, slots=True)
class BinaryRef:
    """The binary a measurement launched: where, which bytes, what it is, how it was built."""

    path: str
    sha256: str
    summary: Mapping[str, Any] = field(default_factory=dict)  # inspector.summary()
    build: Mapping[str, Any] | None = None  # builder manifest entry when loadbench built it

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "summary": dict(self.summary),
            "build": None if self.build is None else dict(self.build),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BinaryRef:
        return cls(
            path=d["path"], sha256=d["sha256"], summary=d.get("summary") or {}, build=d.get("build")
        )


@dataclass(frozen=True, slots=True)
class Measurement:
    """All launches of one variant (``name``) in one run."""

    name: str
    binary: BinaryRef
    argv: tuple[str, ...]  # argv[1:] passed to the binary
    samples: tuple[Sample, ...] = ()
    warmup: tuple[Sample, ...] = ()
    # per session: {"session", "before", "after", "pages_that_stayed"} (pagecache.Normalised)
    page_cache: tuple[Mapping[str, Any], ...] = ()

    def ok_samples(self) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if s.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "binary": self.binary.to_json(),
            "argv": list(self.argv),
            "samples": [s.to_json() for s in self.samples],
            "warmup": [s.to_json() for s in self.warmup],
            "page_cache": [dict(x) for x in self.page_cache],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Measurement:
        return cls(
            name=d["name"],
            binary=BinaryRef.from_json(d["binary"]),
            argv=tuple(d.get("argv") or ()),
            samples=tuple(Sample.from_json(s) for s in d.get("samples") or ()),
            warmup=tuple(Sample.from_json(s) for s in d.get("warmup") or ()),
            page_cache=tuple(d.get("page_cache") or ()),
        )


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    """Which probe measured, with which tool, and what the probe itself costs.

    ``overhead`` holds the probe's own measured cost, e.g. ``{"null_wall_ns_median": ...}`` for the
    launcher loop or ``{"trace_inflation_ratio": ...}`` for tracing probes.
    """

    name: str
    version: str
    tool_version: str | None = None
    asset_digests: Mapping[str, str] = field(default_factory=dict)
    overhead: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "tool_version": self.tool_version,
            "asset_digests": dict(self.asset_digests),
            "overhead": dict(self.overhead),
            "settings": dict(self.settings),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ProbeInfo:
        return cls(
            name=d["name"],
            version=d["version"],
            tool_version=d.get("tool_version"),
            asset_digests=d.get("asset_digests") or {},
            overhead=d.get("overhead") or {},
            settings=d.get("settings") or {},
        )


def format_cpus(cpus: Iterable[int]) -> str:
    """CPU numbers as ranges: 0-3,6."""
    runs: list[list[int]] = []
    for c in sorted(set(cpus)):
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What was asked for: enough to reproduce the schedule exactly."""

    runs: int
    warmup: int
    seed: int
    timeout_s: float
    env: Mapping[str, str]  # the exact, minimal environment given to every target
    argv: tuple[str, ...] = ()  # loadbench's own command line
    cache: str = "warm"  # warm (normalised, then warm), as-is (as the system held it), cold
    target_ci_pct: float | None = None
    affinity: tuple[int, ...] | None = None  # CPUs the launcher and targets were pinned to
    sessions: int = 1
    cache_method: str | None = None  # how the page cache was normalised, when it was

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "warmup": self.warmup,
            "seed": self.seed,
            "timeout_s": self.timeout_s,
            "env": dict(self.env),
            "argv": list(self.argv),
            "cache": self.cache,
            "target_ci_pct": self.target_ci_pct,
            "affinity": None if self.affinity is None else list(self.affinity),
            "sessions": self.sessions,
            "cache_method": self.cache_method,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunSpec:
        return cls(
            runs=d["runs"],
            warmup=d["warmup"],
            seed=d["seed"],
            timeout_s=d["timeout_s"],
            env=d.get("env") or {},
            argv=tuple(d.get("argv") or ()),
            cache=d.get("cache", "warm"),
            target_ci_pct=d.get("target_ci_pct"),
            affinity=None if d.get("affinity") is None else tuple(d["affinity"]),
            sessions=int(d.get("sessions", 1)),
            cache_method=d.get("cache_method"),
        )

    def affinity_text(self) -> str:
        if self.affinity is None:
            return "not pinned"
        return f"pinned to CPU{'s' if len(self.affinity) > 1 else ''} {format_cpus(self.affinity)}"


@dataclass(frozen=True, slots=True)
class Record:
    """One run: host, probe, spec and every launch. ``complete`` is False while running or after
    an interruption; ``end_reason`` says why it stopped (``done``, ``interrupted: SIGINT``,
    ``target-ci reached``, ...)."""

    run_id: str
    created_utc: str
    host: Mapping[str, Any]
    probe: ProbeInfo
    spec: RunSpec
    measurements: tuple[Measurement, ...]
    complete: bool = False
    end_reason: str = "running"
    loadbench_version: str = ""
    schema_version: int = SCHEMA_VERSION

    def measurement(self, name: str) -> Measurement:
        for m in self.measurements:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "created_utc": self.created_utc,
            "loadbench_version": self.loadbench_version,
            "complete": self.complete,
            "end_reason": self.end_reason,
            "host": dict(self.host),
            "probe": self.probe.to_json(),
            "spec": self.spec.to_json(),
            "measurements": [m.to_json() for m in self.measurements],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Record:
        return cls(
            run_id=d["run_id"],
            created_utc=d["created_utc"],
            host=d.get("host") or {},
            probe=ProbeInfo.from_json(d["probe"]),
            spec=RunSpec.from_json(d["spec"]),
            measurements=tuple(Measurement.from_json(m) for m in d["measurements"]),
            complete=bool(d.get("complete", False)),
            end_reason=d.get("end_reason", ""),
            loadbench_version=d.get("loadbench_version", ""),
            schema_version=int(d["schema_version"]),
        )
