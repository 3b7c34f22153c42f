"""Export a record as CSV: one row per launch with every sample field, ready for pandas.

Columns: ``run_id``, ``measurement``, ``binary_sha256``, ``binary_path``, ``warmup`` (true for
warm-up launches, which are included so nothing is hidden), the core sample fields
(``index``, ``status``, ``wall_ns`` ... ``start_ns``), then every probe extra flattened with dots
(``phases_ns.exec``, ``faults_by_region.go heap``), sorted by name. A launch without some extra
leaves that cell empty, as does a None. Lists are written as JSON text. Values are written as
they are (no spreadsheet-formula guarding), so ``pandas.read_csv`` gets the exact data.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterator, Mapping
from typing import IO, Any

from loadbench import storage
from loadbench.model import Record, Sample

LEAD = ("run_id", "measurement", "binary_sha256", "binary_path", "warmup")
# The sample's own fields in declaration order; probe extras follow them.
CORE = tuple(f.name for f in dataclasses.fields(Sample) if f.name != "extra")


def flatten(extra: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in extra.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return json.dumps(list(v), separators=(",", ":"))
    return v


def _launches(record: Record) -> Iterator[tuple[str, str, str, bool, Sample]]:
    for m in record.measurements:
        for s in m.warmup:
            yield m.name, m.binary.sha256, m.binary.path, True, s
        for s in m.samples:
            yield m.name, m.binary.sha256, m.binary.path, False, s


def _extra_keys(record: Record) -> list[str]:
    keys: dict[str, None] = {}
    for m in record.measurements:
        for cols in (m.warmup_columns, m.columns):
            for e in cols.extras():
                keys.update(dict.fromkeys(flatten(e)))
    # An extra that collides with a lead column (a probe field named "warmup") keeps the lead's.
    return sorted(k for k in keys if k not in LEAD and k not in CORE)


def header(record: Record) -> list[str]:
    return [*LEAD, *CORE, *_extra_keys(record)]


def iter_rows(record: Record, extra: list[str]) -> Iterator[list[Any]]:
    """One list of cells per launch, read column by column (no Sample object per launch)."""
    from loadbench.model import STATUSES

    for m in record.measurements:
        for warm, cols in ((True, m.warmup_columns), (False, m.columns)):
            if not len(cols):
                continue
            lead = [record.run_id, m.name, m.binary.sha256, m.binary.path, _cell(warm)]
            data = [[str(STATUSES[c]) for c in cols.column("status")] if k == "status"
                    else cols.column(k).tolist() if k not in ("exit_code", "signal")
                    else cols.column(k) for k in CORE]
            by_launch = cols.extras_by_launch()
            extras = None if by_launch is None else [flatten(e) if e else {} for e in by_launch]
            for i, cells in enumerate(zip(*data, strict=True)):
                row = [*lead, *(_cell(v) for v in cells)]
                if extra:
                    e = extras[i] if extras is not None else {}
                    row += [_cell(e.get(k)) for k in extra]
                yield row


def rows(record: Record) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and one dict per launch (warm-ups first within each measurement)."""
    head = header(record)
    return head, [dict(zip(head, r, strict=True)) for r in iter_rows(record, head[len(LEAD)
                                                                                 + len(CORE):])]


def write(record: Record, f: IO[str]) -> None:
    head = header(record)
    w = csv.writer(f, lineterminator="\n")
    w.writerow(head)
    w.writerows(iter_rows(record, head[len(LEAD) + len(CORE):]))


def to_csv(record: Record) -> str:
    buf = io.StringIO()
    write(record, buf)
    return buf.getvalue()


def export(record: Record, path: str | os.PathLike[str]) -> None:
    """Write ``record`` as CSV at ``path`` (UTF-8, ``\\n`` line ends, header row first),
    streamed row by row."""
    with storage.atomic_writer(path, newline="") as f:
        write(record, f)
