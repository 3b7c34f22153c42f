"""dyld's own launch timings: ``DYLD_PRINT_STATISTICS(_DETAILS)`` text and ``dyld_usage -j`` JSON.

``parse_dyld_statistics`` reads what dyld2 (dyld-852 and earlier, macOS 11 and earlier) prints
on stderr: the ``Total pre-main time`` block with its phase lines and "slowest intializers"
(upstream typo kept), and the ``total time`` details block. Formats follow dyld-852.2
``ImageLoader.cpp`` ``printTime``: ``N.NN milliseconds (P.P%)`` below one second, ``N.N seconds
(P.P%)`` above, names right-aligned in 30 (or 42) columns. dyld4 ignores the variables silently,
so text without any of these lines is ``unsupported``, never zero. ``parse_dyld_usage_json``
reads ``sudo dyld_usage -j`` (macOS 12+): one JSON object per root event (``app_launch`` with
``map_image``, ``apply_fixups``, ``static_init``... children, nanoseconds as strings) and sums
phase durations per event type.
"""

from __future__ import annotations

import bisect
import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadbench.parsers import ParseError, excerpt

_A = re.ASCII


class DyldStatus(enum.StrEnum):
    OK = "ok"
    UNSUPPORTED = "unsupported"  # no statistics printed: dyld4 (macOS 12+) or variable stripped


@dataclass(frozen=True, slots=True)
class DyldTiming:
    """One ``printTime`` line. ``time_us`` is exact to what dyld printed; ``resolution_us`` is
    how coarse that is (10 us for ``N.NN milliseconds``, 100 ms for ``N.N seconds``)."""

    name: str
    time_us: int
    percent: float
    resolution_us: int

    @property
    def ms(self) -> float:
        return self.time_us / 1000


@dataclass(frozen=True, slots=True)
class DyldStats:
    """``DYLD_PRINT_STATISTICS`` (and ``_DETAILS``) of one launch.

    ``phases`` are the lines between the total and "slowest intializers" (dylib loading,
    rebase/binding, ObjC setup, initializer); ``slowest_initializers`` lists images whose
    initializers took at least 2% of the total (dyld's own cut-off). ``details_*`` come from
    ``DYLD_PRINT_STATISTICS_DETAILS``: timings by label, counts (images loaded, fixups...) and
    every initializer above 0.1%.
    """

    status: DyldStatus
    reason: str = ""
    total_pre_main: DyldTiming | None = None
    phases: tuple[DyldTiming, ...] = ()
    slowest_initializers: tuple[DyldTiming, ...] = ()
    details_timings: tuple[DyldTiming, ...] = ()
    details_counts: Mapping[str, int] = field(default_factory=dict)
    details_initializers: tuple[DyldTiming, ...] = ()

    @property
    def supported(self) -> bool:
        return self.status is DyldStatus.OK

    @property
    def total_pre_main_us(self) -> int | None:
        return None if self.total_pre_main is None else self.total_pre_main.time_us

    def phase(self, name: str) -> DyldTiming:
        for p in (*self.phases, *self.details_timings):
            if p.name == name:
                return p
        raise KeyError(name)


# "<label>: <value> milliseconds (<pct>%)": the label may contain ':' (greedy to the last one);
# dyld-852 prints two decimals, older dyld one, and "% 4d.%d" padding inside the parentheses.
_TIMING = re.compile(
    r"(?P<label>.*):\s+(?P<int>[0-9]+)\.(?P<frac>[0-9]{1,2}) (?P<unit>milliseconds|seconds)"
    r" \(\s*(?P<pi>[0-9]+)\.(?P<pf>[0-9])%\)", _A)
# Only dyld's own headline: a target may well print "total time: ..." on its stderr.
_TOTAL_LABEL = re.compile(r"Total pre-main time\s*:.*", _A)
_SLOWEST = re.compile(r"slowest in(?:i)?tializers\s*:", _A)
_NUM = r"[0-9]+(?:,[0-9]{3})*"  # dyld's commatize(): 2,131,938
_COUNT = re.compile(rf"total (?P<what>[^:]+):\s+(?P<num>{_NUM})(?P<rest>.*)", _A)
_PAGES = re.compile(rf", into ({_NUM}) pages(?: with ({_NUM}) pages pre-fetched)?", _A)
_SHARED_CACHE = re.compile(rf" \(({_NUM}) from dyld shared cache\)", _A)
_OF = re.compile(rf" of ({_NUM})", _A)
_INIT_HEAD = ("total time in initializers", "total initializer time")


def _timing(m: re.Match[str]) -> DyldTiming:
    whole, frac = int(m["int"]), m["frac"]
    if m["unit"] == "seconds":
        # printTime switches to "N.N seconds" at one second: tenths of a second.
        scale, step = 1_000_000, 10 ** (6 - len(frac))
    else:
        scale, step = 1_000, 10 ** (3 - len(frac))
    return DyldTiming(m["label"].strip(), whole * scale + int(frac) * step,
                      float(f"{m['pi']}.{m['pf']}"), step)


def _int(s: str) -> int:
    return int(s.replace(",", ""))


def parse_dyld_statistics(text: str) -> DyldStats:
    """Read dyld2's statistics from a launch's stderr (other lines of the target are skipped)."""
    if not isinstance(text, str):
        raise ParseError(f"dyld statistics must be text, not {type(text).__name__}")
    total: DyldTiming | None = None
    phases: list[DyldTiming] = []
    slowest: list[DyldTiming] = []
    d_timings: list[DyldTiming] = []
    d_counts: dict[str, int] = {}
    d_inits: list[DyldTiming] = []
    mode = ""  # "" | "phases" | "slowest" | "details" | "details-init"
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            if mode in ("slowest", "details-init"):
                mode = ""
            continue
        m = _TIMING.fullmatch(line)
        if m is None and _TOTAL_LABEL.fullmatch(line):
            raise ParseError(f"line {lineno}: malformed dyld total {excerpt(line)}")
        if m is not None:
            t = _timing(m)
            if t.name == "Total pre-main time":
                if total is not None:
                    raise ParseError(f"line {lineno}: a second 'Total pre-main time': "
                                     "statistics of several launches in one text")
                total, mode = t, "phases"
            elif t.name == "total time" or (mode.startswith("details")
                                            and t.name.startswith("total")):
                d_timings.append(t)
                mode = "details-init" if t.name.startswith(_INIT_HEAD) else "details"
            elif mode == "phases":
                phases.append(t)
            elif mode == "slowest" and t.name:
                slowest.append(t)
            elif mode == "details-init" and t.name:
                d_inits.append(t)
            continue
        if _SLOWEST.fullmatch(line):
            if mode != "phases":
                raise ParseError(f"line {lineno}: 'slowest intializers' without a "
                                 "'Total pre-main time' line before it")
            mode = "slowest"
            continue
        c = _COUNT.fullmatch(line)
        if c is not None and mode in ("details", "details-init"):
            what, rest = c["what"].strip(), c["rest"]
            d_counts[what] = _int(c["num"])
            if (pm := _PAGES.match(rest)) is not None:
                d_counts["pages mapped"] = _int(pm[1])
                if pm[2]:
                    d_counts["pages pre-fetched"] = _int(pm[2])
            elif (sm := _SHARED_CACHE.match(rest)) is not None:
                d_counts[f"{what} from dyld shared cache"] = _int(sm[1])
            elif (om := _OF.match(rest)) is not None:
                d_counts[f"{what} possible"] = _int(om[1])
            mode = "details"
            continue
        if mode in ("slowest", "details-init"):
            mode = "" if mode == "slowest" else "details"
    if total is None and not d_timings:
        return DyldStats(DyldStatus.UNSUPPORTED,
                         "no DYLD_PRINT_STATISTICS output: dyld4 (macOS 12 and later) ignores it; "
                         "use 'sudo dyld_usage -j' there")
    return DyldStats(DyldStatus.OK, "", total, tuple(phases), tuple(slowest), tuple(d_timings),
                     d_counts, tuple(d_inits))


# --------------------------------------------------------------------------------------------
# dyld_usage -j


@dataclass(frozen=True, slots=True)
class DyldUsageEvent:
    """One dyld tracing interval. ``end_ns`` is None for an interval dyld_usage saw start but
    not end (it prints ``end_nano`` "0" then). ``attrs`` keeps the other string fields
    (``result``, ``image_address``, ``state``...)."""

    type: str
    start_ns: int
    end_ns: int | None
    path: str | None = None
    children: tuple[DyldUsageEvent, ...] = ()
    attrs: Mapping[str, str] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int | None:
        if self.end_ns is None or self.end_ns < self.start_ns:
            return None
        return self.end_ns - self.start_ns

    def walk(self) -> list[DyldUsageEvent]:
        out: list[DyldUsageEvent] = []
        stack: list[DyldUsageEvent] = [self]
        while stack:
            ev = stack.pop()
            out.append(ev)
            stack.extend(reversed(ev.children))
        return out


# The phases loadbench reports for every launch, present (possibly 0) even when not traced.
DYLD_USAGE_PHASES = ("map_image", "apply_fixups", "static_init")


@dataclass(frozen=True, slots=True)
class DyldUsageRecord:
    """One root event of ``dyld_usage -j`` with the process it came from.

    ``phases_ns`` sums, per event type, the durations of the outermost events of that type under
    this root (a ``map_image`` inside a ``dlopen`` inside a ``static_init`` counts once, for
    each type), so nested intervals are not double counted; ``counts`` counts events per type;
    ``interrupted`` counts intervals without an end.
    """

    event: DyldUsageEvent
    command: str | None = None
    pid: int | None = None
    thread: str | None = None
    phases_ns: Mapping[str, int] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    interrupted: int = 0

    @property
    def type(self) -> str:
        return self.event.type

    @property
    def total_ns(self) -> int | None:
        return self.event.duration_ns


_NANO = re.compile(r"[0-9]{1,20}", _A)
# dyld_usage streams "mode" as a bare hexadecimal number (std::hex, no quotes), which is not
# JSON as soon as it has a letter in it: quote it before decoding.
_MODE = re.compile(r'("mode"\s*:\s*)([0-9a-fA-F]+)(?=\s*[,}])', _A)


def _nano(obj: Mapping[str, Any], key: str, where: str) -> int:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise ParseError(f"{where}: {key} missing or not a string of digits")
    s = str(v)
    if not _NANO.fullmatch(s):
        raise ParseError(f"{where}: {key} is not a nanosecond count: {excerpt(s)}")
    return int(s)


def _event(obj: Any, where: str, depth: int = 0) -> DyldUsageEvent:
    if depth > 200:
        raise ParseError(f"{where}: events nested more than 200 deep")
    if not isinstance(obj, dict):
        raise ParseError(f"{where}: event is not a JSON object")
    etype = obj.get("type")
    if not isinstance(etype, str) or not etype:
        raise ParseError(f"{where}: event without a 'type'")
    start = _nano(obj, "start_nano", where)
    end = _nano(obj, "end_nano", where)
    kids = obj.get("children", [])
    if not isinstance(kids, list):
        raise ParseError(f"{where}: 'children' of {etype} is not a list")
    path = obj.get("path")
    attrs = {k: v for k, v in obj.items()
             if isinstance(v, str) and k not in ("type", "path", "start_nano", "end_nano")}
    return DyldUsageEvent(etype, start, end or None, path if isinstance(path, str) else None,
                          tuple(_event(k, f"{where} > {etype}", depth + 1) for k in kids), attrs)


def _summarize(root: DyldUsageEvent) -> tuple[dict[str, int], dict[str, int], int]:
    phases = dict.fromkeys(DYLD_USAGE_PHASES, 0)
    counts: dict[str, int] = {}
    interrupted = 0
    stack: list[tuple[DyldUsageEvent, frozenset[str]]] = [(root, frozenset())]
    while stack:
        ev, above = stack.pop()
        counts[ev.type] = counts.get(ev.type, 0) + 1
        dur = ev.duration_ns
        if dur is None:
            interrupted += 1
        elif ev.type not in above:
            phases[ev.type] = phases.get(ev.type, 0) + dur
        stack.extend((k, above | {ev.type}) for k in ev.children)
    if root.type not in DYLD_USAGE_PHASES:  # the root's own span is total_ns, not a phase
        phases.pop(root.type, None)
    return phases, counts, interrupted


def parse_dyld_usage_json(text: str) -> tuple[DyldUsageRecord, ...]:
    """Read ``dyld_usage -j`` output: JSON objects one after another (one per line as the tool
    writes them), or a JSON array of them. Each object is either the tool's wrapper
    ``{"command", "pid", "thread", "event": {...}}`` or a bare event."""
    if not isinstance(text, str):
        raise ParseError(f"dyld_usage output must be text, not {type(text).__name__}")
    text = _MODE.sub(r'\1"0x\2"', text)
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    decoder = json.JSONDecoder()
    objs: list[tuple[int, Any]] = []
    pos = 0
    try:
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if pos >= len(text):
                break
            start = pos
            obj, pos = decoder.raw_decode(text, pos)
            if isinstance(obj, list):
                objs.extend((start, o) for o in obj)
            else:
                objs.append((start, obj))
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise ParseError(f"line {line_at(pos)}: not dyld_usage JSON: {str(e)[:80]}") from None
    records: list[DyldUsageRecord] = []
    for start, obj in objs:
        where = f"line {line_at(start)}"
        if not isinstance(obj, dict):
            raise ParseError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        command = pid = thread = None
        if "event" in obj:
            command = obj.get("command") if isinstance(obj.get("command"), str) else None
            raw_pid = obj.get("pid")
            if raw_pid is not None:
                if not _NANO.fullmatch(str(raw_pid)) or isinstance(raw_pid, bool):
                    raise ParseError(f"{where}: pid is not a number: {excerpt(str(raw_pid))}")
                pid = int(str(raw_pid))
            thread = str(obj["thread"]) if obj.get("thread") is not None else None
            obj = obj["event"]
        try:
            ev = _event(obj, where)
        except RecursionError:
            raise ParseError(f"{where}: events nested too deep") from None
        phases, counts, interrupted = _summarize(ev)
        records.append(DyldUsageRecord(ev, command, pid, thread, phases, counts, interrupted))
    return tuple(records)


def app_launches(records: tuple[DyldUsageRecord, ...]) -> tuple[DyldUsageRecord, ...]:
    """The ``app_launch`` roots (process start-up), dropping runtime dlopen/dlsym roots."""
    return tuple(r for r in records if r.type == "app_launch")
