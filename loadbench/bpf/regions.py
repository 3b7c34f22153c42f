"""Where a page fault landed: region codes, the in-kernel classifier and the same rules in Python.

A launch's address space is known from a few facts the kernel program records at exec and exit
(``LaunchFacts``: the load bias through ``mm->start_code``, the stack, the vDSO, the
interpreter's base from the aux vector, the brk heap, the uprobe XOL page, and -- for dynamic
targets -- the file-backed VMAs from maple-tree stores) plus the binaries' layouts. The rules,
in order: the launched binary's sections (through its link-time address, so ``.bss`` counts as
``.bss``), ``stack``, ``vvar``/``vdso``, the interpreter, ``go heap`` (between the lowest and
the highest Go heap arena reservation seen), ``heap (brk)``, ``uprobes (observer)``, a mapped
file by name, ``anonymous``.
Faults before the new image exists are ``launcher memory (pre-exec)``.

``kernel_classifier`` renders those rules as bpftrace statements (a binary search over each
target's section boundaries, then range checks), so most faults are counted under a small region
code in the kernel; ``classify`` applies the same rules after exit to the faults the kernel keyed
by address instead (all of them with ``regions=page``). Tests check that both agree.
"""

from __future__ import annotations

import bisect
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from loadbench.perf.attribution import PRE_EXEC_REGION
from loadbench.perf.layout import PAGE, BinaryLayout

STACK = "stack"
VDSO = "vdso"
VVAR = "vvar"
GO_HEAP_NAME = "go heap"
BRK_HEAP = "heap (brk)"
XOL = "uprobes (observer)"
ANON = "anonymous"
# The Go runtime reserves its heap in arenas of 64 MiB (heapArenaBytes on 64-bit Linux),
# anonymous mappings aligned and sized to that; since Go 1.26 at a random address.
GO_ARENA_BYTES = 64 << 20
# The main thread's stack: below mm->start_stack by at most this much (the 8 MiB default
# RLIMIT_STACK), up to the page holding the end of the environment strings.
STACK_SPAN = 8 << 20

# Phase codes kept in the low 4 bits of a launch's state; a marker starts the phase of its code.
PH_SPAWN, PH_EXECVE, PH_NEWMM, PH_EXEC, PH_INTERP, PH_ENTRY, PH_MAIN = 1, 2, 3, 4, 5, 6, 7
M_EXIT = 8
UNKNOWN_TARGET = 255
# In the kernel map, a fault's third key is a region code below this, else its address (no
# user address is that low: mmap_min_addr is 64 KiB).
REGION_CODE_LIMIT = 1 << 16
KERNEL_HALF = 1 << 47


@dataclass(frozen=True, slots=True)
class Region:
    name: str  # section name, "LOAD3 rw- (no section)", "stack", "libc.so.6", ...
    segment: str | None = None  # the launched binary's segment label, None outside it


@dataclass(frozen=True, slots=True)
class VdsoGeometry:
    """The special mappings around the vDSO, identical for every process of one kernel."""

    vvar_before: int  # bytes of [vvar] (and [vvar_vclock]) right below the vDSO's start
    vdso_size: int


def parse_vdso_geometry(maps_text: str) -> VdsoGeometry | None:
    """From ``/proc/self/maps`` text; None when the kernel maps no vDSO."""
    spans: dict[str, tuple[int, int]] = {}
    for line in maps_text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[-1].startswith("[v"):
            lo, _, hi = parts[0].partition("-")
            try:
                spans[parts[-1]] = (int(lo, 16), int(hi, 16))
            except ValueError:
                continue
    if "[vdso]" not in spans:
        return None
    start, end = spans["[vdso]"]
    below = [s for name, (s, e) in spans.items() if name.startswith("[vvar") and e <= start]
    return VdsoGeometry(vvar_before=start - min(below) if below else 0, vdso_size=end - start)


@dataclass(frozen=True, slots=True)
class Interp:
    """The dynamic loader a target names in PT_INTERP, as mapped at the aux vector's AT_BASE."""

    path: str  # real path
    span: tuple[int, int]  # link-time [lo, hi) of its PT_LOADs, page-rounded
    entry_vaddr: int

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def interp_from_layout(layout: BinaryLayout) -> Interp:
    lo, hi = layout.span()
    return Interp(layout.path, (lo, -(-hi // PAGE) * PAGE), layout.entry_vaddr)


@dataclass(frozen=True, slots=True)
class BpfTarget:
    """One launched binary of a session: its layout and how the kernel program recognises it."""

    index: int  # its code in the kernel program (the schedule's target index)
    layout: BinaryLayout
    inode: int
    interp: Interp | None = None

    @property
    def dynamic(self) -> bool:
        return self.layout.interpreter is not None

    @property
    def min_exec_vaddr(self) -> int:
        """The lowest link-time address of an executable PT_LOAD: the kernel sets
        ``mm->start_code`` to it plus the load bias, which is how the program learns the bias."""
        xs = [s.vaddr for s in self.layout.segments if "x" in s.perms]
        return min(xs) if xs else 0


def binary_intervals(layout: BinaryLayout) -> list[tuple[int, int, Region | None]]:
    """The binary's link-time span cut where ``layout.locate`` changes its answer: sorted,
    adjacent, ``None`` where no segment maps the address."""
    pts: set[int] = set()
    for s in layout.segments:
        pts |= {s.vaddr - s.vaddr % PAGE, s.vaddr, s.vaddr + s.mem_size}
    for sec in layout.sections:
        pts |= {sec.vaddr, sec.vaddr + sec.size}
    out: list[tuple[int, int, Region | None]] = []
    for a, b in itertools.pairwise(sorted(pts)):
        hit = layout.locate(a)
        reg = None if hit is None else Region(hit[1] or f"{hit[0]} (no section)", hit[0])
        if out and out[-1][2] == reg and out[-1][1] == a:
            out[-1] = (out[-1][0], b, reg)
        else:
            out.append((a, b, reg))
    return out


@dataclass(slots=True)
class RegionTable:
    """Region <-> small integer code, shared by every target of a session (0 = not placed)."""

    regions: list[Region] = field(default_factory=lambda: [Region("")])

    def code(self, region: Region) -> int:
        try:
            return self.regions.index(region)
        except ValueError:
            if len(self.regions) >= REGION_CODE_LIMIT:
                raise ValueError("too many regions for one bpf session") from None
            self.regions.append(region)
            return len(self.regions) - 1

    def region(self, code: int) -> Region:
        if not 0 < code < len(self.regions):
            raise ValueError(f"region code {code} is not in this session's table")
        return self.regions[code]


def _tree(points: Sequence[tuple[int, int]], i: int, j: int, depth: int = 0) -> str:
    """bpftrace statements setting $r to the code of the last point <= $v (points[i:j])."""
    if j - i == 1:
        code = points[i][1]
        return f"$r = {code};" if code else ""
    mid = (i + j) // 2
    return (f"if ($v < {points[mid][0]:#x}) {{ {_tree(points, i, mid, depth + 1)} }} "
            f"else {{ {_tree(points, mid, j, depth + 1)} }}")


def target_tree(target: BpfTarget, table: RegionTable) -> str:
    """The binary search over one target's intervals (they are adjacent: see
    ``binary_intervals``); addresses outside its span get code 0."""
    ivals = binary_intervals(target.layout)
    if not ivals:
        return ""
    points = [(0, 0)]
    for a, _, reg in ivals:
        code = 0 if reg is None else table.code(reg)
        if code == points[-1][1]:
            continue
        if a == points[-1][0]:
            points[-1] = (a, code)
        else:
            points.append((a, code))
    if points[-1][1] != 0:
        points.append((ivals[-1][1], 0))
    return _tree(points, 0, len(points))


def _any_target(targets: Iterable[BpfTarget]) -> str:
    idx = [t.index for t in targets]
    return " || ".join(f"$t == {i}" for i in idx)


def kernel_classifier(
    targets: Sequence[BpfTarget], table: RegionTable, geom: VdsoGeometry | None
) -> str:
    """bpftrace statements that set ``$r`` to a region code (0: leave it to ``classify``).

    Expects ``$a`` (fault address), ``$e`` (error code & 0x17) and ``$s`` (state); reads the
    launch's ranges ``$sr`` = (bias, stack lo, stack hi, vdso, interpreter base, start_brk,
    arena lo, arena hi) once the new image exists."""
    lines = ["$r = 0;", f"if (($s & 0xf) >= {PH_EXEC}) {{", "$sr = @sr[pid];",
             "$t = ($s >> 4) & 0xff;", "$v = $a - $sr.0;"]
    first = True
    for t in targets:
        tree = target_tree(t, table)
        if not tree:
            continue
        lines.append(f"{'' if first else 'else '}if ($t == {t.index}) {{ {tree} }}")
        first = False
    lines.append("if ($r == 0) {")
    chain = [f"if ($a >= $sr.1 && $a < $sr.2) {{ $r = {table.code(Region(STACK))}; }}"]
    if geom is not None:
        chain.append(
            f"else if ($sr.3 != 0 && $a >= $sr.3 - {geom.vvar_before:#x} && "
            f"$a < $sr.3 + {geom.vdso_size:#x}) {{ if ($a < $sr.3) {{ "
            f"$r = {table.code(Region(VVAR))}; }} else {{ $r = {table.code(Region(VDSO))}; }} }}"
        )
    by_interp: dict[Interp, list[BpfTarget]] = {}
    for t in targets:
        if t.interp is not None:
            by_interp.setdefault(t.interp, []).append(t)
    for ip, ts in by_interp.items():
        chain.append(
            f"else if ($sr.4 != 0 && ({_any_target(ts)}) && $a >= $sr.4 + {ip.span[0]:#x} && "
            f"$a < $sr.4 + {ip.span[1]:#x}) {{ $r = {table.code(Region(ip.name))}; }}"
        )
    if any(t.layout.is_go for t in targets):
        chain.append(
            f"else if ($a >= $sr.6 && $a < $sr.7) {{ $r = {table.code(Region(GO_HEAP_NAME))}; }}"
        )
    chain.append(
        f"else if ($a >= $sr.5 && $a < curtask->mm->brk) {{ $r = {table.code(Region(BRK_HEAP))}; }}"
    )
    static = [t for t in targets if not t.dynamic]
    rest = [
        "else {",
        "if ($e & 0x10) { $xa = curtask->mm->uprobes_state.xol_area; "
        "if ((uint64)$xa != 0 && $a >= $xa->vaddr && $a < $xa->vaddr + 4096) "
        f"{{ $r = {table.code(Region(XOL))}; }} }}",
    ]
    if static:
        # A static binary maps no libraries: what is left is anonymous memory. Dynamic targets'
        # leftovers are keyed by address and placed after exit through the recorded file VMAs.
        anon = table.code(Region(ANON))
        rest.append(f"if ($r == 0 && ({_any_target(static)})) {{ $r = {anon}; }}")
    rest.append("}")
    chain += rest
    lines += chain
    lines += ["}", "}"]
    return "\n    ".join(lines)


@dataclass(frozen=True, slots=True)
class FileVma:
    start: int
    end: int
    pgoff: int  # in pages
    name: str  # the file's basename (dentry name)


@dataclass(frozen=True, slots=True)
class LaunchFacts:
    """What the kernel program recorded about one launch's address space."""

    target: int  # UNKNOWN_TARGET when the exec'd binary was none of the session's targets
    start_code: int
    start_stack: int
    env_end: int
    vdso: int
    at_base: int
    start_brk: int
    brk_end: int = 0  # mm->brk at exit (0: not recorded)
    xol: int = 0  # the uprobe XOL page, 0 when the process hit no uprobe
    arena: tuple[int, int] = (0, 0)  # lowest and highest address of the Go heap arenas
    vmas: tuple[FileVma, ...] = ()

    def bias(self, target: BpfTarget | None) -> int:
        return 0 if target is None else self.start_code - target.min_exec_vaddr


@dataclass(slots=True)
class Classifier:
    """``classify`` with each target's intervals prepared once."""

    targets: Mapping[int, BpfTarget]
    geom: VdsoGeometry | None
    _starts: dict[int, list[int]] = field(default_factory=dict)
    _ivals: dict[int, list[tuple[int, int, Region | None]]] = field(default_factory=dict)

    def _binary(self, target: BpfTarget, v: int) -> Region | None:
        iv = self._ivals.get(target.index)
        if iv is None:
            iv = self._ivals[target.index] = binary_intervals(target.layout)
            self._starts[target.index] = [a for a, _, _ in iv]
        i = bisect.bisect_right(self._starts[target.index], v) - 1
        if i >= 0 and v < iv[i][1]:
            return iv[i][2]
        return None

    def classify(self, addr: int, phase: int, facts: LaunchFacts | None) -> Region:
        """The region of a fault at ``addr`` taken in phase ``phase`` (same rules as the kernel
        program's, plus the file VMAs and the XOL page it could not look up itself)."""
        if addr >= KERNEL_HALF:
            return Region("kernel")
        if phase < PH_NEWMM or facts is None:
            return Region(PRE_EXEC_REGION)
        target = self.targets.get(facts.target)
        if target is not None:
            reg = self._binary(target, (addr - facts.bias(target)) & ((1 << 64) - 1))
            if reg is not None:
                return reg
        if facts.start_stack - STACK_SPAN <= addr < (facts.env_end | 0xFFF) + 1:
            return Region(STACK)
        g, vdso, base = self.geom, facts.vdso, facts.at_base
        if g is not None and vdso and vdso - g.vvar_before <= addr < vdso + g.vdso_size:
            return Region(VVAR if addr < vdso else VDSO)
        ip = target.interp if target is not None else None
        if ip is not None and base and base + ip.span[0] <= addr < base + ip.span[1]:
            return Region(ip.name)
        if facts.arena[0] <= addr < facts.arena[1]:
            return Region(GO_HEAP_NAME)
        if facts.start_brk <= addr < facts.brk_end:
            return Region(BRK_HEAP)
        if facts.xol and facts.xol <= addr < facts.xol + PAGE:
            return Region(XOL)
        for vma in reversed(facts.vmas):  # the latest store covering the address wins
            if vma.start <= addr < vma.end:
                return Region(vma.name)
        return Region(ANON)
