"""Uprobe bookkeeping: tracefs listing, stale groups, unique event names, cleanup on failure."""

from __future__ import annotations

import os
from typing import Any

import pytest

from loadbench import _proc
from loadbench.perf import uprobes


def test_parse_uprobe_events() -> None:
    text = (
        "p:lb123/lb123_e0 /tmp/bin/web:0x000000000008d100\n"
        "p:lb123/lb123_m0 /tmp/bin/web:0x00000000002891e0\n"
        "p:probe_libc/malloc /lib/libc.so.6:0x0000000000099000\n"
        "garbage\n"
    )
    assert uprobes.parse_uprobe_events(text) == (
        ("lb123", "lb123_e0"),
        ("lb123", "lb123_m0"),
        ("probe_libc", "malloc"),
    )


def test_stale_groups_only_ours_and_dead() -> None:
    pairs = [
        ("lb10", "a"),
        ("lb10", "b"),
        ("lb11_2", "x"),
        ("lb12", "y"),
        ("lbx", "z"),
        ("probe", "w"),
        ("lb13", "q"),
    ]
    assert uprobes.stale_groups(pairs, alive={12, 13}) == ["lb10", "lb11_2"]
    assert uprobes.stale_groups([(f"lb{os.getpid()}", "e")]) == []


def test_group_names_are_unique_and_events_prefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: Any, **kw: Any) -> _proc.Completed:
        calls.append(list(argv))
        return _proc.Completed(tuple(argv), 0, "", "")

    monkeypatch.setattr(uprobes._proc, "run", fake_run)
    monkeypatch.setattr(uprobes, "_current", lambda: ())
    a, b = uprobes.UprobeGroup("perf"), uprobes.UprobeGroup("perf")
    try:
        assert a.group != b.group
        assert a.group.startswith(f"lb{os.getpid()}")
        (p,) = a.add("/bin/x", [("e0", 0x1000, "entry")])
        assert p.event == f"{a.group}:{a.group}_e0"
        assert calls[-1] == ["perf", "probe", "-q", "-x", "/bin/x", "-a", f"{p.event}=0x1000"]
        assert a.roles == {p.event: "entry"}
    finally:
        a.close()
        b.close()
    a.close()  # idempotent


def test_failed_add_deletes_partial_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    state: set[str] = set()
    deleted: list[str] = []

    def fake_run(argv: Any, **kw: Any) -> _proc.Completed:
        argv = list(argv)
        if "-a" in argv:
            state.add(argv[argv.index("-a") + 1].split(":")[0])  # first probe got in
            raise _proc.ToolError("perf exited with 239: Error: event already exists")
        if "-d" in argv:
            g = argv[argv.index("-d") + 1].split(":")[0]
            deleted.append(g)
            state.discard(g)
        return _proc.Completed(tuple(argv), 0, "", "")

    monkeypatch.setattr(uprobes._proc, "run", fake_run)
    monkeypatch.setattr(uprobes, "_current", lambda: tuple((g, "e") for g in state))
    g = uprobes.UprobeGroup("perf")
    with pytest.raises(_proc.ToolError):
        g.add("/bin/x", [("e0", 1, "entry"), ("m0", 2, "main")])
    assert deleted == [g.group] and not state


def test_undeletable_group_is_an_error_not_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        uprobes._proc, "run", lambda argv, **kw: _proc.Completed(tuple(argv), 1, "", "busy")
    )
    monkeypatch.setattr(uprobes, "_current", lambda: (("lb1", "lb1_e0"),))
    with pytest.raises(_proc.ToolError, match="perf probe -d 'lb1:\\*'"):
        uprobes._delete("perf", "lb1")
