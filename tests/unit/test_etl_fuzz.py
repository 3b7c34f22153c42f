"""Damaged inputs never make the ETL decoder raise anything but ``EtlError``.

Random bytes, random bytes behind a real first buffer, every buffer boundary of a real
uncompressed file and of the start of a real compressed one cut exactly (a valid, shorter trace)
and cut one byte off either side (a truncated trace), and bit flips anywhere in real buffers,
including the compressed payloads that go through the XPRESS decoder.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbench.etl import EtlError
from loadbench.etl.reader import iter_buffers
from loadbench.etl.summarize import TraceSummary, scan_stream

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "windows"
SHUTDOWN = FIXTURES / "etl-parser-ShutdownPerfDiagLogger.etl"
PERFVIEW = FIXTURES / "perfview-net.4.5.2.x64.etl.zip"


def _shutdown() -> bytes:
    return SHUTDOWN.read_bytes()


def _perfview_head(buffers: int) -> tuple[bytes, list[int]]:
    """The first ``buffers`` buffers of PerfView's compressed trace and their end offsets."""
    with zipfile.ZipFile(PERFVIEW) as z, z.open("net.4.5.2.x64.etl") as f:
        raw = f.read(400_000)
    ends, off = [], 0
    while len(ends) < buffers:
        off += int.from_bytes(raw[off:off + 4], "little")
        ends.append(off)
    return raw[:off], ends


def decode_or_etl_error(data: bytes) -> TraceSummary | None:
    """The whole pipeline (reader, XPRESS, payloads, assembly, JSON and text rendering)."""
    try:
        summary = scan_stream(io.BytesIO(data))
    except EtlError as exc:
        assert "\n" not in str(exc)
        return None
    from loadbench.etl import render_text

    summary.to_json()
    render_text(summary)
    return summary


def buffers_or_etl_error(data: bytes) -> int | None:
    """Only the buffer layer (headers, sizes, decompression): where truncation is detected."""
    try:
        return sum(1 for _ in iter_buffers(io.BytesIO(data)))
    except EtlError:
        return None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    decode_or_etl_error(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=70_000))
def test_random_bytes_after_a_real_first_buffer(tail: bytes) -> None:
    first = _shutdown()[:65536]
    assert decode_or_etl_error(first + tail) is None or len(tail) >= 72


def test_every_buffer_boundary_of_the_uncompressed_trace() -> None:
    raw = _shutdown()
    events = 0
    for k, end in enumerate(range(65536, len(raw) + 1, 65536), start=1):
        assert buffers_or_etl_error(raw[:end]) == k  # a cut at a boundary is a shorter trace
        assert buffers_or_etl_error(raw[:end - 1]) is None  # the last buffer lost a byte
        if end < len(raw):
            assert buffers_or_etl_error(raw[:end + 1]) is None  # a 1-byte buffer header
            assert buffers_or_etl_error(raw[:end + 100]) is None  # a header without its body
        if k % 12 == 1 or end == len(raw):
            summary = decode_or_etl_error(raw[:end])
            assert summary is not None and summary.stats.events > events
            events = summary.stats.events
    assert events == 17_078


def test_every_buffer_boundary_of_the_compressed_trace() -> None:
    head, ends = _perfview_head(13)
    for k, end in enumerate(ends[:-1], start=1):
        assert buffers_or_etl_error(head[:end]) == k
        assert buffers_or_etl_error(head[:end - 1]) is None  # compressed payload cut short
        assert buffers_or_etl_error(head[:end + 1]) is None
        assert buffers_or_etl_error(head[:end + 73]) is None
    summary = decode_or_etl_error(head)
    assert summary is not None and summary.stats.compressed_buffers == 12


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, bit in flips:
        out[pos % len(out)] ^= 1 << bit
    return bytes(out)


_FLIPS = st.lists(st.tuples(st.integers(min_value=0, max_value=1 << 30),
                            st.integers(min_value=0, max_value=7)), min_size=1, max_size=12)


@settings(max_examples=120, deadline=None)
@given(_FLIPS)
def test_bit_flips_in_uncompressed_buffers(flips: list[tuple[int, int]]) -> None:
    decode_or_etl_error(_flip(_shutdown()[:4 * 65536], flips))


@settings(max_examples=120, deadline=None)
@given(_FLIPS, st.booleans())
def test_bit_flips_in_compressed_buffers(flips: list[tuple[int, int]], headers: bool) -> None:
    head, ends = _perfview_head(6)
    if headers:
        # Aim at the buffer headers and the first bytes of each payload, where sizes live.
        starts = [0, *ends[:-1]]
        flips = [(starts[p % len(starts)] + (p >> 8) % 120, b) for p, b in flips]
    decode_or_etl_error(_flip(head, flips))
