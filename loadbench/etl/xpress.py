"""Decompressor for the [MS-XCA] "plain LZ77" format (XPRESS without Huffman), the codec Windows
uses for compressed ETL buffers (WMI buffer flag 0x40). A pure function over bytes, written from the
algorithm in the [MS-XCA] specification, section 2.4 (decompression): 32-bit little-endian flag
words, one bit per token from the most significant; a 0 bit is a literal byte, a 1 bit a 16-bit
match token (offset-1 in the top 13 bits, length-3 in the low 3) with the length extended through a
shared half-byte, then a byte, then a 16-bit and a 32-bit field. Literal runs and non-overlapping
matches are copied as slices, which is what makes a pure-Python decoder fast enough for whole
traces.
"""

from __future__ import annotations

from loadbench.etl.errors import EtlError


class XpressError(EtlError):
    """The compressed stream is malformed or does not expand to the announced size."""


def decompress(data: bytes | bytearray | memoryview, expected_size: int) -> bytes:
    """Expand ``data`` and return exactly ``expected_size`` bytes.

    ``expected_size`` is both the check (a stream that ends early or runs long is corrupt) and the
    guard against length fields that would expand a few bytes into gigabytes.
    """
    src = bytes(data)
    n = len(src)
    out = bytearray()
    olen = 0  # len(out), kept by hand: len() in the token loop costs a noticeable share
    i = 0
    half = -1  # position of the byte whose high nibble the next long length will use
    try:
        while i + 4 <= n and olen <= expected_size:
            # Leftover bytes too short for a flag word are padding: [MS-XCA] ends a stream after
            # a flag word's last token or at a match bit with no input left.
            flags = int.from_bytes(src[i:i + 4], "little")
            i += 4
            bit = 31
            while bit >= 0:
                # Copy the run of literal (0) bits at and below ``bit`` in one slice.
                low = flags & ((2 << bit) - 1)
                run = bit + 1 if low == 0 else bit - low.bit_length() + 1
                if run:
                    out += src[i:i + run]
                    i += run
                    if i > n:  # the input ended inside the literal run
                        olen = len(out)
                        i = n
                        break
                    olen += run
                    bit -= run
                    if bit < 0:
                        break
                if i >= n:
                    break  # a match bit with no input left marks the end of the stream
                token = src[i] | (src[i + 1] << 8)
                i += 2
                length = token & 7
                offset = (token >> 3) + 1
                if length == 7:
                    if half < 0:
                        length = src[i] & 15
                        half = i
                        i += 1
                    else:
                        length = src[half] >> 4
                        half = -1
                    if length == 15:
                        length = src[i]
                        i += 1
                        if length == 255:
                            length = src[i] | (src[i + 1] << 8)
                            i += 2
                            if length == 0:
                                if i + 4 > n:
                                    raise IndexError
                                length = int.from_bytes(src[i:i + 4], "little")
                                i += 4
                            if length < 22:
                                raise XpressError(f"xpress: match length field {length} below 22 "
                                                  f"at input byte {i}")
                            length -= 22
                        length += 15
                    length += 7
                length += 3
                start = olen - offset
                if start < 0 or olen + length > expected_size:
                    raise XpressError(f"xpress: match (offset {offset}, length {length}) at input "
                                      f"byte {i} reaches outside the {expected_size}-byte output "
                                      f"({olen} bytes decoded)")
                if offset >= length:
                    out += out[start:start + length]
                else:
                    # Overlapping match: the last ``offset`` bytes repeat; build them in one go.
                    out += (out[start:] * (length // offset + 1))[:length]
                olen += length
                bit -= 1
    except IndexError:
        raise XpressError(f"xpress: compressed stream ends inside a token (input {n} bytes, "
                          f"{len(out)} bytes decoded)") from None
    if len(out) != expected_size:
        raise XpressError(f"xpress: stream expands to {len(out)} bytes, expected {expected_size}")
    return bytes(out)
