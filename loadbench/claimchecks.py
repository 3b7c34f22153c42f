"""Checks of the seed's claims that need the toolchain and the files, not just the inspection.

``run_checks`` runs once per ``--preset seed`` bench, after the builds and before any launch, and
its result is stored as ``checks.json`` beside the record; ``claims.evaluate`` reads it (so a
resumed bench re-evaluates the claims without redoing the checks). What it does, per claim:

* C8: compares the rebuilt toolchain (``toolchains.selfbuilt_go``) file by file with the official
  one it was rebuilt from, and each binary built by the rebuilt toolchain byte by byte with its
  twin built by the official one.
* C11: ``go list -deps`` of the C1 program per GOOS/GOARCH with ``CGO_ENABLED`` 0, unset and 1:
  is ``runtime/cgo`` among the packages?
* C12 (not with ``--quick``: it compiles the standard library three times): the C1 program for
  linux, windows and darwin (amd64) built with an empty GOCACHE, then again with that now warm
  GOCACHE, against loadbench's long-lived GOCACHE: byte-identical or not, repeated symbol names.
* C13: the article's command (``-ldflags='-s -w -buildmode=exe'``) byte by byte against
  ``-ldflags='-s -w'``; ``go list`` of ``net`` and ``os/user`` with and without cgo (their cgo
  files and pure-Go files); the ``lookup`` program (os/user and net's resolver) built with
  ``CGO_ENABLED=0`` and with cgo, and run once each.

Every temporary file is removed on every exit path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from loadbench import _proc, builder, inspector, storage
from loadbench.builder import toolchains
from loadbench.builder.build import build_uncached

CHECKS_VERSION = 1
CHECKS_TMP_PREFIX = "loadbench-checks-"
PLATFORMS = ("linux/amd64", "linux/arm64", "windows/amd64", "windows/arm64", "darwin/amd64",
             "darwin/arm64")
CACHE_PLATFORMS = ("linux/amd64", "windows/amd64", "darwin/amd64")
CGO_SETTINGS = ("0", "unset", "1")


def _go_env(go: builder.GoToolchain, goos: str, goarch: str, cgo: str) -> dict[str, str]:
    env = {
        **toolchains.base_env(),
        "GOOS": goos,
        "GOARCH": goarch,
        "GOCACHE": str(builder.cache_dir() / "gocache"),
        "GOPATH": str(builder.cache_dir() / "gopath"),
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOFLAGS": "-mod=mod",
        "GOTELEMETRY": "off",
        "GOENV": "off",
    }
    if cgo != "unset":
        env["CGO_ENABLED"] = cgo
    return env


def _copy_target(name: str, into: Path) -> Path:
    dest = into / name
    shutil.copytree(builder.TARGETS_DIR / name, dest)
    return dest


# ------------------------------------------------------------------------------ byte compare


def build_id(go: builder.GoToolchain, path: str | os.PathLike[str]) -> str | None:
    """The Go build ID the linker wrote into a binary (``go tool buildid``), or None."""
    try:
        out = _proc.run([go.path, "tool", "buildid", str(path)], timeout=60,
                        env={**toolchains.base_env(), "GOTOOLCHAIN": "local", "GOENV": "off"})
    except _proc.ToolError:
        return None
    return out.stdout.strip() or None


# Regions whose bytes the linker derives from the Go build ID: the GNU build ID note (ELF), the
# LC_UUID and the ad-hoc code signature's page hashes (Mach-O).
DERIVED_FROM_BUILD_ID = frozenset({".note.gnu.build-id", "LC_UUID", "code signature"})


def same_but_build_id(diff: Mapping[str, Any]) -> bool:
    """``byte_diff``'s result says: the same bytes but for the build ID and what the linker
    derives from it."""
    if diff.get("identical"):
        return True
    regions = diff.get("outside_build_id_by_region")
    return (diff.get("size_a") == diff.get("size_b") and isinstance(regions, Mapping)
            and set(regions) <= DERIVED_FROM_BUILD_ID)


def byte_diff(a: str | os.PathLike[str], b: str | os.PathLike[str],
              go: builder.GoToolchain | None = None) -> dict[str, Any]:
    """How two binaries differ, byte by byte. With ``go``, also whether every differing byte
    lies inside the Go build IDs the linker wrote (``differing_outside_build_id`` 0 means the
    files are the same program with another build ID). Sizes that differ make an offset-wise
    count meaningless; then only the sizes are given."""
    import numpy as np

    da, db = Path(a).read_bytes(), Path(b).read_bytes()
    out: dict[str, Any] = {"identical": da == db, "size_a": len(da), "size_b": len(db),
                           "differing_bytes": None, "differing_outside_build_id": None,
                           "build_id_a": None, "build_id_b": None}
    if go is not None:
        out["build_id_a"], out["build_id_b"] = build_id(go, a), build_id(go, b)
    if len(da) != len(db):
        return out
    xa, xb = np.frombuffer(da, dtype=np.uint8), np.frombuffer(db, dtype=np.uint8)
    where = np.flatnonzero(xa != xb)
    out["differing_bytes"] = int(where.size)
    ids = [x for x in (out["build_id_a"], out["build_id_b"]) if x]
    if ids:
        inside = np.zeros(len(da), dtype=bool)
        for ident, data in ((out["build_id_a"], da), (out["build_id_b"], db)):
            if not ident:
                continue
            needle = ident.encode()
            pos = data.find(needle)
            while pos != -1:
                inside[pos:pos + len(needle)] = True
                pos = data.find(needle, pos + 1)
        outside = where[~inside[where]]
        out["differing_outside_build_id"] = int(outside.size)
        out["outside_build_id_by_region"] = _by_region(Path(b), outside)
    return out


def file_regions(path: Path) -> list[tuple[str, int, int]]:
    """(name, start, end) file ranges of a binary's sections and of the structures outside
    them that a build ID feeds (Mach-O load commands, where LC_UUID is, and the code
    signature, which hashes every page; PE and ELF headers)."""
    import lief

    lief.logging.disable()
    out: list[tuple[str, int, int]] = []
    if lief.is_macho(str(path)):
        fat: Any = lief.MachO.parse(str(path))
        if fat is None:
            return out
        b: Any = fat.at(0)
        start = 32 if b.header.magic != lief.MachO.MACHO_TYPES.MAGIC else 28
        if b.has_uuid:  # first: it lies inside the load commands
            u = b.uuid
            out.append(("LC_UUID", u.command_offset, u.command_offset + u.size))
        out.append(("load commands", start, start + b.header.sizeof_cmds))
        if b.has_code_signature:
            cs = b.code_signature
            out.append(("code signature", cs.data_offset, cs.data_offset + cs.data_size))
        for sec in b.sections:
            if sec.offset and sec.size:
                out.append((f"{sec.segment_name},{sec.name}", sec.offset, sec.offset + sec.size))
        return out
    b = lief.parse(str(path))
    if isinstance(b, lief.ELF.Binary):
        out.append(("ELF headers", 0, b.header.header_size
                    + b.header.numberof_segments * b.header.program_header_size))
        for sec in b.sections:
            if sec.size and sec.type != lief.ELF.Section.TYPE.NOBITS:
                out.append((str(sec.name), sec.file_offset, sec.file_offset + sec.size))
    elif isinstance(b, lief.PE.Binary):
        out.append(("PE headers", 0, b.optional_header.sizeof_headers))
        for sec in b.sections:
            name = sec.coff_string.string if sec.coff_string is not None else sec.name
            out.append((str(name), sec.pointerto_raw_data,
                        sec.pointerto_raw_data + sec.sizeof_raw_data))
    return out


def _by_region(path: Path, offsets: Any) -> dict[str, int]:
    regions = file_regions(path)
    counts: dict[str, int] = {}
    for off in (int(x) for x in offsets):
        name = next((n for n, a, z in regions if a <= off < z), "elsewhere")
        counts[name] = counts.get(name, 0) + 1
    return counts


# ------------------------------------------------------------------------------------- C8


def _tool_files(root: Path) -> dict[str, Path]:
    files = {}
    for sub in ("bin", "pkg/tool"):
        base = root / sub
        if base.is_dir():
            for p in sorted(base.rglob("*")):
                if p.is_file() and not p.is_symlink():
                    files[p.relative_to(root).as_posix()] = p
    return files


def compare_toolchains(official_root: Path, rebuilt_root: Path) -> dict[str, Any]:
    """The executables of two Go trees (``bin/`` and ``pkg/tool/``), file by file."""
    a, b = _tool_files(official_root), _tool_files(rebuilt_root)
    common = sorted(set(a) & set(b))
    differ = [n for n in common if a[n].read_bytes() != b[n].read_bytes()]
    return {
        "files_compared": len(common),
        "identical": len(common) - len(differ),
        "differing": differ,
        "only_official": sorted(set(a) - set(b)),
        "only_rebuilt": sorted(set(b) - set(a)),
        "bytes_official": sum(a[n].stat().st_size for n in common),
        "bytes_rebuilt": sum(b[n].stat().st_size for n in common),
        "go_official": {"bytes": a["bin/go"].stat().st_size} if "bin/go" in a else None,
    }


def _selfbuilt(manifest: Mapping[str, Any], go: builder.GoToolchain) -> dict[str, Any]:
    rebuilt = (manifest.get("selfbuilt") or {})
    binaries = {b["name"]: b for b in manifest.get("binaries", [])}
    pairs = {}
    for name, b in binaries.items():
        if b.get("go_source") != "selfbuilt":
            continue
        twin = name.replace("-selfbuilt", "")
        if twin in binaries:
            pairs[name] = {"official": twin, **byte_diff(binaries[twin]["path"], b["path"], go)}
    out: dict[str, Any] = {"pairs": pairs, "toolchains": {}}
    for version, t in rebuilt.items():
        tc = builder.GoToolchain(path=str(t["path"]), version=str(t["version"]),
                                 source=str(t["source"]))
        info = t.get("info") or {}
        official_root = Path(str(info.get("bootstrap") or toolchains.goroot(go)))
        out["toolchains"][version] = {
            "rebuilt_goroot": str(toolchains.goroot(tc)),
            "official_goroot": str(official_root),
            "make_bash_s": info.get("make_bash_s"),
            "bootstrap_version": info.get("bootstrap_version"),
            **compare_toolchains(official_root, toolchains.goroot(tc)),
        }
    return out


# ------------------------------------------------------------------------------------ C11


def _deps(go: builder.GoToolchain, src: Path, goos: str, goarch: str, cgo: str,
          pkgs: Sequence[str] = (".",)) -> list[str]:
    out = _proc.run([go.path, "list", "-deps", *pkgs], cwd=src, timeout=300,
                    env=_go_env(go, goos, goarch, cgo))
    return out.stdout.split()


def _cgo_default(go: builder.GoToolchain, goos: str, goarch: str) -> str | None:
    try:
        return _proc.run([go.path, "env", "CGO_ENABLED"], timeout=60,
                         env=_go_env(go, goos, goarch, "unset")).stdout.strip()
    except _proc.ToolError:
        return None


def cgo_deps(go: builder.GoToolchain, src: Path) -> dict[str, Any]:
    """Per GOOS/GOARCH and CGO_ENABLED setting: is runtime/cgo among ``go list -deps``?"""
    native = "/".join(builder.native_platform())
    rows = {}
    for plat in PLATFORMS:
        goos, goarch = plat.split("/")
        row: dict[str, Any] = {"cross": plat != native,
                               "default_CGO_ENABLED": _cgo_default(go, goos, goarch)}
        for cgo in CGO_SETTINGS:
            try:
                deps = _deps(go, src, goos, goarch, cgo)
            except _proc.ToolError as e:
                row[f"CGO_ENABLED={cgo}"] = {"error": str(e)}
                continue
            row[f"CGO_ENABLED={cgo}"] = {"packages": len(deps),
                                          "runtime_cgo": "runtime/cgo" in deps,
                                          "net": "net" in deps}
        rows[plat] = row
    return {"program": "web", "platforms": rows}


# ------------------------------------------------------------------------------------ C12


def _symbols(path: str | os.PathLike[str]) -> dict[str, Any]:
    s = inspector.inspect_file(path)["symbols"]
    return {k: s[k] for k in ("static", "duplicate_names", "static_names_sha256")}


def cache_reproducibility(go: builder.GoToolchain, manifest: Mapping[str, Any],
                          work: Path, platforms: Sequence[str] = CACHE_PLATFORMS
                          ) -> dict[str, Any]:
    """The C1 program built with an empty GOCACHE, then with that warm GOCACHE, against the
    build from loadbench's long-lived GOCACHE, per platform."""
    binaries = {b["name"]: b for b in manifest.get("binaries", [])}
    cache = work / "gocache"
    src = _copy_target("web", work)
    mods = _proc.run([go.path, "list", "-m", "all"], cwd=src, timeout=120,
                     env=_go_env(go, *builder.native_platform(), "0")).stdout.split()
    out: dict[str, Any] = {"program": "web", "modules": mods,
                           "go_sum": (builder.TARGETS_DIR / "web" / "go.sum").exists(),
                           "platforms": {}}
    for plat in platforms:
        goos, goarch = plat.split("/")
        v = builder.variant("web", goos=goos, goarch=goarch)
        cold, warm = work / f"cold-{goos}", work / f"warm-{goos}"
        cold_s = build_uncached(v, cold, go=go, gocache=cache)
        warm_s = build_uncached(v, warm, go=go, gocache=cache)
        row: dict[str, Any] = {
            "cold_build_s": cold_s, "warm_build_s": warm_s,
            "cold_sha256": builder.sha256_file(cold), "warm_sha256": builder.sha256_file(warm),
            "cold_vs_warm": byte_diff(cold, warm),
            "cold_symbols": _symbols(cold), "warm_symbols": _symbols(warm),
        }
        long_lived = next((b for b in binaries.values()
                           if b["target"] == "web" and b["goos"] == goos
                           and b["goarch"] == goarch and not b.get("go_version")
                           and not b.get("go_source") and not b.get("post")
                           and not any(a.startswith(("-ldflags", "-buildmode"))
                                       for a in b["argv"])
                           and b["env"].get("CGO_ENABLED") == "0"
                           and not (set(b["env"]) & {"GOAMD64", "CC"})), None)
        if long_lived is not None:
            row["long_lived_cache_build"] = long_lived["name"]
            row["cold_vs_long_lived"] = byte_diff(cold, long_lived["path"])
        out["platforms"][plat] = row
        cold.unlink()
        warm.unlink()
    return out


# ------------------------------------------------------------------------------------ C13


def _packages(go: builder.GoToolchain, src: Path, cgo: str) -> dict[str, Any]:
    fmt = "{{.ImportPath}}|{{join .CgoFiles \",\"}}|{{len .GoFiles}}"
    out = _proc.run([go.path, "list", "-f", fmt, "net", "os/user"], cwd=src, timeout=120,
                    env=_go_env(go, *builder.native_platform(), cgo)).stdout
    rows = {}
    for line in out.splitlines():
        name, cgo_files, n = line.split("|")
        rows[name] = {"cgo_files": [f for f in cgo_files.split(",") if f],
                      "go_files": int(n)}
    deps = _deps(go, src, *builder.native_platform(), cgo)
    return {"packages": rows, "lookup_deps": {p: p in deps for p in ("net", "os/user",
                                                                     "runtime/cgo")}}


def _run_lookup(path: Path) -> dict[str, Any]:
    # the environment launches get (PATH, LANG=C): no USER, so os/user must find the user
    # itself
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"}
    cp = _proc.run([str(path)], env=env, timeout=60, check=False)
    return {"exit_code": cp.returncode, "stdout": cp.stdout.strip().splitlines()}


def pure_go(go: builder.GoToolchain, work: Path, cc: str | None) -> dict[str, Any]:
    """os/user and net without cgo: their files, the lookup program's dependencies and what it
    prints when run, with CGO_ENABLED=0 and (with a C compiler) with cgo."""
    src = _copy_target("lookup", work)
    out: dict[str, Any] = {"program": "lookup", "CGO_ENABLED=0": _packages(go, src, "0")}
    variants = [builder.variant("lookup")]
    if cc:
        out["CGO_ENABLED=1"] = _packages(go, src, "1")
        variants.append(builder.variant("lookup", flavour="cgo"))
    m = builder.build(variants, work / "bin", go=go, cc=cc)
    for b in m.built:
        key = "CGO_ENABLED=1" if b.name.endswith("-cgo") else "CGO_ENABLED=0"
        syms = inspector.inspect_file(b.path)["symbols"]
        out[key]["run"] = _run_lookup(Path(b.path))
        out[key]["cgo_runtime_symbols"] = syms["cgo_runtime"]
        out[key]["dynamic_undefined"] = syms["dynamic_undefined"]
        out[key]["sha256"] = b.sha256
    return out


def article_command(manifest: Mapping[str, Any], go: builder.GoToolchain) -> dict[str, Any]:
    """Each build with the article's -ldflags='-s -w -buildmode=exe' against its -s -w twin."""
    binaries = {b["name"]: b for b in manifest.get("binaries", [])}
    out = {}
    for name, b in binaries.items():
        if not name.endswith("-swexe"):
            continue
        twin = name.removesuffix("-swexe") + "-sw"
        if twin in binaries:
            out[name] = {"vs": twin, **byte_diff(binaries[twin]["path"], b["path"], go)}
    skipped = [s for s in manifest.get("skipped", []) if str(s.get("name", "")).endswith("-swexe")]
    return {"pairs": out, "skipped": skipped}


# ------------------------------------------------------------------------------------- all


def run_checks(manifest: Mapping[str, Any], go: builder.GoToolchain, *, quick: bool,
               cc: str | None = None,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every check above; ``manifest`` is the bench's build manifest (as JSON)."""
    def say(msg: str) -> None:
        if progress:
            progress(msg)

    out: dict[str, Any] = {"checks_version": CHECKS_VERSION, "go": go.version, "quick": quick}
    from loadbench.launch_native import cleanup_stale

    cleanup_stale(CHECKS_TMP_PREFIX)
    # pid in the name: a loadbench killed with SIGKILL leaves it to the next run's clean-up
    work = Path(storage.scratch_dir(f"{CHECKS_TMP_PREFIX}{os.getpid()}-"))
    try:
        say("claims: go list -deps per GOOS/GOARCH (C11)")
        out["C11"] = cgo_deps(go, _copy_target("web", work))
        say("claims: os/user and net without cgo, the article's command (C13)")
        out["C13"] = {**pure_go(go, work / "c13", cc), **article_command(manifest, go)}
        if quick:
            out["C12"] = {"skipped": "not with --quick: three builds with an empty GOCACHE "
                                     "compile the standard library three times (minutes)"}
        else:
            say("claims: the C1 program with an empty and a warm GOCACHE (C12; minutes)")
            out["C12"] = cache_reproducibility(go, manifest, work / "c12")
        out["C8"] = _selfbuilt(manifest, go)
        if not out["C8"]["pairs"]:
            out["C8"]["skipped"] = ("not with --quick: rebuilding Go from source takes minutes"
                                    if quick else "no build with the rebuilt toolchain")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


__all__ = ["CHECKS_VERSION", "DERIVED_FROM_BUILD_ID", "byte_diff", "cache_reproducibility",
           "cgo_deps", "compare_toolchains", "pure_go", "run_checks", "same_but_build_id"]
