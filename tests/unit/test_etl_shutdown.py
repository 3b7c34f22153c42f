"""The ETL decoder on a real uncompressed kernel-logger trace (etl-parser's ShutdownPerfDiagLogger).

Windows 10 build 18362, 2 CPUs, 49 buffers of 64 KiB, about 17,000 records: process rundown and
ends, threads, image loads/unloads/rundown; no page faults, no Process/Start. The per-class counts
are checked against two independent routes that share no code with ``loadbench.etl``:

* a deliberately naive byte scan: every 8-byte-aligned position inside a buffer's filled part
  whose marker says "classic kernel header" (third byte 0x01-0x04 or 0x10/0x11, fourth byte 0xC0)
  and whose hook id (bytes 6-7) is the event's. It never follows record sizes, so a reader bug in
  size chaining cannot hide in it. It can over-count: ETW does not clear the padding between
  records, and stale headers from an earlier use of the buffer show through there (seen for
  Image/DCStart, Image/UnLoad and Process/DCStart). For Process/End and Image/Load the naive count
  is exact, and the test proves each surplus of the others sits inside padding.
* a minimal size-chaining walk (below, 20 lines) that reads only marker, size and hook id.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections import Counter
from pathlib import Path

import pytest

from loadbench.etl import summarize
from loadbench.etl.summarize import TraceSummary

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "windows"
TRACE = FIXTURES / "etl-parser-ShutdownPerfDiagLogger.etl"

HOOKS = {  # hook id (group << 8 | opcode) of each classic event
    "Process/End": 0x0302, "Process/DCStart": 0x0303, "Process/DCEnd": 0x0304,
    "Process/Terminate": 0x030B, "Process/Defunct": 0x0327, "Image/Load": 0x030A,
    "Image/UnLoad": 0x1402, "Image/DCStart": 0x1403, "Image/DCEnd": 0x1404,
    "Thread/Start": 0x0501, "Thread/End": 0x0502, "Thread/DCStart": 0x0503,
    "Thread/DCEnd": 0x0504,
}


@pytest.fixture(scope="module")
def raw() -> bytes:
    return TRACE.read_bytes()


@pytest.fixture(scope="module")
def summary(raw: bytes) -> TraceSummary:
    return summarize(TRACE)


def _filled(raw: bytes) -> list[tuple[int, bytes]]:
    """(file offset, filled bytes) of each 64 KiB buffer; the filled size is the header's 2nd
    dword. This file is uncompressed with fixed-size buffers, so no reader logic is needed."""
    return [(off, raw[off:off + struct.unpack_from("<I", raw, off + 4)[0]])
            for off in range(0, len(raw), 65536)]


def naive_positions(raw: bytes, hook: int) -> list[int]:
    pattern = re.compile(rb"..[\x01-\x04\x10\x11]\xc0.." + re.escape(hook.to_bytes(2, "little")),
                         re.S)
    return [off + m.start() for off, buf in _filled(raw) for m in pattern.finditer(buf)
            if m.start() >= 72 and m.start() % 8 == 0]


def walk(raw: bytes) -> tuple[Counter[int], dict[int, int]]:
    """Hook id counts and record start offset -> size, following each record's size field."""
    counts: Counter[int] = Counter()
    starts: dict[int, int] = {}
    for off, buf in _filled(raw):
        pos = 72
        while pos + 8 <= len(buf):
            htype = buf[pos + 2]
            size_at = pos + 4 if htype in (1, 2, 3, 4, 0x10, 0x11) else pos
            size = struct.unpack_from("<H", buf, size_at)[0]
            if htype in (1, 2, 3, 4, 0x10, 0x11):
                counts[struct.unpack_from("<H", buf, pos + 6)[0]] += 1
            starts[off + pos] = size
            pos += (size + 7) & ~7
    return counts, starts


def test_per_class_counts(summary: TraceSummary) -> None:
    assert summary.class_counts() == {"EventTrace": 8, "Image": 13753, "Process": 256,
                                      "Thread": 3058}
    c = summary.event_counts
    assert (c["Process/End"], c["Process/Terminate"], c["Process/DCStart"],
            c["Process/DCEnd"], c["Process/Defunct"]) == (60, 60, 94, 37, 5)
    assert (c["Image/Load"], c["Image/UnLoad"], c["Image/DCStart"],
            c["Image/DCEnd"]) == (72, 4791, 6745, 2145)
    assert (c["Thread/Start"], c["Thread/End"], c["Thread/DCStart"],
            c["Thread/DCEnd"]) == (350, 1032, 1175, 501)
    assert "Process/Start" not in c and "PageFault/HardFault" not in c
    assert summary.stats.events == 17_078 and summary.stats.buffers == 49
    assert summary.stats.compressed_buffers == 0 and summary.stats.malformed == {}
    assert summary.unknown_counts == {"EventTrace/opcode80": 1, "Image/opcode33": 1,
                                      "Image/opcode34": 1}


def test_process_end_and_image_load_equal_a_naive_byte_scan(
        raw: bytes, summary: TraceSummary) -> None:
    assert len(naive_positions(raw, HOOKS["Process/End"])) == summary.event_counts[
        "Process/End"] == 60
    assert len(naive_positions(raw, HOOKS["Image/Load"])) == summary.event_counts[
        "Image/Load"] == 72


def test_every_class_equals_an_independent_walk(raw: bytes, summary: TraceSummary) -> None:
    counts, starts = walk(raw)
    ordered = sorted(starts)
    for name, hook in HOOKS.items():
        assert summary.event_counts.get(name, 0) == counts[hook], name
        naive = naive_positions(raw, hook)
        surplus = [p for p in naive if p not in starts]
        # The naive scan never misses a record, and what it adds are stale headers whose marker
        # bytes (offsets 2-3) lie in the padding after a record's last byte.
        assert len(naive) - len(surplus) == counts[hook], name
        for p in surplus:
            record = ordered[bisect.bisect_right(ordered, p) - 1]
            assert record + starts[record] <= p + 2 < record + ((starts[record] + 7) & ~7)


def test_processes_are_assembled_from_rundown_and_ends(summary: TraceSummary) -> None:
    ended = [p for p in summary.processes if p.end_ns is not None]
    assert len(ended) == 60
    assert all(p.start_ns is None and p.lifetime_ns is None for p in ended)  # no Process/Start
    sec = [p for p in ended if p.image == "SecurityHealthSystray.exe"]
    assert len(sec) == 1 and sec[0].pid == 6780
    # The trace header is written at boot by the autologger; the shutdown events come ~8.2 h
    # later, which is what the time since trace start says.
    assert 29_500_000 < sec[0].end_ns / 1e6 < 29_600_000
    h = summary.header
    assert (h.num_cpus, h.os_build, h.logger_name) == (2, 18362, "PerfDiag Logger")
