"""Export a record as a pyperf BenchmarkSuite file, so pyperf's own tools read loadbench runs.

Mapping: one pyperf benchmark per measurement, and one pyperf *run* per successful launch, each
holding that launch's wall time as its single value (seconds, ``loops`` = 1). pyperf calls a run
one process and treats the values inside a run as sharing that process's state; every loadbench
launch is a fresh process, so one launch per run is the faithful mapping, and
``python -m pyperf stats``/``compare_to`` then see every launch as an independent value (their
median is loadbench's median). Warm-up launches and failed launches are left out (pyperf values
must be positive timings of successful work) and counted in the benchmark metadata instead.
Metadata carries the benchmark name, the unit, the host facts of the record (not of the machine
that exports) and loadbench provenance: run id, probe, binary path and sha256.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from typing import Any

from loadbench.errors import LoadbenchError
from loadbench.model import Measurement, Record


class ExportError(LoadbenchError, ValueError):
    """The record cannot be exported in this format; one line for the user."""


def _clean(value: Any) -> str | None:
    # pyperf refuses empty strings and newlines in metadata values.
    text = " ".join(str(value).split())
    return text or None


def _date(utc: str) -> str | None:
    """pyperf's date format (``YYYY-MM-DD HH:MM:SS``) from an ISO 8601 UTC timestamp."""
    try:
        t = _dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.strftime("%Y-%m-%d %H:%M:%S")


def run_metadata(record: Record) -> dict[str, Any]:
    """Metadata every run of the suite shares: host facts and provenance, in pyperf's keys
    where pyperf has one (``hostname``, ``platform``, ``cpu_count``, ``cpu_model_name``,
    ``boot_time``, ``date``, ``load_avg_1min``)."""
    h: Mapping[str, Any] = record.host
    md: dict[str, Any] = {"unit": "second", "loops": 1}
    plat = "-".join(str(h[k]) for k in ("os", "os_release", "machine") if h.get(k))
    pairs: list[tuple[str, Any]] = [
        ("hostname", h.get("hostname")),
        ("platform", plat),
        ("cpu_model_name", h.get("cpu_model")),
        ("date", _date(record.created_utc)),
        ("loadbench_version", record.loadbench_version),
        ("loadbench_run_id", record.run_id),
        ("loadbench_probe", f"{record.probe.name} v{record.probe.version}"),
        ("loadbench_end_reason", record.end_reason),
    ]
    for key, value in pairs:
        text = _clean(value) if value is not None else None
        if text:
            md[key] = text
    cpus = h.get("cpu_count_logical")
    if isinstance(cpus, int) and not isinstance(cpus, bool) and cpus >= 1:
        md["cpu_count"] = cpus
    boot = h.get("boot_time")
    if isinstance(boot, int | float) and not isinstance(boot, bool):
        md["boot_time"] = _dt.datetime.fromtimestamp(boot, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    load = h.get("load_average")
    if isinstance(load, list | tuple) and load and isinstance(load[0], int | float):
        md["load_avg_1min"] = float(load[0])
    return md


def benchmark_metadata(m: Measurement) -> dict[str, Any]:
    md: dict[str, Any] = {"name": _clean(m.name) or "unnamed"}
    for key, value in (("command", m.command_line()), ("binary_sha256", m.binary.sha256)):
        text = _clean(value)
        if text:
            md[key] = text
    md["loadbench_failed_launches"] = len(m.samples) - len(m.columns.ok_positions())
    md["loadbench_warmup_launches"] = len(m.warmup)
    return md


def _durations(record: Record) -> dict[int, float]:
    """Each measured launch's share of the run's elapsed time, by launch index: from its start
    to the next launch's start in the interleaved schedule (the last: its own wall time), so
    pyperf's "Total duration" (the sum of its runs' durations) is the run's, not the sum of the
    launches' latencies."""
    import numpy as np

    idx = np.concatenate([m.columns.np_column("index") for m in record.measurements] or
                         [np.zeros(0, dtype=np.int64)])
    start = np.concatenate([m.columns.np_column("start_ns") for m in record.measurements] or
                           [np.zeros(0, dtype=np.int64)])
    wall = np.concatenate([m.columns.np_column("wall_ns") for m in record.measurements] or
                          [np.zeros(0, dtype=np.int64)])
    if not idx.size:
        return {}
    order = np.argsort(start, kind="stable")
    gaps = np.diff(start[order]).astype(float)
    dur = np.append(gaps, wall[order][-1]).clip(min=wall[order])
    return dict(zip(idx[order].tolist(), (dur / 1e9).tolist(), strict=True))


def to_json(record: Record) -> dict[str, Any]:
    """The pyperf BenchmarkSuite JSON of ``record`` (pyperf's format version 1.0), written
    directly: a pyperf object per launch cost 14 s and 1 GB at a million launches. Each run
    (one launch) carries its own ``date``, ``duration`` and ``command_max_rss``."""
    common = run_metadata(record)
    t0 = _start_utc(record)
    durations = _durations(record)
    first_start = min((int(m.columns.np_column("start_ns").min()) for m in record.measurements
                       if len(m.columns)), default=0)
    benches = []
    names: set[str] = set()
    for m in record.measurements:
        cols = m.columns
        ok = cols.ok_mask() & (cols.np_column("wall_ns") > 0)
        if not ok.any():
            continue  # pyperf has no benchmark without values; the name is simply absent
        md = benchmark_metadata(m)
        if md["name"] in names:
            raise ExportError(f"two measurements are named {md['name']!r}: pyperf needs unique "
                              "benchmark names")
        names.add(md["name"])
        runs = []
        for w, i, s, rss in zip(cols.np_column("wall_ns")[ok].tolist(),
                                cols.np_column("index")[ok].tolist(),
                                cols.np_column("start_ns")[ok].tolist(),
                                cols.np_column("max_rss_bytes")[ok].tolist(), strict=True):
            run_md: dict[str, Any] = {"duration": durations.get(i, w / 1e9)}
            if t0 is not None:
                when = t0 + _dt.timedelta(microseconds=(s - first_start) / 1000)
                run_md["date"] = when.strftime("%Y-%m-%d %H:%M:%S")
            if rss > 0:
                run_md["command_max_rss"] = rss
            runs.append({"metadata": run_md, "values": [w / 1e9]})
        benches.append({"metadata": md, "runs": runs})
    if not benches:
        raise ExportError(f"run {record.run_id}: no measurement has a successful launch; "
                          "pyperf cannot hold a benchmark without values")
    return {"version": "1.0", "metadata": common, "benchmarks": benches}


def _start_utc(record: Record) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(record.created_utc.replace("Z", "+00:00"))
    except ValueError:
        return None


def suite(record: Record) -> Any:
    """The ``pyperf.BenchmarkSuite`` of ``record``, read back by pyperf from ``to_json``."""
    import json
    import tempfile

    import pyperf

    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(to_json(record), f)
        f.flush()
        return pyperf.BenchmarkSuite.load(f.name)


def export(record: Record, path: str | os.PathLike[str]) -> None:
    """Write ``record`` as a pyperf JSON file at ``path`` (replaced if it exists).

    ``python -m pyperf stats PATH`` and ``python -m pyperf compare_to A B`` read it.
    """
    from loadbench import storage

    storage.write_json_atomic(path, to_json(record))
