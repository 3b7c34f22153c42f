"""dtrace output: one line tokenizer, a reader for dtrace's default format, and loadbench.d records.

``tokenize`` classifies every line dtrace can print (its own ``dtrace:`` messages, the
``CPU ID FUNCTION:NAME`` table, probe firings, aggregation rows, quantize histograms, the ``LB``
records of ``probes/macos/loadbench.d`` and free text) without ever failing. Two readers build on
it: ``parse_dtrace_output`` turns default-format output (as in the DTTk examples shipped with
Apple's dtrace) into descriptions, firings, aggregations, histograms and column tables, and
``parse_dtrace_lines`` turns a ``loadbench.d`` session into per-pid launch records with
exec/exit timestamps and VM fault counts. Message classification (SIP warning, missing
privileges, drops, errors) lives here too so the probe maps dtrace failures from the same tokens.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from loadbench.macos import ParseError, excerpt

# The first word of every line loadbench.d prints; see the script's header for the format.
RECORD_TAG = "LB"


class LineKind(enum.StrEnum):
    BLANK = "blank"
    MESSAGE = "message"  # "dtrace: ..." (dtrace's stderr, merged into the stream)
    PROBE_HEADER = "probe-header"  # "CPU     ID                    FUNCTION:NAME"
    PROBE = "probe"  # "  0   3297   exec_common:exec-success   man ls"
    AGG_ROW = "agg-row"  # "  dtrace                                   1720"
    HIST_HEADER = "hist-header"  # "value  ------------- Distribution ------------- count"
    HIST_ROW = "hist-row"  # "   32 |@@@@@@@@@@@@@@@@@                        15"
    RECORD = "record"  # "LB exec 123 1 456789 hello" (loadbench.d)
    TEXT = "text"  # anything else: printf output, prose, "^C", stack frames


class MessageKind(enum.StrEnum):
    DESCRIPTION = "description"  # "description 'proc:::exec-success ' matched 1 probe"
    SIP_WARNING = "sip-warning"  # a warning: dtrace still runs
    PRIVILEGES = "privileges"  # not root
    DROPS = "drops"  # data lost: counts from this session are lower bounds
    ERROR = "error"
    OTHER = "other"


class FaultKind(enum.StrEnum):
    """The vminfo probes loadbench.d counts. xnu fires ``as_fault`` for every fault except
    copy-on-write ones and ``cow_fault`` for those (together: all faults); ``zfod`` (zero fill)
    and ``maj_fault`` (went to the pager) are kinds of fault; ``pgin`` counts page-ins."""

    AS_FAULT = "as_fault"
    ZFOD = "zfod"
    COW_FAULT = "cow_fault"
    MAJ_FAULT = "maj_fault"
    PGIN = "pgin"


@dataclass(frozen=True, slots=True)
class DtraceLine:
    """One classified line. ``fields`` depend on ``kind``:

    PROBE ``(cpu, id, function, name, data)``; AGG_ROW ``(*keys, value)``; HIST_ROW
    ``(bucket, count)``; MESSAGE ``(body,)``; RECORD ``(type, rest)``; others ``()``.
    """

    lineno: int
    kind: LineKind
    text: str
    fields: tuple[str, ...] = ()


_A = re.ASCII
# Patterns below are matched against the stripped line, so none starts with a \s* that could
# backtrack quadratically on long runs of blanks.
_MESSAGE = re.compile(r"dtrace: (.*)", _A)
_PROBE_HEADER = re.compile(r"CPU\s+ID\s+FUNCTION:NAME", _A)
# FUNCTION may be empty (":BEGIN") and may itself contain colons; NAME may not.
_PROBE = re.compile(r"([0-9]+)\s+([0-9]+)\s+(\S*):([^\s:]+)(?:\s+(.*))?", _A)
_HIST_HEADER = re.compile(r"value\s+-+\s*Distribution\s*-+\s*count", _A)
_HIST_ROW = re.compile(r"((?:<|>=|>)? ?-?[0-9]+)\s+\|[@ ]*([0-9]+)", _A)
_RECORD = re.compile(RECORD_TAG + r" (\S+)(?: (.*))?", _A)
_KEY_SPLIT = re.compile(r"\s{2,}", _A)
_DESCRIPTION = re.compile(r"description '(.*)' matched ([0-9]+) probes?\s*", _A)
_DROPS = re.compile(r"[0-9]+ (?:[a-z]+ )*drops?\b", _A)
_TOKEN = re.compile(r"\S+", _A)
_DIGITS = frozenset("0123456789")


def _agg_row(line: str) -> tuple[str, ...] | None:
    """``(*keys, value)`` when ``line`` looks like a default aggregation printout row."""
    if not line[:1].isspace():
        return None
    s = line.rstrip()
    i = len(s)
    while i > 0 and s[i - 1] in _DIGITS:
        i -= 1
    if i == len(s):
        return None
    if i > 0 and s[i - 1] == "-":
        i -= 1
    value = s[i:]
    j = i
    while j > 0 and s[j - 1] in " \t":
        j -= 1
    keys = s[:j].strip()
    # dtrace prints aggregation values right-aligned in a 16-wide column after the keys, so a
    # single space before the number only happens for very long values; requiring two keeps
    # "  sleep 5"-like text out.
    if not keys or j == i or value == "-" or (i - j < 2 and len(value) < 15):
        return None
    return (*_KEY_SPLIT.split(keys), value)


def _classify(lineno: int, line: str) -> DtraceLine:
    s = line.strip()
    if not s:
        return DtraceLine(lineno, LineKind.BLANK, line)
    m = _RECORD.fullmatch(line)
    if m:
        return DtraceLine(lineno, LineKind.RECORD, line, (m.group(1), m.group(2) or ""))
    m = _MESSAGE.fullmatch(s)
    if m:
        return DtraceLine(lineno, LineKind.MESSAGE, line, (m.group(1).strip(),))
    if _PROBE_HEADER.fullmatch(s):
        return DtraceLine(lineno, LineKind.PROBE_HEADER, line)
    if _HIST_HEADER.fullmatch(s):
        return DtraceLine(lineno, LineKind.HIST_HEADER, line)
    m = _HIST_ROW.fullmatch(s)
    if m:
        return DtraceLine(lineno, LineKind.HIST_ROW, line, (m.group(1), m.group(2)))
    m = _PROBE.fullmatch(s)
    if m:
        return DtraceLine(lineno, LineKind.PROBE, line,
                          (m.group(1), m.group(2), m.group(3), m.group(4), m.group(5) or ""))
    agg = _agg_row(line)
    if agg is not None:
        return DtraceLine(lineno, LineKind.AGG_ROW, line, agg)
    return DtraceLine(lineno, LineKind.TEXT, line)


def tokenize(text: str) -> Iterator[DtraceLine]:
    """Classify each line of ``text`` (1-based line numbers). Never fails on a ``str``."""
    if not isinstance(text, str):
        raise ParseError(f"dtrace output must be text, not {type(text).__name__}")
    for lineno, line in enumerate(text.splitlines(), 1):
        yield _classify(lineno, line.rstrip("\r\n"))


def classify_message(body: str) -> MessageKind:
    """What a ``dtrace: <body>`` line means for the session."""
    low = body.lower()
    if _DESCRIPTION.fullmatch(body):
        return MessageKind.DESCRIPTION
    if "system integrity protection is on" in low:
        return MessageKind.SIP_WARNING
    if "requires additional privileges" in low or "permission denied" in low:
        return MessageKind.PRIVILEGES
    if _DROPS.match(low):
        return MessageKind.DROPS
    if any(w in low for w in ("error", "failed", "invalid", "cannot", "can't", "not ")):
        return MessageKind.ERROR
    return MessageKind.OTHER


# --------------------------------------------------------------------------------------------
# dtrace's default output format


@dataclass(frozen=True, slots=True)
class ProbeDescription:
    """``dtrace: description 'SPEC' matched N probes``."""

    lineno: int
    spec: str
    matched: int


@dataclass(frozen=True, slots=True)
class ProbeFiring:
    """One row under ``CPU ID FUNCTION:NAME``; ``data`` is what the clause traced, stripped."""

    lineno: int
    cpu: int
    probe_id: int
    function: str
    name: str
    data: str


@dataclass(frozen=True, slots=True)
class AggregationRow:
    lineno: int
    keys: tuple[str, ...]
    value: int


@dataclass(frozen=True, slots=True)
class Aggregation:
    """One printed aggregation: consecutive rows (blank lines allowed between them)."""

    rows: tuple[AggregationRow, ...]

    def as_dict(self) -> dict[tuple[str, ...], int]:
        return {r.keys: r.value for r in self.rows}


@dataclass(frozen=True, slots=True)
class Histogram:
    """A ``quantize``/``lquantize`` printout: ``key`` is the line above its header (may be "")."""

    lineno: int
    key: str
    buckets: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(c for _, c in self.buckets)


@dataclass(frozen=True, slots=True)
class Table:
    """Columns printed by a D script's printf (DTTk style: ``UID PID PPID ARGS``).

    Cells are matched to headers by position: numbers are right-aligned under their header, text
    is left-aligned, and the last column takes the rest of the line verbatim.
    """

    lineno: int
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def as_dicts(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass(frozen=True, slots=True)
class DtraceOutput:
    descriptions: tuple[ProbeDescription, ...] = ()
    messages: tuple[DtraceLine, ...] = ()  # every other "dtrace:" line, in order
    firings: tuple[ProbeFiring, ...] = ()
    aggregations: tuple[Aggregation, ...] = ()
    histograms: tuple[Histogram, ...] = ()
    tables: tuple[Table, ...] = ()
    text: tuple[DtraceLine, ...] = ()  # lines nothing above claimed (prose, printf output)


_HEADER_WORD = re.compile(r"[A-Z%][A-Z0-9_%()/.:-]*", _A)


def _table_header(line: DtraceLine) -> tuple[tuple[int, int, str], ...] | None:
    if line.kind is not LineKind.TEXT:
        return None
    spans = tuple((m.start(), m.end(), m.group()) for m in _TOKEN.finditer(line.text))
    if len(spans) >= 2 and all(_HEADER_WORD.fullmatch(w) for _, _, w in spans):
        return spans
    return None


def _table_row(spans: tuple[tuple[int, int, str], ...], text: str) -> tuple[str, ...] | None:
    cells: list[list[str]] = [[] for _ in spans]
    last = len(spans) - 1
    last_start: int | None = None
    col = 0
    for m in _TOKEN.finditer(text):
        s, e = m.span()
        idx = next((i for i, (hs, he, _) in enumerate(spans) if s < he and e > hs), None)
        if idx is None:
            # Between headers: text columns (e.g. a multi-word STRTIME) spill to the right of
            # their header, so the token belongs to the nearest header starting before it.
            idx = max((i for i, (hs, _, _) in enumerate(spans) if hs <= s), default=0)
        col = max(col, idx)  # cells never go back left
        if col == last:
            last_start = s
            break
        cells[col].append(m.group())
    if last_start is None or any(not c for c in cells[:last]):
        return None
    return (*(" ".join(c) for c in cells[:last]), text[last_start:].rstrip())


def parse_dtrace_output(text: str) -> DtraceOutput:
    """Read dtrace's default output (and prose around it, as in the DTTk example files)."""
    descriptions: list[ProbeDescription] = []
    messages: list[DtraceLine] = []
    firings: list[ProbeFiring] = []
    aggregations: list[Aggregation] = []
    histograms: list[Histogram] = []
    tables: list[Table] = []
    rest: list[DtraceLine] = []

    agg: list[AggregationRow] = []
    hist: tuple[int, str, list[tuple[str, int]]] | None = None
    table: tuple[int, tuple[tuple[int, int, str], ...], list[tuple[str, ...]]] | None = None
    prev: DtraceLine | None = None

    def close_agg() -> None:
        if agg:
            aggregations.append(Aggregation(tuple(agg)))
            agg.clear()

    def close_hist() -> None:
        nonlocal hist
        if hist is not None:
            histograms.append(Histogram(hist[0], hist[1], tuple(hist[2])))
            hist = None

    def close_table() -> None:
        nonlocal table
        if table is not None:
            if table[2]:
                tables.append(Table(table[0], tuple(w for _, _, w in table[1]), tuple(table[2])))
            else:
                rest.append(prev_header)
            table = None

    prev_header = DtraceLine(0, LineKind.TEXT, "")
    for line in tokenize(text):
        kind = line.kind
        if table is not None:
            row = _table_row(table[1], line.text) if kind in (LineKind.TEXT,
                                                               LineKind.AGG_ROW) else None
            if row is not None:
                table[2].append(row)
                prev = line
                continue
            close_table()
        if hist is not None and kind is not LineKind.HIST_ROW:
            close_hist()
        if agg and kind not in (LineKind.AGG_ROW, LineKind.BLANK):
            close_agg()

        if kind is LineKind.MESSAGE:
            m = _DESCRIPTION.fullmatch(line.fields[0])
            if m:
                descriptions.append(ProbeDescription(line.lineno, m.group(1).strip(),
                                                     int(m.group(2))))
            else:
                messages.append(line)
        elif kind is LineKind.PROBE:
            cpu, pid_, func, name, data = line.fields
            firings.append(ProbeFiring(line.lineno, int(cpu), int(pid_), func, name, data))
        elif kind is LineKind.AGG_ROW:
            agg.append(AggregationRow(line.lineno, line.fields[:-1], int(line.fields[-1])))
        elif kind is LineKind.HIST_HEADER:
            key = ""
            if prev is not None and prev.kind in (LineKind.TEXT, LineKind.AGG_ROW):
                key = prev.text.strip()
                if rest and rest[-1] is prev:
                    rest.pop()  # the key line belongs to the histogram, not to the prose
            hist = (line.lineno, key, [])
        elif kind is LineKind.HIST_ROW:
            if hist is None:
                hist = (line.lineno, "", [])
            hist[2].append((line.fields[0], int(line.fields[1])))
        elif kind is LineKind.TEXT:
            spans = _table_header(line)
            if spans is not None:
                table = (line.lineno, spans, [])
                prev_header = line
            else:
                rest.append(line)
        elif kind is LineKind.RECORD:
            rest.append(line)
        if kind is not LineKind.BLANK:
            prev = line
    close_table()
    close_hist()
    close_agg()
    return DtraceOutput(tuple(descriptions), tuple(messages), tuple(firings), tuple(aggregations),
                        tuple(histograms), tuple(tables), tuple(rest))


# --------------------------------------------------------------------------------------------
# loadbench.d records


@dataclass(frozen=True, slots=True)
class DtraceLaunch:
    """One process life seen by loadbench.d: from its exec-success to its exit.

    Timestamps are D's ``timestamp`` (ns, mach_absolute_time based). ``execs`` > 1 means the
    process exec'ed again before exiting; ``exec_ns`` is the first exec. A process that never
    exec'ed (or exec'ed before the session began) has ``exec_ns`` None.
    """

    pid: int
    ppid: int | None = None
    execname: str | None = None
    exec_ns: int | None = None
    exit_ns: int | None = None
    exit_reason: int | None = None  # proc:::exit arg0 (xnu always passes 1, CLD_EXITED)
    execs: int = 0

    @property
    def exec_to_exit_ns(self) -> int | None:
        if self.exec_ns is None or self.exit_ns is None or self.exit_ns < self.exec_ns:
            return None
        return self.exit_ns - self.exec_ns


@dataclass(frozen=True, slots=True)
class DtraceSession:
    """Everything one ``loadbench.d`` session printed, by pid.

    Fault counts are summed per pid over the whole session, so for a pid that lived more than
    once (``reused_pids``) they cannot be split between its lives.
    """

    launcher_pid: int | None = None
    begin_ns: int | None = None
    end_ns: int | None = None
    launches: tuple[DtraceLaunch, ...] = ()
    faults: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    reused_pids: frozenset[int] = frozenset()
    messages: tuple[DtraceLine, ...] = ()  # dtrace's own lines (warnings, drops, errors)

    @property
    def drops(self) -> tuple[str, ...]:
        return tuple(m.fields[0] for m in self.messages
                     if classify_message(m.fields[0]) is MessageKind.DROPS)

    def launches_for(self, pid: int) -> tuple[DtraceLaunch, ...]:
        return tuple(x for x in self.launches if x.pid == pid)

    def faults_for(self, pid: int) -> dict[str, int]:
        """Counts of every ``FaultKind`` for ``pid`` (0 where the probe never fired)."""
        got = self.faults.get(pid, {})
        return {str(k): int(got.get(str(k), 0)) for k in FaultKind}


_REC_FIELDS = {
    "begin": re.compile(r"([0-9]+) ([0-9]+)", _A),
    "exec": re.compile(r"([0-9]+) ([0-9]+) ([0-9]+) (.*)", _A),
    "exit": re.compile(r"([0-9]+) ([0-9]+) (-?[0-9]+)", _A),
    "fault": re.compile(r"([0-9]+) (\S+) ([0-9]+)", _A),
    "end": re.compile(r"([0-9]+)", _A),
}
_FAULT_KINDS = frozenset(str(k) for k in FaultKind)


def parse_dtrace_lines(text: str) -> DtraceSession:
    """Read a ``loadbench.d`` session into per-pid launches and fault counts.

    dtrace prints each CPU's buffer in turn, so lines are not in time order across CPUs: events
    are sorted by timestamp per pid before exec and exit are paired. Lines that are not ``LB``
    records are ignored except ``dtrace:`` messages, which are kept; default-format aggregation
    rows ``<pid>  <kind>  <count>`` (dtrace's own END printout) count as fault records too.
    """
    launcher: int | None = None
    begin: int | None = None
    end: int | None = None
    events: dict[int, list[tuple[int, int, tuple[str, ...]]]] = {}  # pid -> (ts, order, fields)
    faults: dict[int, dict[str, int]] = {}
    messages: list[DtraceLine] = []
    order = 0
    for line in tokenize(text):
        if line.kind is LineKind.MESSAGE:
            messages.append(line)
            continue
        if line.kind is LineKind.AGG_ROW and len(line.fields) == 3:
            pid_s, kind, count = line.fields
            if pid_s.isascii() and pid_s.isdigit() and kind in _FAULT_KINDS:
                faults.setdefault(int(pid_s), {})[kind] = int(count)
            continue
        if line.kind is not LineKind.RECORD:
            continue
        rtype, rest = line.fields
        pattern = _REC_FIELDS.get(rtype)
        if pattern is None:
            raise ParseError(f"line {line.lineno}: unknown loadbench.d record {rtype!r}")
        m = pattern.fullmatch(rest)
        if m is None:
            raise ParseError(f"line {line.lineno}: malformed {RECORD_TAG} {rtype} record "
                             f"{excerpt(line.text)}")
        g = m.groups()
        order += 1
        if rtype == "begin":
            launcher, begin = int(g[0]), int(g[1])
        elif rtype == "end":
            end = int(g[0])
        elif rtype == "exec":
            events.setdefault(int(g[0]), []).append((int(g[2]), order, ("exec", g[1], g[3])))
        elif rtype == "exit":
            events.setdefault(int(g[0]), []).append((int(g[1]), order, ("exit", g[2])))
        else:
            if g[1] not in _FAULT_KINDS:
                raise ParseError(f"line {line.lineno}: unknown fault kind {g[1]!r}")
            faults.setdefault(int(g[0]), {})[g[1]] = int(g[2])

    launches: list[DtraceLaunch] = []
    reused: set[int] = set()
    for pid, evs in events.items():
        lives: list[DtraceLaunch] = []
        current: DtraceLaunch | None = None
        for ts, _, f in sorted(evs):
            if f[0] == "exec":
                if current is None:
                    current = DtraceLaunch(pid, int(f[1]), f[2], ts, None, None, 1)
                else:  # exec again in the same life: keep the first exec, count this one
                    current = DtraceLaunch(pid, current.ppid, f[2], current.exec_ns, None, None,
                                           current.execs + 1)
            else:
                base = current or DtraceLaunch(pid)
                lives.append(DtraceLaunch(pid, base.ppid, base.execname, base.exec_ns, ts,
                                          int(f[1]), base.execs))
                current = None
        if current is not None:
            lives.append(current)
        if len(lives) > 1:
            reused.add(pid)
        launches.extend(lives)
    launches.sort(key=lambda x: (x.exec_ns if x.exec_ns is not None else (x.exit_ns or 0), x.pid))
    return DtraceSession(launcher, begin, end, tuple(launches),
                         {p: dict(k) for p, k in faults.items()}, frozenset(reused),
                         tuple(messages))
