"""Streaming reader of ETL files: buffers, their headers, and the raw event records inside them.

An ETL file is a sequence of buffers, each starting with a 72-byte WMI_BUFFER_HEADER (on-disk size,
filled size, CPU, flags); a buffer flagged 0x40 carries an [MS-XCA] plain-LZ77 payload whose
expanded size is the header's filled size minus the header. Inside a buffer, 8-byte aligned records
each start with a marker whose third byte names the header layout (SYSTEM_TRACE_HEADER and its
compact form, PERFINFO_TRACE_HEADER, EVENT_HEADER, EVENT_TRACE_HEADER, EVENT_INSTANCE_HEADER,
TraceMessage). The first record of the file is the kernel's trace header event
(TRACE_LOGFILE_HEADER: start time, clock type and frequency, pointer size, CPUs, boot time), which
turns raw timestamps into UTC and into time since trace start. Buffers are read one at a time from
a file or from the single ``.etl`` inside a ``.zip`` (never extracted to disk); every structural
problem becomes ``EtlError``.
"""

from __future__ import annotations

import contextlib
import enum
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Protocol

from loadbench.etl.errors import EtlError
from loadbench.etl.xpress import decompress

BUFFER_HEADER_BYTES = 0x48
BUFFER_FLAG_PROC_INDEX = 0x20  # ClientContext holds a 16-bit processor index, not a byte
BUFFER_FLAG_COMPRESSED = 0x40
# ETW caps buffers at a few MiB; anything larger is a corrupt size field, and refusing it keeps a
# damaged file from making us allocate gigabytes.
MAX_BUFFER_BYTES = 16 << 20

_BUFFER = struct.Struct("<IIIiqqQBBHIIHH")  # WMI_BUFFER_HEADER up to ReferenceTime (56 bytes)
_U16 = struct.Struct("<H")
_SYSTEM = struct.Struct("<HBBHHIIq")  # Version, Type, Flags, Size, HookId, TID, PID, SystemTime
_PERFINFO = struct.Struct("<HBBHHq")  # Version, Type, Flags, Size, HookId, TimeStamp
_EVENT = struct.Struct("<HBBHHIIq16sHBBBBHQ")  # EVENT_HEADER up to the EVENT_DESCRIPTOR
_FULL = struct.Struct("<HBBBBHIIq16s")  # EVENT_TRACE_HEADER up to the GUID
_INSTANCE = struct.Struct("<HBBBBHIIq")  # EVENT_INSTANCE_HEADER up to the timestamp

FILETIME_UNIX_EPOCH = 116_444_736_000_000_000  # 1970-01-01 in 100 ns ticks since 1601-01-01
_NO_ID = 0xFFFFFFFF  # "no thread/process" in classic headers (PerfView prints -1)


class ByteStream(Protocol):
    """What the reader needs from its input: ``read(n)`` returning at most ``n`` bytes."""

    def read(self, n: int = -1, /) -> bytes: ...


class HeaderKind(enum.StrEnum):
    """The record header layouts found in ETL buffers."""

    SYSTEM = "system"  # SYSTEM_TRACE_HEADER, 32 bytes: hook id, thread, process, time, cpu times
    COMPACT = "compact"  # SYSTEM_TRACE_HEADER without the cpu times, 24 bytes
    PERFINFO = "perfinfo"  # PERFINFO_TRACE_HEADER, 16 bytes: hook id and time only
    EVENT = "event"  # EVENT_HEADER, 80 bytes: manifest-based and TraceLogging events
    FULL = "full"  # EVENT_TRACE_HEADER, 48 bytes: classic MOF events with the GUID inline
    INSTANCE = "instance"  # EVENT_INSTANCE_HEADER, 56 bytes: GUID only through a handle
    MESSAGE = "message"  # TraceMessage (WPP): size only
    OTHER = "other"  # timed/error/WNODE records: size only


# Third marker byte -> (layout, pointer size of the payload, header bytes).
_HEADER_TYPES: dict[int, tuple[HeaderKind, int, int]] = {
    0x01: (HeaderKind.SYSTEM, 4, 32),
    0x02: (HeaderKind.SYSTEM, 8, 32),
    0x03: (HeaderKind.COMPACT, 4, 24),
    0x04: (HeaderKind.COMPACT, 8, 24),
    0x0A: (HeaderKind.FULL, 4, 48),
    0x0B: (HeaderKind.INSTANCE, 4, 56),
    0x0C: (HeaderKind.OTHER, 8, 4),
    0x0D: (HeaderKind.OTHER, 8, 4),
    0x0E: (HeaderKind.OTHER, 8, 4),
    0x0F: (HeaderKind.MESSAGE, 8, 4),
    0x10: (HeaderKind.PERFINFO, 4, 16),
    0x11: (HeaderKind.PERFINFO, 8, 16),
    0x12: (HeaderKind.EVENT, 4, 80),
    0x13: (HeaderKind.EVENT, 8, 80),
    0x14: (HeaderKind.FULL, 8, 48),
    0x15: (HeaderKind.INSTANCE, 8, 56),
}
_SIZE_AT_4 = frozenset({0x01, 0x02, 0x03, 0x04, 0x10, 0x11})  # Packet.Size follows the marker
EVENT_HEADER_FLAG_EXTENDED_INFO = 0x0001


@dataclass(frozen=True, slots=True)
class BufferHeader:
    """One WMI_BUFFER_HEADER. ``data_bytes`` counts the header too (the buffer's filled size)."""

    index: int
    file_offset: int
    disk_bytes: int
    data_bytes: int
    cpu: int
    flags: int
    buffer_type: int
    sequence: int
    timestamp: int

    @property
    def compressed(self) -> bool:
        return bool(self.flags & BUFFER_FLAG_COMPRESSED)


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One record with its header decoded and its payload left as bytes.

    Classic kernel events carry no GUID: ``group`` is the hook id's high byte (3 Process, 5 Thread,
    0x14 Image, 2 PageFault, ...) and ``guid`` is None. GUID-identified events (``event``, ``full``)
    have ``group`` -1. ``pid``/``tid`` are None where the header has none (perfinfo) or says "none".
    """

    kind: HeaderKind
    group: int
    opcode: int
    version: int
    event_id: int
    guid: uuid.UUID | None
    timestamp: int
    pid: int | None
    tid: int | None
    cpu: int
    pointer_size: int
    payload: bytes


def parse_buffer_header(raw: bytes, index: int = 0, file_offset: int = 0) -> BufferHeader:
    """Decode a 72-byte WMI_BUFFER_HEADER and check its sizes are self-consistent."""
    if len(raw) < BUFFER_HEADER_BYTES:
        raise EtlError(f"truncated ETL: buffer {index} at offset {file_offset} has only "
                       f"{len(raw)} of {BUFFER_HEADER_BYTES} header bytes")
    (size, saved, _current, _refs, timestamp, sequence, _clock, proc, _align, _logger, _state,
     offset, flags, btype) = _BUFFER.unpack_from(raw, 0)
    cpu = _U16.unpack_from(raw, 40)[0] if flags & BUFFER_FLAG_PROC_INDEX else proc
    data = saved or offset
    where = f"buffer {index} at offset {file_offset}"
    if not BUFFER_HEADER_BYTES <= size <= MAX_BUFFER_BYTES:
        raise EtlError(f"corrupt ETL: {where} declares size {size}")
    if not BUFFER_HEADER_BYTES <= data <= MAX_BUFFER_BYTES:
        raise EtlError(f"corrupt ETL: {where} declares {data} filled bytes")
    if not flags & BUFFER_FLAG_COMPRESSED and data > size:
        raise EtlError(f"corrupt ETL: {where} fills {data} bytes of a {size}-byte buffer")
    return BufferHeader(index=index, file_offset=file_offset, disk_bytes=size, data_bytes=data,
                        cpu=cpu, flags=flags, buffer_type=btype, sequence=sequence,
                        timestamp=timestamp)


def iter_buffers(stream: ByteStream) -> Iterator[tuple[BufferHeader, bytes]]:
    """Yield each buffer's header and its event bytes (decompressed), reading one at a time."""
    index = 0
    offset = 0
    while True:
        head = stream.read(BUFFER_HEADER_BYTES)
        if not head:
            return
        header = parse_buffer_header(head, index, offset)
        body = stream.read(header.disk_bytes - BUFFER_HEADER_BYTES)
        if len(body) != header.disk_bytes - BUFFER_HEADER_BYTES:
            raise EtlError(f"truncated ETL: buffer {index} at offset {offset} needs "
                           f"{header.disk_bytes} bytes, the file has {len(head) + len(body)} left")
        if header.compressed:
            try:
                data = decompress(body, header.data_bytes - BUFFER_HEADER_BYTES)
            except EtlError as exc:
                raise EtlError(f"corrupt ETL: buffer {index} at offset {offset}: {exc}") from None
        else:
            data = body[:header.data_bytes - BUFFER_HEADER_BYTES]
        yield header, data
        offset += header.disk_bytes
        index += 1


def iter_events(buffer: BufferHeader, data: bytes) -> Iterator[RawEvent]:
    """Yield the records of one buffer's event bytes (the bytes after its 72-byte header)."""
    pos = 0
    end = len(data)
    cpu = buffer.cpu
    while end - pos >= 8:  # records are 8-aligned; a shorter tail cannot hold one
        htype = data[pos + 2]
        marker = data[pos + 3]
        if data[pos:pos + 4] == b"\xff\xff\xff\xff":
            return  # ETW fills the unused tail of a buffer with 0xFF
        if not marker & 0x80:
            raise EtlError(f"corrupt ETL: buffer {buffer.index} offset {pos + BUFFER_HEADER_BYTES}"
                           f": no event marker ({data[pos:pos + 4].hex()})")
        if not marker & 0x40 and marker & 0x10:
            htype = 0x0F  # TraceMessage markers carry no header type byte
        layout = _HEADER_TYPES.get(htype)
        if layout is None:
            raise EtlError(f"corrupt ETL: buffer {buffer.index} offset "
                           f"{pos + BUFFER_HEADER_BYTES}: unknown event header type {htype:#x}")
        kind, ptr, hlen = layout
        size = _U16.unpack_from(data, pos + 4 if htype in _SIZE_AT_4 else pos)[0]
        if size < hlen or pos + size > end:
            raise EtlError(f"corrupt ETL: buffer {buffer.index} offset {pos + BUFFER_HEADER_BYTES}"
                           f": {kind} event of {size} bytes does not fit (header {hlen}, "
                           f"{end - pos} bytes left)")
        yield _decode_header(data, pos, size, kind, ptr, hlen, cpu)
        pos += (size + 7) & ~7


_GUID_CACHE: dict[bytes, uuid.UUID] = {}


def _guid(raw: bytes) -> uuid.UUID:
    # A trace names a few dozen providers over and over; building a UUID per event is the single
    # largest cost of decoding manifest events. The bound keeps a corrupt file from growing it.
    found = _GUID_CACHE.get(raw)
    if found is None:
        found = uuid.UUID(bytes_le=raw)
        if len(_GUID_CACHE) < 4096:
            _GUID_CACHE[raw] = found
    return found


def _decode_header(data: bytes, pos: int, size: int, kind: HeaderKind, ptr: int, hlen: int,
                   cpu: int) -> RawEvent:
    if kind is HeaderKind.SYSTEM or kind is HeaderKind.COMPACT:
        version, _t, _f, _s, hook, tid, pid, ts = _SYSTEM.unpack_from(data, pos)
        return RawEvent(kind, hook >> 8, hook & 0xFF, version, 0, None, ts,
                        None if pid == _NO_ID else pid, None if tid == _NO_ID else tid, cpu, ptr,
                        data[pos + hlen:pos + size])
    if kind is HeaderKind.PERFINFO:
        version, _t, _f, _s, hook, ts = _PERFINFO.unpack_from(data, pos)
        return RawEvent(kind, hook >> 8, hook & 0xFF, version, 0, None, ts, None, None, cpu, ptr,
                        data[pos + hlen:pos + size])
    if kind is HeaderKind.EVENT:
        (_s, _t, _m, flags, _prop, tid, pid, ts, guid, event_id, version, _chan, _level, opcode,
         _task, _kw) = _EVENT.unpack_from(data, pos)
        start = pos + hlen
        if flags & EVENT_HEADER_FLAG_EXTENDED_INFO:
            start = _skip_extended(data, start, pos + size)
        return RawEvent(kind, -1, opcode, version, event_id, _guid(guid), ts,
                        None if pid == _NO_ID else pid, None if tid == _NO_ID else tid, cpu, ptr,
                        data[start:pos + size])
    if kind is HeaderKind.FULL:
        _s, _t, _m, opcode, _level, version, tid, pid, ts, guid = _FULL.unpack_from(data, pos)
        return RawEvent(kind, -1, opcode, version, 0, _guid(guid), ts,
                        None if pid == _NO_ID else pid, None if tid == _NO_ID else tid, cpu, ptr,
                        data[pos + hlen:pos + size])
    if kind is HeaderKind.INSTANCE:
        _s, _t, _m, opcode, _level, version, tid, pid, ts = _INSTANCE.unpack_from(data, pos)
        return RawEvent(kind, -1, opcode, version, 0, None, ts,
                        None if pid == _NO_ID else pid, None if tid == _NO_ID else tid, cpu, ptr,
                        data[pos + hlen:pos + size])
    return RawEvent(kind, -1, 0, 0, 0, None, 0, None, None, cpu, ptr, data[pos + hlen:pos + size])


def _skip_extended(data: bytes, pos: int, end: int) -> int:
    """Step over EVENT_HEADER extended data items (stacks, SIDs...) to the user payload.

    On disk each item is an 8-byte header (size, ExtType, linkage bit, DataSize) then DataSize
    bytes padded to 8; the linkage bit says another item follows.
    """
    while True:
        if pos + 8 > end:
            raise EtlError("corrupt ETL: extended data item header runs past its event")
        ext_size = _U16.unpack_from(data, pos + 6)[0]
        linkage = _U16.unpack_from(data, pos + 4)[0] & 1
        pos += (8 + ext_size + 7) & ~7
        if pos > end:
            raise EtlError("corrupt ETL: extended data item runs past its event")
        if not linkage:
            return pos


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """The kernel's trace header event (TRACE_LOGFILE_HEADER) plus the raw time of that event.

    Times ending in ``_100ns`` are FILETIMEs (100 ns ticks since 1601-01-01 UTC). The header event's
    own raw timestamp (``start_timestamp``) is the session's ``start_time_100ns``: it is time zero
    for "ms since trace start", as in PerfView and WPA.
    """

    buffer_size: int
    version: int
    os_build: int
    num_cpus: int
    end_time_100ns: int
    timer_resolution_100ns: int
    log_file_mode: int
    buffers_written: int
    pointer_size: int
    events_lost: int
    cpu_mhz: int
    boot_time_100ns: int
    perf_freq: int
    start_time_100ns: int
    clock_type: int  # 1 QueryPerformanceCounter, 2 system time (FILETIME), 3 CPU cycle counter
    buffers_lost: int
    logger_name: str
    log_file_name: str
    start_timestamp: int

    @property
    def ticks_per_second(self) -> int:
        if self.clock_type == 2:
            return 10_000_000
        if self.clock_type == 3:
            return self.cpu_mhz * 1_000_000
        return self.perf_freq

    def rel_ns(self, timestamp: int) -> int:
        """Nanoseconds from the trace start to a raw event timestamp."""
        return (timestamp - self.start_timestamp) * 1_000_000_000 // self.ticks_per_second

    def utc_100ns(self, timestamp: int) -> int:
        """The FILETIME of a raw event timestamp."""
        if self.clock_type == 2:
            return timestamp
        return (self.start_time_100ns
                + (timestamp - self.start_timestamp) * 10_000_000 // self.ticks_per_second)


def parse_trace_header(event: RawEvent) -> TraceHeader:
    """Decode the EventTrace/Header record (group 0, opcode 0) that opens every kernel ETL file."""
    if event.group != 0 or event.opcode != 0 or event.kind is not HeaderKind.SYSTEM:
        raise EtlError("not an ETL trace: the first record is not the kernel trace header")
    p = event.payload
    ptr = event.pointer_size
    # TIME_ZONE_INFORMATION (172 bytes) follows the two name pointers; the LARGE_INTEGERs after it
    # are 8-aligned, which puts BootTime at 248 on 64-bit and 240 on 32-bit.
    times_at = 248 if ptr == 8 else 240
    if len(p) < times_at + 32:
        raise EtlError(f"corrupt ETL: trace header payload has {len(p)} bytes")
    (buffer_size, version, os_build, num_cpus, end_time, timer_res, _max_mb, mode,
     written) = struct.unpack_from("<IIIIqIIII", p, 0)
    _start_buffers, pointer_size, lost, mhz = struct.unpack_from("<IIII", p, 40)
    boot, freq, start, clock, buffers_lost = struct.unpack_from("<qqqII", p, times_at)
    names = p[times_at + 32:].decode("utf-16-le", errors="replace").split("\x00")
    header = TraceHeader(
        buffer_size=buffer_size, version=version, os_build=os_build, num_cpus=num_cpus,
        end_time_100ns=end_time, timer_resolution_100ns=timer_res, log_file_mode=mode,
        buffers_written=written, pointer_size=pointer_size or ptr, events_lost=lost,
        cpu_mhz=mhz, boot_time_100ns=boot, perf_freq=freq, start_time_100ns=start,
        clock_type=clock, buffers_lost=buffers_lost, logger_name=names[0] if names else "",
        log_file_name=names[1] if len(names) > 1 else "", start_timestamp=event.timestamp)
    if header.ticks_per_second <= 0:
        raise EtlError(f"corrupt ETL: trace header gives clock type {clock} with frequency "
                       f"{header.ticks_per_second}")
    return header


def filetime_to_datetime(filetime: int) -> datetime | None:
    """UTC datetime of a FILETIME (microsecond precision); None for 0 or out-of-range values."""
    if filetime <= 0:
        return None
    try:
        return datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=filetime // 10)
    except OverflowError:
        return None


def format_filetime(filetime: int) -> str | None:
    """ISO 8601 UTC with all seven FILETIME digits, e.g. ``2020-07-29T00:07:00.6236167Z``."""
    dt = filetime_to_datetime(filetime)
    if dt is None:
        return None
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{filetime % 10_000_000:07d}Z"


@contextlib.contextmanager
def open_etl(path: str | Path) -> Iterator[ByteStream]:
    """Open an ``.etl`` file, or the single ``.etl`` member of a zip, as a binary stream.

    Zip members are decompressed while they are read; nothing is extracted to disk.
    """
    path = Path(path)
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise EtlError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not is_zip:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, after the caller is done
        except OSError as exc:
            raise EtlError(f"cannot read {path}: {exc.strerror or exc}") from None
        with f:
            yield f
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise EtlError(f"cannot read zip {path}: {exc}") from None
    with archive:
        members = [i for i in archive.infolist()
                   if i.filename.lower().endswith(".etl") and not i.is_dir()]
        if len(members) != 1:
            raise EtlError(f"{path} holds {len(members)} .etl files; expected exactly one")
        try:
            member = archive.open(members[0])
        except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
            raise EtlError(f"cannot read {members[0].filename} in {path}: {exc}") from None
        with member:
            yield _ZipErrors(member, f"{path}!{members[0].filename}")


class _ZipErrors:
    """Wraps a zip member stream so that inflate and CRC failures surface as ``EtlError``."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._stream = stream
        self._name = name

    def read(self, n: int = -1) -> bytes:
        try:
            return self._stream.read(n)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise EtlError(f"corrupt zip member {self._name}: {exc}") from None
