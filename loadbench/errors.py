"""The one error type users see, and the few errors that belong to no single module.

Every error loadbench raises on purpose derives from ``LoadbenchError``; its ``str()`` is one line
saying what was wrong and what to do. The CLI catches exactly this class and prints
``loadbench: error: <message>`` with exit code 2; anything else that escapes is a bug and keeps
its traceback. Module errors (``RunError``, ``RecordError``, ``StatsError`` ...) stay where they
are raised, deriving from this base and, where callers rely on it, from a builtin as well
(``ValueError`` for bad values, ``RuntimeError`` for failed operations).
"""

from __future__ import annotations


class LoadbenchError(Exception):
    """An error meant for the user: ``str()`` is one line (newlines in the message are folded)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(" ".join(str(message).split()))


class Terminated(BaseException):
    """SIGTERM or SIGHUP outside a run (a run turns them into a stop after the launch in
    flight): raised in the main thread so that every ``finally`` runs and a tool started
    through ``_proc`` is ended with its whole process group."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class OutputError(LoadbenchError, OSError):
    """An output file cannot be written (missing directory, no space, permissions).

    Also an ``OSError``, so code that handles I/O failures of its own writes handles these too.
    ``reason`` is the system's own reason (``strerror``) when there was one.
    """

    def __init__(self, message: str = "", reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class ParseError(LoadbenchError, ValueError):
    """Tool output or a file a parser cannot read; ``str()`` says where and what.

    The one parse error of the perf, macOS and ETL decoders (``EtlError`` derives from it)."""


def excerpt(text: str, limit: int = 60) -> str:
    """A short, printable quote of ``text`` for error messages."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


# Text loadbench writes for people (reports, CSV, the terminal) shows bytes that are not UTF-8
# as \xNN. Python holds such bytes of paths, arguments and environment as lone surrogates
# (U+DC80-U+DCFF, "surrogateescape"); records keep them exactly, as JSON's \udcNN escapes.
DISPLAY_ERRORS = "loadbench.display"


def _display(e: UnicodeError) -> tuple[str, int]:
    if not isinstance(e, UnicodeEncodeError):
        raise e
    bad = e.object[e.start:e.end]
    out = "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                  else c.encode("utf-8", "backslashreplace").decode("ascii") for c in bad)
    return out, e.end


def display(text: str) -> str:
    """``text`` as people are shown it: bytes that are not UTF-8 as \\xNN (for consumers such
    as matplotlib, which take a ``str`` and cannot take lone surrogates)."""
    register_display_errors()
    return text.encode("utf-8", DISPLAY_ERRORS).decode("utf-8")


def register_display_errors() -> None:
    import codecs

    try:
        codecs.lookup_error(DISPLAY_ERRORS)
    except LookupError:
        codecs.register_error(DISPLAY_ERRORS, _display)
