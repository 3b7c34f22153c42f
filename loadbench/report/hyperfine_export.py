"""hyperfine's JSON (``hyperfine --export-json``) both ways: export a record, import old runs.

Export: one ``results[]`` entry per measurement, ``command`` being its command line as the user
gave it (as hyperfine writes it), one ``times``, ``exit_codes`` and ``memory_usage_byte`` entry
per measured launch in launch order, failed launches included (hyperfine keeps them with
``-i``), and ``parameters`` for a variant of a sweep (the segment alignment in bytes, the Go
release).
``mean``/``stddev``/``median``/``min``/``max`` are computed over ``times`` as hyperfine does
(sample standard deviation, null below two runs); ``user``/``system`` are mean CPU times. All
in seconds. Each result also carries a ``loadbench`` object (name, path, sha256, argv and
per-launch statuses) that hyperfine's readers ignore and ``import_record`` uses to restore the
variant's name and the statuses that an exit code alone cannot tell (timeout, spawn failure).

Import: a hyperfine JSON becomes a Record with probe ``hyperfine-import``: samples carry
``wall_ns`` from ``times`` and a status from ``exit_codes`` (0 ok, another code exit-nonzero,
null signaled; hyperfine 1.15 on Unix writes death by signal N as code 128 + N, which stays
exit-nonzero because a program may exit with that code itself). What hyperfine does not record
per run (CPU times, page faults, RSS, start times, host, binary hashes) stays 0/empty and is
listed in ``probe.settings["not_recorded"]``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadbench import storage
from loadbench.model import (
    BinaryRef,
    LaunchStatus,
    Measurement,
    ProbeInfo,
    Record,
    RunSpec,
    Sample,
)

IMPORT_PROBE = "hyperfine-import"
IMPORT_VERSION = "1"
NOT_RECORDED = (
    "user_ns and sys_ns per launch (hyperfine keeps only their means)",
    "faults_minor",
    "faults_major",
    "max_rss_bytes",
    "start_ns",
    "signal numbers",
    "warm-up launches",
    "host facts",
    "binary sha256 and static structure",
)


class HyperfineError(storage.RecordError):
    """A hyperfine JSON that cannot be used; one line for the user (a RecordError, so callers
    that report record errors report these too)."""


def _s(ns: float) -> float:
    return ns / 1e9


def _exit_code(s: Sample) -> int | None:
    if s.status is LaunchStatus.OK:
        return 0
    if s.status is LaunchStatus.EXIT_NONZERO:
        return s.exit_code if s.exit_code is not None else 1
    return None  # hyperfine writes null when there is no exit code (killed by a signal)


def result(m: Measurement) -> dict[str, Any]:
    """One ``results[]`` entry for a measurement (see the module docstring), read from its
    columns: a million launches need no Sample object each."""
    import numpy as np

    from loadbench.model import STATUSES

    cols = m.columns
    walls = cols.np_column("wall_ns") / 1e9
    n = int(walls.size)
    codes = cols.column("status").tolist()
    ok, nonzero = (STATUSES.index(LaunchStatus.OK), STATUSES.index(LaunchStatus.EXIT_NONZERO))
    exit_codes = [0 if c == ok else ((e if e is not None else 1) if c == nonzero else None)
                  for c, e in zip(codes, cols.column("exit_code"), strict=True)]
    out = {
        "command": m.command_line(),
        "mean": float(walls.mean()) if n else None,
        "stddev": float(walls.std(ddof=1)) if n >= 2 else None,
        "median": float(np.median(walls)) if n else None,
        "user": float(cols.np_column("user_ns").mean()) / 1e9 if n else None,
        "system": float(cols.np_column("sys_ns").mean()) / 1e9 if n else None,
        "min": float(walls.min()) if n else None,
        "max": float(walls.max()) if n else None,
        "times": walls.tolist(),
        "memory_usage_byte": cols.column("max_rss_bytes").tolist(),
        "exit_codes": exit_codes,
        "loadbench": {
            "path": m.binary.path,
            "sha256": m.binary.sha256,
            "argv": list(m.argv),
            "name": m.name,
            "status": [str(STATUSES[c]) for c in codes],
        },
    }
    params = parameters(m)
    if params:
        out["parameters"] = params
    return out


def parameters(m: Measurement) -> dict[str, str]:
    """hyperfine's ``parameters`` of a variant built as part of a sweep: the segment alignment
    (bytes, so that hyperfine's plot_parametrized can read it as a number) for the alignment
    sweep, the Go release for the Go-version matrix."""
    tags = (m.binary.build or {}).get("tags") or ()
    out = {}
    align = (m.binary.summary or {}).get("segment_alignment")
    if "align" in tags and isinstance(align, int):
        out["alignment"] = str(align)
    gv = (m.binary.build or {}).get("go_version") or ""
    if "goversion" in tags and gv:
        out["go"] = str(gv)
    return out


def to_json(record: Record) -> dict[str, Any]:
    return {"results": [result(m) for m in record.measurements]}


def export(record: Record, path: str | os.PathLike[str]) -> None:
    """Write ``record`` in hyperfine's ``--export-json`` shape at ``path``."""
    storage.write_json_atomic(path, to_json(record))


# ------------------------------------------------------------------------------- import


def _status(code: Any, where: str) -> tuple[LaunchStatus, int | None]:
    if code is None:
        return LaunchStatus.SIGNALED, None
    if isinstance(code, bool) or not isinstance(code, int):
        raise HyperfineError(f"{where}: exit code {code!r} is not an integer or null")
    return (LaunchStatus.OK if code == 0 else LaunchStatus.EXIT_NONZERO), code


def _ns(t: Any, where: str) -> int:
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
        raise HyperfineError(f"{where}: time {t!r} is not a non-negative number of seconds")
    return round(t * 1e9)


def _measurement(r: Mapping[str, Any], i: int, first_index: int, name: str,
                 where: str) -> Measurement:
    times = r.get("times")
    if not isinstance(times, list):
        raise HyperfineError(f"{where}: no 'times' list (hyperfine writes one per command)")
    codes = r.get("exit_codes")
    if codes is None:
        codes = [0] * len(times)  # hyperfine before 1.13 had no exit codes; it failed on errors
    if not isinstance(codes, list) or len(codes) != len(times):
        raise HyperfineError(f"{where}: {len(times)} times but exit_codes is not a list of "
                             "the same length")
    raw_lb = r.get("loadbench")
    lb: Mapping[str, Any] = raw_lb if isinstance(raw_lb, Mapping) else {}
    statuses = lb.get("status") if isinstance(lb.get("status"), list) else None
    if statuses is not None and len(statuses) != len(times):
        statuses = None  # inconsistent: trust the exit codes
    samples = []
    for j, (t, code) in enumerate(zip(times, codes, strict=True)):
        at = f"{where}, run {j + 1}"
        status, exit_code = _status(code, at)
        if statuses is not None:
            try:
                status = LaunchStatus(statuses[j])
            except ValueError:
                raise HyperfineError(f"{at}: unknown loadbench status {statuses[j]!r}") from None
        samples.append(Sample(index=first_index + j, status=status, wall_ns=_ns(t, at),
                              exit_code=exit_code))
    command = str(r.get("command", f"command {i + 1}"))
    path = str(lb.get("path") or "")
    argv: tuple[str, ...] = tuple(str(a) for a in lb.get("argv") or ())
    if not path:
        try:
            words = shlex.split(command)
        except ValueError:
            words = []
        path, argv = (words[0], tuple(words[1:])) if words else (command, ())
    return Measurement(name=name, binary=BinaryRef(path=path, sha256=str(lb.get("sha256") or "")),
                       argv=argv, samples=tuple(samples))


def record_from_json(data: Any, *, source: str = "hyperfine.json", run_id: str | None = None,
                     created_utc: str | None = None,
                     names: Sequence[str] | None = None) -> Record:
    """A Record from parsed hyperfine JSON (see the module docstring). ``names``, one per
    result, rename the measurements (e.g. to match a loadbench run's variant names)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("results"), list):
        raise HyperfineError(f"{source}: not a hyperfine JSON export (no 'results' list)")
    results = data["results"]
    if not results:
        raise HyperfineError(f"{source}: 'results' is empty")
    if names is not None:
        if len(names) != len(results):
            raise HyperfineError(f"{source}: {len(names)} names for {len(results)} commands")
        if len(set(names)) != len(names):
            raise HyperfineError(f"{source}: the names given are not unique")
    measurements = []
    seen: dict[str, int] = {}
    index = 0
    means: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(results):
        where = f"{source}: results[{i}]"
        if not isinstance(r, Mapping):
            raise HyperfineError(f"{where}: not an object")
        found = r.get("loadbench")
        ours: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        base = (names[i] if names is not None else str(ours.get("name") or r.get("command")
                                                       or f"command {i + 1}"))
        seen[base] = seen.get(base, 0) + 1
        # The same command twice (e.g. a parameter scan without --command-name) gets #2, #3...
        name = base if seen[base] == 1 else f"{base} #{seen[base]}"
        m = _measurement(r, i, index, name, where)
        index += len(m.samples)
        measurements.append(m)
        means[name] = {k: r.get(k) for k in ("user", "system", "parameters") if k in r}
    ts = created_utc
    if ts is None:
        ts = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    runs = max(len(m.samples) for m in measurements)
    probe = ProbeInfo(
        name=IMPORT_PROBE,
        version=IMPORT_VERSION,
        settings={
            "source": source,
            "order": "hyperfine runs each command's launches back to back, not interleaved: "
                     "drift between commands is not separable from a difference",
            "not_recorded": list(NOT_RECORDED),
            "hyperfine_means_s": means,
        },
    )
    return Record(
        run_id=run_id or f"hyperfine-{Path(source).stem}",
        created_utc=ts,
        host={},
        probe=probe,
        spec=RunSpec(runs=runs, warmup=0, seed=0, timeout_s=0.0, env={}),
        measurements=tuple(measurements),
        complete=True,
        end_reason="imported from hyperfine",
    )


def import_record(path: str | os.PathLike[str], *, names: Sequence[str] | None = None) -> Record:
    """Read a hyperfine ``--export-json`` file as a Record; ``created_utc`` is the file's
    modification time (hyperfine stores no date). ``names``: see ``record_from_json``."""
    p = Path(path)
    data = storage.read_json(p, error=HyperfineError)
    mtime = p.stat().st_mtime
    ts = _dt.datetime.fromtimestamp(mtime, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return record_from_json(data, source=str(p), created_utc=ts, names=names)
