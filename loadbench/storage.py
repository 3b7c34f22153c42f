"""Reading and writing records: atomic replace with fsync, schema checks and migrations.

A record is rewritten whole (temp file in the same directory, fsync, ``os.replace``, fsync of
the directory) after each batch of launches, so an interrupted or killed run always leaves the
last complete version on disk and never a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loadbench import validation
from loadbench.errors import LoadbenchError, OutputError
from loadbench.model import SCHEMA_VERSION, Record


def _umask_mode() -> int:
    # mkstemp creates 0600 files; results are ordinary files that others may read.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class RecordError(LoadbenchError, ValueError):
    """A record file cannot be used; ``str()`` is a one-line message for the user."""


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 record was one session: samples without ``session`` are session 0."""
    spec = dict(data.get("spec") or {})
    spec.setdefault("sessions", 1)
    spec.setdefault("cache_method", None)
    return {**data, "schema_version": 2, "spec": spec}


# from-version -> function upgrading a dict of that version to the next one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def file_version(data: Mapping[str, Any], key: str, current: int, where: str,
                 what: str) -> int:
    """The integer format version under ``key``, or RecordError saying why it is unusable."""
    version = data.get(key)
    if not isinstance(version, int):
        raise RecordError(f"{where}: no integer {key}; is this a {what}?")
    if version > current:
        raise RecordError(f"{where}: {key} {version} is newer than this loadbench understands "
                          f"({current}); upgrade loadbench")
    return version


def migrate(data: dict[str, Any], path: str = "record") -> dict[str, Any]:
    version = file_version(data, "schema_version", SCHEMA_VERSION, path, "loadbench record")
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise RecordError(f"{path}: schema_version {version} cannot be migrated")
        data = step(data)
        version = data["schema_version"]
    return data


def load_record(path: str | os.PathLike[str]) -> Record:
    p = Path(path)
    if p.is_dir():
        p = p / "record.json"
    data = read_json(p, what="record file", hint="the file is damaged or not a record")
    return record_from_data(data, str(p))


def read_json(path: str | os.PathLike[str], *, error: type[RecordError] = RecordError,
              what: str = "file", hint: str = "") -> Any:
    """Parse a JSON file, turning every way it can fail into one line of ``error``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{p}: is a directory; pass a {what}") from None
    except UnicodeDecodeError:
        raise error(f"{p}: not a text file" + (f"; {hint}" if hint else "")) from None
    except OSError as e:
        raise error(f"{p}: cannot read ({e.strerror})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise error(f"{p}: not valid JSON (line {e.lineno}: {e.msg})"
                    + (f"; {hint}" if hint else "")) from None
    except _NotJsonNumber as e:
        line = text.count("\n", 0, _find_constant(text, e.token)) + 1
        raise error(f"{p}: line {line}: {e.token} is not a JSON number (loadbench never writes "
                    "one; the file was edited or made by another tool)") from None


class _NotJsonNumber(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _no_constant(token: str) -> Any:
    # Python's json accepts NaN and +-Infinity; JSON does not, and no figure may be one.
    raise _NotJsonNumber(token)


def _find_constant(text: str, token: str) -> int:
    import re

    m = re.search(r'[:\[,]\s*' + re.escape(token) + r'\s*[,\]}]', text)
    return m.start() if m else 0


def record_from_data(data: Any, where: str = "record") -> Record:
    """A Record from parsed JSON: checked, migrated to the current schema, or RecordError."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: not a loadbench record (top level is not an object)")
    version = file_version(data, "schema_version", SCHEMA_VERSION, where, "loadbench record")
    try:
        validation.validate(data, validation.record_check(version))
    except validation.SchemaViolation as e:
        raise RecordError(f"{where}: malformed record: {e}") from None
    data = migrate(data, where)
    try:
        return Record.from_json(data)
    except (KeyError, TypeError, ValueError) as e:
        raise RecordError(f"{where}: malformed record ({type(e).__name__}: {e})") from None


def _output_error(p: Path, e: OSError) -> OutputError:
    """One line for a file that cannot be written: the system's reason and what to do."""
    import errno

    reason = e.strerror or str(e)
    if not p.parent.is_dir():
        return OutputError(f"{p}: cannot write: the directory {p.parent} does not exist; "
                           "create it or choose another output path", reason)
    if e.errno == errno.ENOSPC:
        hint = "free some space or write elsewhere"
    elif p.is_dir():
        hint = "it is a directory; give a file name"
    else:
        hint = "write elsewhere"
    return OutputError(f"{p}: cannot write ({reason}); {hint}", reason)


def write_json_atomic(path: str | os.PathLike[str], data: Mapping[str, Any] | list[Any]) -> None:
    """Write JSON so that ``path`` is always either the old or the new complete file."""
    # Serialise first: a value JSON cannot hold (NaN) fails before anything is touched.
    write_text_atomic(path, json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n")


def save_record(path: str | os.PathLike[str], record: Record) -> None:
    write_json_atomic(path, record.to_json())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Temp file in the same directory, fsync, ``os.replace``, fsync of the directory."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as e:
        raise _output_error(p, e) from None
    try:
        os.fchmod(fd, _umask_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise _output_error(p, e) from None
        raise
    try:
        dfd = os.open(p.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
