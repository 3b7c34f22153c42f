"""Fill the bpftrace template (``probes/linux/bpf-launch.bt``) for one session's targets.

What varies per session is generated here, as bpftrace text: how the exec'd binary is
recognised (inode and device, compared at exec), the constant that turns ``mm->start_code`` into
the load bias, the uprobes (``main.main``/``main`` of every target that has one; the ELF entry of
dynamic targets -- a static binary's entry is its first instruction fetch after exec, a fault the
program sees anyway, so it needs no uprobe), the counting statements of the chosen region mode
and the optional probes (``sys_enter_execve``; ``sched_prepare_exec`` and the maple-tree VMA
stores where the kernel has them). Pure: the caller passes what it read from tracefs and
``/proc``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from loadbench.bpf.regions import (
    PH_ENTRY,
    PH_EXEC,
    PH_EXECVE,
    PH_INTERP,
    PH_MAIN,
    PH_NEWMM,
    STACK_SPAN,
    BpfTarget,
    RegionTable,
    VdsoGeometry,
    kernel_classifier,
)
from loadbench.perf.layout import PAGE, BinaryLayout

REGION_MODES = ("kernel", "page")
_SLOT = re.compile(r"%%([A-Z_]+)%%")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+=,@-]+$")


@dataclass(frozen=True, slots=True)
class KernelFeatures:
    """Tracepoints the program can use on this kernel (from tracefs)."""

    prepare_exec: bool = True  # sched:sched_prepare_exec (6.10+)
    group_dead: bool = True  # sched_process_exit's group_dead field (6.16+)
    maple_tree: bool = True  # maple_tree:ma_write


@dataclass(frozen=True, slots=True)
class Options:
    regions: str = "kernel"  # "kernel": placed by the kernel program; "page": keyed by address
    uprobes: bool = True
    # sys_enter_execve: with any syscall tracepoint every syscall of every process is slower
    execve: bool = False


@dataclass(frozen=True, slots=True)
class Uprobe:
    target: int
    role: str  # "entry" or "main"
    path: str
    vaddr: int


@dataclass(frozen=True, slots=True)
class Program:
    text: str
    table: RegionTable
    uprobes: tuple[Uprobe, ...]
    features: KernelFeatures
    options: Options
    vmas_recorded: bool  # file VMAs of dynamic targets are recorded

    @property
    def unsafe(self) -> bool:
        """bpftrace needs ``--unsafe`` to put a uprobe on an address no symbol covers (the
        entry point of a stripped binary: "Could not resolve address"). The entry point is an
        instruction boundary by definition, so the misalignment bpftrace guards against cannot
        happen; the program uses none of the unsafe builtins the flag also allows."""
        return any(u.role == "entry" for u in self.uprobes)


def vaddr_of_file_offset(layout: BinaryLayout, offset: int) -> int | None:
    for s in layout.segments:
        if s.file_offset <= offset < s.file_offset + s.file_size:
            return s.vaddr + offset - s.file_offset
    return None


def kernel_dev(st_dev: int) -> int:
    """``os.stat().st_dev`` as the kernel's ``sb->s_dev`` (MKDEV: major << 20 | minor)."""
    return (os.major(st_dev) << 20) | os.minor(st_dev)


def uprobes_for(targets: Sequence[BpfTarget], enabled: bool) -> tuple[Uprobe, ...]:
    """``main.main``/``main`` of every target that has the symbol; the entry point of dynamic
    targets, and of static ones whose entry page also holds the main uprobe (installing a uprobe
    maps its page, so the first instruction would not fault there)."""
    out: list[Uprobe] = []
    if not enabled:
        return ()
    for t in targets:
        lay = t.layout
        main = None
        if lay.main_file_offset is not None:
            main = vaddr_of_file_offset(lay, lay.main_file_offset)
        same_page = main is not None and main // PAGE == lay.entry_vaddr // PAGE
        if lay.entry_file_offset is not None and (t.dynamic or same_page):
            out.append(Uprobe(t.index, "entry", lay.path, lay.entry_vaddr))
        if main is not None:
            out.append(Uprobe(t.index, "main", lay.path, main))
    return tuple(out)


def uprobe_pages(uprobes: Sequence[Uprobe], target: int) -> int:
    """Pages of ``target`` that hold a uprobe: each costs the launch one fault that rusage counts
    and no tracepoint sees (installing the breakpoint copies the page through get_user_pages)."""
    return len({u.vaddr // PAGE for u in uprobes if u.target == target})


def _cond(indices: Sequence[int]) -> str:
    return " || ".join(f"$t == {i}" for i in indices)


def _uprobe_block(u: Uprobe) -> str:
    phase = PH_ENTRY if u.role == "entry" else PH_MAIN
    return (
        f"uprobe:{u.path}:{u.vaddr:#x} {{\n"
        "  $s = @st[pid];\n"
        f"  if ($s != 0 && ($s & 0xf) < {phase}) {{\n"
        f"    @m[$s >> 12, {phase}] = nsecs;\n"
        f"    @st[pid] = ($s & ~0xf) | {phase};\n"
        "  }\n}\n"
    )


def _marker_block(probe: str, phase: int) -> str:
    return (
        f"{probe} {{\n  $s = @st[pid];\n"
        f"  if ($s != 0 && ($s & 0xf) < {phase}) {{\n"
        f"    @m[$s >> 12, {phase}] = nsecs;\n"
        f"    @st[pid] = ($s & ~0xf) | {phase};\n"
        "  }\n}\n"
    )


def render(
    template: str,
    targets: Sequence[BpfTarget],
    devices: Sequence[tuple[int, int]],
    options: Options,
    features: KernelFeatures,
    geom: VdsoGeometry | None,
) -> Program:
    """The program for ``targets``; ``devices[i]`` is (inode, kernel dev) of ``targets[i]``.

    Raises ValueError for a path bpftrace's probe syntax cannot take, or an unknown mode."""
    if options.regions not in REGION_MODES:
        raise ValueError(
            f"regions must be one of {', '.join(REGION_MODES)} (got {options.regions!r})"
        )
    if len(targets) > 250:
        raise ValueError(f"at most 250 binaries per bpf session (got {len(targets)})")
    for t in targets:
        if not _SAFE_PATH.match(t.layout.path):
            raise ValueError(
                f"{t.layout.path}: the bpf probe cannot put this path in a uprobe; "
                "rename it to letters, digits and ./_-+=,@"
            )
    table = RegionTable()
    ups = uprobes_for(targets, options.uprobes)
    by_inode: list[str] = []
    for t, (ino, dev) in zip(targets, devices, strict=True):
        by_inode.append(
            f"{'else ' if by_inode else ''}if ($ino == {ino} && $dev == {dev}) "
            f"{{ $t = {t.index}; $x = {t.min_exec_vaddr:#x}; }}"
        )
    dynamic = [t.index for t in targets if t.dynamic]
    at_base = ""
    if dynamic:
        at_base = " ".join(
            f"{'else ' if k else ''}if ($mm->saved_auxv[{2 * k}] == 7) "
            f"{{ $base = $mm->saved_auxv[{2 * k + 1}]; }}"
            for k in range(16)
        )
    first_fetch = f"if ({_cond(dynamic)}) {{ $k = {PH_INTERP}; }}" if dynamic else ""
    if options.regions == "kernel":
        count = (
            kernel_classifier(targets, table, geom)
            + "\n    if ($r == 0) { $r = $a; }\n    @f[$s, $e, $r] = count();"
        )
    else:
        count = "@f[$s, $e, $a] = count();"
    go = [t.index for t in targets if t.layout.is_go]
    vmas = ""
    vmas_recorded = bool(dynamic or go) and features.maple_tree
    if vmas_recorded and go:
        # A Go heap arena: an anonymous reservation, 64 MiB aligned and sized.
        vmas += "\n".join([
            "tracepoint:maple_tree:ma_write",
            "/(args->index & 0x3ffffff) == 0 && ((args->last + 1) & 0x3ffffff) == 0/ {",
            "  $s = @st[pid];",
            "  $t = ($s >> 4) & 0xff;",
            f"  if ($s != 0 && ($s & 0xf) >= {PH_EXEC} && ({_cond(go)}) && args->val != 0) {{",
            "    $vma = (struct vm_area_struct *)args->val;",
            "    if ((uint64)$vma->vm_file == 0) {",
            "      $sr = @sr[pid];",
            "      $alo = $sr.6;",
            "      $ahi = $sr.7;",
            "      if ($alo == 0 || args->index < $alo) { $alo = args->index; }",
            "      if (args->last + 1 > $ahi) { $ahi = args->last + 1; }",
            "      @sr[pid] = ($sr.0, $sr.1, $sr.2, $sr.3, $sr.4, $sr.5, $alo, $ahi);",
            "    }",
            "  }",
            "}",
            "",
        ])
    if vmas_recorded and dynamic:
        # File-backed VMAs of dynamic targets: the libraries ld.so maps.
        vmas += "\n".join([
            "tracepoint:maple_tree:ma_write {",
            "  $id = @dyn[pid];",
            "  if ($id != 0 && args->val != 0) {",
            "    $vma = (struct vm_area_struct *)args->val;",
            "    if ((uint64)$vma->vm_mm == (uint64)curtask->mm && (uint64)$vma->vm_file != 0) {",
            "      $n = @nv[$id] + 1;",
            "      @nv[$id] = $n;",
            "      @v[$id, $n] = (args->index, args->last + 1, $vma->vm_pgoff,",
            "                     str($vma->vm_file->f_path.dentry->d_name.name));",
            "    }",
            "  }",
            "}",
            "",
        ])
    dyn = f"if ({_cond(dynamic)}) {{ @dyn[pid] = $id; }}" if vmas_recorded and dynamic else ""
    slots = {
        "EXECVE": _marker_block("tracepoint:syscalls:sys_enter_execve", PH_EXECVE)
        if options.execve
        else "",
        "PREPARE_EXEC": _marker_block("tracepoint:sched:sched_prepare_exec", PH_NEWMM)
        if features.prepare_exec
        else "",
        "TARGET_BY_INODE": "\n    ".join(by_inode),
        "AT_BASE": at_base,
        "STACK_SPAN": f"{STACK_SPAN:#x}",
        "FIRST_FETCH": first_fetch,
        "COUNT": count,
        "UPROBES": "".join(_uprobe_block(u) for u in ups),
        "VMAS": vmas,
        "EXIT_FILTER": "/args->group_dead/" if features.group_dead else "",
        "DYN": dyn,
        "FORGET": "\n    if (@dyn[@prev] != 0) { delete(@dyn[@prev]); }" if dyn else "",
        "END_CLEAR": " clear(@dyn); clear(@nv);" if dyn else "",
    }
    missing = set(_SLOT.findall(template)) - set(slots)
    if missing:
        raise ValueError(f"the bpf template has unknown slots: {', '.join(sorted(missing))}")
    text = _SLOT.sub(lambda m: slots[m.group(1)], template)
    return Program(text, table, ups, features, options, vmas_recorded)
