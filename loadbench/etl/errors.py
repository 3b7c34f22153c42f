"""The one exception the ETL decoder raises: ``EtlError``, a ``ValueError`` whose ``str()`` is a
one-line message naming what was wrong and where (buffer index, file offset). Anything a damaged,
truncated or foreign file provokes inside the decoder is turned into this type, so callers (the CLI,
the windows-etw probe) catch exactly one thing.
"""

from __future__ import annotations

from loadbench.errors import ParseError


class EtlError(ParseError):
    """The input is not a readable ETL trace (truncated, corrupt, or not ETL at all)."""
