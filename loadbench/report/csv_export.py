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
from typing import Any

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


def rows(record: Record) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and one dict per launch (warm-ups first within each measurement)."""
    out = []
    extra_keys: dict[str, None] = {}
    for name, sha, path, warm, s in _launches(record):
        d = s.to_json()
        flat = flatten({k: v for k, v in d.items() if k not in CORE})
        extra_keys.update(dict.fromkeys(flat))
        out.append({"run_id": record.run_id, "measurement": name, "binary_sha256": sha,
                    "binary_path": path, "warmup": warm,
                    **{k: d.get(k) for k in CORE}, **flat})
    # An extra that collides with a lead column (a probe field named "warmup") keeps the lead's.
    header = [*LEAD, *CORE, *sorted(k for k in extra_keys if k not in LEAD)]
    return header, out


def to_csv(record: Record) -> str:
    header, data = rows(record)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in data:
        w.writerow({k: _cell(r.get(k)) for k in header})
    return buf.getvalue()


def export(record: Record, path: str | os.PathLike[str]) -> None:
    """Write ``record`` as CSV at ``path`` (UTF-8, ``\\n`` line ends, header row first)."""
    storage.write_text_atomic(path, to_csv(record))
