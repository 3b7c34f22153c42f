"""Static structure of any ELF, PE or Mach-O binary, read with LIEF, in one format-neutral shape.

``inspect_file`` returns a plain JSON-ready dict (the documented ``loadbench inspect --json``
object); ``summary`` condenses it to the numbers the stats layer regresses cost on. "Segments"
are the units the loader maps: ELF PT_LOAD, Mach-O LC_SEGMENT(_64) (``__PAGEZERO`` and
``__LINKEDIT`` included), PE sections. Go build information is read from the binary's own
``\\xff Go buildinf:`` blob, so no Go toolchain is needed to inspect a Go binary.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path
from typing import Any

from loadbench.errors import LoadbenchError

INSPECT_VERSION = 2  # 2: "symbols"; PE "resources_bytes", "tls"


class InspectError(LoadbenchError, ValueError):
    """The file cannot be inspected; ``str()`` is a one-line message for the user."""


_ARCH = {
    # ELF
    "X86_64": "x86_64",
    "AARCH64": "aarch64",
    "I386": "i386",
    "ARM": "arm",
    "RISCV": "riscv64",
    "PPC64": "ppc64",
    "S390": "s390x",
    "LOONGARCH": "loongarch64",
    "MIPS": "mips",
    # PE
    "AMD64": "x86_64",
    "ARM64": "aarch64",
    "ARMNT": "arm",
    "ARM64EC": "aarch64",
    # Mach-O
    "ARM64_32": "arm64_32",
    "X86": "i386",
    "POWERPC": "ppc",
    "POWERPC64": "ppc64",
}

_DEBUG_RE = re.compile(r"^(.*,)?(\.z?debug_|__z?debug_|\.stab)")
# Symbols of runtime/cgo, Go's side (runtime/cgo.*, its host objects' section symbols
# "runtime/cgo(.text)") and its C side (x_cgo_init, ...); Mach-O adds a leading underscore.
_CGO_RUNTIME_RE = re.compile(r"^_?(runtime/cgo[.(]|x_cgo_)")
_MAX_LISTED = 200  # undefined symbols listed by name; the counts are always complete
_BUILDINFO_MAGIC = b"\xff Go buildinf:"


def _enum_name(v: Any) -> str:
    return str(v).rsplit(".", 1)[-1]


def _arch(name: str) -> str:
    return _ARCH.get(name, name.lower())


def _perms(r: bool, w: bool, x: bool) -> str:
    return ("r" if r else "-") + ("w" if w else "-") + ("x" if x else "-")


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def go_buildinfo(data: bytes) -> dict[str, Any] | None:
    """Go version and build settings from the ``.go.buildinfo`` blob (Go 1.18+ inline format).

    Layout: 14-byte magic, pointer size, flags (bit 1: strings inline), padding to 32, then two
    varint-length-prefixed strings: the Go version and the module info (wrapped in 16-byte
    sentinels), whose ``build\\tKEY=VALUE`` lines are the settings.
    """
    pos = data.find(_BUILDINFO_MAGIC)
    while pos != -1 and pos % 16:
        pos = data.find(_BUILDINFO_MAGIC, pos + 1)
    if pos == -1 or len(data) < pos + 32:
        return None
    flags = data[pos + 15]
    if not flags & 0x2:
        return {"version": None, "settings": {}, "note": "pre-1.18 build info not decoded"}
    try:
        n, p = _read_uvarint(data, pos + 32)
        version = data[p : p + n].decode("utf-8", "replace")
        n, p = _read_uvarint(data, p + n)
        mod = data[p : p + n]
    except ValueError:
        return None
    if len(mod) >= 33:
        mod = mod[16:-16]
    settings: dict[str, str] = {}
    path = None
    for line in mod.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if parts[0] == "build" and len(parts) >= 2:
            k, _, v = parts[1].partition("=")
            settings[k] = v
        elif parts[0] == "path" and len(parts) >= 2:
            path = parts[1]
    return {"version": version, "path": path, "settings": settings}


def _parse(path: Path) -> tuple[str, Any, int]:
    """Parse with LIEF; returns (format, binary, number of fat slices)."""
    import lief

    lief.logging.disable()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InspectError(f"{path}: no such file") from None
    except OSError as e:
        raise InspectError(f"{path}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InspectError(f"{path}: is a directory; pass a binary file")
    if not stat.S_ISREG(st.st_mode):
        # a FIFO would block the read for ever, a device would be read without end
        raise InspectError(f"{path}: not a regular file (a FIFO, socket or device); pass a "
                           "binary file")
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except IsADirectoryError:
        raise InspectError(f"{path}: is a directory; pass a binary file") from None
    except FileNotFoundError:
        raise InspectError(f"{path}: no such file") from None
    except PermissionError:
        raise InspectError(f"{path}: permission denied; check the file's read permission") from None
    except OSError as e:
        raise InspectError(f"{path}: cannot read ({e.strerror})") from None
    if len(head) < 4:
        raise InspectError(f"{path}: too short to be an executable ({len(head)} bytes)")
    if lief.is_macho(str(path)):
        fat = lief.MachO.parse(str(path))
        if fat is None or fat.size == 0:
            raise InspectError(
                f"{path}: looks like Mach-O but LIEF could not parse it (truncated?)"
            )
        return "MachO", fat, fat.size
    if not (lief.is_elf(str(path)) or lief.is_pe(str(path))):
        raise InspectError(f"{path}: not an ELF, PE or Mach-O binary")
    b = lief.parse(str(path))
    if b is None:
        raise InspectError(f"{path}: not a valid ELF, PE or Mach-O binary (truncated or corrupt?)")
    fmt = _enum_name(b.format)  # type: ignore[union-attr]
    return ("ELF" if fmt == "ELF" else "PE"), b, 1


def inspect_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything loadbench knows statically about one binary (see README, "inspect keys")."""
    p = Path(path)
    with warnings.catch_warnings():
        # LIEF's bindings warn (and then fail) on enum values a corrupt file makes up.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return _inspect(p)
        except InspectError:
            raise
        except ImportError as e:  # not the binary's fault: say so rather than "malformed"
            raise InspectError(f"{p}: not inspected: LIEF is not installed ({e.name})") from None
        except Exception as e:
            raise InspectError(f"{p}: malformed binary, LIEF could not read it "
                               f"({type(e).__name__})") from None


def _inspect(p: Path) -> dict[str, Any]:
    fmt, b, nslices = _parse(p)
    data = p.read_bytes()
    if fmt == "ELF":
        out = _elf(b)
    elif fmt == "PE":
        out = _pe(b)
    else:
        slices = [_macho(b.at(i)) for i in range(nslices)]
        out = dict(slices[0])
        if nslices > 1:
            out["fat_slices"] = [
                {k: s[k] for k in ("arch", "entry", "mapped_size_bytes")} for s in slices
            ]
    out = {"path": str(p), "file_size_bytes": len(data), "inspect_version": INSPECT_VERSION, **out}
    for key in ("elf", "macho", "pe"):
        out.setdefault(key, None)
    out["go"] = go_buildinfo(data)
    secs = out["sections"]
    out["debug_bytes"] = sum(s["size_bytes"] for s in secs if _DEBUG_RE.match(s["name"]))
    # Build settings cannot say (with -trimpath Go does not record -ldflags): ask the binary.
    out["stripped"] = out["debug_bytes"] == 0 and out["symtab_bytes"] == 0
    return _texts(out)


def _texts(v: Any) -> Any:
    """Names LIEF hands back as bytes (Mach-O segment names, ELF DT_NEEDED of a damaged file)
    as text, undecodable bytes shown as \\xNN: the result is JSON and printable."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, dict):
        return {_texts(k): _texts(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_texts(x) for x in v]
    return v


def _symbols(static: list[str], undefined: list[str], dynamic: int,
             dynamic_undefined: list[str]) -> dict[str, Any]:
    """What ``nm`` and ``nm -D`` would list, condensed: ``static`` entries of the symbol table
    (ELF .symtab, PE COFF, Mach-O LC_SYMTAB nlist) and the ``undefined`` names among them (what
    nm shows as ``U``); ``dynamic`` entries of the dynamic table (ELF .dynsym; PE: imported
    functions; Mach-O: the nlist's undefined symbols, which dyld binds) and the undefined names
    there; ``duplicate_names``: names that occur more than once in the static table;
    ``cgo_runtime``: symbols of runtime/cgo; ``static_names_sha256`` of the sorted static
    names, to compare two tables without storing them. Name lists stop at 200 (the counts do
    not)."""
    import hashlib
    from collections import Counter

    counts = Counter(static)
    names = sorted(n.encode("utf-8", "surrogateescape") for n in static)
    return {
        "static": len(static),
        "static_undefined": len(undefined),
        "static_undefined_names": sorted(set(undefined))[:_MAX_LISTED],
        "dynamic": dynamic,
        "dynamic_undefined": len(dynamic_undefined),
        "dynamic_undefined_names": sorted(set(dynamic_undefined))[:_MAX_LISTED],
        "duplicate_names": sum(1 for k in counts.values() if k > 1),
        "cgo_runtime": sum(k for n, k in counts.items() if _CGO_RUNTIME_RE.match(n)),
        "static_names_sha256": hashlib.sha256(b"\n".join(names)).hexdigest(),
    }


def _name(s: Any) -> str:
    n = s.name
    return n.decode("utf-8", "surrogateescape") if isinstance(n, bytes) else str(n)


def _elf_symbols(b: Any) -> dict[str, Any]:
    import lief

    # as nm lists them: not the reserved null symbol, not section or file symbols (nm -a)
    skip = (lief.ELF.Symbol.TYPE.FILE, lief.ELF.Symbol.TYPE.SECTION)
    static = [s for s in b.symtab_symbols if s.name and s.type not in skip]
    dyn = [s for s in b.dynamic_symbols if s.name]
    return _symbols([_name(s) for s in static], [_name(s) for s in static if s.shndx == 0],
                    len(dyn), [_name(s) for s in dyn if s.shndx == 0])


def _pe_symbols(b: Any) -> dict[str, Any]:
    static = [_name(s) for s in b.symbols]
    undefined = [_name(s) for s in b.symbols if s.is_undefined]
    imported = [e.name or f"#{e.ordinal}" for imp in b.imports for e in imp.entries]
    return _symbols(static, undefined, len(imported), imported)


def _macho_symbols(b: Any) -> dict[str, Any]:
    import lief

    nlist = [s for s in b.symbols if s.origin == lief.MachO.Symbol.ORIGIN.SYMTAB]
    undef = [_name(s) for s in nlist if s.type == lief.MachO.Symbol.TYPE.UNDEFINED]
    return _symbols([_name(s) for s in nlist], undef, len(undef), undef)


def _elf(b: Any) -> dict[str, Any]:
    import lief

    load = lief.ELF.Segment.TYPE.LOAD
    F = lief.ELF.Segment.FLAGS
    segs = []
    for i, s in enumerate(b.segments):
        if s.type != load:
            continue
        segs.append(
            {
                "name": f"LOAD{i}",
                "vaddr": s.virtual_address,
                "mem_size_bytes": s.virtual_size,
                "file_offset": s.file_offset,
                "file_size_bytes": s.physical_size,
                "alignment": s.alignment,
                "perms": _perms(s.has(F.R), s.has(F.W), s.has(F.X)),
            }
        )
    sections = [
        {
            "name": s.name,
            "size_bytes": s.size,
            "vaddr": s.virtual_address,
            "file_offset": s.file_offset,
            "mapped": s.has(lief.ELF.Section.FLAGS.ALLOC),
        }
        for s in b.sections
        if s.name
    ]
    symtab = sum(s["size_bytes"] for s in sections if s["name"] in (".symtab", ".strtab"))
    interp = b.interpreter if b.has_interpreter else None
    relocs = len(b.dynamic_relocations) + len(b.pltgot_relocations)
    return {
        "format": "ELF",
        "arch": _arch(_enum_name(b.header.machine_type)),
        "entry": b.entrypoint,
        "mapped_size_bytes": sum(s["mem_size_bytes"] for s in segs),
        "segments": segs,
        "sections": sections,
        "symtab_bytes": symtab,
        "symbols": _elf_symbols(b),
        "elf": {
            "interpreter": interp,
            "needed": list(b.libraries),
            "is_pie": bool(b.is_pie),
            "relocations": relocs,
            "type": _enum_name(b.header.file_type),
        },
    }


def _pe(b: Any) -> dict[str, Any]:
    import lief

    oh = b.optional_header
    C = lief.PE.Section.CHARACTERISTICS
    segs, sections = [], []
    for s in b.sections:
        name = s.name
        if s.coff_string is not None:  # long names are "/4" in the header; the real one is here
            name = s.coff_string.string
        ch = s.characteristics
        segs.append(
            {
                "name": name,
                "vaddr": oh.imagebase + s.virtual_address,
                "mem_size_bytes": s.virtual_size,
                "file_offset": s.pointerto_raw_data,
                "file_size_bytes": s.sizeof_raw_data,
                "alignment": oh.section_alignment,
                "perms": _perms(
                    bool(ch & C.MEM_READ.value),
                    bool(ch & C.MEM_WRITE.value),
                    bool(ch & C.MEM_EXECUTE.value),
                ),
            }
        )
        sections.append(
            {
                "name": name,
                "size_bytes": s.virtual_size,
                "vaddr": oh.imagebase + s.virtual_address,
                "file_offset": s.pointerto_raw_data,
                "mapped": True,
            }
        )
    base_relocs = sum(len(blk.entries) for blk in b.relocations) if b.has_relocations else 0
    tls_callbacks = len(b.tls.callbacks) if b.has_tls else 0
    dirs = {_enum_name(d.type): d for d in b.data_directories}
    rsrc, tls_dir = dirs.get("RESOURCE_TABLE"), dirs.get("TLS_TABLE")
    symtab = sum(s["size_bytes"] for s in sections if s["name"] == ".symtab")
    if not symtab:
        symtab = b.header.numberof_symbols * 18
    return {
        "format": "PE",
        "arch": _arch(_enum_name(b.header.machine)),
        "entry": oh.imagebase + oh.addressof_entrypoint,
        "mapped_size_bytes": oh.sizeof_image,
        "segments": segs,
        "sections": sections,
        "symtab_bytes": symtab,
        "symbols": _pe_symbols(b),
        "pe": {
            "section_alignment": oh.section_alignment,
            "file_alignment": oh.file_alignment,
            "size_of_image": oh.sizeof_image,
            "image_base": oh.imagebase,
            "imports": [imp.name for imp in b.imports],
            "base_relocations": base_relocs,
            "tls_callbacks": tls_callbacks,
            "tls": bool(b.has_tls),
            "tls_directory_bytes": tls_dir.size if tls_dir is not None else 0,
            "tls_data_bytes": (b.tls.addressof_raw_data[1] - b.tls.addressof_raw_data[0])
            if b.has_tls else 0,
            "resources_bytes": rsrc.size if rsrc is not None else 0,
            "dll_characteristics": [c.name for c in oh.dll_characteristics_lists],
        },
    }


def _macho(b: Any) -> dict[str, Any]:
    segs = []
    for s in b.segments:
        prot = s.init_protection
        segs.append(
            {
                "name": s.name,
                "vaddr": s.virtual_address,
                "mem_size_bytes": s.virtual_size,
                "file_offset": s.file_offset,
                "file_size_bytes": s.file_size,
                "alignment": _macho_page(b),
                "perms": _perms(bool(prot & 1), bool(prot & 2), bool(prot & 4)),
            }
        )
    sections = [
        {
            "name": f"{s.segment_name},{s.name}",
            "size_bytes": s.size,
            "vaddr": s.virtual_address,
            "file_offset": s.offset,
            "mapped": True,
        }
        for s in b.sections
    ]
    by_cmd: dict[str, dict[str, int]] = {}
    for c in b.commands:
        e = by_cmd.setdefault(_enum_name(c.command), {"count": 0, "bytes": 0})
        e["count"] += 1
        e["bytes"] += c.size
    symtab = 0
    if b.has_symbol_command:
        sc = b.symbol_command
        symtab = (
            sc.numberof_symbols * (16 if b.header.magic != 0xFEEDFACE else 12) + sc.strings_size
        )
    fixups = b.dyld_chained_fixups.data_size if b.has_dyld_chained_fixups else 0
    rebase = bind = 0
    if b.has_dyld_info:
        di = b.dyld_info
        rebase, bind = len(di.rebase_opcodes), len(di.bind_opcodes)
    return {
        "format": "MachO",
        "arch": _arch(_enum_name(b.header.cpu_type)),
        "entry": b.entrypoint,
        # __PAGEZERO reserves address space but maps nothing: leave it out of what is mapped.
        "mapped_size_bytes": sum(s["mem_size_bytes"] for s in segs if s["name"] != "__PAGEZERO"),
        "segments": segs,
        "sections": sections,
        "symtab_bytes": symtab,
        "symbols": _macho_symbols(b),
        "macho": {
            "load_commands": b.header.nb_cmds,
            "load_commands_bytes": b.header.sizeof_cmds,
            "load_commands_by_type": by_cmd,
            "dylibs": [lib.name for lib in b.libraries],
            "code_signature_bytes": b.code_signature.data_size if b.has_code_signature else 0,
            "chained_fixups_bytes": fixups,
            "rebase_opcodes_bytes": rebase,
            "bind_opcodes_bytes": bind,
            "is_pie": bool(b.is_pie),
        },
    }


def _macho_page(b: Any) -> int:
    # Mach-O segments carry no alignment field; the loader maps them at the page size of the
    # target: 16 KiB on arm64, 4 KiB on x86_64.
    return 0x4000 if _enum_name(b.header.cpu_type) in ("ARM64", "ARM64_32") else 0x1000


def detail(info: dict[str, Any]) -> dict[str, Any]:
    """What the claims and size-by-section reports need beyond ``summary``: section sizes
    (mapped or not), imports, interpreter, Go build settings, the symbol tables in brief,
    position independence, and the PE's TLS directory, resources and DLL characteristics."""
    secs: dict[str, int] = {}
    for s in info["sections"]:
        secs[s["name"]] = secs.get(s["name"], 0) + int(s["size_bytes"])
    elf, pe, macho = info.get("elf") or {}, info.get("pe") or {}, info.get("macho") or {}
    if pe:
        pie: bool | None = "DYNAMIC_BASE" in (pe.get("dll_characteristics") or [])
    else:
        pie = elf.get("is_pie") if elf else macho.get("is_pie")
    return {
        "sections": secs,
        "pe_imports": pe.get("imports"),
        "elf_interpreter": elf.get("interpreter"),
        "dylibs": macho.get("dylibs"),
        "go_settings": (info.get("go") or {}).get("settings"),
        "symbols": info.get("symbols"),
        "pie": pie,
        "pe": {k: pe.get(k) for k in ("tls", "tls_callbacks", "tls_directory_bytes",
                                      "tls_data_bytes", "resources_bytes",
                                      "dll_characteristics", "base_relocations")}
        if pe else None,
    }


def summary(info: dict[str, Any]) -> dict[str, Any]:
    """The static features the reports and cost models use, as flat numbers."""
    segs = info["segments"]
    elf, pe, macho = info.get("elf"), info.get("pe"), info.get("macho")
    if elf:
        relocs = elf["relocations"]
    elif pe:
        relocs = pe["base_relocations"]
    else:
        relocs = None
    return {
        "format": info["format"],
        "arch": info["arch"],
        "file_size_bytes": info["file_size_bytes"],
        "mapped_size_bytes": info["mapped_size_bytes"],
        "segments": len(segs),
        "segment_alignment": max((s["alignment"] for s in segs), default=0),
        "load_commands": macho["load_commands"] if macho else None,
        "load_commands_bytes": macho["load_commands_bytes"] if macho else None,
        "code_signature_bytes": macho["code_signature_bytes"] if macho else None,
        "relocations": relocs,
        "dynamic": bool(elf["interpreter"]) if elf else bool(pe or macho),
        "debug_bytes": info["debug_bytes"],
        "symtab_bytes": info["symtab_bytes"],
        "stripped": info["stripped"],
        "go_version": (info.get("go") or {}).get("version"),
    }


def describe_lines(info: dict[str, Any]) -> list[str]:
    """``inspect_file``'s result as the lines ``loadbench inspect`` prints."""
    out: list[str] = []
    s = summary(info)
    out.append(
        f"{info['path']}: {s['format']} {s['arch']}, entry {info['entry']:#x}, "
        f"file {s['file_size_bytes']:,} B, mapped {s['mapped_size_bytes']:,} B, "
        f"{s['segments']} segments (alignment {s['segment_alignment']:#x})"
    )
    for seg in info["segments"]:
        out.append(
            f"  {seg['name']:<14s} {seg['perms']} vaddr {seg['vaddr']:#x} "
            f"mem {seg['mem_size_bytes']:,} file {seg['file_size_bytes']:,} "
            f"align {seg['alignment']:#x}"
        )
    extra = []
    if info["elf"]:
        e = info["elf"]
        extra.append(
            f"interpreter {e['interpreter'] or 'none (static)'}, "
            f"{e['relocations']} dynamic relocations, PIE {e['is_pie']}"
        )
    if info["macho"]:
        m = info["macho"]
        extra.append(
            f"{m['load_commands']} load commands ({m['load_commands_bytes']} B), "
            f"code signature {m['code_signature_bytes']} B"
        )
    if info["pe"]:
        p = info["pe"]
        extra.append(
            f"SizeOfImage {p['size_of_image']:,}, section alignment "
            f"{p['section_alignment']:#x}, file alignment {p['file_alignment']:#x}, "
            f"{p['base_relocations']} base relocations, TLS directory "
            f"{'yes' if p['tls'] else 'no'} ({p['tls_callbacks']} callbacks), resources "
            f"{p['resources_bytes']:,} B"
        )
    if info["go"]:
        extra.append(f"Go {info['go'].get('version')}")
    extra.append(f"debug info {s['debug_bytes']:,} B, symbol table {s['symtab_bytes']:,} B")
    sy = info.get("symbols")
    if sy:
        extra.append(f"symbols: {sy['static']:,} in the symbol table ({sy['static_undefined']:,} "
                     f"undefined), {sy['dynamic']:,} dynamic ({sy['dynamic_undefined']:,} "
                     "imported)")
    out += [f"  {line}" for line in extra]
    return out


# ------------------------------------------------------------------------ isolation
# LIEF parses hostile input in-process: three mutated Mach-O files made it use more than 6 GB,
# and a parse can spin. Callers that inspect files they did not build use ``inspect_isolated``:
# the parse runs in a child process with an address-space and a time limit, so a bad file
# costs a one-line error, not the run.

ISOLATED_MEMORY_BYTES = 3 << 30
ISOLATED_TIMEOUT_S = 120.0


class _Worker:
    """A child process that parses one path per line of stdin and answers one JSON line each,
    under the limits; kept for the life of this process (it ends when our end of its stdin
    closes), started again after it dies."""

    def __init__(self, memory_bytes: int, timeout_s: float) -> None:
        import subprocess
        import sys

        def limits() -> None:  # in the child, before it execs Python
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

        self.limits = (memory_bytes, timeout_s)
        self.proc = subprocess.Popen([sys.executable, "-m", "loadbench.inspector", "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, preexec_fn=limits)

    def ask(self, path: str) -> dict[str, Any] | InspectError:
        import json
        import select

        assert self.proc.stdin is not None and self.proc.stdout is not None
        memory_bytes, timeout_s = self.limits
        ready: list[Any] = [self.proc.stdout]
        try:
            self.proc.stdin.write(os.fsencode(path) + b"\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
            line = self.proc.stdout.readline() if ready else b""
        except OSError:  # it died before it read the path
            line = b""
        if line:
            item = json.loads(line)
            return item["info"] if "info" in item else InspectError(item["error"])
        timed_out = not ready  # else its output ended: it died
        self.close()
        rc = self.proc.returncode
        if timed_out:
            why = f"took more than {timeout_s:g} s"
        else:
            how = f"signal {-rc}" if rc and rc < 0 else f"exit {rc}"
            mem = (f"{memory_bytes / 2**30:g} GiB" if memory_bytes >= 2**30
                   else f"{memory_bytes >> 20} MiB")
            why = f"ran out of its {mem} of memory or crashed ({how})"
        return InspectError(f"{path}: LIEF {why} reading it; the binary is malformed or hostile")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass


_worker: _Worker | None = None


def _close_worker() -> None:
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None


def inspect_isolated(paths: list[str], *, memory_bytes: int = ISOLATED_MEMORY_BYTES,
                     timeout_s: float = ISOLATED_TIMEOUT_S) -> list[dict[str, Any] | InspectError]:
    """``inspect_file`` for each path, in a child process with an address-space limit and a
    time limit per file; each result is the information or the InspectError for that file, in
    order. Off POSIX the parse runs here."""
    global _worker
    out: list[dict[str, Any] | InspectError] = []
    if os.name != "posix":
        for p in paths:
            try:
                out.append(inspect_file(p))
            except InspectError as e:
                out.append(e)
        return out
    import atexit

    for p in paths:
        if _worker is not None and (_worker.proc.poll() is not None
                                    or _worker.limits != (memory_bytes, timeout_s)):
            _close_worker()
        if _worker is None:
            _worker = _Worker(memory_bytes, timeout_s)
            atexit.register(_close_worker)
        out.append(_worker.ask(p))
        if _worker.proc.poll() is not None:
            _close_worker()
    return out


def _serve() -> int:
    """``python -m loadbench.inspector --serve``: a path per line in, a JSON line out."""
    import json
    import sys

    for raw in sys.stdin.buffer:
        path = os.fsdecode(raw.rstrip(b"\n"))
        line: dict[str, Any]
        try:
            line = {"info": inspect_file(path)}
        except InspectError as e:
            line = {"error": str(e)}
        except MemoryError:
            return 1
        sys.stdout.write(json.dumps(line, default=_json_default) + "\n")
        sys.stdout.flush()
    return 0


def _json_default(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    raise TypeError(type(v).__name__)


if __name__ == "__main__":
    import sys

    sys.exit(_serve())
