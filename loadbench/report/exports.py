"""Every export a record has, by name, for ``loadbench export`` and the inline ``--export-*``
options of ``run`` and ``bench``: one function that selects the measurements, writes the file
atomically and says what it left out."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Callable, Sequence

from loadbench.errors import LoadbenchError
from loadbench.model import Record


def _markdown(record: Record, path: str | os.PathLike[str]) -> None:
    from loadbench import storage
    from loadbench.report import markdown

    storage.write_text_atomic(path, markdown.render(record))


def _exporters() -> dict[str, Callable[[Record, str | os.PathLike[str]], None]]:
    from loadbench.report import csv_export, hyperfine_export, pyperf_export

    return {"pyperf": pyperf_export.export, "hyperfine": hyperfine_export.export,
            "csv": csv_export.export, "markdown": _markdown}


FORMATS = ("pyperf", "hyperfine", "csv", "markdown")


def select(record: Record, globs: Sequence[str]) -> Record:
    """The record with only the measurements whose name matches one of ``globs`` (all when
    none is given)."""
    if not globs:
        return record
    keep = tuple(m for m in record.measurements
                 if any(fnmatch.fnmatchcase(m.name, g) for g in globs))
    if not keep:
        raise LoadbenchError(f"--select {' '.join(globs)}: no measurement matches; the record "
                             f"has {', '.join(m.name for m in record.measurements)}")
    return dataclasses.replace(record, measurements=keep)


def export(record: Record, fmt: str, path: str | os.PathLike[str],
           globs: Sequence[str] = ()) -> list[str]:
    """Write ``record`` (or its selected measurements) as ``fmt`` at ``path``; return warnings
    about what the format cannot hold."""
    rec = select(record, globs)
    warnings = []
    if fmt == "pyperf" and any(m.has_ok() for m in rec.measurements):
        warnings = [f"{m.name}: no successful launch; left out of the pyperf export"
                    for m in rec.measurements if not m.has_ok()]
    _exporters()[fmt](rec, path)
    return warnings
