"""Reading and writing records: atomic replace with fsync, schema checks and migrations.

A record is rewritten whole (temp file in the same directory, fsync, ``os.replace``, fsync of
the directory) after each batch of launches, so an interrupted or killed run always leaves the
last complete version on disk and never a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from loadbench import validation
from loadbench.errors import (
    DISPLAY_ERRORS,
    LoadbenchError,
    OutputError,
    register_display_errors,
)
from loadbench.model import SCHEMA_VERSION, ColumnsBuilder, Record, Sample, SampleColumns


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


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Rows of samples become columns."""
    ms = []
    for m in data.get("measurements") or []:
        m = dict(m)
        for key in ("samples", "warmup"):
            rows = m.get(key) or []
            m[key] = SampleColumns.of(Sample.from_json(r) for r in rows).to_json()
        ms.append(m)
    return {**data, "schema_version": 3, "measurements": ms, "samples_log": None}


# from-version -> function upgrading a dict of that version to the next one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}


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


def load_record(path: str | os.PathLike[str], *, for_append: bool = False) -> Record:
    """The record in ``path`` (a file or its folder), with the samples of a run that has not
    folded them in yet. ``for_append`` (a resume) also readies the samples log for more
    batches: cut back to its complete batches, or removed when the record is folded already
    (a crash between folding and removing it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "record.json"
    data = read_json(p, what="record file", hint="the file is damaged or not a record")
    if for_append and isinstance(data, dict):
        name = data.get("samples_log")
        if isinstance(name, str):
            repair_log(p, name)
        else:
            log_path(p).unlink(missing_ok=True)
    return record_from_data(data, str(p), p)


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


def record_from_data(data: Any, where: str = "record", path: Path | None = None) -> Record:
    """A Record from parsed JSON: checked, migrated to the current schema, or RecordError.

    A record whose run has not folded its samples in yet (``samples_log``) gets them from that
    log beside ``path``; without a path such a record is refused."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: not a loadbench record (top level is not an object)")
    version = file_version(data, "schema_version", SCHEMA_VERSION, where, "loadbench record")
    try:
        validation.validate(data, validation.record_check(version))
    except validation.SchemaViolation as e:
        raise RecordError(f"{where}: malformed record: {e}") from None
    data = migrate(data, where)
    try:
        rec = Record.from_json(data)
    except (KeyError, TypeError, ValueError) as e:
        raise RecordError(f"{where}: malformed record ({type(e).__name__}: {e})") from None
    if rec.samples_log is None:
        return rec
    if path is None:
        raise RecordError(f"{where}: the record's samples are in {rec.samples_log!r}, which is "
                          "not beside it here; read the record file itself")
    return with_log(rec, log_path(path, rec.samples_log))[0]


# ------------------------------------------------------------------------- batch log
# While a run goes on, record.json holds everything but the samples, rewritten per batch (it is
# small); each batch's samples are one line appended to the log and fsynced, so saving costs
# O(batch), not O(run), and a killed run keeps every finished batch. A finished run folds the
# log into record.json and removes it.


LOG_NAME = "record.samples.jsonl"


def log_path(record_path: str | os.PathLike[str], name: str = LOG_NAME) -> Path:
    """The samples log beside a record. Only a plain file name of the form loadbench writes is
    accepted from a record: a tampered one must not make a resume truncate another file."""
    if not name.endswith(".samples.jsonl") or Path(name).name != name or name.startswith("."):
        raise RecordError(f"{record_path}: samples_log {name!r} is not a file name beside the "
                          "record; the file was edited or damaged")
    return Path(record_path).parent / name


def batch_line(measurements: Sequence[int], samples: Sequence[Sample], warmup: bool) -> bytes:
    b = ColumnsBuilder()
    b.extend(samples)
    doc = {"m": list(measurements), "warmup": warmup, "samples": b.build().to_json()}
    return (json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n").encode()


def append_batch(log: str | os.PathLike[str], line: bytes) -> None:
    """Append one batch line and fsync it: after this returns, the batch survives a crash."""
    p = Path(log)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0), _umask_mode())
    except OSError as e:
        raise _output_error(p, e) from None
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as e:
        raise _output_error(p, e) from None
    finally:
        os.close(fd)


def _batches(log: Path, where: str) -> Iterator[tuple[int, dict[str, Any], SampleColumns, int]]:
    """(line number, batch, its columns, readable length so far) for every complete batch.
    A last line cut short by a crash ends the iteration; a damaged line before it raises."""
    try:
        data = log.read_bytes()
    except FileNotFoundError:
        return
    except OSError as e:
        raise RecordError(f"{log}: cannot read the samples log ({e.strerror})") from None
    check = validation.batch_check(SCHEMA_VERSION)
    good = 0
    for lineno, raw in enumerate(data.splitlines(keepends=True), 1):
        last = good + len(raw) == len(data)
        if not raw.endswith(b"\n"):
            return  # cut short by a crash while it was written
        try:
            doc = json.loads(raw, parse_constant=_no_constant)
            validation.validate(doc, check)
            cols = SampleColumns.from_json(doc["samples"])
            if len(doc["m"]) != len(cols):
                raise ValueError(f"{len(doc['m'])} measurement indices for {len(cols)} launches")
        except (ValueError, KeyError, TypeError, validation.SchemaViolation) as e:
            if last:
                return
            raise RecordError(f"{where}: {log}: line {lineno} is damaged ({e}); the batches "
                              "before it are readable with a copy of the file cut there") from None
        good += len(raw)
        yield lineno, doc, cols, good


def read_log(log: Path, n_measurements: int, where: str = "samples log"
             ) -> tuple[list[ColumnsBuilder], list[ColumnsBuilder], int]:
    """The samples and warm-ups of every complete batch in ``log``, per measurement, and the
    length in bytes of those batches (see ``_batches`` for lines a crash cut short)."""
    samples = [ColumnsBuilder() for _ in range(n_measurements)]
    warm = [ColumnsBuilder() for _ in range(n_measurements)]
    good = 0
    for lineno, doc, cols, length in _batches(log, where):
        good = length
        ms = doc["m"]
        if any(not 0 <= m < n_measurements for m in ms):
            raise RecordError(f"{where}: {log}: line {lineno} names measurements the record "
                              "does not have")
        into = warm if doc["warmup"] else samples
        for k in set(ms):
            into[k].extend_from(cols, [j for j, x in enumerate(ms) if x == k])
    return samples, warm, good


def repair_log(record_path: str | os.PathLike[str], name: str) -> int:
    """Cut a samples log back to its complete batches (a crash can leave half a line at its
    end) so that appending can go on; return how many bytes were cut."""
    log = log_path(record_path, name)
    if not log.exists():
        return 0
    good = max((length for *_, length in _batches(log, str(record_path))), default=0)
    size = log.stat().st_size
    if good < size:
        os.truncate(log, good)
    return size - good


def with_log(rec: Record, log: Path) -> tuple[Record, int]:
    """``rec`` with the log's batches added to its samples (and no log named any more), and the
    log's readable length."""
    from dataclasses import replace

    samples, warm, good = read_log(log, len(rec.measurements), f"run {rec.run_id}")
    ms = []
    for m, s, w in zip(rec.measurements, samples, warm, strict=True):
        sb, wb = ColumnsBuilder(m.columns), ColumnsBuilder(m.warmup_columns)
        sb.extend_from(s.build())
        wb.extend_from(w.build())
        ms.append(replace(m, samples=sb.build(), warmup=wb.build()))
    return replace(rec, measurements=tuple(ms), samples_log=None), good


def scratch_dir(prefix: str) -> str:
    """``tempfile.mkdtemp(prefix=prefix)``, with the one-line error when no temporary folder
    can take a file ($TMPDIR, /tmp, /var/tmp and the working folder all full or read-only)."""
    try:
        return tempfile.mkdtemp(prefix=prefix)
    except OSError as e:
        tmpdir = os.environ.get("TMPDIR")
        where = tmpdir or "/tmp"
        if e.filename is None:  # tempfile.gettempdir() found no folder that takes a file
            why = f"{'$TMPDIR, ' if tmpdir else ''}/tmp, /var/tmp and the working folder are " \
                  "all full or read-only"
        else:
            why = f"{e.filename}: {e.strerror or e}"
        raise OutputError(f"no usable temporary folder ({why}): free space in {where} or set "
                          "TMPDIR to a folder with room", e.strerror) from None


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


@contextlib.contextmanager
def record_lock(record_path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the record's lock (``record.lock`` beside it) for the block: one loadbench measures
    into a record at a time, so two resumes of one record cannot both run the rest of its
    schedule. The kernel drops the lock when its holder dies, so a killed run never leaves a
    stale one. Without ``fcntl`` (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock = Path(record_path).parent / "record.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _umask_mode())
    except OSError as e:
        raise _output_error(lock, e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise RecordError(f"{record_path}: another loadbench (pid {holder}) is measuring "
                              "into this record; wait for it to end, or stop it") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:  # a full disk: say so, and leave no lock file behind
            lock.unlink(missing_ok=True)
            raise _output_error(lock, e) from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Temp file in the same directory, fsync, ``os.replace``, fsync of the directory."""
    with atomic_writer(path) as f:
        f.write(text)


def _remove_dead_temps(p: Path) -> None:
    """Remove the half-written temp files of ``p`` that a killed loadbench left beside it (a
    SIGKILL during the save of a large record left 100 MB for ever)."""
    prefix = f".{p.name}."
    try:
        import glob

        siblings = list(p.parent.glob(f"{glob.escape(prefix)}*.tmp"))
    except OSError:
        return
    for s in siblings:
        pid_text = s.name[len(prefix):].split(".", 1)[0]
        if not (pid_text.isascii() and pid_text.isdigit()) or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # its writer is alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, OSError):
            continue
        s.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], newline: str | None = None) -> Iterator[IO[str]]:
    """A text file that becomes ``path`` only once the block ends without an error: written
    beside it, fsynced, renamed over it, the directory fsynced. For outputs too large to hold
    as one string (a CSV of a million launches)."""
    p = Path(path)
    _remove_dead_temps(p)
    try:
        # the pid in the name lets a later write remove it if we are killed mid-write
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=p.parent)
    except OSError as e:
        raise _output_error(p, e) from None
    try:
        os.fchmod(fd, _umask_mode())
        register_display_errors()
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline, errors=DISPLAY_ERRORS) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not isinstance(e, OutputError):
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
