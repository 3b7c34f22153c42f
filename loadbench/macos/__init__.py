"""macOS decoders, pure and testable on any OS: text or bytes in, frozen dataclasses out.

``dtrace`` reads dtrace's default output and the records of ``probes/macos/loadbench.d``;
``rusage_info`` decodes ``struct rusage_info_v4`` from ``proc_pid_rusage`` and converts mach
absolute time. Every decoder raises ``ParseError`` (``loadbench.errors``) with a one-line message
when its input is malformed, and nothing else, so they are unit-tested from captured outputs and
fuzzed. The probes that use them are ``probes/macos_rusage.py`` and ``probes/macos_dtrace.py``.
"""

from __future__ import annotations

from loadbench.errors import ParseError, excerpt

__all__ = ["ParseError", "excerpt"]
