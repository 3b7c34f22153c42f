"""Parse ``perf script`` text into launch events: mappings, faults, markers and lost records.

Expected invocation (``SCRIPT_FIELDS`` and ``script_argv`` in ``session``):
``perf script --ns --show-mmap-events --show-lost-events -F pid,tid,time,event,addr,trace``.
Lines look like ``  5009/5009    929.393069059:   <event>: <payload>``. A page fault appears as
two records on the same thread: the ``exceptions:page_fault_{user,kernel}`` tracepoint (address
and x86 error code, at fault entry) and then the ``minor-faults``/``major-faults`` software
event (emitted only when the kernel accounts the fault). ``iter_events`` pairs them, so each
``Fault`` is one accounted fault carrying its error code; a software event with no matching
tracepoint keeps ``error_code=None`` (its kind is unknown, never guessed).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from loadbench.perf import ParseError


class MarkerKind(enum.StrEnum):
    EXECVE = "execve"  # syscalls:sys_enter_execve
    EXEC = "exec"  # sched:sched_process_exec
    EXIT = "exit"  # sched:sched_process_exit (one per thread)
    UPROBE = "uprobe"  # any other tracepoint: a uprobe loadbench created


@dataclass(frozen=True, slots=True)
class Mmap:
    """A PERF_RECORD_MMAP2 (or MMAP): ``path`` is a file, ``//anon``, ``[stack]``, ``[vdso]``..."""

    pid: int
    tid: int
    time_ns: int
    start: int
    length: int
    pgoff: int
    prot: str  # "r-xp"; "" when perf printed none
    path: str


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault the kernel accounted (and counted in rusage)."""

    pid: int
    tid: int
    time_ns: int
    address: int
    major: bool
    error_code: int | None  # x86 page-fault error code; None when no tracepoint was paired
    kernel_mode: bool  # taken in the kernel on the process's behalf (copy_to_user, ...)


@dataclass(frozen=True, slots=True)
class Marker:
    pid: int
    tid: int
    time_ns: int
    kind: MarkerKind
    name: str = ""  # uprobe: "group:event"; exec: the filename
    group_dead: bool | None = None  # exit: True for the process's last thread (None: unknown)


@dataclass(frozen=True, slots=True)
class Lost:
    """Records perf dropped (ring buffer full): launches around ``time_ns`` are incomplete."""

    time_ns: int
    count: int


Event = Mmap | Fault | Marker | Lost

_FAULT_SW = {"minor-faults": False, "major-faults": True}
_EXC = {"exceptions:page_fault_user": False, "exceptions:page_fault_kernel": True}


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes superscripts and such, which int() rejects."""
    return text.isascii() and text.isdigit()


def _time_ns(text: str, line: str) -> int:
    sec, dot, frac = text.partition(".")
    if not dot or not _digits(sec) or not _digits(frac):
        raise ParseError(f"perf script: bad timestamp {text!r} in line: {line.strip()[:160]}")
    # --ns prints 9 digits; anything shorter is scaled, never misread as nanoseconds.
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


def _hex(text: str, line: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise ParseError(
            f"perf script: expected a hex number, got {text!r} in line: {line.strip()[:160]}"
        ) from None


def _field(payload: str, key: str, line: str) -> str:
    i = payload.find(key)
    if i < 0:
        raise ParseError(f"perf script: no {key!r} in line: {line.strip()[:160]}")
    j = i + len(key)
    k = payload.find(" ", j)
    return payload[j:] if k < 0 else payload[j:k]


def _mmap(pid: int, tid: int, t: int, rest: str, line: str) -> Mmap | None:
    # "PERF_RECORD_MMAP2 5009/5009: [0x400000(0x2f2000) @ 0 fe:00 2195457 839828820]: r-xp /p"
    lb = rest.find("[")
    rb = rest.find("]: ", lb)
    if lb < 0 or rb < 0:
        raise ParseError(f"perf script: malformed mmap record: {line.strip()[:160]}")
    inner = rest[lb + 1 : rb]
    addr, sep, after = inner.partition(" @ ")
    start_s, _, len_s = addr.partition("(")
    if not sep or not len_s.endswith(")"):
        raise ParseError(f"perf script: malformed mmap record: {line.strip()[:160]}")
    start = _hex(start_s, line)
    length = _hex(len_s[:-1], line)
    pgoff = _hex(after.split(" ", 1)[0], line)
    tail = rest[rb + 3 :].rstrip("\n")
    prot, _, path = tail.partition(" ")
    if not path:  # old PERF_RECORD_MMAP without a protection column
        prot, path = "", tail
    if pid < 0 or start >= 1 << 63:
        return None  # the kernel's own image: no user process faults there
    return Mmap(pid, tid, t, start, length, pgoff, prot, path.strip())


def iter_events(lines: Iterable[str]) -> Iterator[Event]:
    """Events in the order perf printed them (time order). Unknown software events are skipped;
    a malformed line of a known kind raises ParseError."""
    pending: dict[int, tuple[int, int, bool]] = {}  # tid -> (address, error_code, kernel_mode)
    for line in lines:
        s = line.lstrip()
        if not s or s.startswith("#"):
            continue
        head, sep, rest = s.partition(": ")
        if not sep:
            raise ParseError(f"perf script: unexpected line: {line.strip()[:160]}")
        pidtid, _, t_s = head.partition(" ")
        pid_s, slash, tid_s = pidtid.partition("/")
        try:
            pid, tid = int(pid_s), int(tid_s)
        except ValueError:
            raise ParseError(
                f"perf script: expected pid/tid first (-F pid,tid,...), got {pidtid!r}"
            ) from None
        if not slash:
            raise ParseError(f"perf script: expected pid/tid first, got {pidtid!r}")
        t = _time_ns(t_s.strip(), line)
        rest = rest.lstrip()
        if rest.startswith("PERF_RECORD_"):
            if rest.startswith("PERF_RECORD_MMAP"):
                ev = _mmap(pid, tid, t, rest, line)
                if ev is not None:
                    yield ev
            elif rest.startswith("PERF_RECORD_LOST"):
                nums = [int(w) for w in rest.split() if _digits(w)]
                yield Lost(t, nums[-1] if nums else 0)
            continue  # COMM, FORK, EXIT...: not needed, the tracepoints carry the markers
        name, _, payload = rest.partition(": ")
        if name.endswith(":"):  # "lbtest:entry:" with nothing after it
            name, payload = name[:-1], ""
        major = _FAULT_SW.get(name)
        if major is not None:
            addr = _hex(payload.split(None, 1)[0] if payload.strip() else "", line)
            p = pending.pop(tid, None)
            if p is not None and p[0] == addr:
                yield Fault(pid, tid, t, addr, major, p[1], p[2])
            else:
                yield Fault(pid, tid, t, addr, major, None, False)
            continue
        kernel_mode = _EXC.get(name)
        if kernel_mode is not None:
            address = _hex(_field(payload, "address=", line), line)
            code = _hex(_field(payload, "error_code=", line), line)
            pending[tid] = (address, code, kernel_mode)
            continue
        if name == "syscalls:sys_enter_execve":
            yield Marker(pid, tid, t, MarkerKind.EXECVE)
        elif name == "sched:sched_process_exec":
            i = payload.find("filename=")
            j = payload.rfind(" pid=")
            fname = payload[i + 9 : j] if 0 <= i < j else ""
            yield Marker(pid, tid, t, MarkerKind.EXEC, fname)
        elif name == "sched:sched_process_exit":
            gd: bool | None = None
            if "group_dead=true" in payload:
                gd = True
            elif "group_dead=false" in payload:
                gd = False
            yield Marker(pid, tid, t, MarkerKind.EXIT, "", gd)
        elif ":" in name:
            yield Marker(pid, tid, t, MarkerKind.UPROBE, name)
        # anything else (another software event) is not ours to interpret
