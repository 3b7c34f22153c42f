"""The [MS-XCA] plain LZ77 decoder: hand-made (synthetic) streams, a round trip through a small test
encoder written from the format description, malformed streams, and real ETL buffers.

Every stream built by hand or by the test encoder is synthetic and says so in the test name; the
last test decodes real compressed buffers from PerfView's trace.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbench.etl.errors import EtlError
from loadbench.etl.xpress import XpressError, decompress

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "windows"


def test_synthetic_literals_only() -> None:
    # Flag word: three literal bits (0), then 1s: a match bit with no input left ends the stream.
    assert decompress(b"\xff\xff\xff\x1f" + b"abc", 3) == b"abc"


def test_synthetic_thirty_two_literals_then_end_of_input() -> None:
    data = bytes(range(32))
    assert decompress(b"\x00\x00\x00\x00" + data, 32) == data


def test_synthetic_abc_times_100_uses_byte_and_16_bit_lengths() -> None:
    # "abc", then a match at offset 3 of length 297: token 7 -> half byte 15 -> byte 255 ->
    # 16-bit field 294 (= 297 - 3).
    stream = bytes.fromhex("ffffff1f 616263 1700 0f ff 2601".replace(" ", ""))
    assert decompress(stream, 300) == b"abc" * 100


def test_synthetic_overlapping_match_repeats_the_last_byte() -> None:
    # literal 'a', then offset 1 length 9 (token low bits 6): "a" * 10.
    assert decompress(b"\xff\xff\xff\x7f" + b"a" + b"\x06\x00", 10) == b"a" * 10


def test_synthetic_two_long_matches_share_one_half_byte() -> None:
    # "abcd", match(offset 4, length 12) reads the low nibble (2) of the next byte, the following
    # long match(offset 4, length 20) its high nibble (10) and reads no byte of its own.
    stream = b"\xff\xff\xff\x0f" + b"abcd" + b"\x1f\x00" + b"\xa2" + b"\x1f\x00"
    assert decompress(stream, 36) == b"abcd" * 9


def test_synthetic_32_bit_match_length() -> None:
    # 16-bit field 0 announces a 32-bit length: 70000 + 3 bytes copied from offset 1.
    long_length = (70000).to_bytes(4, "little")
    stream = b"\xff\xff\xff\x7f" + b"x" + b"\x07\x00\x0f\xff\x00\x00" + long_length
    assert decompress(stream, 70004) == b"x" * 70004


@pytest.mark.parametrize(("name", "stream", "size"), [
    ("offset before start", b"\xff\xff\xff\x7f" + b"a" + b"\x08\x00", 4),
    ("token cut in half", b"\xff\xff\xff\x7f" + b"a" + b"\x06", 10),
    ("length field below 22", b"\xff\xff\xff\x7f" + b"x" + b"\x07\x00\x0f\xff\x05\x00", 40),
    ("32-bit length cut", b"\xff\xff\xff\x7f" + b"x" + b"\x07\x00\x0f\xff\x00\x00\x01", 40),
    ("output longer than announced", b"\xff\xff\xff\x7f" + b"a" + b"\x06\x00", 5),
    ("output shorter than announced", b"\xff\xff\xff\x1f" + b"abc", 4),
    ("half-byte missing", b"\xff\xff\xff\x7f" + b"a" + b"\x07\x00", 20),
])
def test_synthetic_malformed_streams_raise_xpress_error(name: str, stream: bytes,
                                                         size: int) -> None:
    with pytest.raises(XpressError) as info:
        decompress(stream, size)
    assert isinstance(info.value, EtlError) and "\n" not in str(info.value)


def test_synthetic_huge_length_is_refused_before_allocating() -> None:
    stream = b"\xff\xff\xff\x7f" + b"x" + b"\x07\x00\x0f\xff\x00\x00" + b"\xff\xff\xff\xff"
    with pytest.raises(XpressError, match="outside"):
        decompress(stream, 65536)


# --- round trip through a test encoder --------------------------------------------------------

def encode(data: bytes, window: int = 256) -> bytes:
    """A greedy plain-LZ77 encoder for tests, written from the [MS-XCA] format: flag words
    (MSB first, 1 = match), matches of length >= 3 at offsets 1..8192, lengths extended through a
    shared half byte, a byte, a 16-bit and a 32-bit field; unused flag bits set to 1."""
    out = bytearray(4)
    flag_at, flags, nflags = 0, 0, 0
    half_at: int | None = None

    def flag(bit: int) -> None:
        nonlocal flag_at, flags, nflags
        if nflags == 32:
            out[flag_at:flag_at + 4] = flags.to_bytes(4, "little")
            flag_at, flags, nflags = len(out), 0, 0
            out.extend(b"\x00\x00\x00\x00")
        flags = (flags << 1) | bit
        nflags += 1

    i = 0
    while i < len(data):
        best_len, best_off = 0, 0
        for off in range(1, min(i, window, 8192) + 1):
            n = 0
            while i + n < len(data) and data[i + n] == data[i + n - off]:
                n += 1
            if n > best_len:
                best_len, best_off = n, off
        if best_len < 3:
            flag(0)
            out.append(data[i])
            i += 1
            continue
        flag(1)
        m = best_len - 3
        token = (best_off - 1) << 3
        if m < 7:
            out += (token | m).to_bytes(2, "little")
        else:
            out += (token | 7).to_bytes(2, "little")
            nibble = min(m - 7, 15)
            if half_at is None:
                half_at = len(out)
                out.append(nibble)
            else:
                out[half_at] |= nibble << 4
                half_at = None
            if m - 7 >= 15:
                rest = m - 22
                if rest < 255:
                    out.append(rest)
                else:
                    out.append(255)
                    if m < 65536:
                        out += m.to_bytes(2, "little")
                    else:
                        out += b"\x00\x00" + m.to_bytes(4, "little")
        i += best_len
    if nflags == 32:
        out[flag_at:flag_at + 4] = flags.to_bytes(4, "little")
        out += b"\xff\xff\xff\xff"
    else:
        flags = (flags << (32 - nflags)) | ((1 << (32 - nflags)) - 1)
        out[flag_at:flag_at + 4] = flags.to_bytes(4, "little")
    return bytes(out)


_CHUNKS = [b"ab", b"abc", b"\x00" * 20, b"xyz" * 7, bytes(range(10)), b"q" * 300, b"\xff"]
_DATA = st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from(_CHUNKS), max_size=60).map(b"".join),
)


@settings(max_examples=150, deadline=None)
@given(_DATA)
def test_synthetic_round_trip_through_a_test_encoder(data: bytes) -> None:
    assert decompress(encode(data), len(data)) == data


def test_synthetic_round_trip_long_runs_use_every_length_form() -> None:
    for n in (3, 9, 10, 24, 25, 279, 280, 65538, 70000):
        data = b"k" + bytes([n % 251]) * n
        assert decompress(encode(data, window=4), len(data)) == data


def test_real_perfview_buffers_expand_to_their_filled_size() -> None:
    path = FIXTURES / "perfview-net.4.5.2.x64.etl.zip"
    with zipfile.ZipFile(path) as z, z.open("net.4.5.2.x64.etl") as f:
        raw = f.read(200_000)
    off = struct.unpack_from("<I", raw, 0)[0]  # skip the uncompressed header buffer
    checked = 0
    while off + 72 <= len(raw) and checked < 8:
        size, filled = struct.unpack_from("<II", raw, off)
        flag = struct.unpack_from("<H", raw, off + 0x34)[0]
        if off + size > len(raw):
            break
        assert flag & 0x40
        out = decompress(raw[off + 72:off + size], filled - 72)
        assert len(out) == filled - 72
        assert out[3] & 0x80  # the first record's marker byte
        checked += 1
        off += size
    assert checked == 8
