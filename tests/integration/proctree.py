"""Watch the processes a command starts (its whole descendant tree), for the clean-up tests."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    ppid: int
    start: int  # clock ticks since boot: with pid, the identity of one process
    comm: str


def _read(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return Proc(pid, int(fields[1]), int(fields[19]), head.split("(", 1)[1])


def snapshot() -> dict[int, Proc]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            p = _read(int(name))
            if p is not None:
                out[p.pid] = p
    return out


def descendants(root: int, procs: dict[int, Proc] | None = None) -> list[Proc]:
    procs = snapshot() if procs is None else procs
    kids: dict[int, list[Proc]] = {}
    for p in procs.values():
        kids.setdefault(p.ppid, []).append(p)
    out, todo = [], [root]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c.pid)
    return out


def alive(p: Proc) -> bool:
    q = _read(p.pid)
    return q is not None and q.start == p.start


class Watcher:
    """Polls the tree under ``root`` and remembers every process it saw."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[tuple[int, int], Proc] = {}

    def poll(self) -> list[Proc]:
        now = descendants(self.root)
        for p in now:
            self.seen[(p.pid, p.start)] = p
        return now

    def wait_for(self, pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.poll()):
                return True
            time.sleep(0.02)
        return False

    def survivors(self, timeout: float) -> list[Proc]:
        """Processes seen under root still alive after ``timeout`` (polling until then)."""
        deadline = time.monotonic() + timeout
        while True:
            left = [p for p in self.seen.values() if alive(p)]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.1)


def sigint_default() -> None:
    """``preexec_fn`` for a child the test will Ctrl-C: SIGINT as the default even where these
    tests run with it ignored (a shell's background job), since loadbench keeps a signal it was
    started with ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
