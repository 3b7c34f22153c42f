"""What the trace analysis needs to know about a launched binary: segments, sections, markers.

A ``BinaryLayout`` holds the binary's PT_LOAD segments and mapped sections (from
``loadbench.inspector``), the file offsets of its entry point and of ``main.main``/``main`` (uprobe
addresses are file offsets, which makes them independent of any PIE load bias), and the
libraries the dynamic loader maps (for cold-cache eviction). ``bias`` recovers the load bias
of one launch from an mmap record; with it every fault address becomes a link-time address that
names a section -- including ``.bss``, which is anonymous memory with no file offset at all.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadbench.perf import ParseError

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class Segment:
    label: str  # "LOAD2 r-x"
    vaddr: int
    mem_size: int
    file_offset: int
    file_size: int
    perms: str


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    vaddr: int
    size: int


@dataclass(frozen=True, slots=True)
class BinaryLayout:
    path: str  # real path, as the kernel reports it in mmap records
    segments: tuple[Segment, ...]
    sections: tuple[Section, ...]  # mapped, non-empty, sorted by vaddr
    entry_vaddr: int
    entry_file_offset: int | None
    main_symbol: str | None  # "main.main" (Go) or "main" (C); None when not found
    main_file_offset: int | None
    main_missing_reason: str  # why there is no main marker ("" when there is one)
    is_go: bool
    is_pie: bool
    interpreter: str | None
    needed: tuple[str, ...]
    section_starts: tuple[int, ...] = ()  # sections' vaddrs, for bisect

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def file_offset(self, vaddr: int) -> int | None:
        """File offset of a link-time address, or None when no file-backed segment holds it."""
        for s in self.segments:
            if s.vaddr <= vaddr < s.vaddr + s.file_size:
                return vaddr - s.vaddr + s.file_offset
        return None

    def bias(self, start: int, pgoff: int) -> int | None:
        """Load bias of a launch, from one mmap record of this binary (start address and page
        offset), or None when the record matches no segment's first page."""
        for s in self.segments:
            if s.file_offset - s.file_offset % PAGE == pgoff:
                return start - (s.vaddr - s.vaddr % PAGE)
        return None

    def span(self) -> tuple[int, int]:
        lo = min((s.vaddr - s.vaddr % PAGE for s in self.segments), default=0)
        hi = max((s.vaddr + s.mem_size for s in self.segments), default=0)
        return lo, hi

    def locate(self, vaddr: int) -> tuple[str, str | None] | None:
        """(segment label, section name or None) of a link-time address, None outside."""
        seg = None
        for s in self.segments:
            # The loader maps whole pages: the page holding a segment's first byte is its own.
            if s.vaddr - s.vaddr % PAGE <= vaddr < s.vaddr + s.mem_size:
                seg = s
                if vaddr >= s.vaddr:
                    break
        if seg is None:
            return None
        i = bisect.bisect_right(self.section_starts, vaddr) - 1
        if i >= 0:
            sec = self.sections[i]
            if vaddr < sec.vaddr + sec.size:
                return seg.label, sec.name
        return seg.label, None


def layout_from_info(
    info: Mapping[str, Any],
    symbols: Mapping[str, int],
    *,
    has_symtab: bool,
    path: str | None = None,
) -> BinaryLayout:
    """Build a layout from ``inspector.inspect_file`` output and the values of the symbols
    ``main.main``/``main`` (absent when not defined); ``has_symtab`` says whether the binary
    has a symbol table at all (it tells "stripped" from "no such function").

    Pure, so it is unit-tested without a binary.
    """
    if info.get("format") != "ELF" or not info.get("elf"):
        raise ParseError(f"{info.get('path')}: the perf probe traces ELF binaries only")
    segs = tuple(
        Segment(
            label=f"{s['name']} {s['perms']}",
            vaddr=int(s["vaddr"]),
            mem_size=int(s["mem_size_bytes"]),
            file_offset=int(s["file_offset"]),
            file_size=int(s["file_size_bytes"]),
            perms=str(s["perms"]),
        )
        for s in info["segments"]
    )
    secs = sorted(
        (
            Section(str(s["name"]), int(s["vaddr"]), int(s["size_bytes"]))
            for s in info["sections"]
            if s.get("mapped") and int(s["size_bytes"]) > 0 and int(s["vaddr"]) > 0
        ),
        key=lambda s: s.vaddr,
    )
    elf = info["elf"]
    is_go = bool(info.get("go")) or "main.main" in symbols
    entry = int(info["entry"])
    tmp = BinaryLayout(
        path=path or str(info["path"]),
        segments=segs,
        sections=tuple(secs),
        entry_vaddr=entry,
        entry_file_offset=None,
        main_symbol=None,
        main_file_offset=None,
        main_missing_reason="",
        is_go=is_go,
        is_pie=bool(elf.get("is_pie")),
        interpreter=elf.get("interpreter"),
        needed=tuple(elf.get("needed") or ()),
    )
    want = "main.main" if is_go else "main"
    value = symbols.get(want)
    main_off = tmp.file_offset(value) if value else None
    if main_off is None:
        if not has_symtab:
            reason = f"no {want} symbol (stripped: no symbol table)"
        elif value:
            reason = f"{want} symbol at {value:#x} lies in no file-backed segment"
        else:
            reason = f"no {want} symbol in the symbol table"
    else:
        reason = ""
    return BinaryLayout(
        path=tmp.path,
        segments=segs,
        sections=tmp.sections,
        entry_vaddr=entry,
        entry_file_offset=tmp.file_offset(entry) if entry else None,
        main_symbol=want if main_off is not None else None,
        main_file_offset=main_off,
        main_missing_reason=reason,
        is_go=is_go,
        is_pie=tmp.is_pie,
        interpreter=tmp.interpreter,
        needed=tmp.needed,
        section_starts=tuple(s.vaddr for s in secs),
    )


def load_layout(path: str | os.PathLike[str]) -> BinaryLayout:
    """Layout of the binary at ``path`` (raises inspector.InspectError or ParseError)."""
    import lief

    from loadbench import inspector

    real = os.path.realpath(path)
    info = inspector.inspect_file(real)
    symbols: dict[str, int] = {}
    has_symtab = False
    if info.get("format") == "ELF":
        lief.logging.disable()
        b = lief.ELF.parse(real)
        if b is not None:
            for name in ("main.main", "main"):
                sym = b.get_symbol(name) if b.has_symbol(name) else None
                if sym is not None and sym.value:  # an undefined (imported) one has value 0
                    symbols[name] = int(sym.value)
            has_symtab = len(b.symtab_symbols) > 0
    return layout_from_info(info, symbols, has_symtab=has_symtab, path=real)


def parse_ld_list(text: str) -> tuple[str, ...]:
    """Library paths from ``ld.so --list BIN`` (the same output as ``ldd``).

    Lines: ``libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)``, ``/lib64/ld-linux-x86-64.so.2
    (0x...)``, ``linux-vdso.so.1 (0x...)`` (no file: skipped). ``=> not found`` raises.
    """
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if "=>" in line:
            name, _, target = line.partition("=>")
            target = target.strip()
            if target.startswith("not found"):
                raise ParseError(f"library {name.strip()} not found by the dynamic loader")
            path = target.split(" (", 1)[0].strip()
        else:
            path = line.split(" (", 1)[0].strip()
        if path.startswith("/"):
            out.append(path)
    return tuple(out)


def dependency_paths(layout: BinaryLayout) -> tuple[str, ...]:
    """Real paths of the interpreter and every library the loader maps for ``layout``.

    Static binaries have none. The loader itself resolves the list (``ld.so --list``), so
    RUNPATH, ld.so.cache and hwcaps subdirectories are honoured exactly as at launch time.
    """
    from loadbench import _proc

    if not layout.interpreter:
        return ()
    interp = os.path.realpath(layout.interpreter)
    done = _proc.run([interp, "--list", layout.path], timeout=30, check=False)
    paths = [interp]
    if done.returncode == 0:
        paths += [os.path.realpath(p) for p in parse_ld_list(done.stdout)]
    seen: dict[str, None] = {}
    for p in paths:
        if os.path.isfile(p):
            seen.setdefault(p, None)
    return tuple(seen)
