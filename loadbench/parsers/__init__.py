"""Pure parsers of tool output: text or bytes in, frozen dataclasses out, no I/O and no OS checks.

Every parser here raises ``ParseError`` (a ``ValueError``) with a one-line message when its input is
malformed, and nothing else, so they can be unit-tested on any OS from captured outputs and fuzzed.
One module per tool family: ``macos_dtrace`` (dtrace's default output and ``loadbench.d`` records),
``macos_dyld`` (``DYLD_PRINT_STATISTICS`` and ``dyld_usage -j``), ``macos_time``
(``/usr/bin/time -l``) and ``macos_rusage`` (``struct rusage_info_v4``).
"""

from __future__ import annotations

from loadbench.errors import ParseError, excerpt

__all__ = ["ParseError", "excerpt"]
