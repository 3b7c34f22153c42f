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
* 3 -- samples held column-wise: ``measurements[].samples`` and ``warmup`` are objects with one
  array per field (``index``, ``wall_ns`` ..., ``status`` as codes into ``status_names``,
  ``exit_code``/``signal`` with nulls, ``extra`` per launch or null), so a million launches
  read as a few arrays instead of a million objects. While a run goes on, ``samples_log``
  names an append-only file of batches beside the record (its samples are not in the record
  yet); a finished run folds it in.
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

SCHEMA_VERSION = 3


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


# Integer sample fields stored as 64-bit columns; exit_code and signal may be None and are kept
# as lists; the status is a small code into STATUSES.
INT_FIELDS = ("index", "wall_ns", "user_ns", "sys_ns", "faults_minor", "faults_major",
              "max_rss_bytes", "start_ns", "session")
NULLABLE_FIELDS = ("exit_code", "signal")
STATUSES: tuple[LaunchStatus, ...] = tuple(LaunchStatus)
_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}


class SampleColumns(Sequence[Sample]):
    """The launches of one measurement held column-wise: 8 bytes per launch per integer field
    (``array('q')``), a status code byte, and the probe's extras only where a launch has them.

    It is a ``Sequence[Sample]`` (indexing builds the Sample), so code that reads samples one by
    one keeps working, while statistics read whole columns (``array``, or ``numpy`` views via
    ``np_column``) without a Python object per launch: a million launches take ~80 MB instead of
    ~1 GB of dicts. Immutable once built; ``ColumnsBuilder`` appends.
    """

    __slots__ = ("_extra", "_ints", "_n", "_nullable", "_status")

    def __init__(self, ints: Mapping[str, Any], status: Any, nullable: Mapping[str, list[Any]],
                 extra: list[Mapping[str, Any] | None] | None) -> None:
        self._ints = {k: ints[k] for k in INT_FIELDS}
        self._status = status
        self._nullable = {k: nullable[k] for k in NULLABLE_FIELDS}
        self._extra = extra if extra is not None and any(extra) else None
        self._n = len(status)
        for k, col in (*self._ints.items(), *self._nullable.items()):
            if len(col) != self._n:
                raise ValueError(f"column {k} has {len(col)} values for {self._n} launches")
        if self._extra is not None and len(self._extra) != self._n:
            raise ValueError(f"extras for {len(self._extra)} of {self._n} launches")

    # ------------------------------------------------------------------ building

    @classmethod
    def empty(cls) -> SampleColumns:
        return ColumnsBuilder().build()

    @classmethod
    def of(cls, samples: Iterable[Sample]) -> SampleColumns:
        if isinstance(samples, SampleColumns):
            return samples
        b = ColumnsBuilder()
        b.extend(samples)
        return b.build()

    # ------------------------------------------------------------------ Sequence

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Sample: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Sample, ...]: ...

    def __getitem__(self, i: int | slice) -> Sample | tuple[Sample, ...]:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(self._n)))
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        extra = self._extra[i] if self._extra is not None else None
        return Sample(status=STATUSES[self._status[i]],
                      **{k: int(c[i]) for k, c in self._ints.items()},
                      **{k: c[i] for k, c in self._nullable.items()},
                      extra=extra or {})

    def __iter__(self) -> Iterator[Sample]:
        for i in range(self._n):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SampleColumns):
            return (self._n == other._n and self._ints == other._ints
                    and list(self._status) == list(other._status)
                    and self._nullable == other._nullable
                    and (self._extra or [None] * self._n) == (other._extra or [None] * other._n))
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SampleColumns({self._n} launches)"

    # ------------------------------------------------------------------ columns

    def column(self, name: str) -> Any:
        """An integer column (``array('q')``), ``status`` codes, or a nullable list."""
        if name == "status":
            return self._status
        if name in self._ints:
            return self._ints[name]
        return self._nullable[name]

    def np_column(self, name: str) -> Any:
        """A numpy view of an integer column (no copy), or the status codes as int8."""
        import numpy as np

        if name == "status":
            return np.frombuffer(self._status, dtype=np.int8) if len(self._status) else \
                np.zeros(0, dtype=np.int8)
        col = self._ints[name]
        return np.frombuffer(col, dtype=np.int64) if len(col) else np.zeros(0, dtype=np.int64)

    def ok_mask(self) -> Any:
        """A numpy bool array: which launches ended ``ok``."""
        return self.np_column("status") == _STATUS_CODE[LaunchStatus.OK]

    def ok_positions(self) -> list[int]:
        ok = _STATUS_CODE[LaunchStatus.OK]
        return [i for i, s in enumerate(self._status) if s == ok]

    def has_extra(self) -> bool:
        return self._extra is not None

    def extras_by_launch(self) -> list[Mapping[str, Any] | None] | None:
        """Each launch's probe extras (None where it has none), or None when no launch has
        any."""
        return self._extra

    def extras(self) -> Iterator[Mapping[str, Any]]:
        """The probe extras of the launches that have any, in order."""
        for e in self._extra or ():
            if e:
                yield e

    def take(self, positions: Sequence[int]) -> SampleColumns:
        """The launches at ``positions``, in that order."""
        b = ColumnsBuilder()
        b.extend_from(self, positions)
        return b.build()

    def ok(self) -> SampleColumns:
        return self.take(self.ok_positions())

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "status_names": [str(s) for s in STATUSES],
            "status": list(self._status),
            **{k: c.tolist() for k, c in self._ints.items()},
            **{k: list(c) for k, c in self._nullable.items()},
            "extra": None if self._extra is None else [dict(e) if e else None
                                                       for e in self._extra],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SampleColumns:
        names = d.get("status_names") or [str(s) for s in STATUSES]
        codes = [_STATUS_CODE[LaunchStatus(n)] for n in names]
        raw = d["status"]
        status = array("b", raw if codes == list(range(len(codes))) else [codes[c] for c in raw])
        return cls({k: array("q", d[k]) for k in INT_FIELDS}, status,
                   {k: list(d[k]) for k in NULLABLE_FIELDS}, d.get("extra"))


class ColumnsBuilder:
    """Appends launches to columns; ``build`` freezes them into ``SampleColumns``."""

    __slots__ = ("_extra", "_has_extra", "_ints", "_nullable", "_status")

    def __init__(self, start: SampleColumns | None = None) -> None:
        self._ints = {k: array("q") for k in INT_FIELDS}
        self._status = array("b")
        self._nullable: dict[str, list[Any]] = {k: [] for k in NULLABLE_FIELDS}
        self._extra: list[Mapping[str, Any] | None] = []
        self._has_extra = False
        if start is not None:
            for k in INT_FIELDS:
                self._ints[k].extend(start.column(k))
            self._status.extend(start.column("status"))
            for k in NULLABLE_FIELDS:
                self._nullable[k].extend(start.column(k))
            self._extra.extend(start._extra or [None] * len(start))
            self._has_extra = start.has_extra()

    def __len__(self) -> int:
        return len(self._status)

    def append(self, s: Sample) -> None:
        for k, col in self._ints.items():
            col.append(getattr(s, k))
        self._status.append(_STATUS_CODE[s.status])
        self._nullable["exit_code"].append(s.exit_code)
        self._nullable["signal"].append(s.signal)
        if s.extra:
            self._has_extra = True
            self._extra.append(dict(s.extra))
        else:
            self._extra.append(None)

    def extend(self, samples: Iterable[Sample]) -> None:
        if isinstance(samples, SampleColumns):
            self.extend_from(samples)
            return
        for s in samples:
            self.append(s)

    def extend_from(self, cols: SampleColumns, positions: Sequence[int] | None = None) -> None:
        """Append the launches of ``cols`` at ``positions`` (all of them by default), column
        by column, without building a Sample for each (with numpy when it is there: the
        Windows-side launcher may run on an embedded Python without it)."""
        idx: Sequence[int] = range(len(cols)) if positions is None else positions
        if not len(idx):
            return
        try:
            import numpy as np
        except ImportError:
            np = None  # type: ignore[assignment]
        if np is not None:
            sel = np.asarray(idx, dtype=np.intp)
            for k in INT_FIELDS:
                self._ints[k].frombytes(cols.np_column(k)[sel].tobytes())
            self._status.frombytes(cols.np_column("status")[sel].tobytes())
        else:
            for k in INT_FIELDS:
                src = cols.column(k)
                self._ints[k].extend(src[i] for i in idx)
            status = cols.column("status")
            self._status.extend(status[i] for i in idx)
        for k in NULLABLE_FIELDS:
            col = cols.column(k)
            self._nullable[k].extend(col[i] for i in idx)
        extra = cols._extra
        if extra is None:
            self._extra.extend([None] * len(idx))
        else:
            self._extra.extend(extra[i] for i in idx)
            self._has_extra = True

    def build(self) -> SampleColumns:
        return SampleColumns({k: array("q", c) for k, c in self._ints.items()},
                             array("b", self._status),
                             {k: list(c) for k, c in self._nullable.items()},
                             list(self._extra) if self._has_extra else None)


@dataclass(frozen=True, slots=True)
class Measurement:
    """All launches of one variant (``name``) in one run.

    ``samples`` and ``warmup`` may be given as any sequence of Samples; they are held as
    ``SampleColumns`` (which is a sequence of Samples too), so a measurement of a million
    launches stays small and its columns can be read without building a Sample per launch.
    """

    name: str
    binary: BinaryRef
    argv: tuple[str, ...]  # argv[1:] passed to the binary
    samples: Sequence[Sample] = ()
    warmup: Sequence[Sample] = ()
    # per session: {"session", "before", "after", "pages_that_stayed"} (pagecache.Normalised)
    page_cache: tuple[Mapping[str, Any], ...] = ()
    command: str | None = None  # the command line as given, when it was not a bare path

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", SampleColumns.of(self.samples))
        object.__setattr__(self, "warmup", SampleColumns.of(self.warmup))

    @property
    def columns(self) -> SampleColumns:
        assert isinstance(self.samples, SampleColumns)
        return self.samples

    @property
    def warmup_columns(self) -> SampleColumns:
        assert isinstance(self.warmup, SampleColumns)
        return self.warmup

    def ok_samples(self) -> tuple[Sample, ...]:
        """The successful launches as Sample objects (for a few; ``ok_columns`` for many)."""
        return tuple(self.columns.ok())

    def has_ok(self) -> bool:
        """Whether any launch succeeded, without building anything per launch."""
        return bool(self.columns.ok_positions()) if len(self.columns) else False

    def ok_columns(self) -> SampleColumns:
        return self.columns.ok()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "binary": self.binary.to_json(),
            "argv": list(self.argv),
            "samples": self.columns.to_json(),
            "warmup": self.warmup_columns.to_json(),
            "page_cache": [dict(x) for x in self.page_cache],
            "command": self.command,
        }

    def command_line(self) -> str:
        """The command line of this measurement: as the user gave it, else the binary's path
        and arguments, quoted for a POSIX shell."""
        import shlex

        return self.command if self.command else shlex.join([self.binary.path, *self.argv])

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Measurement:
        return cls(
            name=d["name"],
            binary=BinaryRef.from_json(d["binary"]),
            argv=tuple(d.get("argv") or ()),
            samples=SampleColumns.from_json(d["samples"]),
            warmup=SampleColumns.from_json(d["warmup"]) if d.get("warmup") else (),
            page_cache=tuple(d.get("page_cache") or ()),
            command=d.get("command"),
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
    # While a run goes on, its samples are appended to this file beside the record (one line
    # per batch) and the record holds none; None once folded in (storage.fold_log).
    samples_log: str | None = None

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
            "samples_log": self.samples_log,
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
            samples_log=d.get("samples_log"),
        )
