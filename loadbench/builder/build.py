"""Building variants into binaries with a manifest, through a content-keyed cache.

``build`` turns variants into binaries plus a manifest that records, per binary, the sha256, the
toolchain version and the exact argv and environment used. Builds are cached by the hash of
everything that determines the output (sources, toolchain version, argv, env, post-link tools),
so an identical second build only copies a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadbench import _proc, storage
from loadbench.builder.toolchains import (
    BuildError,
    GoToolchain,
    base_env,
    cache_dir,
    fetch_go,
    find_cc,
    find_go,
    selfbuilt_go,
    selfbuilt_info,
)
from loadbench.builder.variant import C_TARGETS, GO_TARGETS, MINGW_CC, TARGETS_DIR, Variant

MANIFEST_VERSION = 1
GOTMP_PREFIX = "loadbench-gotmp-"


@dataclass(frozen=True, slots=True)
class Built:
    name: str
    target: str
    path: str
    sha256: str
    goos: str
    goarch: str
    runnable: bool
    toolchain: str  # "go1.27.3" or the C compiler's version line
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cached: bool
    build_s: float
    tags: tuple[str, ...] = ()
    post: tuple[tuple[str, ...], ...] = ()  # post-link commands, in order
    go_version: str = ""
    go_source: str = ""  # "" the official release, "selfbuilt": rebuilt from its source

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["argv"], d["env"], d["tags"] = list(self.argv), dict(self.env), list(self.tags)
        d["post"] = [list(p) for p in self.post]
        return d


@dataclass(frozen=True, slots=True)
class Manifest:
    built: tuple[Built, ...]
    skipped: tuple[tuple[str, str], ...]  # (variant name, reason)
    go: GoToolchain | None = None
    cc: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            **dict(self.extra),
            "go": None if self.go is None else asdict(self.go),
            "cc": self.cc,
            "binaries": [b.to_json() for b in self.built],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
        }

    def by_name(self, name: str) -> Built:
        for b in self.built:
            if b.name == name:
                return b
        raise KeyError(name)


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source_digest(target: str) -> str:
    h = hashlib.sha256()
    root = TARGETS_DIR / target
    if not root.is_dir():
        raise BuildError(f"unknown target {target!r}; known: {', '.join(GO_TARGETS + C_TARGETS)}")
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _cc_version(cc: str) -> str:
    return _proc.run([cc, "--version"], timeout=30).stdout.splitlines()[0].strip()


def gocache_for(v: Variant, go: GoToolchain) -> Path:
    """The GOCACHE of a build. A rebuilt toolchain reports the same version as the official
    one, and Go keys its build cache by the compiler's version for releases: sharing a GOCACHE
    would hand the rebuilt toolchain the official compiler's objects, so it gets its own."""
    if v.toolchain == "selfbuilt":
        return cache_dir() / f"gocache-{go.version}-selfbuilt"
    return cache_dir() / "gocache"


def _go_plan(v: Variant, go: GoToolchain, out: Path) -> tuple[list[str], dict[str, str]]:
    goos, goarch = v.platform()
    argv = [go.path, "build", "-o", str(out)]
    if v.trimpath:
        argv.append("-trimpath")
    if v.buildmode != "exe":
        argv.append(f"-buildmode={v.buildmode}")
    if v.ldflags:
        argv.append("-ldflags=" + " ".join(v.ldflags))
    argv.append(".")
    cache = cache_dir()
    env = {
        **base_env(),
        "GOOS": goos,
        "GOARCH": goarch,
        "CGO_ENABLED": "1" if v.cgo else "0",
        "GOCACHE": str(gocache_for(v, go)),
        "GOPATH": str(cache / "gopath"),
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOFLAGS": "-mod=mod",
        "GOTELEMETRY": "off",
        "GOENV": "off",
        **dict(v.env),
    }
    return argv, env


def _c_plan(v: Variant, cc: str, out: Path) -> tuple[list[str], dict[str, str]]:
    src = "floor.c" if v.target == "floor" else "main.c"
    if v.target == "floor":
        flags = [
            "-O2",
            "-static",
            "-nostdlib",
            "-nostartfiles",
            "-fno-pie",
            "-no-pie",
            "-Wl,--build-id=none",
        ]
    else:
        flags = ["-O2", "-static"]
    return [cc, *flags, "-o", str(out), src], base_env()


def _key(
    v: Variant,
    toolchain: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    post: Sequence[str] = (),
) -> str:
    extra = {"go_source": v.toolchain} if v.toolchain else {}  # old keys stay valid
    stable_env = {
        k: val for k, val in env.items() if k not in ("PATH", "HOME", "GOCACHE", "GOPATH", "TMPDIR")
    }
    blob = json.dumps(
        {
            "src": _source_digest(v.target),
            "toolchain": toolchain,
            "argv": [a for a in argv[1:] if not a.startswith(str(cache_dir()))],
            "env": stable_env,
            "post": list(post),
            **extra,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def build(
    variants: Iterable[Variant],
    out_dir: str | os.PathLike[str],
    *,
    go: GoToolchain | None = None,
    cc: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Manifest:
    """Build every variant into ``out_dir`` and write ``out_dir/manifest.json``.

    Variants that cannot be built here (cgo or C targets without a C compiler) are skipped with
    a reason, never silently. A failing build raises BuildError with the compiler's message.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    variants = list(variants)
    names = [v.name for v in variants]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise BuildError(f"variant names must be unique; repeated: {', '.join(sorted(dupes))}")
    need_go = any(v.kind == "go" and not v.go_version for v in variants)
    if need_go and go is None:
        go = find_go()
    toolchains: dict[str, GoToolchain] = {}
    rebuilt: dict[str, GoToolchain] = {}
    cc_path = find_cc(cc)
    cc_version = _cc_version(cc_path) if cc_path else None
    built: list[Built] = []
    skipped: list[tuple[str, str]] = []
    store = cache_dir() / "builds"
    for v in variants:
        if (v.kind == "c" or v.cgo) and not cc_path:
            skipped.append((v.name, "no C compiler found (install gcc or set CC)"))
            continue
        if v.kind == "c" and not v.runnable:
            skipped.append((v.name, "C targets are built for the native platform only"))
            continue
        why = _cannot_build(v)
        if why:
            skipped.append((v.name, why))
            continue
        exe_name = v.name + (".exe" if v.platform()[0] == "windows" else "")
        tmp_out = Path("@OUT@")
        if v.kind == "go":
            tc = go
            if v.go_version and go is not None and go.version == f"go{v.go_version}":
                tc = go
            elif v.go_version:
                if v.go_version not in toolchains:
                    if progress:
                        progress(f"fetching Go {v.go_version}")
                    toolchains[v.go_version] = fetch_go(v.go_version)
                tc = toolchains[v.go_version]
            assert tc is not None
            if v.toolchain == "selfbuilt":
                if tc.version not in rebuilt:
                    rebuilt[tc.version] = selfbuilt_go(tc, progress)
                tc = rebuilt[tc.version]
            argv, env = _go_plan(v, tc, tmp_out)
            toolchain = tc.version
        else:
            assert cc_path is not None and cc_version is not None
            argv, env = _c_plan(v, cc_path, tmp_out)
            toolchain = cc_version
        key = _key(v, toolchain, argv, env, _post_tools(v))
        cached_bin = store / key / exe_name
        real_argv = [str(cached_bin) if a == str(tmp_out) else a for a in argv]
        t0 = time.monotonic()
        hit = cached_bin.is_file()
        if not hit:
            if progress:
                progress(f"building {v.name}")
            _run_build(v, real_argv, env, cached_bin)
        dest = out / exe_name
        if dest.exists() or dest.is_symlink():
            dest.unlink()
        shutil.copy2(cached_bin, dest)
        built.append(
            Built(
                name=v.name,
                target=v.target,
                path=str(dest.resolve()),
                sha256=sha256_file(dest),
                goos=v.platform()[0],
                goarch=v.platform()[1],
                runnable=v.runnable,
                toolchain=toolchain,
                argv=tuple(a if a != str(cached_bin) else exe_name for a in real_argv),
                env=env,
                cached=hit,
                build_s=round(time.monotonic() - t0, 3),
                tags=v.tags,
                post=tuple(tuple(_post_argv(step, exe_name)) for step in v.post),
                go_version=v.go_version,
                go_source=v.toolchain,
            )
        )
    extra: dict[str, Any] = {"toolchains": {k: asdict(t) for k, t in toolchains.items()}}
    if rebuilt:
        extra["selfbuilt"] = {k: {**asdict(t), "info": selfbuilt_info(k)}
                              for k, t in rebuilt.items()}
    manifest = Manifest(
        built=tuple(built),
        skipped=tuple(skipped),
        go=go,
        cc=cc_version,
        extra=extra,
    )
    from loadbench import storage

    storage.write_json_atomic(out / "manifest.json", manifest.to_json())
    return manifest


def build_uncached(v: Variant, dest: str | os.PathLike[str], *, go: GoToolchain,
                   gocache: str | os.PathLike[str]) -> float:
    """One ``go build`` of ``v`` into ``dest`` with the given GOCACHE, past loadbench's own
    content cache: for the claims about what Go's build cache changes. Returns the seconds the
    build took."""
    if v.kind != "go":
        raise BuildError(f"{v.name}: build_uncached builds Go targets only")
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    argv, env = _go_plan(v, go, target)
    env["GOCACHE"] = str(gocache)
    t0 = time.monotonic()
    _run_build(v, argv, env, target)
    return round(time.monotonic() - t0, 3)


def _cannot_build(v: Variant) -> str | None:
    """Why this variant cannot be built on this machine, or None."""
    if dict(v.env).get("CC") == "musl-gcc" and not _proc.which("musl-gcc"):
        return "musl-gcc not found (apt-get install musl-tools)"
    if dict(v.env).get("CC") == MINGW_CC:
        if v.platform() != ("windows", "amd64"):
            return "mingw builds windows/amd64 only"
        if not _proc.which(MINGW_CC):
            return f"{MINGW_CC} not found (apt-get install mingw-w64)"
    for step in v.post:
        if not v.runnable or v.platform()[0] != "linux":
            return f"{step} is applied to native Linux builds only"
        tool = {"strip": "strip", "upx": "upx"}[step]
        if not _proc.which(tool):
            return f"{tool} not on PATH" + (" (apt-get install upx-ucl)" if tool == "upx" else "")
    return None


def _post_argv(step: str, path: str) -> list[str]:
    if step == "strip":
        return ["strip", "-s", path]
    return ["upx", "-q", "--best", path]


def _post_tools(v: Variant) -> list[str]:
    """Versions of the post-link tools: part of the cache key."""
    out = []
    for step in v.post:
        exe = _proc.which("strip" if step == "strip" else "upx") or step
        try:
            first = _proc.run([exe, "--version"], timeout=30).stdout.splitlines()[:1]
        except _proc.ToolError:
            first = []
        out.append(f"{step}: {first[0] if first else 'unknown'}")
    return out


def _run_build(v: Variant, argv: list[str], env: dict[str, str], dest: Path) -> None:
    from loadbench.launch_native import cleanup_stale

    work = dest.parent / "src"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(TARGETS_DIR / v.target, work)
    partial = dest.with_name(dest.name + ".partial")
    argv = [str(partial) if a == str(dest) else a for a in argv]
    # go's own temp work (go-build*) goes where we remove it on every exit path; the folder
    # carries our pid, so a SIGKILLed build's is removed by the next one
    cleanup_stale(GOTMP_PREFIX)
    gotmp = storage.scratch_dir(f"{GOTMP_PREFIX}{os.getpid()}-")
    try:
        _proc.run(argv, cwd=work, env={**env, "GOTMPDIR": gotmp}, timeout=900)
        for step in v.post:
            _proc.run(_post_argv(step, str(partial)), timeout=600)
        os.replace(partial, dest)
    except _proc.ToolError as e:
        raise BuildError(f"building {v.name} failed: {e}") from None
    finally:
        shutil.rmtree(gotmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)
