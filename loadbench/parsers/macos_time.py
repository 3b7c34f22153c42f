"""macOS ``/usr/bin/time -l`` output, so hand measurements can be imported as Samples.

The format is shell_cmds ``time/time.c``: one ``%9d.%02d real %9d.%02d user %9d.%02d sys`` line
(or ``real``/``user``/``sys`` lines with ``-p``), then with ``-l`` one ``%20ld  <label>`` line
per ``struct rusage`` field and, on recent macOS, ``instructions retired``, ``cycles elapsed``
and ``peak memory footprint`` from ``proc_pid_rusage(RUSAGE_INFO_V4)``. On macOS
``maximum resident set size`` is in bytes, ``page reclaims`` is ru_minflt and ``page faults`` is
ru_majflt. Times are printed in hundredths of a second, which is what ``to_sample`` records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadbench.model import LaunchStatus, Sample
from loadbench.parsers import ParseError

_A = re.ASCII
_CS_NS = 10_000_000  # time.c prints centiseconds

_REAL_LINE = re.compile(r"([0-9]+)\.([0-9]{2}) real\s+([0-9]+)\.([0-9]{2}) user\s+"
                        r"([0-9]+)\.([0-9]{2}) sys", _A)
# -p: "real %9d%s%02d" with the locale's radix character.
_PORTABLE = re.compile(r"(real|user|sys)\s+([0-9]+)[.,]([0-9]{2})", _A)
_COUNT = re.compile(r"(-?[0-9]+)  (\S.*)", _A)
_ABNORMAL = "Command terminated abnormally."

# label printed by time.c -> TimeL field
_LABELS = {
    "maximum resident set size": "max_rss_bytes",
    "average shared memory size": "avg_shared_memory_size",
    "average unshared data size": "avg_unshared_data_size",
    "average unshared stack size": "avg_unshared_stack_size",
    "page reclaims": "page_reclaims",
    "page faults": "page_faults",
    "swaps": "swaps",
    "block input operations": "block_input_ops",
    "block output operations": "block_output_ops",
    "messages sent": "messages_sent",
    "messages received": "messages_received",
    "signals received": "signals_received",
    "voluntary context switches": "voluntary_context_switches",
    "involuntary context switches": "involuntary_context_switches",
    "instructions retired": "instructions_retired",
    "cycles elapsed": "cycles_elapsed",
    "peak memory footprint": "peak_memory_footprint_bytes",
}


@dataclass(frozen=True, slots=True)
class TimeL:
    """One ``/usr/bin/time [-l] [-p]`` report. Fields of lines that were not printed are None
    (no ``-l``, or an older macOS without the rusage_info lines); ``other`` keeps count lines
    with labels this parser does not know."""

    real_ns: int
    user_ns: int
    sys_ns: int
    max_rss_bytes: int | None = None
    avg_shared_memory_size: int | None = None
    avg_unshared_data_size: int | None = None
    avg_unshared_stack_size: int | None = None
    page_reclaims: int | None = None  # ru_minflt
    page_faults: int | None = None  # ru_majflt
    swaps: int | None = None
    block_input_ops: int | None = None
    block_output_ops: int | None = None
    messages_sent: int | None = None
    messages_received: int | None = None
    signals_received: int | None = None
    voluntary_context_switches: int | None = None
    involuntary_context_switches: int | None = None
    instructions_retired: int | None = None
    cycles_elapsed: int | None = None
    peak_memory_footprint_bytes: int | None = None
    abnormal: bool = False  # "Command terminated abnormally." (killed by a signal)
    portable: bool = False  # printed with -p
    other: Mapping[str, int] = field(default_factory=dict)

    @property
    def has_rusage(self) -> bool:
        return self.max_rss_bytes is not None


def _runs(text: str) -> list[TimeL]:
    if not isinstance(text, str):
        raise ParseError(f"/usr/bin/time output must be text, not {type(text).__name__}")
    runs: list[TimeL] = []
    cur: dict[str, Any] | None = None
    portable: dict[str, int] = {}
    abnormal = False

    def finish() -> None:
        nonlocal cur
        if cur is not None:
            runs.append(TimeL(**cur))
            cur = None

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line == _ABNORMAL:
            finish()
            abnormal = True
            continue
        m = _REAL_LINE.fullmatch(line)
        if m:
            finish()
            g = [int(x) for x in m.groups()]
            cur = {"real_ns": (g[0] * 100 + g[1]) * _CS_NS, "user_ns": (g[2] * 100 + g[3]) * _CS_NS,
                   "sys_ns": (g[4] * 100 + g[5]) * _CS_NS, "abnormal": abnormal, "other": {}}
            abnormal = False
            continue
        m = _PORTABLE.fullmatch(line)
        if m:
            key = m.group(1)
            if key == "real":
                finish()
                portable = {}
            elif "real" not in portable or key in portable:
                raise ParseError(f"line {lineno}: '{key}' line of time -p without the "
                                 "'real' line before it")
            portable[key] = (int(m.group(2)) * 100 + int(m.group(3))) * _CS_NS
            if len(portable) == 3:
                cur = {"real_ns": portable["real"], "user_ns": portable["user"],
                       "sys_ns": portable["sys"], "abnormal": abnormal, "portable": True,
                       "other": {}}
                abnormal = False
                portable = {}
            continue
        if cur is None:
            continue  # the command's own output before the report
        m = _COUNT.fullmatch(line)
        if m is None:
            continue
        label, value = " ".join(m.group(2).split()), int(m.group(1))
        name = _LABELS.get(label)
        if name is None:
            cur["other"][label] = value
        elif name in cur:
            raise ParseError(f"line {lineno}: {label!r} twice in one time -l report")
        else:
            cur[name] = value
    if portable:
        raise ParseError("time -p report cut short: missing "
                         + ", ".join(k for k in ("user", "sys") if k not in portable))
    finish()
    return runs


def parse_time_l_runs(text: str) -> tuple[TimeL, ...]:
    """Every ``/usr/bin/time`` report in ``text`` (e.g. a log of many runs), in order."""
    return tuple(_runs(text))


def parse_time_l(text: str) -> TimeL:
    """The single ``/usr/bin/time`` report in ``text``; lines the command printed are skipped."""
    runs = _runs(text)
    if not runs:
        raise ParseError("no '<s> real <s> user <s> sys' line from /usr/bin/time")
    if len(runs) > 1:
        raise ParseError(f"{len(runs)} /usr/bin/time reports in one text; "
                         "use parse_time_l_runs")
    return runs[0]


def to_sample(timel: TimeL, index: int, *, exit_code: int | None = 0) -> Sample:
    """A Sample from a ``time -l`` report. ``exit_code`` is the command's status as the shell
    saw it (time -l does not print it); wall/user/sys have 10 ms resolution, recorded in
    ``extra["time_resolution_ns"]``."""
    if not timel.has_rusage:
        raise ParseError("this /usr/bin/time report has no -l lines: faults and RSS are unknown")
    if timel.abnormal:
        status = LaunchStatus.SIGNALED
    elif exit_code == 0:
        status = LaunchStatus.OK
    else:
        status = LaunchStatus.EXIT_NONZERO
    extra: dict[str, Any] = {"source": "usr-bin-time-l", "time_resolution_ns": _CS_NS,
                             "voluntary_context_switches": timel.voluntary_context_switches,
                             "involuntary_context_switches": timel.involuntary_context_switches}
    if timel.instructions_retired:
        extra["instructions"] = timel.instructions_retired
    if timel.cycles_elapsed:
        extra["cycles"] = timel.cycles_elapsed
    if timel.peak_memory_footprint_bytes:
        extra["peak_footprint_bytes"] = timel.peak_memory_footprint_bytes
    return Sample(index=index, status=status, wall_ns=timel.real_ns, user_ns=timel.user_ns,
                  sys_ns=timel.sys_ns, faults_minor=timel.page_reclaims or 0,
                  faults_major=timel.page_faults or 0, max_rss_bytes=timel.max_rss_bytes or 0,
                  exit_code=None if timel.abnormal else exit_code, signal=None, extra=extra)
