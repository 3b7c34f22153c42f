"""Buffer headers, record headers, the trace header and zip inputs of the ETL reader.

Real buffers come from the two fixtures in tests/data/windows; the small buffers built here by
hand are synthetic and say so in the test names.
"""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
from pathlib import Path

import pytest

from loadbench.etl import EtlError, summarize
from loadbench.etl.reader import (
    BUFFER_HEADER_BYTES,
    HeaderKind,
    TraceHeader,
    iter_buffers,
    iter_events,
    open_etl,
    parse_buffer_header,
    parse_trace_header,
)
from loadbench.etl.summarize import scan_stream

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "windows"
SHUTDOWN = FIXTURES / "etl-parser-ShutdownPerfDiagLogger.etl"
PERFVIEW = FIXTURES / "perfview-net.4.5.2.x64.etl.zip"


def _need(path: Path) -> Path:
    return path


def test_buffer_headers_of_the_uncompressed_fixture() -> None:
    raw = _need(SHUTDOWN).read_bytes()
    first = parse_buffer_header(raw[:72])
    assert (first.disk_bytes, first.data_bytes, first.cpu, first.flags, first.buffer_type) == (
        65536, 688, 0, 0x21, 4)  # flush marker + processor index; header buffer type
    cpus = [parse_buffer_header(raw[off:off + 72], i, off).cpu
            for i, off in enumerate(range(0, len(raw), 65536))]
    assert sorted(set(cpus)) == [0, 1] and len(cpus) == 49
    assert not first.compressed


def test_buffer_headers_of_the_compressed_fixture() -> None:
    with open_etl(_need(PERFVIEW)) as stream:
        buffers = iter_buffers(stream)
        head, _ = next(buffers)
        assert (head.disk_bytes, head.data_bytes, head.compressed) == (512, 440, False)
        second, data2 = next(buffers)
    assert second.file_offset == 512 and second.compressed and second.cpu == 7
    assert (second.disk_bytes, second.data_bytes) == (15016, 65456)
    assert len(data2) == 65456 - BUFFER_HEADER_BYTES


def test_record_headers_of_each_layout() -> None:
    kinds: dict[HeaderKind, int] = {}
    pointer_sizes = set()
    with open_etl(_need(PERFVIEW)) as stream:
        for i, (buf, data) in enumerate(iter_buffers(stream)):
            for ev in iter_events(buf, data):
                kinds[ev.kind] = kinds.get(ev.kind, 0) + 1
                pointer_sizes.add(ev.pointer_size)
                if ev.kind is HeaderKind.PERFINFO:
                    assert ev.pid is None and ev.tid is None  # perfinfo headers carry neither
                if ev.kind in (HeaderKind.EVENT, HeaderKind.FULL):
                    assert isinstance(ev.guid, uuid.UUID) and ev.group == -1
            if i == 40:
                break
    assert {HeaderKind.SYSTEM, HeaderKind.PERFINFO, HeaderKind.EVENT, HeaderKind.FULL} <= set(kinds)
    assert pointer_sizes == {4, 8}  # WoW64 processes log 32-bit headers in this trace


def test_trace_header_of_the_uncompressed_fixture() -> None:
    with open_etl(_need(SHUTDOWN)) as stream:
        buf, data = next(iter_buffers(stream))
        header = parse_trace_header(next(iter_events(buf, data)))
    assert header.logger_name == "PerfDiag Logger"
    assert header.log_file_name.endswith("ShutdownPerfDiagLogger.etl")
    assert (header.num_cpus, header.pointer_size, header.clock_type) == (2, 8, 1)
    assert (header.perf_freq, header.os_build, header.buffers_written) == (10_000_000, 18362, 49)
    assert header.rel_ns(header.start_timestamp + 10_000_000) == 1_000_000_000


def _header(clock: int, **kw: int) -> TraceHeader:
    base = dict(buffer_size=65536, version=0, os_build=0, num_cpus=1, end_time_100ns=0,
                timer_resolution_100ns=0, log_file_mode=0, buffers_written=0, pointer_size=8,
                events_lost=0, cpu_mhz=2000, boot_time_100ns=0, perf_freq=3_000_000,
                start_time_100ns=132_000_000_000_000_000, clock_type=clock, buffers_lost=0,
                logger_name="", log_file_name="", start_timestamp=1000)
    base.update(kw)
    return TraceHeader(**base)  # type: ignore[arg-type]


def test_synthetic_clock_types_convert_to_ns_and_filetime() -> None:
    qpc = _header(1)
    assert qpc.rel_ns(1000 + 3_000_000) == 1_000_000_000
    assert qpc.utc_100ns(1000 + 3_000_000) == 132_000_000_000_000_000 + 10_000_000
    system = _header(2, start_timestamp=132_000_000_000_000_000)
    assert system.utc_100ns(132_000_000_000_000_123) == 132_000_000_000_000_123
    assert system.rel_ns(132_000_000_000_000_123) == 12_300
    cycles = _header(3)
    assert cycles.rel_ns(1000 + 2_000_000_000) == 1_000_000_000  # 2000 MHz


def _buffer(records: bytes, *, size: int = 4096) -> bytes:
    filled = 72 + len(records)
    head = struct.pack("<IIIiqqQBBHIIHH", size, filled, filled, 0, 0, 0, 0, 0, 0, 0, 3, filled,
                       0, 0) + bytes(16)
    return (head + records).ljust(size, b"\xff")


def _trace_header_record() -> bytes:
    payload = bytearray(288)
    struct.pack_into("<IIIIqIIII", payload, 0, 4096, 0, 1, 1, 0, 0, 0, 0, 1)
    struct.pack_into("<IIII", payload, 40, 1, 8, 0, 1000)
    struct.pack_into("<qqqII", payload, 248, 0, 10_000_000, 132_000_000_000_000_000, 1, 0)
    return struct.pack("<HBBHHIIqII", 2, 2, 0xC0, 32 + len(payload), 0, 1, 1, 5000, 0, 0) + payload


def _thread_start(ts: int, pid: int, tid: int) -> bytes:
    payload = struct.pack("<II", pid, tid) + bytes(64)
    rec = struct.pack("<HBBHHIIqII", 3, 2, 0xC0, 32 + len(payload), 0x0501, tid, pid, ts, 0, 0)
    return (rec + payload).ljust((len(rec) + len(payload) + 7) & ~7, b"\x00")


def test_synthetic_buffer_with_filler_and_thread_events() -> None:
    records = _trace_header_record() + _thread_start(5000 + 10_000, 7, 70)
    records += b"\xff" * 8 + _thread_start(6000, 8, 80)  # after the filler: never read
    summary = scan_stream(io.BytesIO(_buffer(records)))
    assert summary.event_counts == {"EventTrace/Header": 1, "Thread/Start": 1}
    (proc,) = summary.processes
    assert proc.pid == 7 and proc.threads == (70,)
    assert summary.duration_ns == 1_000_000


@pytest.mark.parametrize(("name", "records", "message"), [
    ("unknown header type", _trace_header_record() + b"\x10\x00\x7f\xc0" + bytes(12),
     "unknown event header type"),
    ("record larger than its buffer", _trace_header_record()
     + struct.pack("<HBBHH", 2, 2, 0xC0, 4000, 0x0501) + bytes(24), "does not fit"),
    ("no marker bit", _trace_header_record() + bytes(32), "no event marker"),
    ("first record is not the trace header", _thread_start(1, 2, 3), "not an ETL trace"),
])
def test_synthetic_corrupt_records_raise_one_line_etl_errors(name: str, records: bytes,
                                                             message: str) -> None:
    with pytest.raises(EtlError, match=message) as info:
        scan_stream(io.BytesIO(_buffer(records)))
    assert "\n" not in str(info.value)


def test_not_an_etl_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.etl"
    text.write_text("hello, this is not a trace\n" * 10)
    with pytest.raises(EtlError):
        summarize(text)
    empty = tmp_path / "empty.etl"
    empty.write_bytes(b"")
    with pytest.raises(EtlError, match="no events"):
        summarize(empty)
    with pytest.raises(EtlError, match="cannot read"):
        summarize(tmp_path / "missing.etl")


def test_zip_input_is_read_in_place_and_equals_the_plain_file(tmp_path: Path) -> None:
    raw = _need(SHUTDOWN).read_bytes()
    archive = tmp_path / "trace.etl.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes.txt", "not a trace")
        z.writestr("dir/shutdown.etl", raw)
    before = sorted(tmp_path.iterdir())
    zipped = summarize(archive)
    assert sorted(tmp_path.iterdir()) == before  # nothing extracted
    plain = summarize(SHUTDOWN)
    assert zipped.event_counts == plain.event_counts
    assert zipped.stats.etl_bytes == len(raw)


def test_zip_with_zero_or_two_traces_or_a_bad_crc(tmp_path: Path) -> None:
    none = tmp_path / "none.zip"
    with zipfile.ZipFile(none, "w") as z:
        z.writestr("a.txt", "x")
    with pytest.raises(EtlError, match=r"holds 0 \.etl files"):
        summarize(none)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.etl", b"x")
        z.writestr("b.etl", b"y")
    with pytest.raises(EtlError, match=r"holds 2 \.etl files"):
        summarize(two)
    raw = _need(SHUTDOWN).read_bytes()[:3 * 65536]
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("t.etl", raw)
    data = bytearray(bad.read_bytes())
    at = data.find(raw[70000:70016])
    data[at] ^= 0xFF  # corrupt the stored member: the CRC check fails at its end
    bad.write_bytes(bytes(data))
    with pytest.raises(EtlError):
        summarize(bad)
