"""Many runs, usually from many hosts, in one file: the merged-records format and its loading.

A merged file keeps every run whole (its record with the host facts, plus the run's static
inspection and build manifest when they were beside the record), so a report can put Linux,
Windows and macOS results of the same variants side by side, one column group per run, labelled
by host and OS. Statistics are never merged: each run's figures are recomputed from its own raw
samples. ``load_inputs`` accepts result folders, record files and merged files alike, so merging
merged files works too.

Merged-file history (keep every entry; bump ``MERGED_VERSION`` on any change of shape):

* 1 -- ``{"merged_version": 1, "created_utc": str, "runs": [{"label": str, "record": <record
  JSON of any schema_version this loadbench reads>, "static": [static.json "binaries" entries],
  "manifest": <bin/manifest.json> or null}]}``. Labels are recomputed on every merge.
* 2 -- each run also has ``"claims"``: the run's claims.json (``--preset seed`` benches) or
  null, so a merged report can say which host measured which claim. Version 1 files read as
  runs without claims.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadbench import claims as claims_mod
from loadbench import storage
from loadbench.model import Record

MERGED_VERSION = 2


class MergeError(storage.RecordError):
    """Inputs that cannot be merged or a merged file that cannot be read; one line for the user.

    A RecordError, so every caller that already reports record errors reports these too.
    """


@dataclass(frozen=True, slots=True)
class MergedRun:
    """One run inside a merged file. ``static`` is the run's static.json ``binaries`` list (cross
    builds included); ``manifest`` its build manifest, when they were found beside the record."""

    label: str
    record: Record
    static: tuple[Mapping[str, Any], ...] = ()
    manifest: Mapping[str, Any] | None = None
    claims: Mapping[str, Any] | None = None  # the run's claims.json, when it checked claims

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "record": self.record.to_json(),
            "static": [dict(s) for s in self.static],
            "manifest": None if self.manifest is None else dict(self.manifest),
            "claims": None if self.claims is None else dict(self.claims),
        }


@dataclass(frozen=True, slots=True)
class MergedRecords:
    """Several runs, in input order, each with its own host; see the module docstring."""

    runs: tuple[MergedRun, ...]
    created_utc: str = ""
    merged_version: int = MERGED_VERSION

    @property
    def records(self) -> tuple[Record, ...]:
        return tuple(r.record for r in self.runs)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(r.label for r in self.runs)

    def static_entries(self) -> list[dict[str, Any]]:
        """Every run's static entries, each tagged with its run's label under ``host``."""
        return [{**s, "host": r.label} for r in self.runs for s in r.static]

    def to_json(self) -> dict[str, Any]:
        return {
            "merged_version": self.merged_version,
            "created_utc": self.created_utc,
            "runs": [r.to_json() for r in self.runs],
        }


def host_label(host: Mapping[str, Any]) -> str:
    """``Linux x86_64 (vm)``: OS, machine and host name, whichever the record has."""
    os_name = str(host.get("os") or "unknown OS")
    wine = host.get("wine")
    if isinstance(wine, Mapping):  # never a column that reads like Windows
        os_name = f"Wine {wine.get('version')} on {wine.get('host_os')}"
    machine = host.get("machine")
    name = host.get("hostname")
    label = f"{os_name} {machine}" if machine else os_name
    return f"{label} ({name})" if name else label


def labels_for(records: Sequence[Record]) -> list[str]:
    """One label per record: the host label, plus the run id where two runs share a host."""
    base = [host_label(r.host) for r in records]
    counts = Counter(base)
    return [b if counts[b] == 1 else f"{b} run {r.run_id}" for b, r in zip(base, records,
                                                                            strict=True)]


def _now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _identity(r: Record) -> tuple[str, str, str]:
    return (r.run_id, str(r.host.get("hostname", "")), r.created_utc)


def merge_runs(runs: Sequence[MergedRun], *, created_utc: str | None = None) -> MergedRecords:
    """Merge runs (labels recomputed); the same run twice is an error, not a silent duplicate."""
    if not runs:
        raise MergeError("nothing to merge: give at least one record")
    seen: dict[tuple[str, str, str], int] = {}
    for i, r in enumerate(runs):
        key = _identity(r.record)
        if key in seen:
            raise MergeError(
                f"run {r.record.run_id} (host {key[1] or 'unknown'}) is given twice "
                f"(inputs {seen[key] + 1} and {i + 1})"
            )
        seen[key] = i
    labels = labels_for([r.record for r in runs])
    return MergedRecords(
        runs=tuple(
            MergedRun(label, r.record, tuple(r.static), r.manifest, r.claims)
            for label, r in zip(labels, runs, strict=True)
        ),
        created_utc=created_utc or _now_utc(),
    )


def merge(
    records: Sequence[Record],
    *,
    static: Sequence[Sequence[Mapping[str, Any]]] | None = None,
    manifests: Sequence[Mapping[str, Any] | None] | None = None,
    created_utc: str | None = None,
    claims: Sequence[Mapping[str, Any] | None] | None = None,
) -> MergedRecords:
    """Merge records in memory; ``static``/``manifests``/``claims``, when given, hold one entry
    per record."""
    n = len(records)
    for what, seq in (("static", static), ("manifests", manifests), ("claims", claims)):
        if seq is not None and len(seq) != n:
            raise MergeError(f"{what}: {len(seq)} entries for {n} records")
    runs = [
        MergedRun(
            "",
            rec,
            tuple(static[i]) if static is not None else (),
            manifests[i] if manifests is not None else None,
            claims[i] if claims is not None else None,
        )
        for i, rec in enumerate(records)
    ]
    return merge_runs(runs, created_utc=created_utc)


def _record_from_json(data: Any, where: str) -> Record:
    try:
        return storage.record_from_data(data, where)
    except MergeError:
        raise
    except storage.RecordError as e:
        raise MergeError(str(e)) from None


def merged_from_json(data: Mapping[str, Any], where: str = "merged file") -> MergedRecords:
    try:
        storage.file_version(data, "merged_version", MERGED_VERSION, where, "merged file")
    except storage.RecordError as e:
        raise MergeError(str(e)) from None
    runs_data = data.get("runs")
    if not isinstance(runs_data, list) or not runs_data:
        raise MergeError(f"{where}: no runs")
    runs = []
    for i, rd in enumerate(runs_data):
        at = f"{where}: run {i + 1}"
        if not isinstance(rd, dict):
            raise MergeError(f"{at}: not an object")
        static = rd.get("static")
        static = [] if static is None else static
        manifest = rd.get("manifest")
        if not isinstance(static, list) or not all(isinstance(s, dict) for s in static):
            raise MergeError(f"{at}: static is not a list of objects")
        if manifest is not None and not isinstance(manifest, dict):
            raise MergeError(f"{at}: manifest is not an object")
        claims = rd.get("claims")
        problem = None if claims is None else claims_mod.doc_problem(claims)
        if problem:
            raise MergeError(f"{at}: claims: {problem}")
        runs.append(
            MergedRun(str(rd.get("label", "")), _record_from_json(rd.get("record"), at),
                      tuple(static), manifest, claims)
        )
    return merge_runs(runs, created_utc=str(data.get("created_utc") or ""))


def _read_json(p: Path) -> Any:
    return storage.read_json(p, error=MergeError, what="record file",
                             hint="the file is damaged or not a record")


def load_merged(path: str | os.PathLike[str]) -> MergedRecords:
    """Read a merged file written by ``save_merged``."""
    p = Path(path)
    data = _read_json(p)
    if not isinstance(data, dict):
        raise MergeError(f"{p}: not a merged file (top level is not an object)")
    return merged_from_json(data, str(p))


def save_merged(path: str | os.PathLike[str], merged: MergedRecords) -> None:
    storage.write_json_atomic(path, merged.to_json())


def _beside(folder: Path) -> tuple[tuple[Mapping[str, Any], ...], Mapping[str, Any] | None,
                                   Mapping[str, Any] | None]:
    """static.json, bin/manifest.json and claims.json of a result folder, when present and
    readable; a broken one is left out rather than failing the merge (the record is what
    matters)."""
    static: tuple[Mapping[str, Any], ...] = ()
    manifest = claims = None
    sp, mp = folder / "static.json", folder / "bin" / "manifest.json"
    cp = folder / "claims.json"
    if cp.is_file():
        try:
            data = json.loads(cp.read_text(encoding="utf-8"))
            if claims_mod.doc_problem(data) is None:
                claims = data
        except (OSError, ValueError):
            pass
    if sp.is_file():
        try:
            data = json.loads(sp.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("binaries"), list):
                static = tuple(b for b in data["binaries"] if isinstance(b, dict))
        except (OSError, ValueError):
            pass
    if mp.is_file():
        try:
            data = json.loads(mp.read_text(encoding="utf-8"))
            manifest = data if isinstance(data, dict) else None
        except (OSError, ValueError):
            pass
    return static, manifest, claims


def load_inputs(paths: Sequence[str | os.PathLike[str]]) -> MergedRecords:
    """Result folders, record files and merged files, in order, as one MergedRecords.

    A folder contributes its record.json with the static.json and bin/manifest.json beside it;
    a merged file contributes all its runs.
    """
    if not paths:
        raise MergeError("nothing to merge: give at least one record")
    runs: list[MergedRun] = []
    for raw in paths:
        p = Path(raw)
        folder = p if p.is_dir() else p.parent
        f = p / "record.json" if p.is_dir() else p
        data = _read_json(f)
        if isinstance(data, dict) and "merged_version" in data:
            runs.extend(merged_from_json(data, str(f)).runs)
            continue
        rec = _record_from_json(data, str(f))
        static, manifest, claims = _beside(folder)
        runs.append(MergedRun("", rec, static, manifest, claims))
    return merge_runs(runs)
