"""Pure parsers of tool output: text or bytes in, frozen dataclasses out, no I/O and no OS checks.

Every parser here raises ``ParseError`` (a ``ValueError``) with a one-line message when its input is
malformed, and nothing else, so they can be unit-tested on any OS from captured outputs and fuzzed.
One module per tool family: ``macos_dtrace`` (dtrace's default output and ``loadbench.d`` records),
``macos_dyld`` (``DYLD_PRINT_STATISTICS`` and ``dyld_usage -j``), ``macos_time``
(``/usr/bin/time -l``) and ``macos_rusage`` (``struct rusage_info_v4``).
"""

from __future__ import annotations


class ParseError(ValueError):
    """Input a parser cannot read; ``str()`` is one line saying where and what."""

    def __init__(self, message: str) -> None:
        # Keep the message on one line whatever the offending input contained.
        super().__init__(" ".join(str(message).split()))


def excerpt(text: str, limit: int = 60) -> str:
    """A short, printable quote of ``text`` for error messages."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")
